// Tests of the examples module: every program under examples/ is built
// and run with no arguments, as CI's smoke test of the examples: each must
// exit 0 within a minute and print its key lines. Directories added later
// are picked up without changes here.
package examples_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runTimeout bounds each example's run (not its build).
const runTimeout = 60 * time.Second

// keyLines are, per example directory, lines its output must contain
// (each a regexp matched against whole lines). An example not listed
// here must still build, exit 0 and print something.
var keyLines = map[string][]string{
	"quickstart": {
		`^   consumed 9 records$`,
	},
	"ssh-bastion": {
		`^produced and consumed 9 records through the bastion$`,
		`^SSH connections to the bastion: 1, carrying \d+ broker connections$`,
	},
	"tls": {
		`^   produced 9 records to tls-demo and consumed them back$`,
	},
	"kafka-go": {
		`^   wrote 9 messages to kafka-go-demo$`,
		`^   read 9 messages back$`,
	},
	"stats-expvar": {
		`^closed connections: [1-9]\d*$`,
	},
	"scenario1-reverse-tunnel": {
		`^   dial kafka:9092 => 127\.0\.0\.1:\d+ via direct \(rule 1: kafka:9092 => 127\.0\.0\.1:\d+\)$`,
		`^   produced 10 records to tasks and consumed them back$`,
	},
	"scenario2-kubernetes": {
		`^   dial kafka-controller-2\.kafka-controller-headless\.gcp\.svc\.cluster\.local:9092 => 127\.0\.0\.1:\d+ via direct \(rule 1: kafka-controller-\{n\}\.kafka-controller-headless\.gcp\.svc\.cluster\.local:9092 => 127\.0\.0\.1:\{\d+\+n\}\)$`,
		`^   produced 9 records to nodeports and consumed them back$`,
		`^   dial kafka-controller-2\.kafka-controller-headless\.gcp\.svc\.cluster\.local:9092 via socks5://127\.0\.0\.1:\d+ \(rule 1: \*\.svc\.cluster\.local via socks5://127\.0\.0\.1:\d+\)$`,
		`^   produced 9 records to gateway and consumed them back$`,
		`^   the gateway resolved 3 distinct names$`,
	},
	"scenario3-private-service-connect": {
		`^   dial b3\.abc\.us-west1\.example\.com:\d+ => 127\.0\.0\.1:\d+ via direct \(rule 1: \*\.abc\.us-west1\.example\.com => 127\.0\.0\.1\)$`,
		`^   produced 9 records to orders and consumed them back$`,
	},
	"scenario4-one-host-several-ports": {
		`^   dial node1:9092 => 127\.0\.0\.1:\d+ via direct \(rule 1: node1:9092 => 127\.0\.0\.1:\d+\)$`,
		`^   dial node3:9092 => 127\.0\.0\.1:\d+ via direct \(rule 3: node3:9092 => 127\.0\.0\.1:\d+\)$`,
		`^   produced 9 records to payments and consumed them back$`,
	},
	"scenario5-registry": {
		`^   explain kafka\.vpc-c\.invalid:9092: no rule: refused \(strict\)$`,
		`^   dial kafka\.vpc-c\.invalid:9092 => 127\.0\.0\.1:\d+ via socks5://127\.0\.0\.1:\d+ \(Lookup\)$`,
		`^   produced 9 records to step3 and consumed them back$`,
		`^   dial kafka\.vpc-b\.invalid:9092 failed: kafkanat: dial kafka\.vpc-b\.invalid:9092 \(no rule matched\): no route: `,
		`^   dial kafka\.vpc-b\.invalid:9092 => 127\.0\.0\.1:\d+ via socks5://127\.0\.0\.1:\d+ \(rule 1: kafka\.vpc-b\.invalid:9092 => 127\.0\.0\.1:\d+\)$`,
		`^   socks5://127\.0\.0\.1:\d+ +dials +[1-9]\d*, failures +0, open 0$`,
		`^   socks5://127\.0\.0\.1:\d+ +dials +[1-9]\d*, failures +[1-9]\d*, open 0$`,
	},
	"franz-go": {
		`^  connected b0\.kafka\.internal\.invalid:9092 => 127\.0\.0\.1:\d+ via direct \(rule 1: b0\.kafka\.internal\.invalid:9092 => 127\.0\.0\.1:\d+\)$`,
		`^ping: the seed broker answered$`,
		`^consumed it back: "hello through kafkanat at .+"$`,
	},
	"sarama": {
		`^   dial b2\.kafka\.internal\.invalid:9092 => 127\.0\.0\.1:\d+ via direct \(rule 3: b2\.kafka\.internal\.invalid:9092 => 127\.0\.0\.1:\d+\)$`,
		`^consumed it back over TLS=true: "hello through kafkanat at .+"$`,
	},
}

func TestExamples(t *testing.T) {
	root := moduleRoot(t)
	dirs := exampleDirs(t, root)
	for _, name := range []string{"quickstart", "scenario1-reverse-tunnel", "scenario5-registry", "franz-go", "sarama"} {
		if !slices.Contains(dirs, name) {
			t.Errorf("examples/%s is missing", name)
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the examples: %v", err)
	}
	bin := t.TempDir()
	for _, name := range dirs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// An example resolving a hidden name with the machine's
			// resolver would send a DNS query off the machine: refuse to
			// run one that does not install the offline resolver.
			if !usesOfflineResolver(t, filepath.Join(root, name)) {
				t.Fatalf("examples/%s does not set net.DefaultResolver = kafkanattest.OfflineResolver() for its embedded run; not running it", name)
			}
			exe := filepath.Join(bin, name)
			build := exec.Command(goTool, "build", "-o", exe, "./"+name)
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
			}

			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, exe)
			cmd.Dir = root
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			t.Logf("examples/%s ran for %v\n--- stdout\n%s--- stderr\n%s", name, time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
			if ctx.Err() != nil {
				t.Fatalf("examples/%s did not finish within %v", name, runTimeout)
			}
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				t.Fatalf("examples/%s exited with status %d", name, exit.ExitCode())
			}
			if err != nil {
				t.Fatalf("examples/%s: %v", name, err)
			}
			want, known := keyLines[name]
			if !known {
				if strings.TrimSpace(stdout.String()) == "" {
					t.Fatalf("examples/%s printed nothing", name)
				}
				t.Logf("examples/%s has no key lines in keyLines; checked exit status and output only", name)
			}
			lines := strings.Split(stdout.String(), "\n")
			for _, w := range want {
				if !slices.ContainsFunc(lines, regexp.MustCompile(w).MatchString) {
					t.Errorf("examples/%s printed no line matching %s", name, w)
				}
			}
		})
	}
}

// moduleRoot finds the directory holding go.mod above the test's: the
// examples module's root.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// exampleDirs lists the directories directly under examples that hold a
// main package.
func exampleDirs(t *testing.T, examples string) []string {
	t.Helper()
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := filepath.Glob(filepath.Join(examples, e.Name(), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(f, "_test.go") && packageMain.Match(src) {
				dirs = append(dirs, e.Name())
				break
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no example programs under %s", examples)
	}
	return dirs
}

// usesOfflineResolver reports whether a Go file in dir installs
// kafkanattest.OfflineResolver.
func usesOfflineResolver(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if offlineResolver.Match(src) {
			return true
		}
	}
	return false
}

var offlineResolver = regexp.MustCompile(`net\.DefaultResolver\s*=\s*kafkanattest\.OfflineResolver\(\)`)

var packageMain = regexp.MustCompile(`(?m)^package main\s*$`)

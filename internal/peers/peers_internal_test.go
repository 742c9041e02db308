package peers

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recordingTB stands in for the test a helper receives, to observe whether
// the helper skips or fails it. Fatal and Skip end the calling goroutine,
// as testing's do.
type recordingTB struct {
	testing.TB // the real test: TempDir, Cleanup, Logf
	skipped    string
	fatal      string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with r on its own goroutine, so that Goexit ends only fn.
func (r *recordingTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
}

func TestMissingBinary(t *testing.T) {
	const name = "kafkanat-peers-no-such-binary"
	t.Run("skips outside CI", func(t *testing.T) {
		t.Setenv("CI", "")
		r := &recordingTB{TB: t}
		r.run(func(tb testing.TB) { lookBinary(tb, name, "some-package") })
		if r.fatal != "" || !strings.Contains(r.skipped, name) || !strings.Contains(r.skipped, "Debian package some-package") {
			t.Errorf("skipped %q, fatal %q; want a skip naming %s and its Debian package", r.skipped, r.fatal, name)
		}
	})
	t.Run("fails in CI", func(t *testing.T) {
		t.Setenv("CI", "true")
		r := &recordingTB{TB: t}
		r.run(func(tb testing.TB) { lookBinary(tb, name, "some-package") })
		if r.skipped != "" || !strings.Contains(r.fatal, name) || !strings.Contains(r.fatal, "Debian package some-package") {
			t.Errorf("skipped %q, fatal %q; want a failure naming %s and its Debian package", r.skipped, r.fatal, name)
		}
	})
}

func TestPeerThatExitsFailsWithItsOutput(t *testing.T) {
	sh := lookBinary(t, "sh", "dash")
	r := &recordingTB{TB: t}
	r.run(func(tb testing.TB) {
		start(tb, peer{
			name: "failing-peer",
			bin:  sh,
			args: func(dir string, port int) ([]string, error) {
				return []string{"-c", fmt.Sprintf("echo cannot bind port %d >&2; exit 3", port)}, nil
			},
		})
	})
	for _, want := range []string{
		"peers: failing-peer did not start",
		"attempt 1 (port ", "attempt 3 (port ",
		"exited before accepting connections (exit status 3)",
		"cannot bind port ",
	} {
		if !strings.Contains(r.fatal, want) {
			t.Errorf("failure %q does not contain %q", r.fatal, want)
		}
	}
}

func TestMicrosocksArguments(t *testing.T) {
	for _, tc := range []struct{ name, user, password, want string }{
		{"user without password", "alice", "", "must both be set"},
		{"password without user", "", "secret-password", "must both be set"},
		{"NUL in password", "alice", "se\x00cret", "cannot be sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recordingTB{TB: t}
			r.run(func(tb testing.TB) { Microsocks(tb, tc.user, tc.password) })
			if !strings.Contains(r.fatal, tc.want) {
				t.Errorf("failure %q, want it to contain %q", r.fatal, tc.want)
			}
			if tc.password != "" && strings.Contains(r.fatal, tc.password) {
				t.Errorf("failure %q shows the password", r.fatal)
			}
		})
	}
}

func TestConfigsStayOnLoopback(t *testing.T) {
	dante := danteConfig(1080)
	for _, want := range []string{"internal: 127.0.0.1 port = 1080\n", "external: 127.0.0.1\n", "from: 127.0.0.0/8 to: 0.0.0.0/0"} {
		if !strings.Contains(dante, want) {
			t.Errorf("dante config lacks %q:\n%s", want, dante)
		}
	}
	tiny := tinyproxyConfig(8888, "/tmp/x/log", "/tmp/x/pid")
	for _, want := range []string{"Port 8888\n", "Listen 127.0.0.1\n", "Allow 127.0.0.1\n"} {
		if !strings.Contains(tiny, want) {
			t.Errorf("tinyproxy config lacks %q:\n%s", want, tiny)
		}
	}
	// A ConnectPort line would restrict CONNECT to the listed ports.
	if strings.Contains(strings.ToLower(tiny), "connectport") {
		t.Errorf("tinyproxy config restricts CONNECT ports:\n%s", tiny)
	}
}

package netns_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// crashEnv makes TestCrashHelper, in a re-executed test binary, build the
// lab and then end the way its value says.
const crashEnv = "KAFKANAT_NETNS_CRASH"

// TestCrashHelper is not a test of its own: TestTeardown runs it in a
// child test binary, which builds its lab (namespaces, reaper, brokers)
// and then panics, fails, or waits to be killed.
func TestCrashHelper(t *testing.T) {
	mode := os.Getenv(crashEnv)
	if mode == "" {
		t.Skip("run by TestTeardown in a child process")
	}
	l := getLab(t)
	fmt.Printf("built %s\n", l.topo.Prefix)
	// The parent checks the lab exists, then says when to end.
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("reading the go-ahead: %v", err)
	}
	switch mode {
	case "panic":
		panic("a test that panics, on purpose")
	case "fail":
		t.Fatal("a test that fails, on purpose")
	case "wait":
		time.Sleep(time.Minute) // until the parent kills the process
	}
}

// TestTeardown proves that a run leaves nothing behind however it ends: a
// child test binary builds a lab, then a test panics, fails, or the
// process is terminated (SIGTERM, as go test's -timeout and Ctrl-C do
// with SIGQUIT and SIGINT) or killed (SIGKILL, which no handler sees).
// Afterwards none of its namespaces, /etc/netns files or processes exist.
func TestTeardown(t *testing.T) {
	getLab(t) // skips where namespaces cannot be built
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode   string
		signal syscall.Signal
	}{
		{"panic", 0}, {"fail", 0}, {"wait", syscall.SIGTERM}, {"wait", syscall.SIGKILL},
	} {
		name := tc.mode
		if tc.signal != 0 {
			name = tc.signal.String()
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(self, "-test.run=^TestCrashHelper$", "-test.v")
			cmd.Env = append(os.Environ(), crashEnv+"="+tc.mode)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			prefix := netns.Prefix(cmd.Process.Pid)
			built := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				var out strings.Builder
				for sc.Scan() {
					out.WriteString(sc.Text() + "\n")
					if strings.HasPrefix(sc.Text(), "built ") {
						built <- sc.Text()
					}
				}
				built <- out.String()
			}()
			select {
			case line := <-built:
				if line != "built "+prefix {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the child did not build its lab: %s\n%s", line, stderr.String())
				}
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the child built no lab in a minute:\n%s", stderr.String())
			}
			if got := leftovers(t, prefix); len(got) == 0 {
				t.Fatalf("the child reported its lab built, but none of %s-* exists: this test would prove nothing", prefix)
			}
			if tc.signal != 0 {
				cmd.Process.Signal(tc.signal)
			} else {
				fmt.Fprintln(stdin, "go")
			}
			err = cmd.Wait()
			if err == nil {
				t.Fatalf("the child passed; it should have %s", name)
			}
			// The reaper acts once the child is gone; give it time.
			deadline := time.Now().Add(30 * time.Second)
			for {
				left := leftovers(t, prefix)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the child %s (%v): left behind %v\nchild stderr:\n%s", name, err, left, stderr.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// leftovers lists what exists of the run with prefix: namespaces,
// /etc/netns directories, and processes inside them.
func leftovers(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := netns.Run("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, prefix+"-") {
			left = append(left, "namespace "+f)
			if pids, err := netns.Run("ip", "netns", "pids", f); err == nil && strings.TrimSpace(pids) != "" {
				left = append(left, "processes "+strings.Join(strings.Fields(pids), ",")+" in "+f)
			}
		}
	}
	dirs, _ := filepath.Glob("/etc/netns/" + prefix + "-*")
	return append(left, dirs...)
}

// TestRemoveStale: what a run whose process is gone left behind is
// removed, with the processes inside; what a live run has is not.
func TestRemoveStale(t *testing.T) {
	getLab(t)
	// A pid that no longer exists: a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := netns.Prefix(gone.Process.Pid) + "-stale"
	live := netns.Prefix(os.Getpid()) + "-stalecheck"
	t.Cleanup(func() {
		// Only this namespace: the rest of the prefix is the lab's.
		netns.Run("ip", "netns", "del", live)
		os.RemoveAll("/etc/netns/" + live)
		if err := netns.Remove(netns.Prefix(gone.Process.Pid)); err != nil {
			t.Error(err)
		}
	})
	for _, ns := range []string{dead, live} {
		if _, err := netns.Run("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("/etc/netns/"+ns, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sleep, err := netns.Binary("sleep")
	if err != nil {
		t.Fatal(err)
	}
	sleeper, err := netns.Start(netns.Spec{Name: "sleep", NS: dead, Bin: sleep, Args: []string{"60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sleeper.Stop()
	removed, err := netns.RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	if left := leftovers(t, netns.Prefix(gone.Process.Pid)); len(left) > 0 {
		t.Errorf("the dead run's %v is still there", left)
	}
	select {
	case <-sleeper.Exited():
	case <-time.After(10 * time.Second):
		t.Error("the process in the dead run's namespace was not killed")
	}
	if left := leftovers(t, netns.Prefix(os.Getpid())); !strings.Contains(strings.Join(left, " "), live) {
		t.Errorf("the live run's namespace %s was removed; left: %v", live, left)
	}
}

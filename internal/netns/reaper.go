package netns

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// RoleEnv names the environment variable that makes the test binary,
// re-executed, play a role (a reaper, a broker, a client) instead of
// running tests.
const RoleEnv = "KAFKANAT_NETNS_ROLE"

// prefixEnv tells the reaper the prefix of the run it guards.
const prefixEnv = "KAFKANAT_NETNS_PREFIX"

// Reaper is a process that removes a run's namespaces when the run ends,
// however it ends: it waits for its standard input to close, which
// happens when the test process exits, panics or is killed.
type Reaper struct {
	cmd *exec.Cmd
	w   io.WriteCloser
}

// StartReaper starts the current executable as the reaper of the run
// whose names start with prefix. The executable's main (TestMain) must
// call ReaperMain when RoleEnv is "reaper".
func StartReaper(prefix string) (*Reaper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), RoleEnv+"=reaper", prefixEnv+"="+prefix)
	// Its own process group: a Ctrl-C at the terminal must not reach it
	// before it has done its work. No Pdeathsig, of course.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the reaper: %w", err)
	}
	return &Reaper{cmd: cmd, w: w}, nil
}

// Done releases the reaper (which removes whatever is left) and waits for it.
func (r *Reaper) Done() error {
	r.w.Close()
	return r.cmd.Wait()
}

// ReaperMain is the reaper's program: it returns the exit code after its
// standard input has closed and the run's namespaces are removed.
func ReaperMain() int {
	prefix := os.Getenv(prefixEnv)
	if prefix == "" {
		fmt.Fprintln(os.Stderr, "netns reaper: "+prefixEnv+" is not set")
		return 2
	}
	// Signals meant for the test process (Ctrl-C, go test's timeout) must
	// not stop the reaper before it has cleaned up.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := Remove(prefix); err != nil {
		fmt.Fprintf(os.Stderr, "netns reaper: removing %s-*: %v\n", prefix, err)
		return 1
	}
	return 0
}

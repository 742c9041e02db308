package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkanat/kafkanat/internal/testnet"
)

// stopTimeout is how long a process gets to exit on SIGTERM before its
// process group is killed.
const stopTimeout = 5 * time.Second

// Process is a program running inside a network namespace, in a process
// group of its own, killed by the kernel if the test process dies first.
type Process struct {
	Name string // for messages

	cmd    *exec.Cmd
	out    testnet.SyncBuffer // stderr, and stdout unless OnLine takes it
	lines  sync.WaitGroup
	exited chan struct{}
	err    error // of Wait; read after exited is closed
}

// Spec says what to start and how.
type Spec struct {
	Name string   // for messages
	NS   string   // network namespace
	Bin  string   // executable
	Args []string // arguments
	Env  []string // the whole environment; nil means the test's
	Dir  string   // working directory; "" means the test's

	// Stdin, if not nil, is the process's standard input.
	Stdin io.Reader
	// OnLine, if not nil, receives each line the process writes to
	// standard output, from a goroutine of its own, until the output
	// closes; Wait returns after the last call.
	OnLine func(line string)
}

// Start starts s inside its namespace ("ip netns exec NS BIN ARGS...";
// ip execs the program, which keeps ip's pid).
func Start(s Spec) (*Process, error) {
	ip, err := Binary("ip")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(ip, append([]string{"netns", "exec", s.NS, s.Bin}, s.Args...)...)
	cmd.Env, cmd.Dir, cmd.Stdin = s.Env, s.Dir, s.Stdin
	// Its own group, so that stopping it stops what it forks (danted,
	// socat); and SIGKILL if the test process dies before stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	p := &Process{Name: s.Name, cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &p.out
	var stdout io.ReadCloser
	if s.OnLine != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	} else {
		cmd.Stdout = &p.out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", s.Name, s.NS, err)
	}
	if stdout != nil {
		p.lines.Add(1)
		go func() {
			defer p.lines.Done()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				s.OnLine(sc.Text())
			}
			// Drain what a line too long for the scanner left, so the
			// process never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, stdout)
		}()
	}
	go func() {
		p.lines.Wait() // Wait closes stdout: read it all first
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited and its output is read.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the result of waiting for the process; valid once Exited is closed.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Output is what the process wrote to standard error (and to standard
// output, unless OnLine reads it) so far.
func (p *Process) Output() string { return strings.TrimRight(p.out.String(), "\n") }

// Stop asks the process group to exit (SIGTERM), kills it after
// stopTimeout, and waits. It returns nil if the process had to be stopped
// or exited cleanly, and the exit error if it had already failed.
func (p *Process) Stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
	}
	// Also what it forked and left behind.
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.exited
	return nil
}

// Kill kills the process group at once, as a crash would, and waits.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.exited
}

// WaitListening waits until something in the process's namespace listens
// on TCP addr (read from /proc/PID/net/tcp, so nothing is dialed), the
// process exits, or timeout passes.
func (p *Process) WaitListening(addr netip.AddrPort, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v) before listening on %s; output:\n%s", p.Name, p.err, addr, p.Output())
		default:
		}
		ok, err := Listening(p.Pid(), addr)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("no such listener")
			}
			return fmt.Errorf("%s is not listening on %s after %v (%v); output:\n%s", p.Name, addr, timeout, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parentNetEnv carries the test process's network namespace to the
// programs it starts inside the namespaces it built.
const parentNetEnv = "KAFKANAT_NETNS_PARENT_NET"

// ParentNetEnv returns the environment entry that CheckNotParentNamespace,
// in a program the test starts, compares its namespace with.
func ParentNetEnv() (string, error) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	return parentNetEnv + "=" + self, nil
}

// CheckNotParentNamespace returns an error unless the calling process
// runs in a network namespace other than the test process's (named by
// ParentNetEnv in its environment). The programs the tests run inside
// namespaces call it first: the machine's own network may use the same
// documentation ranges, and it is routed off the machine.
func CheckNotParentNamespace() error {
	parent := os.Getenv(parentNetEnv)
	if parent == "" {
		return errors.New(parentNetEnv + " is not set: start the program with ParentNetEnv in its environment")
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if self == parent {
		return fmt.Errorf("running in the test process's own network namespace (%s), not in one the test built", self)
	}
	return nil
}

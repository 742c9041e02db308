package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testnet"
)

// daemon is a real proxy (microsocks, tinyproxy) the test can kill and
// restart on the same port, which internal/peers does not offer: a proxy
// that crashes and comes back where clients expect it. It runs in its own
// process group with SIGKILL as its parent-death signal, and is stopped at
// cleanup.
type daemon struct {
	t    testing.TB
	name string
	bin  string
	args []string // the command line; never printed (may hold a password)
	dir  string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *testnet.SyncBuffer
}

// lookBinary returns the path of name, or skips the test (fails it in CI,
// which installs every peer) when it is not installed.
func lookBinary(t testing.TB, name, debPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("%s not installed (Debian package %s)", name, debPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must install it")
	}
	t.Skip(msg)
	return ""
}

// startMicrosocks runs microsocks on a free loopback port, without
// authentication, and returns it; its URL is socks5://ADDR.
func startMicrosocks(t testing.TB) *daemon {
	t.Helper()
	bin := lookBinary(t, "microsocks", "microsocks")
	return startDaemon(t, "microsocks", bin, func(dir string, port int) []string {
		return []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port)}
	})
}

// startTinyproxy runs tinyproxy in the foreground on a free loopback port,
// allowing CONNECT to every port; its URL is http://ADDR.
func startTinyproxy(t testing.TB) *daemon {
	t.Helper()
	bin := lookBinary(t, "tinyproxy", "tinyproxy")
	return startDaemon(t, "tinyproxy", bin, func(dir string, port int) []string {
		conf := filepath.Join(dir, "tinyproxy.conf")
		// No ConnectPort lines: CONNECT to every port. No User: it keeps
		// the test's user, which can write dir.
		text := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 200\nAllow 127.0.0.1\nDisableViaHeader Yes\nLogLevel Error\nLogFile %q\nPidFile %q\n",
			port, filepath.Join(dir, "tinyproxy.log"), filepath.Join(dir, "tinyproxy.pid"))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("writing tinyproxy config: %v", err)
		}
		return []string{"-d", "-c", conf}
	})
}

// startDaemon starts bin with the command line args builds for a free
// port, trying a few ports in case one is taken between the check and the
// bind.
func startDaemon(t testing.TB, name, bin string, args func(dir string, port int) []string) *daemon {
	t.Helper()
	var errs []error
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		dir := t.TempDir()
		d := &daemon{t: t, name: name, bin: bin, args: args(dir, port), dir: dir,
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		if err := d.start(); err != nil {
			errs = append(errs, err)
			continue
		}
		t.Cleanup(func() {
			d.Kill()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, d.output())
			}
		})
		return d
	}
	t.Fatalf("%s did not start: %v", name, errs)
	return nil
}

// start runs the process and waits until it accepts connections.
func (d *daemon) start() error {
	cmd := exec.Command(d.bin, d.args...)
	cmd.Dir = d.dir
	out := new(testnet.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", d.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	d.mu.Lock()
	d.cmd, d.exited, d.out = cmd, exited, out
	d.mu.Unlock()
	deadline := time.Now().Add(hangGuard)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before accepting on %s: %s", d.name, d.addr, d.output())
		default:
		}
		if c, err := net.DialTimeout("tcp", d.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			d.Kill()
			return fmt.Errorf("%s not accepting on %s after %v", d.name, d.addr, hangGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills the process group at once, as a crash would (every
// connection it relays dies with it), and waits for it to exit.
func (d *daemon) Kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil // signal a process once: its id may be reused after it is reaped
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return // already gone and reaped
	default:
	}
	// The group id is the pid of the process we started (Setpgid).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Restart starts the process again on the same port. The old process's
// connections may still hold the port in TIME_WAIT for a moment, so a
// start that fails is retried until hangGuard.
func (d *daemon) Restart() {
	d.t.Helper()
	d.Kill()
	deadline := time.Now().Add(hangGuard)
	for {
		err := d.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("restarting %s on %s: %v", d.name, d.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) output() string {
	d.mu.Lock()
	out := d.out
	d.mu.Unlock()
	s := out.String()
	if b, err := os.ReadFile(filepath.Join(d.dir, "tinyproxy.log")); err == nil {
		s += string(b)
	}
	return s
}

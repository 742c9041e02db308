package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testnet"
)

// peerTB lets the harness start real peers with package internal/peers,
// which is written for tests: it implements the testing.TB methods peers
// calls. Fatal and Skip end the call to startPeer (as they end a test),
// cleanups run at close. The embedded testing.TB is nil: a method peers
// does not call panics, and startPeer reports that as an error.
type peerTB struct {
	testing.TB
	log io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func newPeerTB(log io.Writer) *peerTB { return &peerTB{log: log} }

// peerAbort is the panic value of Fatal and Skip.
type peerAbort struct {
	skip bool
	msg  string
}

func (p *peerTB) Helper()      {}
func (p *peerTB) Name() string { return "datapath" }
func (p *peerTB) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}
func (p *peerTB) Log(args ...any)                 { fmt.Fprintln(p.log, args...) }
func (p *peerTB) Logf(format string, args ...any) { fmt.Fprintf(p.log, format+"\n", args...) }
func (p *peerTB) Error(args ...any)               { p.fail(); p.Log(args...) }
func (p *peerTB) Errorf(format string, args ...any) {
	p.fail()
	p.Logf(format, args...)
}
func (p *peerTB) Fatal(args ...any) { p.fail(); panic(peerAbort{msg: fmt.Sprint(args...)}) }
func (p *peerTB) Fatalf(format string, args ...any) {
	p.fail()
	panic(peerAbort{msg: fmt.Sprintf(format, args...)})
}
func (p *peerTB) Skip(args ...any) { panic(peerAbort{skip: true, msg: fmt.Sprint(args...)}) }
func (p *peerTB) Skipf(format string, args ...any) {
	panic(peerAbort{skip: true, msg: fmt.Sprintf(format, args...)})
}
func (p *peerTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

// TempDir returns a new directory, removed at close.
func (p *peerTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kafkanat-datapath-")
	if err != nil {
		p.Fatalf("creating a temp dir: %v", err)
	}
	p.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (p *peerTB) fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = true
}

// close runs the cleanups, last registered first. Calling it again does
// nothing.
func (p *peerTB) close() {
	p.mu.Lock()
	fs := p.cleanups
	p.cleanups = nil
	p.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// startPeer runs start, a function of package peers, with tb. A missing
// binary becomes an error wrapping errSkip (unless CI=true, where peers
// fails instead); a failure to start, an error.
func startPeer(tb testing.TB, start func(testing.TB) string) (url string, err error) {
	defer func() {
		switch v := recover().(type) {
		case nil:
		case peerAbort:
			if v.skip {
				err = &skipError{v.msg}
			} else {
				err = errors.New(v.msg)
			}
		default:
			err = fmt.Errorf("starting a peer: %v", v)
		}
	}()
	return start(tb), nil
}

// startSocat starts socat forwarding 127.0.0.1:port to target, forking a
// process per connection; stopping it stops every process it forked. With nodelay, both of socat's sockets set TCP_NODELAY
// (by default socat leaves Nagle's algorithm on). socat is Debian's package
// socat.
func startSocat(port int, target string, nodelay bool) (*forwarder, error) {
	listen, connect := fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), "TCP:"+target
	if nodelay {
		listen, connect = listen+",nodelay", connect+",nodelay"
	}
	return startForwarder("socat", "socat", port, listen, connect)
}

// forwarder is a process that forwards a local port, started by
// startForwarder.
type forwarder struct {
	cmd  *exec.Cmd
	stop func() // stops it and every process it forked
}

// startForwarder starts bin (found as findBinary does; pkg is its Debian
// package) with args, and returns once 127.0.0.1:port accepts. A missing
// binary is an error wrapping errSkip, except under CI=true.
func startForwarder(bin, pkg string, port int, args ...string) (*forwarder, error) {
	path := findBinary(bin)
	if path == "" {
		msg := bin + " not installed (Debian package " + pkg + ")"
		if os.Getenv("CI") == "true" {
			return nil, errors.New(msg + "; CI must install it")
		}
		return nil, &skipError{msg}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(path, args...)
	var out testnet.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setProcAttr(cmd)
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		terminate(cmd)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		kill(cmd)
		<-exited
	}
	// Wait until it accepts; the probe conn goes away at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return &forwarder{cmd: cmd, stop: stop}, nil
		}
		select {
		case <-exited:
			stop()
			return nil, fmt.Errorf("%s on %s exited before accepting: %s", bin, addr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s not accepting on %s after 10s: %v; output: %s", bin, addr, err, out.String())
		}
	}
}

// findBinary returns the path of an executable, found in PATH or in the
// directories Debian installs programs and daemons in, or "".
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		// Held until all are found, so that the n ports differ.
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

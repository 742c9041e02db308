package peers

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testnet"
)

const (
	// startTimeout bounds how long a peer may take to accept its first
	// connection.
	startTimeout = 10 * time.Second
	// startAttempts is how often a peer is started on a fresh port: a port
	// found free can be taken by someone else before the peer binds it.
	startAttempts = 3
	// stopTimeout is how long a peer gets to exit on SIGTERM before it is
	// killed.
	stopTimeout = 5 * time.Second
)

// Microsocks starts microsocks (Debian package microsocks) on a free
// 127.0.0.1 port and returns its URL, "socks5://127.0.0.1:P", or
// "socks5://user:password@127.0.0.1:P" when credentials are given, in which
// case microsocks requires them (RFC 1929). user and password must both be
// set or both be empty.
func Microsocks(t testing.TB, user, password string) string {
	t.Helper()
	if (user == "") != (password == "") {
		t.Fatalf("peers.Microsocks: user and password must both be set or both be empty (user %q)", user)
	}
	if strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0) || len(user) > 255 || len(password) > 255 {
		t.Fatalf("peers.Microsocks: user %q or password cannot be sent in RFC 1929 (at most 255 bytes, no NUL)", user)
	}
	bin := lookBinary(t, "microsocks", "microsocks")
	addr := start(t, peer{
		name: "microsocks",
		bin:  bin,
		args: func(dir string, port int) ([]string, error) {
			args := []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port)}
			if user != "" {
				args = append(args, "-u", user, "-P", password)
			}
			return args, nil
		},
	})
	u := &url.URL{Scheme: "socks5", Host: addr}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Dante starts danted (Debian package dante-server) on a free 127.0.0.1 port,
// without authentication, and returns its URL, "socks5://127.0.0.1:P". It
// accepts clients from 127.0.0.0/8 and connects to any target from
// 127.0.0.1, resolving host names itself.
func Dante(t testing.TB) string {
	t.Helper()
	bin := lookBinary(t, "danted", "dante-server")
	addr := start(t, peer{
		name: "danted",
		bin:  bin,
		args: func(dir string, port int) ([]string, error) {
			conf := filepath.Join(dir, "danted.conf")
			if err := os.WriteFile(conf, []byte(danteConfig(port)), 0o600); err != nil {
				return nil, err
			}
			return []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid")}, nil
		},
		// Dante keeps lock and memory-mapped files in TMPDIR.
		env: func(dir string) []string { return []string{"TMPDIR=" + dir} },
	})
	return (&url.URL{Scheme: "socks5", Host: addr}).String()
}

// danteConfig is danted's configuration (dante 1.4 syntax, danted.conf(5)):
// no authentication, loopback clients only, outgoing connections from
// 127.0.0.1. user.privileged root lets the process, started as root in CI,
// keep the rights it needs; as another user it only names the user to switch
// to for privileged operations, which this configuration never performs.
func danteConfig(port int) string {
	return fmt.Sprintf(`logoutput: stderr
internal: 127.0.0.1 port = %d
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
}
`, port)
}

// Tinyproxy starts tinyproxy (Debian package tinyproxy) in the foreground on
// a free 127.0.0.1 port and returns its URL, "http://127.0.0.1:P". It allows
// CONNECT to every port, serves only 127.0.0.1 and adds no Via header.
func Tinyproxy(t testing.TB) string {
	t.Helper()
	bin := lookBinary(t, "tinyproxy", "tinyproxy")
	var logFile string
	addr := start(t, peer{
		name: "tinyproxy",
		bin:  bin,
		args: func(dir string, port int) ([]string, error) {
			conf := filepath.Join(dir, "tinyproxy.conf")
			logFile = filepath.Join(dir, "tinyproxy.log")
			text := tinyproxyConfig(port, logFile, filepath.Join(dir, "tinyproxy.pid"))
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			return []string{"-d", "-c", conf}, nil
		},
		// tinyproxy writes to its log file, not to stderr, once configured.
		log: func() string { return logFile },
	})
	return (&url.URL{Scheme: "http", Host: addr}).String()
}

// tinyproxyConfig is tinyproxy's configuration (tinyproxy.conf(5), 1.11).
// Without ConnectPort lines CONNECT is allowed to every port. No User or
// Group: tinyproxy then keeps running as the user that started it (with a
// warning when that is root), which can write the temp dir.
func tinyproxyConfig(port int, logFile, pidFile string) string {
	return fmt.Sprintf(`Port %d
Listen 127.0.0.1
Timeout 60
MaxClients 100
Allow 127.0.0.1
DisableViaHeader Yes
LogLevel Info
LogFile %q
PidFile %q
`, port, logFile, pidFile)
}

// lookBinary returns the path of a peer's executable, or skips the test (fails
// it in CI, where .ci/run installs every peer) when it is not installed.
func lookBinary(t testing.TB, name, debPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	// Daemons live in sbin, which is not on every user's PATH.
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("peers: %s not installed (Debian package %s)", name, debPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must install it")
	}
	t.Skip(msg)
	return ""
}

// peer describes how to run one peer on a given port.
type peer struct {
	name string
	bin  string
	// args writes any config into dir and returns the command line. The
	// command line is never printed: it may hold a password.
	args func(dir string, port int) ([]string, error)
	env  func(dir string) []string // added to the environment; may be nil
	log  func() string             // a log file to show on failure; may be nil
}

// start runs p on a free loopback port until the test ends and returns the
// address it accepts on.
func start(t testing.TB, p peer) string {
	t.Helper()
	var failures []string
	for attempt := 1; attempt <= startAttempts; attempt++ {
		dir := t.TempDir()
		port, err := freePort()
		if err != nil {
			t.Fatalf("peers: %s: %v", p.name, err)
		}
		addr, err := p.run(t, dir, port)
		if err == nil {
			return addr
		}
		failures = append(failures, fmt.Sprintf("attempt %d (port %d): %v", attempt, port, err))
	}
	t.Fatalf("peers: %s did not start:\n%s", p.name, strings.Join(failures, "\n"))
	return ""
}

// run starts p once. On success the process is stopped in t.Cleanup; on
// error it has already been stopped.
func (p peer) run(t testing.TB, dir string, port int) (string, error) {
	args, err := p.args(dir, port)
	if err != nil {
		return "", fmt.Errorf("writing config: %w", err)
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if p.env != nil {
		cmd.Env = append(cmd.Env, p.env(dir)...)
	}
	out := new(testnet.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	// Wait returns even if a forked child still holds the output pipe.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	output := func() string {
		s := out.String()
		if p.log != nil {
			if b, err := os.ReadFile(p.log()); err == nil {
				s += string(b)
			}
		}
		if s == "" {
			return "(no output)"
		}
		return s
	}
	stop := func() {
		select {
		case <-exited:
		default:
			terminate(cmd)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
			}
		}
		// Also catches children forked while the peer handled SIGTERM
		// (danted forks its workers at startup).
		kill(cmd)
		<-exited
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitAccepting(addr, exited); err != nil {
		stop()
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return "", fmt.Errorf("%w; output:\n%s", err, output())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("peers: %s on %s output:\n%s", p.name, addr, output())
		}
	})
	return addr, nil
}

var errExited = errors.New("exited before accepting connections")

// waitAccepting polls until addr accepts a TCP connection, the process exits,
// or startTimeout passes.
func waitAccepting(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting on %s after %v: %w", addr, startTimeout, err)
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

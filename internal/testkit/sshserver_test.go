package testkit_test

// Tests of SSHServer, driven by x/crypto/ssh's own client. Helpers come
// from proxy_test.go (prefixed "proxy") or are prefixed "ssh".

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kafkanat/kafkanat/internal/testkit"
)

func sshServer(t *testing.T, opts ...testkit.SSHOption) *testkit.SSHServer {
	t.Helper()
	s, err := testkit.NewSSHServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// sshClient logs in to s, verifying its host key.
func sshClient(t *testing.T, s *testkit.SSHServer, user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	cl, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { cl.Close() })
	}
	return cl, err
}

func mustSSHClient(t *testing.T, s *testkit.SSHServer, user string, auth ...ssh.AuthMethod) *ssh.Client {
	t.Helper()
	cl, err := sshClient(t, s, user, auth...)
	if err != nil {
		t.Fatalf("login as %q: %v", user, err)
	}
	return cl
}

// sshRoundTrip opens a channel to target and expects msg echoed.
func sshRoundTrip(t *testing.T, cl *ssh.Client, target, msg string) {
	t.Helper()
	c, err := cl.Dial("tcp", target)
	if err != nil {
		t.Fatalf("channel to %s: %v", target, err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v; want %q", buf, err, msg)
	}
}

func TestSSHServerPassword(t *testing.T) {
	echo := proxyEcho(t)
	s := sshServer(t, testkit.WithSSHPassword("alice", "s3cret"), testkit.WithSSHPassword("bob", "pw"))
	cl := mustSSHClient(t, s, "alice", ssh.Password("s3cret"))
	sshRoundTrip(t, cl, echo, "hello")
	mustSSHClient(t, s, "bob", ssh.Password("pw"))
	for _, tc := range []struct{ user, password string }{{"alice", "wrong"}, {"alice", "pw"}, {"mallory", "s3cret"}} {
		if _, err := sshClient(t, s, tc.user, ssh.Password(tc.password)); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("login %s/%s = %v, want refused", tc.user, tc.password, err)
		}
	}
	if got := s.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2 (failed logins do not count)", got)
	}
}

func TestSSHServerAuthorizedKey(t *testing.T) {
	echo := proxyEcho(t)
	signer, pemBytes, err := testkit.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	// The PEM is a key file ssh can read, holding the same key.
	parsed, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatalf("NewSSHKey's PEM: %v", err)
	}
	if !bytes.Equal(parsed.PublicKey().Marshal(), signer.PublicKey().Marshal()) {
		t.Fatal("NewSSHKey's PEM holds another key than its signer")
	}
	if !strings.HasPrefix(string(pemBytes), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Errorf("PEM starts %q, want an OpenSSH private key", pemBytes[:40])
	}
	other, _, err := testkit.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	s := sshServer(t, testkit.WithSSHAuthorizedKey("bob", signer.PublicKey()))
	sshRoundTrip(t, mustSSHClient(t, s, "bob", ssh.PublicKeys(parsed)), echo, "key")
	if _, err := sshClient(t, s, "bob", ssh.PublicKeys(other)); err == nil {
		t.Error("an unknown key was accepted")
	}
	if _, err := sshClient(t, s, "carol", ssh.PublicKeys(signer)); err == nil {
		t.Error("bob's key was accepted for carol")
	}
	if _, err := sshClient(t, s, "bob", ssh.Password("")); err == nil {
		t.Error("password login was accepted by a key-only server")
	}
}

func TestSSHServerNoAuth(t *testing.T) {
	s := sshServer(t)
	sshRoundTrip(t, mustSSHClient(t, s, "anyone"), proxyEcho(t), "open door")
}

func TestSSHServerOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  testkit.SSHOption
		want string
	}{
		{testkit.WithSSHPassword("", "x"), "WithSSHPassword: empty user"},
		{testkit.WithSSHAuthorizedKey("bob", nil), "WithSSHAuthorizedKey: empty user or nil key"},
	} {
		s, err := testkit.NewSSHServer(tc.opt)
		if err == nil {
			s.Close()
			t.Errorf("NewSSHServer succeeded, want %q", tc.want)
		} else if err.Error() != "kafkanattest: SSHServer: "+tc.want {
			t.Errorf("error %q, want %q", err, tc.want)
		}
	}
}

func TestSSHServerKnownHosts(t *testing.T) {
	s := sshServer(t)
	line := s.KnownHosts()
	host, port, _ := net.SplitHostPort(s.Addr())
	if !strings.HasPrefix(line, "["+host+"]:"+port+" ssh-ed25519 ") {
		t.Errorf("KnownHosts() = %q", line)
	}
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(f)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: "u", HostKeyCallback: cb, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("known_hosts from KnownHosts() rejected the server: %v", err)
	}
	cl.Close()
	if s.HostKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s", s.HostKey().Type())
	}
}

func TestSSHServerTargetsAndDialer(t *testing.T) {
	echo := proxyEcho(t)
	const hidden = "b1.kafka.internal.invalid:9092"
	s := sshServer(t, testkit.WithSSHDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		if address != hidden {
			return nil, errors.New("no such host")
		}
		return proxyDialTo(echo)(ctx, network, address)
	}))
	cl := mustSSHClient(t, s, "u")
	sshRoundTrip(t, cl, hidden, "unresolved")
	_, err := cl.Dial("tcp", "b2.kafka.internal.invalid:9092")
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed || oce.Message != "no such host" {
		t.Errorf("channel to an unknown name: %v, want connect failed (no such host)", err)
	}
	if _, err := cl.Dial("tcp", "[::1]:9"); err == nil {
		t.Error("channel to [::1]:9 opened, want refused")
	}
	want := []string{hidden, "b2.kafka.internal.invalid:9092", "[::1]:9"}
	if got := s.Targets(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Targets() = %q, want %q", got, want)
	}
}

func TestSSHServerRefusals(t *testing.T) {
	s := sshServer(t)
	cl := mustSSHClient(t, s, "u")
	_, err := cl.Dial("tcp", proxyClosedPort(t))
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed || !strings.Contains(oce.Message, "connection refused") {
		t.Errorf("channel to a closed port: %v", err)
	}
	if _, err := cl.NewSession(); !errors.As(err, &oce) || oce.Reason != ssh.UnknownChannelType {
		t.Errorf("session channel: %v, want refused as an unknown channel type", err)
	}
	// The connection survives refusals.
	sshRoundTrip(t, cl, proxyEcho(t), "still here")
	if got := s.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

// EOF passes both ways as a half-close.
func TestSSHServerHalfClose(t *testing.T) {
	s := sshServer(t)
	cl := mustSSHClient(t, s, "u")
	c, err := cl.Dial("tcp", proxyCounter(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got 5 bytes" {
		t.Errorf("read %q, %v; want %q, then EOF", got, err, "got 5 bytes")
	}
}

// A client closing its channel right after writing still gets its bytes
// delivered before the target conn is closed, as OpenSSH drains them.
func TestSSHServerDeliversBeforeClose(t *testing.T) {
	got := make(chan []byte, 1)
	target := proxyServe(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	s := sshServer(t)
	cl := mustSSHClient(t, s, "u")
	c, err := cl.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("0123456789"), 50000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, msg) {
			t.Errorf("target got %d bytes, want %d", len(b), len(msg))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the target conn was not closed after the channel")
	}
}

func TestSSHServerDropConnections(t *testing.T) {
	echo := proxyEcho(t)
	s := sshServer(t)
	cl := mustSSHClient(t, s, "u")
	c, err := cl.Dial("tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.DropConnections()
	waited := make(chan error, 1)
	go func() { waited <- cl.Wait() }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not see its connection end")
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read on a channel of the dropped connection = %v, want EOF", err)
	}
	sshRoundTrip(t, mustSSHClient(t, s, "u"), echo, "new connection")
	if got := s.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2", got)
	}
}

// Close ends relays, silent clients and dials in flight, and returns only
// once every goroutine of the server is gone.
func TestSSHServerCloseWaits(t *testing.T) {
	echo := proxyEcho(t)
	dialing := make(chan struct{})
	var dialEnded atomic.Bool
	s, err := testkit.NewSSHServer(testkit.WithSSHDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == "stuck.kafkanat.invalid:9092" {
			close(dialing)
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // ends slowly: Close must wait
			dialEnded.Store(true)
			return nil, ctx.Err()
		}
		return proxyDialTo(echo)(ctx, network, address)
	}))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sshClient(t, s, "u")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	relayed, err := cl.Dial("tcp", "echo.kafkanat.invalid:7")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	defer relayed.Close()
	// A client that never starts its handshake.
	proxyDial(t, s.Addr())
	// A dial the server is stuck in; it fails when the server closes.
	go cl.Dial("tcp", "stuck.kafkanat.invalid:9092")
	<-dialing

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !dialEnded.Load() {
		t.Error("Close returned before the stuck dial did")
	}
	if left := serverGoroutines(); len(left) > 0 {
		t.Errorf("after Close, %d goroutines of the server remain:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

package tunnel_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/net/nettest"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/tunnel"
)

// sshBastion is an in-process SSH server with a known_hosts file that
// trusts it.
type sshBastion struct {
	*testkit.SSHServer
	knownHosts string // path of a known_hosts file holding the server's key
}

func newSSHBastion(t *testing.T, opts ...testkit.SSHOption) *sshBastion {
	t.Helper()
	s, err := testkit.NewSSHServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("SSHServer.Close: %v", err)
		}
	})
	return &sshBastion{SSHServer: s, knownHosts: writeTemp(t, "known_hosts", s.KnownHosts()+"\n")}
}

// writeTemp writes content to a new file in a temp dir and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sshURL is ssh://userinfo@addr?query.
func sshURL(user *url.Userinfo, addr string, query ...string) *url.URL {
	return &url.URL{Scheme: "ssh", User: user, Host: addr, RawQuery: strings.Join(query, "&")}
}

func newSSHDialer(t *testing.T, u *url.URL, forward testnet.DialFunc) *tunnel.SSHDialer {
	t.Helper()
	var d *tunnel.SSHDialer
	var err error
	if forward != nil {
		d, err = tunnel.NewSSH(u, forward)
	} else {
		d, err = tunnel.NewSSH(u, nil)
	}
	if err != nil {
		t.Fatalf("NewSSH(%s): %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("SSHDialer.Close: %v", err)
		}
	})
	return d
}

// passwordDialer is a dialer through b as alice/s3cret (b must accept them).
func passwordDialer(t *testing.T, b *sshBastion) *tunnel.SSHDialer {
	t.Helper()
	return newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+b.knownHosts), nil)
}

func sshDial(t *testing.T, d *tunnel.SSHDialer, address string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatalf("DialContext(%q) via %s: %v", address, d, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sshDialErr dials and expects an error, which it returns.
func sshDialErr(t *testing.T, d *tunnel.SSHDialer, address string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", address)
	return testnet.MustFail(t, c, err)
}

func newSSHKeyFile(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	signer, pemBytes, err := testkit.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	return signer, writeTemp(t, "id_ed25519", string(pemBytes))
}

func TestNewSSHRejectsBadURLs(t *testing.T) {
	kh := writeTemp(t, "known_hosts", "")
	_, key := newSSHKeyFile(t)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := writeTemp(t, "id_encrypted", string(pem.EncodeToMemory(block)))
	notAKey := writeTemp(t, "not_a_key", "hello")
	missing := filepath.Join(t.TempDir(), "missing")

	t.Setenv("SSH_AUTH_SOCK", "")
	pw := "alice:hunter2@"
	for _, tc := range []struct {
		url, want string
	}{
		{"socks5://alice@127.0.0.1", `scheme "socks5" is not ssh`},
		{"ssh:alice@127.0.0.1", "no host"},
		{"ssh://alice@:22", "no host"},
		{"ssh://alice@127.0.0.1:", "empty port"},
		{"ssh://alice@127.0.0.1:0", `port "0"`},
		{"ssh://alice@127.0.0.1:65536", `port "65536"`},
		{"ssh://127.0.0.1:22", "no user (write ssh://user@127.0.0.1:22)"},
		{"ssh://:hunter2@127.0.0.1", "no user"},
		{"ssh://" + pw + "127.0.0.1/x", `unexpected path "/x"`},
		{"ssh://" + pw + "127.0.0.1#x", `unexpected fragment "x"`},
		{"ssh://" + pw + "127.0.0.1?known_hosts=" + kh + "&port=22", `unknown query parameter "port" (known: key, known_hosts, insecure_ignore_host_key, keepalive, keepalive_max)`},
		{"ssh://" + pw + "127.0.0.1?key=", "key= is empty"},
		{"ssh://" + pw + "127.0.0.1?known_hosts=", "known_hosts= is empty"},
		{"ssh://" + pw + "127.0.0.1?a=%zz", "malformed query"},
		{"ssh://" + pw + "127.0.0.1?insecure_ignore_host_key=yes", `insecure_ignore_host_key="yes" is not true or false`},
		{"ssh://" + pw + "127.0.0.1?insecure_ignore_host_key=true&insecure_ignore_host_key=true", "given 2 times"},
		{"ssh://" + pw + "127.0.0.1?insecure_ignore_host_key=true&known_hosts=" + kh, "contradict"},
		{"ssh://alice@127.0.0.1?known_hosts=" + kh + "&key=" + missing, "reading key: open " + missing},
		{"ssh://alice@127.0.0.1?known_hosts=" + kh + "&key=" + notAKey, "key " + notAKey + " is not a private key"},
		{"ssh://alice@127.0.0.1?known_hosts=" + kh + "&key=" + encrypted, "key " + encrypted + " is encrypted with a passphrase"},
		{"ssh://alice@127.0.0.1?known_hosts=" + kh, "no way to authenticate: give key=PATH (an unencrypted private key), a password (ssh://user:password@host), or run an SSH agent and set SSH_AUTH_SOCK"},
		{"ssh://alice@127.0.0.1?key=" + key + "&known_hosts=" + missing, "known_hosts file " + missing + " does not exist"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			d, err := tunnel.NewSSH(u, nil)
			if err == nil {
				d.Close()
				t.Fatalf("NewSSH = %v, want an error", d)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
	if _, err := tunnel.NewSSH(nil, nil); err == nil {
		t.Error("NewSSH(nil) succeeded")
	}
}

// A missing key or known_hosts file is a plain wrapped error.
func TestNewSSHMissingFiles(t *testing.T) {
	kh := writeTemp(t, "known_hosts", "")
	_, key := newSSHKeyFile(t)
	missing := filepath.Join(t.TempDir(), "missing")
	for _, rawURL := range []string{
		"ssh://alice@127.0.0.1?known_hosts=" + kh + "&key=" + missing,
		"ssh://alice@127.0.0.1?key=" + key + "&known_hosts=" + missing,
	} {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tunnel.NewSSH(u, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("NewSSH(%s) = %v, want an error wrapping fs.ErrNotExist", rawURL, err)
		}
	}
}

// Without known_hosts= the route reads ~/.ssh/known_hosts, and says so
// when it is missing.
func TestSSHDefaultKnownHosts(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	u := sshURL(url.UserPassword("alice", "s3cret"), "127.0.0.1:22")
	_, err := tunnel.NewSSH(u, nil)
	want := "known_hosts file " + filepath.Join(home, ".ssh", "known_hosts") + " does not exist: create it with the bastion's key (e.g. ssh-keyscan -p 22 127.0.0.1 >>"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewSSH without ~/.ssh/known_hosts: %v, want an error containing %q", err, want)
	}

	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(b.KnownHosts()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr()), nil)
	if got, want := d.String(), "ssh://alice:xxxxx@"+b.Addr(); got != want {
		t.Errorf("String() = %q, want %q (the default file is not shown)", got, want)
	}
	testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "via ~/.ssh/known_hosts")
}

// String leaves the query out: key and known_hosts paths are noise in
// every message that names the route.
func TestSSHString(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	_, key := newSSHKeyFile(t)
	for _, tc := range []struct {
		u    *url.URL
		want string
	}{
		{sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+b.knownHosts),
			"ssh://alice:xxxxx@" + b.Addr()},
		{sshURL(url.User("alice"), b.Addr(), "insecure_ignore_host_key=true", "key="+key),
			"ssh://alice@" + b.Addr()},
		{sshURL(url.UserPassword("alice", "s3cret"), "127.0.0.1", "known_hosts="+b.knownHosts),
			"ssh://alice:xxxxx@127.0.0.1:22"},
	} {
		d := newSSHDialer(t, tc.u, nil)
		if got := d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestSSHPassword(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	echo := testnet.Echo(t)
	c := sshDial(t, d, echo)
	testnet.RoundTrip(t, c, "hello through the bastion")
	if got := b.Targets(); len(got) != 1 || got[0] != echo {
		t.Errorf("Targets() = %q, want [%q]", got, echo)
	}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != echo {
		t.Errorf("RemoteAddr() = %v (%T), want the *net.TCPAddr %s", c.RemoteAddr(), c.RemoteAddr(), echo)
	}
	if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || !la.IP.IsLoopback() {
		t.Errorf("LocalAddr() = %v (%T), want our loopback end of the SSH connection", c.LocalAddr(), c.LocalAddr())
	}
}

func TestSSHKey(t *testing.T) {
	signer, key := newSSHKeyFile(t)
	b := newSSHBastion(t, testkit.WithSSHAuthorizedKey("bob", signer.PublicKey()))
	d := newSSHDialer(t, sshURL(url.User("bob"), b.Addr(), "key="+key, "known_hosts="+b.knownHosts), nil)
	testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "key auth")

	// A key the bastion does not know is rejected, naming the user and the key.
	_, other := newSSHKeyFile(t)
	d = newSSHDialer(t, sshURL(url.User("bob"), b.Addr(), "key="+other, "known_hosts="+b.knownHosts), nil)
	err := sshDialErr(t, d, testnet.Echo(t))
	want := fmt.Sprintf(`ssh://bob@%s: authenticate: bastion %s rejected user "bob" (offered public key %s)`,
		b.Addr(), b.Addr(), other)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nwant prefix %q", err, want)
	}
}

// startAgent serves an SSH agent holding keys on a unix socket and points
// SSH_AUTH_SOCK at it.
func startAgent(t *testing.T, keys ...ed25519.PrivateKey) {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "kn-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	testnet.ServeListener(t, ln, func(c net.Conn) { agent.ServeAgent(keyring, c) })
	t.Setenv("SSH_AUTH_SOCK", sock)
}

func TestSSHAgent(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := newSSHBastion(t, testkit.WithSSHAuthorizedKey("carol", sshPub))

	t.Run("key", func(t *testing.T) {
		startAgent(t, priv)
		d := newSSHDialer(t, sshURL(url.User("carol"), b.Addr(), "known_hosts="+b.knownHosts), nil)
		testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "agent auth")
	})
	t.Run("no keys", func(t *testing.T) {
		startAgent(t)
		d := newSSHDialer(t, sshURL(url.User("carol"), b.Addr(), "known_hosts="+b.knownHosts), nil)
		err := sshDialErr(t, d, testnet.Echo(t))
		if !strings.Contains(err.Error(), "holds no keys (add one with ssh-add, or give key=PATH)") {
			t.Errorf("error %q does not say the agent is empty", err)
		}
	})
	t.Run("gone", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "none.sock"))
		d := newSSHDialer(t, sshURL(url.User("carol"), b.Addr(), "known_hosts="+b.knownHosts), nil)
		err := sshDialErr(t, d, testnet.Echo(t))
		if !strings.Contains(err.Error(), "cannot reach the SSH agent at SSH_AUTH_SOCK=") {
			t.Errorf("error %q does not name the agent", err)
		}
	})
}

func TestSSHWrongPassword(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "hunter2"), b.Addr(), "known_hosts="+b.knownHosts), nil)
	err := sshDialErr(t, d, testnet.Echo(t))
	want := fmt.Sprintf(`ssh://alice:xxxxx@%s: authenticate: bastion %s rejected user "alice" (offered password): check the user name and its credentials`,
		b.Addr(), b.Addr())
	if err.Error() != want {
		t.Errorf("error\n %q\nwant\n %q", err, want)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the error shows the password")
	}
	if b.Connections() != 0 {
		t.Errorf("Connections() = %d after a failed login, want 0", b.Connections())
	}
}

func TestSSHHostKeyUnknown(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	other := newSSHBastion(t)
	// known_hosts trusts another server only.
	kh := writeTemp(t, "known_hosts", other.KnownHosts()+"\n")
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+kh), nil)
	err := sshDialErr(t, d, testnet.Echo(t))
	host, port, _ := net.SplitHostPort(b.Addr())
	want := fmt.Sprintf("verify the bastion's host key: host key for [%s]:%s not in known_hosts %s (the bastion offered ssh-ed25519 %s): "+
		"verify that fingerprint out of band, then add the key, e.g. ssh-keyscan -p %s %s >> %s",
		host, port, kh, ssh.FingerprintSHA256(b.HostKey()), port, host, kh)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error\n %q\ndoes not contain\n %q", err, want)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 0 {
		t.Errorf("errors.As(*knownhosts.KeyError) = %v, %+v; want an unknown-key error", errors.As(err, &ke), ke)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Error("the error shows the password")
	}

	// Once the key is added, the same dialer connects: the file is read
	// at every connection.
	if err := os.WriteFile(kh, []byte(b.KnownHosts()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "after adding the key")
}

func TestSSHHostKeyMismatch(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	// The known key for b's address belongs to another server: a MITM or
	// a replaced key.
	imposter := newSSHBastion(t)
	kh := writeTemp(t, "known_hosts", knownhosts.Line([]string{b.Addr()}, imposter.HostKey())+"\n")
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+kh), nil)
	err := sshDialErr(t, d, testnet.Echo(t))
	want := fmt.Sprintf("host key for %s does not match known_hosts %s (the bastion offered ssh-ed25519 %s; known: %s:1): "+
		"someone may be intercepting the connection",
		knownhosts.Normalize(b.Addr()), kh, ssh.FingerprintSHA256(b.HostKey()), kh)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error\n %q\ndoes not contain\n %q", err, want)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 1 {
		t.Errorf("errors.As(*knownhosts.KeyError) = %v, %+v; want a mismatch", errors.As(err, &ke), ke)
	}
	if b.Connections() != 0 {
		t.Errorf("Connections() = %d, want 0: nothing may be sent to an unverified bastion", b.Connections())
	}
}

func TestSSHInsecureIgnoreHostKey(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "insecure_ignore_host_key=true"), nil)
	testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "unverified")
}

func TestNewSSHConfig(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	cfg := &ssh.ClientConfig{
		User:            "alice",
		Auth:            []ssh.AuthMethod{ssh.Password("s3cret")},
		HostKeyCallback: ssh.FixedHostKey(b.HostKey()),
		Timeout:         10 * time.Second,
	}
	d, err := tunnel.NewSSHConfig(b.Addr(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if got, want := d.String(), "ssh://alice@"+b.Addr(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "own config")

	for _, tc := range []struct {
		addr string
		cfg  *ssh.ClientConfig
		want string
	}{
		{b.Addr(), nil, "nil ssh.ClientConfig"},
		{"127.0.0.1", cfg, "not host:port"},
		{"127.0.0.1:0", cfg, `port "0"`},
		{b.Addr(), &ssh.ClientConfig{HostKeyCallback: cfg.HostKeyCallback}, "User is empty"},
		{b.Addr(), &ssh.ClientConfig{User: "alice"}, "HostKeyCallback is nil"},
	} {
		if _, err := tunnel.NewSSHConfig(tc.addr, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSSHConfig(%q) = %v, want an error containing %q", tc.addr, err, tc.want)
		}
	}
}

// Many dials share one SSH connection, each on its own channel.
func TestSSHMultiplexes(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	echo := testnet.Echo(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", echo)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := fmt.Sprintf("conn %d says hello", i)
			if _, err := io.WriteString(c, msg); err != nil {
				errs <- err
				return
			}
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
				errs <- fmt.Errorf("conn %d read %q, %v", i, buf, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := b.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
	if got := len(b.Targets()); got != n {
		t.Errorf("%d targets recorded, want %d", got, n)
	}
}

// Host names go to the bastion as written: only the bastion resolves them.
func TestSSHSendsNamesUnresolved(t *testing.T) {
	echo := testnet.Echo(t)
	var asked []string
	var mu sync.Mutex
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"),
		testkit.WithSSHDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
			mu.Lock()
			asked = append(asked, address)
			mu.Unlock()
			if address != hidden {
				return nil, fmt.Errorf("no such host %s", address)
			}
			var nd net.Dialer
			return nd.DialContext(ctx, network, echo)
		}))
	d := passwordDialer(t, b)
	c := sshDial(t, d, hidden)
	testnet.RoundTrip(t, c, "to a hidden broker")
	if got := b.Targets(); len(got) != 1 || got[0] != hidden {
		t.Errorf("Targets() = %q, want [%q]", got, hidden)
	}
	if c.RemoteAddr().String() != hidden || c.RemoteAddr().Network() != "tcp" {
		t.Errorf("RemoteAddr() = %s %s, want tcp %s", c.RemoteAddr().Network(), c.RemoteAddr(), hidden)
	}

	// The bastion's refusal names the target and quotes its reason.
	err := sshDialErr(t, d, "b9.kafka.internal.invalid:9092")
	want := "open a channel to b9.kafka.internal.invalid:9092: bastion refused to connect to b9.kafka.internal.invalid:9092: connect failed (no such host b9.kafka.internal.invalid:9092)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed {
		t.Errorf("errors.As(*ssh.OpenChannelError) = %v (%v)", errors.As(err, &oce), oce)
	}
	// A refused channel leaves the connection in use.
	testnet.RoundTrip(t, sshDial(t, d, hidden), "again")
	if got := b.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

func TestSSHRejectsBadDials(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	for _, tc := range []struct{ network, address, want string }{
		{"udp", "127.0.0.1:53", `network "udp" not supported`},
		{"tcp", "127.0.0.1", "missing port in address"},
		{"tcp", "127.0.0.1:0", `port "0" is not a number in 1..65535`},
		{"tcp", "a b:1", "a character not allowed in host:port"},
	} {
		c, err := d.DialContext(context.Background(), tc.network, tc.address)
		err = testnet.MustFail(t, c, err)
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), d.String()+": ") {
			t.Errorf("DialContext(%q, %q) = %v, want an error naming the route and containing %q", tc.network, tc.address, err, tc.want)
		}
	}
	if b.Connections() != 0 {
		t.Errorf("Connections() = %d: a bad dial connected to the bastion", b.Connections())
	}
}

// When the SSH connection dies, the next dials establish one new
// connection, together.
func TestSSHReconnects(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	echo := testnet.Echo(t)
	old := sshDial(t, d, echo)
	testnet.RoundTrip(t, old, "before")

	b.DropConnections()
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := old.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read on a conn of the dropped connection = %d, %v; want EOF", n, err)
	}

	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", echo)
			if err != nil {
				t.Errorf("dial after the drop: %v", err)
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	if got := b.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2", got)
	}
}

// breakableConn is a conn whose writes fail once broken, as on a link
// that a NAT or firewall cut: reads just wait.
type breakableConn struct {
	net.Conn
	broken atomic.Bool
}

func (c *breakableConn) Write(p []byte) (int, error) {
	if c.broken.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Write(p)
}

// A connection that broke unnoticed is replaced by the dial that finds it
// broken, and that dial succeeds.
func TestSSHReconnectsWithinOneDial(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	var mu sync.Mutex
	var links []*breakableConn
	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		bc := &breakableConn{Conn: c}
		mu.Lock()
		links = append(links, bc)
		mu.Unlock()
		return bc, nil
	}
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+b.knownHosts), forward)
	echo := testnet.Echo(t)
	testnet.RoundTrip(t, sshDial(t, d, echo), "before")
	for i := 2; i <= 4; i++ {
		mu.Lock()
		links[len(links)-1].broken.Store(true)
		mu.Unlock()
		testnet.RoundTrip(t, sshDial(t, d, echo), "after the link broke")
		if got := b.Connections(); got != i {
			t.Fatalf("Connections() = %d, want %d", got, i)
		}
	}
}

func TestSSHClose(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	c := sshDial(t, d, testnet.Echo(t))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := sshDialErr(t, d, testnet.Echo(t))
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "the SSH route was closed") {
		t.Errorf("dial after Close = %v, want net.ErrClosed", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read on a conn of the closed route = %v, want EOF", err)
	}
}

// relayToBastion forwards connections to the bastion b; ended receives a
// value each time the bastion has closed one (it saw the SSH connection
// end). It returns the relay's address and a known_hosts file that trusts
// b there.
func relayToBastion(t *testing.T, b *sshBastion) (addr, knownHosts string, ended <-chan struct{}) {
	ch := make(chan struct{}, 16)
	s := testnet.Serve(t, func(c net.Conn) {
		up, err := net.Dial("tcp", b.Addr())
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(up, c)
			up.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, up)
		ch <- struct{}{}
		c.Close()
		<-done
	})
	return s.Addr(), writeTemp(t, "known_hosts", knownhosts.Line([]string{s.Addr()}, b.HostKey())+"\n"), ch
}

// Shutdown stops the route but leaves its connections open; the SSH
// connection ends with the last of them.
func TestSSHShutdown(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	addr, knownHosts, ended := relayToBastion(t, b)
	echo := testnet.Echo(t)
	closedPort := testnet.ClosedPort(t)
	ignore := leakcheck.IgnoreCurrent()

	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), addr, "known_hosts="+knownHosts), nil)
	c1, c2 := sshDial(t, d, echo), sshDial(t, d, echo)
	// A refused channel holds no claim on the connection.
	sshDialErr(t, d, closedPort)
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := sshDialErr(t, d, echo); !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "the SSH route was closed") {
		t.Errorf("dial after Shutdown = %v, want net.ErrClosed", err)
	}
	testnet.RoundTrip(t, c1, "still open")
	testnet.RoundTrip(t, c2, "still open")

	c1.Close()
	testnet.RoundTrip(t, c2, "open after the other closed")
	select {
	case <-ended:
		t.Fatal("the SSH connection ended while a conn still used it")
	case <-time.After(100 * time.Millisecond):
	}

	c2.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the SSH connection did not end after its last conn closed")
	}
	if got := b.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
	leakcheck.VerifyNone(t, ignore)
}

// Without conns, Shutdown ends the SSH connection at once; Close after
// Shutdown ends the conns too.
func TestSSHShutdownIdleThenClose(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	addr, knownHosts, ended := relayToBastion(t, b)
	echo := testnet.Echo(t)

	// A refused channel leaves the SSH connection established and unused.
	idle := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), addr, "known_hosts="+knownHosts), nil)
	sshDialErr(t, idle, testnet.ClosedPort(t))
	idle.Shutdown()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not end an idle SSH connection")
	}

	busy := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), addr, "known_hosts="+knownHosts), nil)
	c := sshDial(t, busy, echo)
	busy.Shutdown()
	testnet.RoundTrip(t, c, "draining")
	busy.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after Close = %v, want EOF", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("Close after Shutdown did not end the SSH connection")
	}
}

// startBlackhole accepts connections and never says a word.
func startBlackhole(t *testing.T) string {
	return testnet.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) }).Addr()
}

func TestSSHBlackholeBastion(t *testing.T) {
	addr := startBlackhole(t)
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), addr, "insecure_ignore_host_key=true"), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", "127.0.0.1:9")
			errs[i] = testnet.MustFail(t, c, err)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "context deadline exceeded") {
			t.Errorf("error %v, want the context's deadline", err)
		}
	}
	if !strings.Contains(errs[0].Error()+errs[1].Error()+errs[2].Error(), "SSH handshake with the bastion: context deadline exceeded") {
		t.Errorf("no error names the handshake: %v", errs)
	}

	// Cancelling works as well as a deadline.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	c, err := d.DialContext(ctx, "tcp", "127.0.0.1:9")
	if err = testnet.MustFail(t, c, err); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}

	// Close aborts a handshake in progress.
	done := make(chan error, 1)
	go func() {
		c, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:9")
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	d.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("dial cut by Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not abort the handshake")
	}
}

func TestSSHBastionUnreachable(t *testing.T) {
	addr := testnet.ClosedPort(t)
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), addr, "insecure_ignore_host_key=true"), nil)
	err := sshDialErr(t, d, "127.0.0.1:9")
	if !strings.HasPrefix(err.Error(), "ssh://alice:xxxxx@"+addr+": cannot reach the bastion: ") {
		t.Errorf("error %q", err)
	}
}

// A dial that leads the connection attempt and gives up does not fail the
// dials waiting for the same attempt: one of them tries again.
func TestSSHLeaderGivesUp(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	var calls atomic.Int32
	firstStarted := make(chan struct{})
	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		if calls.Add(1) == 1 {
			close(firstStarted)
			<-ctx.Done() // a slow network, until the first dial gives up
			return nil, ctx.Err()
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, address)
	}
	d := newSSHDialer(t, sshURL(url.UserPassword("alice", "s3cret"), b.Addr(), "known_hosts="+b.knownHosts), forward)
	echo := testnet.Echo(t)
	leader := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c, err := d.DialContext(ctx, "tcp", echo)
		if c != nil {
			c.Close()
		}
		leader <- err
	}()
	<-firstStarted
	follower := make(chan net.Conn, 1)
	go func() {
		c, err := d.DialContext(context.Background(), "tcp", echo)
		if err != nil {
			t.Errorf("the waiting dial failed: %v", err)
		}
		follower <- c
	}()
	time.Sleep(50 * time.Millisecond) // let the follower wait for the attempt
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	if c := <-follower; c != nil {
		testnet.RoundTrip(t, c, "follower")
		c.Close()
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("forward dialed %d times, want 2", got)
	}
}

// pipeViaSSH returns a conn through the bastion and the target's end of it.
func pipeViaSSH(t *testing.T, d *tunnel.SSHDialer) (viaSSH, target net.Conn) {
	t.Helper()
	ln, err := nettest.NewLocalListener("tcp4")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := sshDial(t, d, ln.Addr().String())
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

func TestSSHReadDeadline(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	c, target := pipeViaSSH(t, d) // the target writes nothing (yet)

	deadline := time.Now().Add(200 * time.Millisecond)
	c.SetReadDeadline(deadline)
	n, err := c.Read(make([]byte, 10))
	if n != 0 || !isTimeout(err) {
		t.Fatalf("blocked Read = %d, %v; want a timeout", n, err)
	}
	if now := time.Now(); now.Before(deadline) {
		t.Errorf("Read timed out %v before its deadline", deadline.Sub(now))
	}
	if !strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("error %q", err)
	}

	// A deadline in the past fails at once, even with bytes waiting.
	if _, err := target.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n, err := c.Read(make([]byte, 10)); n != 0 || !isTimeout(err) {
		t.Errorf("Read past the deadline = %d, %v; want a timeout", n, err)
	}

	// Extending the deadline lets reading resume, nothing lost.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "late" {
		t.Fatalf("Read after extending = %q, %v", buf, err)
	}

	// A deadline moved while a Read waits applies to it.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Errorf("pending Read = %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("moving the deadline earlier did not end the pending Read")
	}
}

func TestSSHWriteDeadline(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	c, target := pipeViaSSH(t, d) // the target reads nothing (yet)

	// Fill the SSH window and the TCP buffers on the way until Write blocks.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var sent int64
	deadline := time.Now().Add(time.Second)
	c.SetWriteDeadline(deadline)
	start := time.Now()
	var err error
	for err == nil {
		var n int
		n, err = c.Write(chunk)
		sent += int64(n)
		if time.Since(start) > 30*time.Second {
			t.Fatal("Write never blocked")
		}
	}
	if !isTimeout(err) {
		t.Fatalf("blocked Write = %v, want a timeout", err)
	}
	if now := time.Now(); now.Before(deadline) {
		t.Errorf("Write timed out %v before its deadline", deadline.Sub(now))
	}
	t.Logf("%d bytes written before Write blocked", sent)

	// Past deadline: fails at once, nothing written.
	if n, err := c.Write([]byte("y")); n != 0 || !isTimeout(err) {
		t.Errorf("Write past the deadline = %d, %v; want 0 and a timeout", n, err)
	}

	// The target starts reading; with the deadline lifted, writing resumes,
	// and exactly the bytes Write reported arrive.
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, target)
		got <- n
	}()
	c.SetWriteDeadline(time.Time{})
	n, err := c.Write(chunk)
	if err != nil {
		t.Fatalf("Write after lifting the deadline: %v", err)
	}
	sent += int64(n)
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != sent {
			t.Errorf("target received %d bytes, Write reported %d", n, sent)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the target did not see EOF")
	}
}

func TestSSHCloseWrite(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	c, target := pipeViaSSH(t, d)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	target.SetDeadline(time.Now().Add(10 * time.Second))

	if _, err := io.WriteString(c, "request"); err != nil {
		t.Fatal(err)
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("more")); err == nil || !strings.Contains(err.Error(), "write after CloseWrite") {
		t.Errorf("Write after CloseWrite = %v", err)
	}
	all, err := io.ReadAll(target)
	if err != nil || string(all) != "request" {
		t.Fatalf("target read %q, %v; want the request, then EOF", all, err)
	}
	// The other direction still works.
	if _, err := io.WriteString(target, "response"); err != nil {
		t.Fatal(err)
	}
	target.(*net.TCPConn).CloseWrite()
	all, err = io.ReadAll(c)
	if err != nil || string(all) != "response" {
		t.Fatalf("read %q, %v; want the response, then EOF", all, err)
	}
}

// Close ends blocked calls at once, and bytes written before Close still
// arrive.
func TestSSHConnClose(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	c, target := pipeViaSSH(t, d)

	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	msg := bytes.Repeat([]byte("last words "), 10000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read pending at Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the pending Read")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close = %v", err)
	}
	target.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(target)
	if err != nil || !bytes.Equal(all, msg) {
		t.Errorf("target read %d bytes, %v; want the %d written, then EOF", len(all), err, len(msg))
	}
}

func TestSSHConnConformance(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	d := passwordDialer(t, b)
	makePipe := func(swap bool) nettest.MakePipe {
		return func() (c1, c2 net.Conn, stop func(), err error) {
			ln, err := nettest.NewLocalListener("tcp4")
			if err != nil {
				return nil, nil, nil, err
			}
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			viaSSH, err := d.DialContext(ctx, "tcp", ln.Addr().String())
			if err != nil {
				return nil, nil, nil, err
			}
			target, err := ln.Accept()
			if err != nil {
				viaSSH.Close()
				return nil, nil, nil, err
			}
			stop = func() {
				viaSSH.Close()
				target.Close()
			}
			if swap {
				return target, viaSSH, stop, nil
			}
			return viaSSH, target, stop, nil
		}
	}
	t.Run("ssh conn", func(t *testing.T) { nettest.TestConn(t, makePipe(false)) })
	t.Run("ssh conn as peer", func(t *testing.T) { nettest.TestConn(t, makePipe(true)) })
	if got := b.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

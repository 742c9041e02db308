package reliability

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"os"
	osuser "os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

const sshUser = "kafka"

// sshURL is an ssh:// route URL: user (with pass unless empty) at addr,
// host keys verified against the known_hosts file hosts, and key=keyFile
// unless empty.
func sshURL(pass, addr, hosts, keyFile string) string {
	u := url.URL{Scheme: "ssh", User: url.User(sshUser), Host: addr}
	if pass != "" {
		u.User = url.UserPassword(sshUser, pass)
	}
	q := url.Values{"known_hosts": {hosts}}
	if keyFile != "" {
		q.Set("key", keyFile)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newSSHRoute builds an SSH route from raw (an ssh:// URL) with forward
// dialing the bastion (nil: a net.Dialer), and closes it at cleanup. A
// kafkanat dialer takes it as a named route.
func newSSHRoute(t testing.TB, raw string, forward proxy.ContextDialer) *tunnel.SSHDialer {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	d, err := tunnel.NewSSH(u, forward)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// sshDialer is a kafkanat Dialer from opts, closed at cleanup: ssh://
// routes hold their SSH connection until the Dialer closes.
func sshDialer(t testing.TB, opts ...kafkanat.Option) *dialer.Dialer {
	t.Helper()
	d, err := kafkanat.NewDialer(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// knownHostsFile writes lines to a known_hosts file and returns its path.
func knownHostsFile(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

// randomHostKey returns a freshly generated public key as known_hosts
// writes it ("ssh-ed25519 AAAA..."): a key no server has.
func randomHostKey(t testing.TB) string {
	t.Helper()
	signer, _, err := kafkanattest.NewSSHKey()
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) // type and key
}

// sshHungRoutes are the SSH cases of hungRoutes: a bastion that accepts
// TCP and never sends its version banner, or never accepts.
func sshHungRoutes() []hungRoute {
	var out []hungRoute
	for _, silent := range []bool{false, true} {
		suffix := " (accepts, never answers)"
		if silent {
			suffix = " (never accepts)"
		}
		out = append(out, hungRoute{name: "ssh" + suffix, silent: silent, opts: func(t *testing.T, addr string) []kafkanat.Option {
			hosts := knownHostsFile(t, knownhostsLine(addr, randomHostKey(t)))
			return []kafkanat.Option{kafkanat.Map(hiddenBroker, closedPort(t)), kafkanat.Via(sshURL("pw", addr, hosts, ""))}
		}})
	}
	return out
}

// TestFaultSSHConnectionDropped cuts the one SSH connection that carries
// every broker connection mid-stream; the route establishes a new one at
// the next dial and the clients carry on.
func TestFaultSSHConnectionDropped(t *testing.T) {
	eachProducer(t, func(t *testing.T, produce producer) {
		c := hiddenCluster(t)
		const pass = "bast10n-pass"
		bastion, err := kafkanattest.NewSSHServer(kafkanattest.WithSSHPassword(sshUser, pass), kafkanattest.WithSSHDialer(c.DialAdvertised))
		require.NoError(t, err)
		t.Cleanup(func() { bastion.Close() })
		route := sshURL(pass, bastion.Addr(), knownHostsFile(t, bastion.KnownHosts()), "")
		// The bastion resolves the hidden names on the brokers' side.
		d := sshDialer(t, kafkanat.Rules("*.kafka.internal.invalid via "+route), kafkanat.Strict())
		dial := newDialLog(d.DialContext)
		var before []int
		res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(int) {
			before = append(before, bastion.Connections())
			bastion.DropConnections()
		})
		dec, err := d.Explain(context.Background(), c.Advertised()[0])
		require.NoError(t, err)
		requireRedialed(t, dial, res.faultStarts[len(res.faultStarts)-1], dec.Routes[0])
		assert.Equal(t, 1, before[0], "SSH connections before the first drop: every broker connection shares one")
		assert.Greater(t, bastion.Connections(), before[len(before)-1], "no SSH connection was established after the drop")
	})
}

// cutter is a forward dialer for an SSH route that remembers the TCP
// conns it opens to the bastion, so that a test can cut them as a failing
// network would: no SSH goodbye, the socket just closes.
type cutter struct {
	mu     sync.Mutex
	conns  []net.Conn
	dialed int
}

func (c *cutter) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.dialed++
		c.mu.Unlock()
	}
	return conn, err
}

// cut closes every conn dialed so far and returns how many were dialed.
func (c *cutter) cut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
	return c.dialed
}

func (c *cutter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialed
}

// TestFaultSSHDConnectionCut is TestFaultSSHConnectionDropped against
// OpenSSH's sshd, with the cut on the client's side: the TCP connection to
// the bastion closes under the route mid-stream.
func TestFaultSSHDConnectionCut(t *testing.T) {
	eachProducer(t, func(t *testing.T, produce producer) {
		c := hiddenCluster(t)
		me, err := osuser.Current()
		require.NoError(t, err)
		signer, pemBytes, err := kafkanattest.NewSSHKey()
		require.NoError(t, err)
		addr, known := peers.SSHD(t, me.Username, signer.PublicKey())
		keyFile := filepath.Join(t.TempDir(), "id_ed25519")
		require.NoError(t, os.WriteFile(keyFile, pemBytes, 0o600))
		u := url.URL{Scheme: "ssh", User: url.User(me.Username), Host: addr,
			RawQuery: url.Values{"key": {keyFile}, "known_hosts": {knownHostsFile(t, known)}}.Encode()}
		link := new(cutter)
		route := newSSHRoute(t, u.String(), link)
		// sshd is a real peer: it gets IP targets only, never a name.
		dial := newDialLog(kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Route("bastion", route), kafkanat.Via("bastion"), kafkanat.Strict()))
		var before []int
		res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(int) {
			before = append(before, link.cut())
		})
		requireRedialed(t, dial, res.faultStarts[len(res.faultStarts)-1], "bastion")
		assert.Equal(t, 1, before[0], "SSH connections before the first cut: every broker connection shares one")
		assert.Greater(t, link.count(), before[len(before)-1], "no SSH connection was established after the cut")
	})
}

// passwordRecorder is a bare SSH server that records every password a
// client sends and lets nobody in.
type passwordRecorder struct {
	ln  net.Listener
	key ssh.PublicKey
	wg  sync.WaitGroup
	mu  sync.Mutex
	got []string
}

func newPasswordRecorder(t *testing.T) *passwordRecorder {
	signer, _, err := kafkanattest.NewSSHKey()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &passwordRecorder{ln: ln, key: signer.PublicKey()}
	cfg := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		p.mu.Lock()
		p.got = append(p.got, string(pw))
		p.mu.Unlock()
		return nil, errors.New("no")
	}}
	cfg.AddHostKey(signer)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangGuard))
				if conn, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
					conn.Close()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *passwordRecorder) passwords() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// TestSSHHostKeyMismatch dials through a bastion whose host key is not
// the one known_hosts holds for it (what an interceptor would present),
// and one known_hosts does not list at all. Both are refused with an error
// that says so, and the password never leaves the client. The control
// shows the recorder does see a password once the host key is known.
func TestSSHHostKeyMismatch(t *testing.T) {
	noLeak(t)
	const pass = "n0t-for-impostors"
	for _, tc := range []struct {
		name  string
		hosts func(p *passwordRecorder) []string
		want  []string
	}{
		{"changed key", func(p *passwordRecorder) []string {
			return []string{knownhostsLine(p.ln.Addr().String(), randomHostKey(t))}
		}, []string{"verify the bastion's host key", "does not match known_hosts", "someone may be intercepting the connection"}},
		{"unknown host", func(p *passwordRecorder) []string {
			return []string{knownhostsLine("127.0.0.2:22", randomHostKey(t))}
		}, []string{"verify the bastion's host key", "not in known_hosts", "verify that fingerprint out of band"}},
		{"control: known key", func(p *passwordRecorder) []string {
			return []string{knownhostsLine(p.ln.Addr().String(), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p.key))))}
		}, []string{`rejected user "kafka"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newPasswordRecorder(t)
			hosts := knownHostsFile(t, tc.hosts(rec)...)
			d := sshDialer(t, kafkanat.Map(hiddenBroker, closedPort(t)), kafkanat.Via(sshURL(pass, rec.ln.Addr().String(), hosts, "")), kafkanat.DialTimeout(5*time.Second))
			dial := kafkanat.DialFunc(d.DialContext)
			var err error
			within(t, hangGuard, "a dial through the bastion", func() {
				var c net.Conn
				if c, err = dial.Dial("tcp", hiddenBroker); c != nil {
					c.Close()
				}
			})
			require.Error(t, err)
			var de *kafkanat.DialError
			require.ErrorAs(t, err, &de)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), pass)
			if strings.HasPrefix(tc.name, "control") {
				assert.Equal(t, []string{pass}, rec.passwords(), "the recorder saw no password: the check proves nothing")
			} else {
				assert.Empty(t, rec.passwords(), "the password was sent to a bastion whose host key did not verify")
			}
			t.Logf("%v", err)
		})
	}
}

// knownhostsLine is a known_hosts line for addr with key ("type base64").
func knownhostsLine(addr, key string) string {
	host, port, _ := net.SplitHostPort(addr)
	if port != "22" {
		host = "[" + host + "]:" + port
	}
	return host + " " + key
}

// sshSecrets sets up what TestSecretsNeverPrinted adds for SSH: a bastion
// taking a password and a key, and routes that use them, rightly and
// wrongly. It returns the options to add, the addresses to dial, and every
// form of the secrets to search for.
func sshSecrets(t *testing.T, c *kafkanattest.Cluster, out *capture) (opts []kafkanat.Option, rules string, addresses []string, forms []string) {
	const pass, wrong = "sSh-Pa55-SECRET-4", "sSh-wr0ng-SECRET-5"
	signer, pemBytes, err := kafkanattest.NewSSHKey()
	require.NoError(t, err)
	bastion, err := kafkanattest.NewSSHServer(kafkanattest.WithSSHPassword(sshUser, pass),
		kafkanattest.WithSSHAuthorizedKey(sshUser, signer.PublicKey()), kafkanattest.WithSSHDialer(c.DialAdvertised))
	require.NoError(t, err)
	t.Cleanup(func() { bastion.Close() })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	require.NoError(t, os.WriteFile(keyFile, pemBytes, 0o600))
	hosts := knownHostsFile(t, bastion.KnownHosts())
	badHosts := knownHostsFile(t, knownhostsLine(bastion.Addr(), randomHostKey(t)))
	routes := map[string]string{
		"sshpass":     sshURL(pass, bastion.Addr(), hosts, ""),
		"sshkey":      sshURL("", bastion.Addr(), hosts, keyFile),
		"sshwrong":    sshURL(wrong, bastion.Addr(), hosts, ""),
		"sshimpostor": sshURL(pass, bastion.Addr(), badHosts, ""),
	}
	var rb strings.Builder
	for name, raw := range routes {
		// As URLs in rules, which the Dialer builds, names and closes...
		addr := name + ".ssh.invalid:9092"
		rb.WriteString(addr + " => " + c.Advertised()[0] + " via " + raw + "\n")
		addresses = append(addresses, addr)
		// ...and as named routes the application built.
		route := newSSHRoute(t, raw, nil)
		opts = append(opts, kafkanat.Route(name, route))
		addr = name + ".named.invalid:9092"
		rb.WriteString(addr + " => " + c.Advertised()[0] + " via " + name + "\n")
		addresses = append(addresses, addr)
		out.add("ssh route", route, route.String())
	}
	forms = append(forms, secretForms(sshUser, pass)...)
	forms = append(forms, secretForms(sshUser, wrong)...)
	// The private key: its PEM body, line by line, and the raw key.
	for _, line := range strings.Split(string(pemBytes), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			forms = append(forms, line)
		}
	}
	forms = append(forms, base64.StdEncoding.EncodeToString(pemBytes))
	return opts, rb.String(), addresses, forms
}

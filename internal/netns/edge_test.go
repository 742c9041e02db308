package netns_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// The peers below run on the edge host, listening on its client-side
// addresses and reaching the brokers from its brokers-side address. Each
// test starts those it needs; they stop when it ends.

// startPeer starts a peer program in the edge namespace and waits until it
// listens on every address in listen.
func (l *lab) startPeer(t *testing.T, name, bin string, args, env []string, listen ...string) *netns.Process {
	t.Helper()
	p, err := netns.Start(netns.Spec{Name: name, NS: l.topo.Edge, Bin: bin, Args: args, Env: append(os.Environ(), env...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	for _, a := range listen {
		if err := p.WaitListening(netip.MustParseAddrPort(a), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func edgeAddr(ip string, port int) string { return ip + ":" + strconv.Itoa(port) }

// dante starts Debian's danted as a SOCKS5 gateway on the edge's port
// port: it resolves the names clients send through the brokers' DNS
// server and connects from the edge's brokers-side address. It returns
// the route URL.
func (l *lab) dante(t *testing.T, port int) (string, *netns.Process) {
	t.Helper()
	bin := needBinary(t, "danted", "dante-server")
	dir := t.TempDir()
	conf := filepath.Join(dir, "danted.conf")
	text := fmt.Sprintf(`logoutput: stderr
internal: %s port = %d
external: %s
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 203.0.113.0/24 to: 0.0.0.0/0
}
socks pass {
	from: 203.0.113.0/24 to: 0.0.0.0/0
}
`, netns.EdgeIP, port, netns.EdgeBrokersIP)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := edgeAddr(netns.EdgeIP, port)
	// Dante keeps lock and memory-mapped files in TMPDIR.
	p := l.startPeer(t, "danted", bin, []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid")}, []string{"TMPDIR=" + dir}, addr)
	return "socks5://" + addr, p
}

// microsocks starts microsocks as a second SOCKS5 gateway on the edge.
func (l *lab) microsocks(t *testing.T, port int) (string, *netns.Process) {
	t.Helper()
	bin := needBinary(t, "microsocks", "microsocks")
	addr := edgeAddr(netns.EdgeIP, port)
	p := l.startPeer(t, "microsocks", bin, []string{"-i", netns.EdgeIP, "-p", strconv.Itoa(port), "-b", netns.EdgeBrokersIP}, nil, addr)
	return "socks5://" + addr, p
}

// forward is one port forwarding: a listener on the edge and the broker
// address it carries connections to.
type forward struct{ listen, target string }

// haproxy starts haproxy in TCP mode with one frontend per forward: a load
// balancer with one port per broker.
func (l *lab) haproxy(t *testing.T, fw []forward) {
	t.Helper()
	bin := needBinary(t, "haproxy", "haproxy")
	var b strings.Builder
	b.WriteString("global\n\tmaxconn 1000\ndefaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 5m\n\ttimeout server 5m\n")
	var listen []string
	for i, f := range fw {
		fmt.Fprintf(&b, "listen broker%d\n\tbind %s\n\tserver broker%d %s\n", i, f.listen, i, f.target)
		listen = append(listen, f.listen)
	}
	conf := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// -db: foreground, no daemon.
	l.startPeer(t, "haproxy", bin, []string{"-db", "-f", conf}, nil, listen...)
}

// socat starts one socat per forward: a proxy host with several ports.
func (l *lab) socat(t *testing.T, fw []forward) {
	t.Helper()
	bin := needBinary(t, "socat", "socat")
	for _, f := range fw {
		ip, port, _ := strings.Cut(f.listen, ":")
		l.startPeer(t, "socat "+f.listen, bin,
			[]string{fmt.Sprintf("TCP4-LISTEN:%s,bind=%s,fork,reuseaddr", port, ip), "TCP4:" + f.target}, nil, f.listen)
	}
}

// sshd starts OpenSSH's sshd on the edge's port 22 as an SSH bastion that
// lets root in with a key made for the test and forwards to any target,
// resolving names through the brokers' DNS server. It returns the route
// URL (key and known_hosts files written for it), with query appended.
func (l *lab) sshd(t *testing.T, query string) (string, *netns.Process) {
	t.Helper()
	bin := needBinary(t, "sshd", "openssh-server")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		t.Fatal(err)
	}
	dir := t.TempDir()
	hostPEM, hostPub := sshKey(t)
	clientPEM, clientPub := sshKey(t)
	files := map[string][]byte{
		"host_key":        hostPEM,
		"authorized_keys": ssh.MarshalAuthorizedKey(clientPub),
		"id_ed25519":      clientPEM,
		"known_hosts":     []byte(knownhosts.Line([]string{netns.EdgeIP + ":22"}, hostPub) + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "sshd_config")
	text := fmt.Sprintf(`Port 22
ListenAddress %s
AddressFamily inet
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers root
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
AllowAgentForwarding no
PermitTTY no
UseDNS no
LogLevel VERBOSE
`, netns.EdgeIP, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := l.startPeer(t, "sshd", bin, []string{"-D", "-e", "-f", conf}, nil, edgeAddr(netns.EdgeIP, 22))
	u := fmt.Sprintf("ssh://root@%s:22?key=%s&known_hosts=%s", netns.EdgeIP,
		url.QueryEscape(filepath.Join(dir, "id_ed25519")), url.QueryEscape(filepath.Join(dir, "known_hosts")))
	if query != "" {
		u += "&" + query
	}
	return u, p
}

// sshLogins counts the SSH connections sshd let in.
func sshLogins(p *netns.Process) int {
	return strings.Count(p.Output(), "Accepted publickey for root")
}

// sshKey makes an Ed25519 key in OpenSSH's private key format.
func sshKey(t *testing.T) ([]byte, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "kafkanat netns test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), signer.PublicKey()
}

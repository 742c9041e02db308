package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

// sshCipher is the cipher golang.org/x/crypto/ssh negotiates with OpenSSH:
// its first preference (AES-GCM, with hardware AES), which OpenSSH accepts.
// OpenSSH's own client prefers chacha20-poly1305@openssh.com.
const sshCipher = "aes128-gcm@openssh.com"

// sshBastion is an OpenSSH sshd started for one variant, and the files a
// client needs to log in: a private key and a known_hosts file.
type sshBastion struct {
	addr       string // 127.0.0.1:P
	user       string
	keyFile    string
	knownHosts string
}

func startSSHD(h *harness) (*sshBastion, error) {
	signer, pemBytes, err := kafkanattest.NewSSHKey()
	if err != nil {
		return nil, err
	}
	var known string
	addr, err := startPeer(h.tb, func(tb testing.TB) string {
		a, kh := peers.SSHD(tb, "", signer.PublicKey())
		known = kh
		return a
	})
	if err != nil {
		return nil, err
	}
	dir := h.tb.TempDir()
	b := &sshBastion{addr: addr, keyFile: filepath.Join(dir, "id_ed25519"), knownHosts: filepath.Join(dir, "known_hosts")}
	if err := os.WriteFile(b.keyFile, pemBytes, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.knownHosts, []byte(known+"\n"), 0o600); err != nil {
		return nil, err
	}
	// peers.SSHD logs in the user running the harness.
	if b.user, err = currentUser(); err != nil {
		return nil, err
	}
	return b, nil
}

// url is the ssh:// route of b.
func (b *sshBastion) url() *url.URL {
	return &url.URL{Scheme: "ssh", User: url.User(b.user), Host: b.addr,
		RawQuery: url.Values{"key": {b.keyFile}, "known_hosts": {b.knownHosts}}.Encode()}
}

// noQuickAck is a forward dialer whose conns are not *net.TCPConn, so that
// the SSH route cannot set TCP_QUICKACK on them (route.NewQuickAck finds
// no socket): the route as it was before it re-armed quick ACKs.
type noQuickAck struct{ d net.Dialer }

type opaqueConn struct{ net.Conn }

func (n *noQuickAck) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := n.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return opaqueConn{c}, nil
}

// sshRouteEnv is a kafkanat env through the SSH route u: the URL as a rule
// route, as users write it; without quickack, a tunnel.SSHDialer over
// noQuickAck as a named route.
func sshRouteEnv(c *cluster, u *url.URL, quickack bool) (*env, error) {
	if quickack {
		return kafkanatEnv(c, u.String())
	}
	d, err := tunnel.NewSSH(u, &noQuickAck{})
	if err != nil {
		return nil, err
	}
	e, err := kafkanatEnv(c, "bastion", kafkanat.Route("bastion", d))
	if err != nil {
		d.Close()
		return nil, err
	}
	closeEnv := e.close
	e.close = func() {
		closeEnv()
		d.Close()
	}
	return e, nil
}

func setupSSH(quickack bool) func(h *harness) (*env, error) {
	return func(h *harness) (*env, error) {
		b, err := startSSHD(h)
		if err != nil {
			return nil, err
		}
		return h.envOver(clusterSpec{}, func(c *cluster) (*env, error) {
			e, err := sshRouteEnv(c, b.url(), quickack)
			if err == nil && quickack {
				e.costs = func(n int) ([]costLine, error) { return sshConnCosts(b, c, n) }
			}
			return e, err
		})
	}
}

func setupSSHGo(quickack bool) func(h *harness) (*env, error) {
	return func(h *harness) (*env, error) {
		return h.envOver(clusterSpec{SSHServer: true}, func(c *cluster) (*env, error) {
			kh := filepath.Join(h.tb.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(c.SSHKnownHosts+"\n"), 0o600); err != nil {
				return nil, err
			}
			// The Go bastion lets anyone in; the password is never asked for.
			u := &url.URL{Scheme: "ssh", User: url.UserPassword("bench", "unused"), Host: c.SSHAddr,
				RawQuery: url.Values{"known_hosts": {kh}}.Encode()}
			return sshRouteEnv(c, u, quickack)
		})
	}
}

// setupSSHL puts OpenSSH's client in front of the cluster the way people
// do without kafkanat: one "ssh -N -L" per broker, each forwarding a local
// port to its broker through the bastion, and the brokers advertising the
// local ports. cipher "" leaves OpenSSH's default.
func setupSSHL(cipher string) func(h *harness) (*env, error) {
	return func(h *harness) (*env, error) {
		b, err := startSSHD(h)
		if err != nil {
			return nil, err
		}
		e, fwds, err := h.forwardedEnv(func(port int, target string) (*forwarder, error) {
			return startSSHForward(b, port, target, cipher)
		})
		if err != nil {
			return nil, err
		}
		e.sideCPU = func() time.Duration {
			var sum time.Duration
			for _, f := range fwds {
				sum += processCPU(f.cmd.Process.Pid)
			}
			return sum
		}
		return e, nil
	}
}

// startSSHForward runs "ssh -N -L 127.0.0.1:port:target" through b, with
// b's key and known_hosts only (no user or system configuration, no agent).
func startSSHForward(b *sshBastion, port int, target string, cipher string) (*forwarder, error) {
	host, bport, err := net.SplitHostPort(b.addr)
	if err != nil {
		return nil, err
	}
	args := []string{"-F", "/dev/null", "-N",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + b.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR", "-i", b.keyFile,
		"-L", "127.0.0.1:" + strconv.Itoa(port) + ":" + target, "-p", bport, "-l", b.user}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	return startForwarder("ssh", "openssh-client", port, append(args, host)...)
}

// costLine is one row of the conn cost table.
type costLine struct {
	name, what string
}

// sshConnCosts opens n conns to a broker through the bastion b in three
// ways and reports what each open conn costs: kafkanat's SSHDialer and
// golang.org/x/crypto's Client.Dial (goroutines, and Go heap plus stacks
// of this process, after a GC, each conn with a Read pending as a Kafka
// client keeps one), and "ssh -N -L" (the growth of the ssh process's
// resident memory). It also times channel opens, SSHDialer against
// Client.Dial, alternating in blocks.
func sshConnCosts(b *sshBastion, c *cluster, n int) ([]costLine, error) {
	target := c.Addrs[0]
	d, err := tunnel.NewSSH(b.url(), nil)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	raw, err := rawSSHClient(b)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	ours := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.DialContext(ctx, "tcp", target)
	}
	rawDial := func() (net.Conn, error) { return raw.Dial("tcp", target) }

	var lines []costLine
	var costs [2]goCost
	for i, dial := range []func() (net.Conn, error){rawDial, ours} {
		if costs[i], err = goConnCost(n, dial); err != nil {
			return nil, err
		}
	}
	lines = append(lines,
		costLine{"x/crypto Client.Dial", costs[0].String()},
		costLine{"kafkanat ssh://", fmt.Sprintf("%v  (%.2fx memory, %+.2f goroutines)", costs[1], costs[1].bytes()/costs[0].bytes(), costs[1].goroutines-costs[0].goroutines)})

	port, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	f, err := startSSHForward(b, port[0], target, "")
	if err != nil {
		return nil, err
	}
	defer f.stop()
	rss, err := forwardConnRSS(f, port[0], n)
	if err != nil {
		return nil, err
	}
	lines = append(lines, costLine{"ssh -N -L", fmt.Sprintf("%.1f KiB resident memory of the ssh process per conn (its heap and buffers; socket buffers are the kernel's)", rss/1024)})

	rawT, ourT, err := openTimes(n, rawDial, ours)
	if err != nil {
		return nil, err
	}
	lines = append(lines, costLine{"channel open", fmt.Sprintf("kafkanat %.0f µs, x/crypto %.0f µs per open and close: %.3fx (median of %d blocks of 10, alternating)",
		micros(ourT), micros(rawT), float64(ourT)/float64(rawT), n/10)})
	return lines, nil
}

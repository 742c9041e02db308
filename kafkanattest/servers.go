package kafkanattest

import (
	"context"
	"net"

	"golang.org/x/crypto/ssh"

	"github.com/kafkanat/kafkanat/internal/testkit"
)

// The servers, the CA and the resolver are implemented in the kafkanat
// module (its internal/testkit package), whose own tests use them; the
// declarations below make them this package's. Their methods are
// documented where they are implemented: `go doc
// github.com/kafkanat/kafkanat/internal/testkit`.

// SOCKS5Server is an in-process SOCKS5 proxy (RFC 1928) for tests. It
// listens on 127.0.0.1, serves CONNECT requests for IPv4, IPv6 and
// domain-name targets (a name is passed to the dialer unresolved), requires
// user/password authentication (RFC 1929) when created WithCredentials,
// relays bytes both ways passing half-closes on, and records every target
// it is asked for. A failed CONNECT is answered with the reply code that
// fits the dial error.
//
// Methods: Addr() string ("127.0.0.1:port"), URL() string (the route URL,
// with credentials when required), Targets() []string (every target asked
// for, as sent), Close() error (stops it and waits for its goroutines).
type SOCKS5Server = testkit.SOCKS5Server

// HTTPProxy is an in-process HTTP proxy for tests that serves only CONNECT
// (RFC 9110, section 9.3.6). It listens on 127.0.0.1, requires
// "Proxy-Authorization: Basic" credentials when created WithCredentials
// (407 otherwise), relays bytes both ways passing half-closes on, and
// records every target it is asked for. Bytes a client sends right behind
// its CONNECT request are delivered to the target first.
//
// Methods: Addr, URL, Targets and Close, as SOCKS5Server's.
type HTTPProxy = testkit.HTTPProxy

// ProxyOption configures a SOCKS5Server or an HTTPProxy.
type ProxyOption = testkit.ProxyOption

// SSHServer is an in-process SSH server for tests that serves only what an
// SSH bastion route needs: "direct-tcpip" channels (RFC 4254, section 7.2)
// to the targets it is asked for, with bytes relayed both ways and
// half-closes passed on. It listens on 127.0.0.1 with a fresh Ed25519 host
// key, authenticates by password or public key (or not at all when given
// neither option), and records every target as sent (names unresolved).
//
// Methods: Addr, Targets and Close as SOCKS5Server's; HostKey() and
// KnownHosts() (a known_hosts line) to verify it; Connections() (SSH
// connections established so far) and DropConnections() (cut them all, as
// a failing network would).
type SSHServer = testkit.SSHServer

// SSHOption configures an SSHServer.
type SSHOption = testkit.SSHOption

// CA is a throwaway certificate authority for tests: Issue(names...)
// returns a server certificate for the names a test chooses (for example
// only the hidden advertised names of a cluster), and Pool() verifies them.
type CA = testkit.CA

// NewSOCKS5Server starts a SOCKS5Server on 127.0.0.1 at a free port; it
// serves in the background until Close.
func NewSOCKS5Server(opts ...ProxyOption) (*SOCKS5Server, error) {
	return testkit.NewSOCKS5Server(opts...)
}

// NewHTTPProxy starts an HTTPProxy on 127.0.0.1 at a free port; it serves
// in the background until Close.
func NewHTTPProxy(opts ...ProxyOption) (*HTTPProxy, error) { return testkit.NewHTTPProxy(opts...) }

// WithCredentials makes the proxy require user and password: SOCKS5Server
// offers only user/password authentication (RFC 1929); HTTPProxy answers a
// CONNECT without the matching "Proxy-Authorization: Basic" header with 407.
// The user must not be empty; for SOCKS5 user and password are at most 255
// bytes, for HTTP the user contains no colon.
func WithCredentials(user, password string) ProxyOption {
	return testkit.WithCredentials(user, password)
}

// WithDialer sets how the proxy connects to the targets clients ask for,
// overriding the default of a net.Dialer. Pass Cluster.DialAdvertised to
// resolve a cluster's hidden names the way a gateway inside the cluster's
// network would:
//
//	proxy, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(cluster.DialAdvertised))
//
// The default dialer resolves names with the system resolver: give hidden
// (.invalid) names a WithDialer so that no DNS query leaves the machine.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) ProxyOption {
	return testkit.WithDialer(dial)
}

// NewSSHServer starts an SSHServer on 127.0.0.1 at a free port; it serves
// in the background until Close.
func NewSSHServer(opts ...SSHOption) (*SSHServer, error) { return testkit.NewSSHServer(opts...) }

// WithSSHPassword lets user log in with password. It may be given for
// several users; a later one for the same user replaces the password.
func WithSSHPassword(user, password string) SSHOption { return testkit.WithSSHPassword(user, password) }

// WithSSHAuthorizedKey lets user log in with the private key of key, as an
// authorized_keys line would. It may be given several times.
func WithSSHAuthorizedKey(user string, key ssh.PublicKey) SSHOption {
	return testkit.WithSSHAuthorizedKey(user, key)
}

// WithSSHDialer sets how the server connects to the targets of
// "direct-tcpip" channels, overriding the default of a net.Dialer. Pass
// Cluster.DialAdvertised to reach a cluster's hidden names the way a
// bastion inside the cluster's network would.
func WithSSHDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) SSHOption {
	return testkit.WithSSHDialer(dial)
}

// NewSSHKey generates an Ed25519 key pair for SSH tests: signer
// authenticates a client (signer.PublicKey() is what WithSSHAuthorizedKey
// takes), and pemBytes is the private key in OpenSSH format, unencrypted,
// ready for a key file (mode 0600).
func NewSSHKey() (signer ssh.Signer, pemBytes []byte, err error) { return testkit.NewSSHKey() }

// NewCA returns a new certificate authority valid for a day.
func NewCA() (*CA, error) { return testkit.NewCA() }

// OfflineResolver returns a resolver that never sends a packet: every DNS
// question is answered "no such host" (NXDOMAIN) in-process, so only names
// in /etc/hosts and IP literals resolve. Tests and demos that dial hidden
// names install it to keep all traffic on the machine:
//
//	net.DefaultResolver = kafkanattest.OfflineResolver()
func OfflineResolver() *net.Resolver { return testkit.OfflineResolver() }

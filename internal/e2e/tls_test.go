package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

// testRoute is a way from the client to the brokers: the mapping rules
// alone, or the mapping rules over a proxy or a bastion. Mapped targets are
// 127.0.0.1 addresses, so real peers never resolve a name.
type testRoute struct {
	name string
	// start starts the route's proxy for one test and returns the options
	// that select it (none for the rules alone), the route name ConnInfo
	// reports, and the address each connection's RemoteAddr must have (""
	// when it need not be checked).
	start func(t *testing.T) (opts []kafkanat.Option, route, peer string)
}

// viaURL selects the proxy at u.
func viaURL(t *testing.T, u string) ([]kafkanat.Option, string, string) {
	return []kafkanat.Option{kafkanat.Via(u)}, redacted(t, u), hostOf(t, u)
}

// routes are the routes the TLS, SASL and kafka-go tests run through.
var routes = []testRoute{
	{"mapping", func(*testing.T) ([]kafkanat.Option, string, string) { return nil, "direct", "" }},
	{"socks5", func(t *testing.T) ([]kafkanat.Option, string, string) {
		s, err := kafkanattest.NewSOCKS5Server()
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return viaURL(t, s.URL())
	}},
	{"microsocks", func(t *testing.T) ([]kafkanat.Option, string, string) {
		return viaURL(t, peers.Microsocks(t, "", ""))
	}},
	{"http-connect", func(t *testing.T) ([]kafkanat.Option, string, string) {
		p, err := kafkanattest.NewHTTPProxy()
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return viaURL(t, p.URL())
	}},
	{"tinyproxy", func(t *testing.T) ([]kafkanat.Option, string, string) {
		return viaURL(t, peers.Tinyproxy(t))
	}},
	{"ssh", func(t *testing.T) ([]kafkanat.Option, string, string) {
		d, bastion := sshBastion(t)
		t.Cleanup(func() {
			assert.Equal(t, 1, bastion.Connections(), "one SSH connection carries every broker connection")
		})
		// An SSH conn's RemoteAddr is its target, not the bastion.
		return []kafkanat.Option{kafkanat.Route("bastion", d), kafkanat.Via("bastion")}, "bastion", ""
	}},
}

// sshBastion starts an in-process SSH bastion that lets "kafka" log in with
// a password, and returns an SSH route to it (tunnel.NewSSH, as a program
// builds one from a URL) that verifies the bastion's host key against a
// known_hosts file.
func sshBastion(t *testing.T, opts ...kafkanattest.SSHOption) (*tunnel.SSHDialer, *kafkanattest.SSHServer) {
	t.Helper()
	bastion, err := kafkanattest.NewSSHServer(append([]kafkanattest.SSHOption{kafkanattest.WithSSHPassword("kafka", "b4stion")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { bastion.Close() })
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, []byte(bastion.KnownHosts()+"\n"), 0o600))
	u := &url.URL{Scheme: "ssh", User: url.UserPassword("kafka", "b4stion"), Host: bastion.Addr(),
		RawQuery: url.Values{"known_hosts": {knownHosts}}.Encode()}
	d, err := tunnel.NewSSH(u, nil)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d, bastion
}

// route returns the test route called name.
func route(t *testing.T, name string) testRoute {
	t.Helper()
	i := slices.IndexFunc(routes, func(r testRoute) bool { return r.name == name })
	require.GreaterOrEqual(t, i, 0, "no test route %q", name)
	return routes[i]
}

// routeOptions returns the kafkanat options of a route for cluster c (its
// mapping rules, Strict, and what selects the route), and the route name
// and the peer the recording must see.
func routeOptions(t *testing.T, c *kafkanattest.Cluster, r testRoute) (opts []kafkanat.Option, route, peer string) {
	t.Helper()
	via, route, peer := r.start(t)
	return append([]kafkanat.Option{kafkanat.Rules(c.Rules()), kafkanat.Strict()}, via...), route, peer
}

// tlsAdvertised are the hidden addresses of the TLS cluster's brokers; its
// certificate names their hosts and nothing else.
var tlsAdvertised = []string{
	"b0.kafka.internal.invalid:9092",
	"b1.kafka.internal.invalid:9092",
	"b2.kafka.internal.invalid:9092",
}

func advertisedHosts(addrs []string) []string {
	var hosts []string
	for _, a := range addrs {
		h, _, _ := net.SplitHostPort(a)
		hosts = append(hosts, h)
	}
	return hosts
}

// tlsCluster is a hidden cluster that serves TLS only and records the SNI
// of every handshake.
type tlsCluster struct {
	*kafkanattest.Cluster
	roots *tls.Config // a client config trusting the cluster's CA

	mu  sync.Mutex
	sni []string // ServerName of every ClientHello, in order
}

// newTLSCluster starts a TLS cluster advertising tlsAdvertised whose
// certificate names certNames (the advertised hosts when none).
func newTLSCluster(t *testing.T, certNames ...string) *tlsCluster {
	t.Helper()
	if len(certNames) == 0 {
		certNames = advertisedHosts(tlsAdvertised)
	}
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	cert, err := ca.Issue(certNames...)
	require.NoError(t, err)
	tc := &tlsCluster{roots: &tls.Config{RootCAs: ca.Pool()}}
	server := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			tc.mu.Lock()
			tc.sni = append(tc.sni, hello.ServerName)
			tc.mu.Unlock()
			return nil, nil // the config above
		},
	}
	tc.Cluster = hiddenCluster(t, kafkanattest.Advertise(tlsAdvertised...), kafkanattest.TLS(server))
	return tc
}

func (tc *tlsCluster) handshakes() []string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return slices.Clone(tc.sni)
}

// checkHandshakes asserts that the cluster saw one TLS handshake for each
// connection kafkanat made, each with the advertised host of a broker as
// SNI, and every broker's host at least once. With kafkanatTLS or
// plainConn, which show that only one side (kafkanat or the client) runs
// TLS, and the records arriving, every connection ran exactly one TLS
// layer: a second one inside would have reached the broker as garbage.
func (tc *tlsCluster) checkHandshakes(t *testing.T, rec *recording) {
	t.Helper()
	rec.mu.Lock()
	dials := len(rec.infos)
	rec.mu.Unlock()
	// sarama handshakes at its first request, not in the dial: wait for
	// connections opened at the end of a round trip.
	assert.Eventually(t, func() bool { return len(tc.handshakes()) == dials }, 5*time.Second, 10*time.Millisecond,
		"one handshake per connection")
	sni := tc.handshakes()
	hosts := advertisedHosts(tlsAdvertised)
	for _, name := range sni {
		assert.Contains(t, hosts, name, "SNI is an advertised host")
	}
	for _, h := range hosts {
		assert.Contains(t, sni, h, "a handshake with SNI %s", h)
	}
	assert.Len(t, sni, dials, "handshakes %v for %d connections", sni, dials)
}

// checkTargets asserts that every connection was rewritten to a loopback
// IP target: the names the certificate verified were never dialed.
func checkTargets(t *testing.T, rec *recording) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, info := range rec.infos {
		host, _, err := net.SplitHostPort(info.Target)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", host, "target of %s", info.Address)
	}
}

// kafkanatTLS wraps dial (made with kafkanat.TLS) and checks every
// connection it returns: TLS done by kafkanat, verified against the
// advertised host with that host as SNI, by a certificate that does not
// name the target the connection went to.
func kafkanatTLS(t *testing.T, dial kafkanat.DialFunc) kafkanat.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if err := checkKafkanatTLS(c, address); err != nil {
			c.Close()
			t.Error(err)
			return nil, err
		}
		return c, nil
	}
}

func checkKafkanatTLS(c net.Conn, address string) error {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return fmt.Errorf("dial %s: kafkanat returned a %T, want a *tls.Conn", address, c)
	}
	host, _, _ := net.SplitHostPort(address)
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 {
		return fmt.Errorf("dial %s: the TLS handshake is not complete and verified", address)
	}
	if st.ServerName != host {
		return fmt.Errorf("dial %s: TLS ServerName (SNI) %q, want the advertised host", address, st.ServerName)
	}
	info, _ := kafkanat.InfoOf(c)
	target, _, _ := net.SplitHostPort(info.Target)
	leaf := st.PeerCertificates[0]
	if err := leaf.VerifyHostname(host); err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if leaf.VerifyHostname(target) == nil {
		return fmt.Errorf("dial %s: the certificate also names the target %s, so the test proves nothing", address, target)
	}
	return nil
}

// plainConn wraps dial (made without kafkanat.TLS) and checks that every
// connection it returns is not TLS: the client (sarama, kafka-go) runs the
// only TLS.
func plainConn(t *testing.T, dial kafkanat.DialFunc) kafkanat.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if _, ok := c.(*tls.Conn); ok {
			c.Close()
			err := fmt.Errorf("dial %s: kafkanat returned a *tls.Conn; the client would run TLS twice", address)
			t.Error(err)
			return nil, err
		}
		return c, nil
	}
}

func saramaTLS(roots *tls.Config) func(*sarama.Config) {
	return func(cfg *sarama.Config) {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = roots.Clone()
	}
}

// TLS verifies each broker against its advertised name, whatever address
// the rule sent the connection to: franz-go through kafkanat.TLS, sarama
// and kafka-go through their own TLS over a kafkanat dialer that does none.
func TestTLS(t *testing.T) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			t.Run("franz-go", func(t *testing.T) {
				c := newTLSCluster(t)
				opts, route, peer := routeOptions(t, c.Cluster, r)
				dial := kafkanat.New(append(opts, kafkanat.TLS(c.roots))...)
				rec := franzRoundTrip(t, c.Advertised()[0], kafkanatTLS(t, dial))
				rec.check(t, c.Cluster, route, peer)
				checkTargets(t, rec)
				c.checkHandshakes(t, rec)
			})
			t.Run("sarama", func(t *testing.T) {
				c := newTLSCluster(t)
				opts, route, peer := routeOptions(t, c.Cluster, r)
				rec := saramaRoundTripWith(t, c.Advertised()[0], plainConn(t, kafkanat.New(opts...)), saramaTLS(c.roots))
				rec.check(t, c.Cluster, route, peer)
				checkTargets(t, rec)
				c.checkHandshakes(t, rec)
			})
			t.Run("kafka-go", func(t *testing.T) {
				c := newTLSCluster(t)
				opts, route, peer := routeOptions(t, c.Cluster, r)
				writer, reader := kafkagoRoundTrip(t, c.Advertised()[0], plainConn(t, kafkanat.New(opts...)), c.roots)
				for _, rec := range []*recording{writer, reader} {
					rec.check(t, c.Cluster, route, peer)
					checkTargets(t, rec)
				}
				writer.mu.Lock()
				reader.mu.Lock()
				both := &recording{infos: append(slices.Clone(writer.infos), reader.infos...)}
				reader.mu.Unlock()
				writer.mu.Unlock()
				c.checkHandshakes(t, both)
			})
		})
	}
}

// A broker whose certificate does not name its advertised host is refused,
// with an error that names the host and the certificate problem.
func TestTLSWrongCertificate(t *testing.T) {
	// The certificate names another hidden host and the target's IP: it
	// must fail although it is valid for the address actually dialed.
	const other = "other.kafka.internal.invalid"
	host := advertisedHosts(tlsAdvertised)[0]

	checkErr := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		msg := err.Error()
		t.Logf("error: %s", msg)
		assert.Contains(t, msg, host, "the error names the advertised host")
		assert.Contains(t, msg, "certificate", "the error says the certificate is the problem")
		assert.Contains(t, msg, other, "the error says which names the certificate has")
	}

	t.Run("franz-go", func(t *testing.T) {
		c := newTLSCluster(t, other, "127.0.0.1")
		dial := kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict(), kafkanat.TLS(c.roots))
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Advertised()[0]), kgo.Dialer(dial))
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = cl.Ping(ctx)
		require.NoError(t, ctx.Err(), "the client must fail on its own, not by our timeout")
		checkErr(t, err)
		var dialErr *kafkanat.DialError
		assert.ErrorAs(t, err, &dialErr, "the error is kafkanat's")
	})
	t.Run("sarama", func(t *testing.T) {
		c := newTLSCluster(t, other, "127.0.0.1")
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_0_0_0
		cfg.Net.Proxy.Enable = true
		cfg.Net.Proxy.Dialer = kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict())
		cfg.Metadata.Retry.Max = 0
		saramaTLS(c.roots)(cfg)
		cl, err := sarama.NewClient([]string{c.Advertised()[0]}, cfg)
		if err == nil {
			cl.Close()
		}
		checkErr(t, err)
	})
	t.Run("kafka-go", func(t *testing.T) {
		c := newTLSCluster(t, other, "127.0.0.1")
		d := &kafka.Dialer{DialFunc: kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict()), TLS: c.roots}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", c.Advertised()[0])
		if err == nil {
			conn.Close()
		}
		checkErr(t, err)
	})
}

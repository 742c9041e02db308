package testkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// ProxyOption configures a SOCKS5Server or an HTTPProxy.
type ProxyOption func(*proxyConfig)

type proxyConfig struct {
	auth     bool
	user     string
	password string
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
}

// WithCredentials makes the proxy require user and password: SOCKS5Server
// offers only user/password authentication (RFC 1929) and rejects other
// credentials; HTTPProxy answers a CONNECT without the matching
// "Proxy-Authorization: Basic" header with 407 Proxy Authentication
// Required. The user must not be empty; for SOCKS5 user and password are at
// most 255 bytes, for HTTP the user contains no colon. By default no
// credentials are required.
func WithCredentials(user, password string) ProxyOption {
	return func(c *proxyConfig) {
		c.auth, c.user, c.password = true, user, password
	}
}

// WithDialer sets how the proxy connects to the targets clients ask for,
// overriding the default of a net.Dialer. The context ends when the dial
// takes longer than 10s or the proxy is closed. Pass Cluster.DialAdvertised
// to resolve a cluster's hidden advertised names the way a gateway inside
// the cluster's network would:
//
//	proxy, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(cluster.DialAdvertised))
//
// The default dialer resolves names with the system resolver: give hidden
// (.invalid) names a WithDialer so that no DNS query leaves the machine.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) ProxyOption {
	return func(c *proxyConfig) { c.dial = dial }
}

const (
	// proxyHandshakeTimeout bounds how long a client may take to ask for
	// a target, so an abandoned client does not hold a goroutine.
	proxyHandshakeTimeout = 10 * time.Second
	// proxyLinger bounds how long a refused client's unread bytes are
	// drained before the conn is closed (closing with unread bytes would
	// reset the connection and could destroy the refusal in flight).
	proxyLinger = time.Second
)

// proxyServer is what SOCKS5Server and HTTPProxy share: a server and its
// configuration, and the methods of their public API.
type proxyServer struct {
	*server
	cfg    proxyConfig
	scheme string // of URL
}

// newProxyServer applies opts, listens on 127.0.0.1:0 and serves each
// accepted conn with handle in its own goroutine.
func newProxyServer(kind, scheme string, opts []ProxyOption, check func(proxyConfig) error, handle func(*proxyServer, net.Conn)) (*proxyServer, error) {
	var cfg proxyConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.auth {
		if cfg.user == "" {
			return nil, fmt.Errorf("kafkanattest: %s: WithCredentials: empty user", kind)
		}
		if err := check(cfg); err != nil {
			return nil, fmt.Errorf("kafkanattest: %s: WithCredentials: %w", kind, err)
		}
	}
	srv, err := newServer(kind, cfg.dial)
	if err != nil {
		return nil, err
	}
	s := &proxyServer{server: srv, cfg: cfg, scheme: scheme}
	srv.serve(func(c net.Conn) { handle(s, c) })
	return s, nil
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *proxyServer) Addr() string { return s.ln.Addr().String() }

// URL returns the server's route URL, "socks5://127.0.0.1:port" or
// "http://127.0.0.1:port", with "user:password@" (escaped) when it
// requires credentials.
func (s *proxyServer) URL() string {
	u := url.URL{Scheme: s.scheme, Host: s.ln.Addr().String()}
	if s.cfg.auth {
		u.User = url.UserPassword(s.cfg.user, s.cfg.password)
	}
	return u.String()
}

// Targets returns, in the order they arrived, the target of every request
// from an authenticated client, as the client sent it: an IPv4 address
// "192.0.2.1:9092", an IPv6 address "[2001:db8::1]:9092", or a host name
// "b1.kafka.internal.invalid:9092", unresolved. Targets the server failed
// to connect to are included.
func (s *proxyServer) Targets() []string { return s.recorded() }

// Close stops the server: it closes the listener and every client and
// target connection, and returns once every goroutine of the server has
// ended. Close is safe to call more than once.
func (s *proxyServer) Close() error { return s.close() }

// relay copies between client and upstream in both directions until both
// have ended, passing each half-close on, then closes both.
func (s *proxyServer) relay(client, upstream net.Conn) {
	defer s.release(s.upstreams, upstream)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		pipeHalf(upstream, client)
	})
	pipeHalf(client, upstream)
	<-done
}

// pipeHalf copies src to dst. At src's EOF it half-closes dst so the far
// end sees EOF too while the other direction carries on; on an error it
// closes both, which ends the other direction as well.
func pipeHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// linger half-closes c and discards what the client still sends for a
// moment, so that a refusal written to c arrives before c is closed.
func linger(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(proxyLinger))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

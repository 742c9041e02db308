package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
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
	// proxyDialTimeout bounds each dial to a target.
	proxyDialTimeout = 10 * time.Second
	// proxyLinger bounds how long a refused client's unread bytes are
	// drained before the conn is closed (closing with unread bytes would
	// reset the connection and could destroy the refusal in flight).
	proxyLinger = time.Second
)

// proxyServer is what SOCKS5Server and HTTPProxy share: the listener, the
// set of live conns, the recorded targets and the goroutines to wait for.
type proxyServer struct {
	cfg    proxyConfig
	ln     net.Listener
	ctx    context.Context // ends at Close: aborts dials in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{}
	targets []string

	closeOnce sync.Once
	closeErr  error
}

// newProxyServer applies opts, listens on 127.0.0.1:0 and serves each
// accepted conn with handle in its own goroutine.
func newProxyServer(kind string, opts []ProxyOption, check func(proxyConfig) error, handle func(*proxyServer, net.Conn)) (*proxyServer, error) {
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
	if cfg.dial == nil {
		cfg.dial = (&net.Dialer{}).DialContext
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: %s: %w", kind, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &proxyServer{cfg: cfg, ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve(handle)
	return s, nil
}

func (s *proxyServer) serve(handle func(*proxyServer, net.Conn)) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait, as net/http does.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		if !s.track(c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(c)
			handle(s, c)
		}()
	}
}

func (s *proxyServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers c so that Close closes it; once closed, it closes c and
// reports false.
func (s *proxyServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// release closes c and forgets it.
func (s *proxyServer) release(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *proxyServer) record(target string) {
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
}

func (s *proxyServer) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// dial connects to target with the configured dialer; the conn is tracked.
func (s *proxyServer) dial(target string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, proxyDialTimeout)
	defer cancel()
	c, err := s.cfg.dial(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("dialer returned neither a conn nor an error")
	}
	if !s.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// relay copies between client and upstream in both directions until both
// have ended, passing each half-close on, then closes both.
func (s *proxyServer) relay(client, upstream net.Conn) {
	defer s.release(upstream)
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		pipeHalf(upstream, client)
	}()
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

// close stops the server: no new conns, dials in flight aborted, every
// conn closed; it returns once every goroutine has ended.
func (s *proxyServer) close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.cancel()
		s.closeErr = s.ln.Close()
		for _, c := range conns {
			c.Close()
		}
		s.wg.Wait()
	})
	return s.closeErr
}

// proxyURL is scheme://[user:password@]addr.
func (s *proxyServer) proxyURL(scheme string) string {
	u := url.URL{Scheme: scheme, Host: s.ln.Addr().String()}
	if s.cfg.auth {
		u.User = url.UserPassword(s.cfg.user, s.cfg.password)
	}
	return u.String()
}

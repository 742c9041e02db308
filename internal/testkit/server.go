package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds each dial of a server to a target.
const dialTimeout = 10 * time.Second

// server is what every test server here shares: a loopback listener whose
// conns each run a handler in a goroutine of their own, the dials to
// targets, the recorded targets, and a Close that ends them all.
type server struct {
	ln     net.Listener
	dialFn func(ctx context.Context, network, address string) (net.Conn, error)
	ctx    context.Context // ends at Close: aborts dials in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	clients   map[net.Conn]struct{} // conns the listener accepted
	upstreams map[net.Conn]struct{} // conns to targets
	targets   []string

	closeOnce sync.Once
	closeErr  error
}

// newServer listens on 127.0.0.1:0; dial (nil: a net.Dialer) reaches the
// targets. Call serve to accept.
func newServer(kind string, dial func(ctx context.Context, network, address string) (net.Conn, error)) (*server, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: %s: %w", kind, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &server{ln: ln, dialFn: dial, ctx: ctx, cancel: cancel,
		clients: map[net.Conn]struct{}{}, upstreams: map[net.Conn]struct{}{}}, nil
}

// serve accepts conns in the background and runs handle on each; the conn
// is closed when handle returns.
func (s *server) serve(handle func(net.Conn)) {
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
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
			if !s.track(s.clients, c) {
				continue
			}
			s.wg.Go(func() {
				defer s.release(s.clients, c)
				handle(c)
			})
		}
	})
}

// track registers c in set so that Close closes it; once closed, it
// closes c and reports false.
func (s *server) track(set map[net.Conn]struct{}, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	set[c] = struct{}{}
	return true
}

// release closes c and forgets it.
func (s *server) release(set map[net.Conn]struct{}, c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(set, c)
	s.mu.Unlock()
}

func (s *server) record(target string) {
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
}

func (s *server) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// dial connects to target with the configured dialer, bounded by
// dialTimeout and Close; the conn is tracked (release it).
func (s *server) dial(target string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
	defer cancel()
	c, err := s.dialFn(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("dialer returned neither a conn nor an error")
	}
	if !s.track(s.upstreams, c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// close stops the server: no new conns, dials in flight aborted, every
// conn closed; it returns once every goroutine has ended.
func (s *server) close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		var conns []net.Conn
		for _, set := range []map[net.Conn]struct{}{s.clients, s.upstreams} {
			for c := range set {
				conns = append(conns, c)
			}
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

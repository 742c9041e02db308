package tunnel_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

// dialFunc adapts a function to proxy.ContextDialer.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// server is a loopback listener that runs handle on every conn it accepts
// and, at cleanup, closes the listener and every conn and waits for the
// handlers.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startServer(t *testing.T, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// startEcho serves conns that echo until EOF, then half-close.
func startEcho(t *testing.T) string {
	return startServer(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	}).addr()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newHTTPProxy(t *testing.T, opts ...kafkanattest.ProxyOption) *kafkanattest.HTTPProxy {
	t.Helper()
	p, err := kafkanattest.NewHTTPProxy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("HTTPProxy.Close: %v", err)
		}
	})
	return p
}

func newDialer(t *testing.T, rawURL string, forward dialFunc, cfg *tls.Config) *tunnel.HTTPDialer {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var d *tunnel.HTTPDialer
	if forward != nil {
		d, err = tunnel.NewHTTP(u, forward, cfg)
	} else {
		d, err = tunnel.NewHTTP(u, nil, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial dials through d with a 10s bound and closes the conn at cleanup.
func dial(t *testing.T, d *tunnel.HTTPDialer, address string) net.Conn {
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

// roundTrip writes msg to c and expects it echoed back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

// mustFail returns err, failing the test when it is nil or the conn is not.
func mustFail(t *testing.T, c net.Conn, err error) error {
	t.Helper()
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded, want an error")
	}
	if c != nil {
		t.Errorf("dial returned a conn (%T) with error %v", c, err)
	}
	return err
}

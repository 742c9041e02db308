// Package testnet holds the loopback servers and checks that kafkanat's
// tests share: a listener that runs a handler per conn and cleans up after
// itself, an echo server, a closed port, and an echo round trip. It is for
// tests only.
package testnet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// DialFunc adapts a function to proxy.ContextDialer.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialContext calls f.
func (f DialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// Server runs a handler on every conn its listener accepts. At the test's
// cleanup it closes the listener and every open conn and waits for the
// handlers.
type Server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Serve starts a Server on a loopback TCP port that runs handle on every
// conn (and closes the conn when handle returns).
func Serve(t testing.TB, handle func(net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ServeListener(t, ln, handle)
}

// ServeListener is Serve on a listener of the caller's (a unix socket, an
// IPv6 loopback port).
func ServeListener(t testing.TB, ln net.Listener, handle func(net.Conn)) *Server {
	s := &Server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() {
					c.Close()
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
				}()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// Addr returns the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Echo starts a Server whose conns echo until EOF, then half-close, and
// returns its address.
func Echo(t testing.TB) string {
	t.Helper()
	return Serve(t, func(c net.Conn) {
		_, _ = io.Copy(c, c)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}).Addr()
}

// Sink starts a loopback listener that closes every conn as soon as it
// accepts it, on the accepting goroutine, and returns its address: a dial
// benchmark against it measures the dial and the close and nothing else.
func Sink(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Blackhole starts a Server that accepts every conn and never answers
// (it reads and discards until the test ends), as a proxy or broker whose
// host stopped responding would, and returns its address.
func Blackhole(t testing.TB) string {
	t.Helper()
	return Serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }).Addr()
}

// ConnectByHand opens an HTTP CONNECT tunnel to target through the proxy
// at proxyAddr the way a program without kafkanat would: dial the proxy,
// write the request, read the reply. Benchmarks compare routes with it.
func ConnectByHand(ctx context.Context, proxyAddr, target string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// ClosedPort returns a loopback address nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// RoundTrip writes msg to c, which must lead to an echo server, and
// expects it back within 10 seconds.
func RoundTrip(t testing.TB, c net.Conn, msg string) {
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

// MustFail returns err, failing the test when it is nil or the conn is not.
func MustFail(t testing.TB, c net.Conn, err error) error {
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

// SyncBuffer collects a process's output, written by exec's copying
// goroutine and read meanwhile by the test: a bytes.Buffer behind a mutex.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

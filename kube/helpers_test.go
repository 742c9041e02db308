package kube_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

// TestMain checks for leaked goroutines, retrying for a few seconds: a
// closed SPDY connection (moby/spdystream) ends its shutdown goroutine up
// to a second after Close when the far side closed first.
func TestMain(m *testing.M) {
	// Nothing the tests dial resolves: names fail in-process instead of
	// asking the machine's DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	code := m.Run()
	if code == 0 {
		// sarama's metrics library starts one meter-ticking goroutine per
		// process and never stops it.
		ignore := goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")
		err := goleak.Find(ignore)
		for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); err = goleak.Find(ignore) {
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// echoServer is a loopback listener that echoes what it reads, half-closes
// when it reads EOF, and counts its connections.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	count int
}

func newEcho(t testing.TB) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.count++
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); e.wg.Wait() })
	return e
}

func (e *echoServer) dial(ctx context.Context, port int) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", e.ln.Addr().String())
}

// closedPort dials a loopback port nothing listens on: the pod's port is
// refused.
func closedPort(t *testing.T) func(ctx context.Context, port int) (net.Conn, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return func(ctx context.Context, port int) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp4", addr)
	}
}

// newServer starts a test API server and closes it after the test.
func newServer(t testing.TB, opts ...kubetest.Option) *kubetest.Server {
	t.Helper()
	s := kubetest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// newDialer returns a Dialer for s, closed after the test (before s).
func newDialer(t testing.TB, s *kubetest.Server, opts ...kube.Option) *kube.Dialer {
	t.Helper()
	d, err := kube.New(s.Config(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// protocols are the transports tests run over.
var protocols = []kube.Protocol{kube.SPDY, kube.WebSocket}

// kubeError returns the *kube.Error in err, failing the test if there is
// none.
func kubeError(t *testing.T, err error) *kube.Error {
	t.Helper()
	var ke *kube.Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T) holds no *kube.Error", err, err)
	}
	return ke
}

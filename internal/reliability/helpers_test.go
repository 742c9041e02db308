package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const (
	topic      = "seq"
	partitions = 6

	// hangGuard bounds anything that must end on its own: passing it means
	// a hang, not a slow machine. Tests assert outcomes, never durations.
	hangGuard = 10 * time.Second
)

// within runs fn and fails the test if it has not returned after limit:
// the guard against a dial or handshake that hangs. fn keeps running in
// the background then; the test has failed anyway.
func within(t testing.TB, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		buf := make([]byte, 1<<20)
		t.Fatalf("%s did not return within %v (a hang); goroutines:\n%s", what, limit, buf[:runtime.Stack(buf, true)])
	}
}

// noLeak checks, when the test ends, that it left no goroutine behind:
// every goroutine that did not exist when it was called must have ended.
func noLeak(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if t.Failed() {
			return // a failed test may leave what it was waiting for
		}
		if err := goleak.Find(ignore, ignoreSarama); err != nil {
			t.Errorf("goroutine leak: %v", err)
		}
	})
}

// hiddenCluster starts a cluster whose brokers advertise hidden names
// (opts may change them), with the test topic, partition p led by broker
// p mod brokers so that every client must reach every broker.
func hiddenCluster(t testing.TB, opts ...kafkanattest.ClusterOption) *kafkanattest.Cluster {
	t.Helper()
	opts = append([]kafkanattest.ClusterOption{kafkanattest.Topics(partitions, topic)}, opts...)
	c, err := kafkanattest.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// dialEntry is one dial a dialLog saw.
type dialEntry struct {
	at      time.Time // when the dial returned
	address string
	info    kafkanat.ConnInfo // of the conn, when the dial succeeded
	err     error
}

// dialLog wraps a DialFunc and records every dial the client makes, so a
// test can prove where connections went before and after a fault.
type dialLog struct {
	dial    kafkanat.DialFunc
	mu      sync.Mutex
	entries []dialEntry
}

func newDialLog(dial kafkanat.DialFunc) *dialLog { return &dialLog{dial: dial} }

// DialContext dials through the wrapped DialFunc and records the result.
func (l *dialLog) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := l.dial(ctx, network, address)
	e := dialEntry{address: address, err: err}
	if err == nil {
		e.info, _ = kafkanat.InfoOf(c)
	}
	e.at = time.Now()
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
	return c, err
}

// Dial is DialContext without a context, as sarama calls it.
func (l *dialLog) Dial(network, address string) (net.Conn, error) {
	return l.DialContext(context.Background(), network, address)
}

// all returns what was recorded so far.
func (l *dialLog) all() []dialEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dialEntry(nil), l.entries...)
}

// connected returns the successful dials that returned after since.
func (l *dialLog) connected(since time.Time) []dialEntry {
	var out []dialEntry
	for _, e := range l.all() {
		if e.err == nil && e.at.After(since) {
			out = append(out, e)
		}
	}
	return out
}

// summary describes the dials for a failure message.
func (l *dialLog) summary() string {
	var b strings.Builder
	for _, e := range l.all() {
		if e.err != nil {
			fmt.Fprintf(&b, "  %s %s: %v\n", e.at.Format("15:04:05.000"), e.address, e.err)
		} else {
			fmt.Fprintf(&b, "  %s %s => %s via %s\n", e.at.Format("15:04:05.000"), e.address, e.info.Target, e.info.Route)
		}
	}
	return b.String()
}

// server is a loopback listener that runs handle on every conn it
// accepts. At cleanup it closes the listener and every conn and waits for
// every handler, so it leaves nothing behind.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func newServer(t testing.TB, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(5 * time.Millisecond) // out of descriptors: wait, as net/http does
				continue
			}
			s.mu.Lock()
			if s.done {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer func() {
					c.Close()
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) close() {
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// open returns how many conns the server holds open.
func (s *server) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// echo serves a conn by sending back what it reads until EOF.
func echo(c net.Conn) {
	io.Copy(c, c)
}

// blackhole serves a conn by reading and discarding what it sends and
// never answering: a proxy or broker that accepted TCP and then hung.
func blackhole(c net.Conn) {
	io.Copy(io.Discard, c)
}

// silentListener listens and never accepts: the kernel completes the TCP
// handshake and queues the conn, nobody ever reads it.
func silentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// raiseFDLimit raises the soft descriptor limit to the hard one and fails
// the test when even that is below need.
func raiseFDLimit(t testing.TB, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	}
	if lim.Cur < need {
		t.Fatalf("descriptor limit %d (hard %d) is below the %d this test needs; raise ulimit -Hn", lim.Cur, lim.Max, need)
	}
}

// eventually polls cond until it holds or hangGuard passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := waitFor(what, cond); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, or returns an error after hangGuard;
// for goroutines other than the test's, which may not call t.Fatal.
func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v", what, hangGuard)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

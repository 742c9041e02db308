package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

const (
	loadConns     = 1000 // concurrent dials per round
	echoListeners = 4    // loopback echo servers the dials spread over
)

// loadRounds is how many rounds of loadConns a load test runs.
func loadRounds() int {
	if soak() {
		return 30
	}
	return 1
}

// loadResult counts one round's outcomes.
type loadResult struct {
	ok      int
	refused []error // refusals the proxy answered with (a SOCKS5 reply code, an HTTP status)
	failed  []error // anything else
}

// isRefusal reports whether err is the proxy's refusal to connect (as
// opposed to a failure on kafkanat's side of the route).
func isRefusal(err error) bool {
	var se *tunnel.StatusError
	return errors.As(err, &se) || strings.Contains(err.Error(), "the proxy could not connect to")
}

// loadRound opens loadConns connections at once through dial to the echo
// servers (by the hidden names echo<i>.load.invalid:7), checks each echoes
// its own bytes, holds them all open together, then closes them.
func loadRound(t *testing.T, dial kafkanat.DialFunc) loadResult {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		res   loadResult
		conns []net.Conn
	)
	allOpen := make(chan struct{})
	var opened sync.WaitGroup
	opened.Add(loadConns)
	for i := range loadConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := dial(ctx, "tcp", fmt.Sprintf("echo%d.load.invalid:7", i%echoListeners))
			if err == nil {
				err = echoCheck(c, fmt.Appendf(nil, "conn %d says hello\n", i))
			}
			mu.Lock()
			switch {
			case err == nil:
				res.ok++
				conns = append(conns, c)
			case isRefusal(err):
				res.refused = append(res.refused, err)
			default:
				res.failed = append(res.failed, err)
			}
			mu.Unlock()
			if err != nil && c != nil {
				c.Close()
			}
			opened.Done()
		}()
	}
	go func() {
		opened.Wait()
		close(allOpen)
	}()
	close(start)
	within(t, 3*time.Minute, fmt.Sprintf("%d concurrent dials", loadConns), func() { <-allOpen })
	// Every conn is open at this point; now close them all.
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return res
}

// echoCheck writes msg and reads it back.
func echoCheck(c net.Conn, msg []byte) error {
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg))
	for n := 0; n < len(buf); {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil && n < len(buf) {
			return fmt.Errorf("read %d of %d echoed bytes: %w", n, len(buf), err)
		}
	}
	if string(buf) != string(msg) {
		return fmt.Errorf("echoed %q, want %q", buf, msg)
	}
	return c.SetDeadline(time.Time{})
}

// loadTest runs the load rounds through the route newDial builds for the
// echo servers' rules and checks: every dial connected and echoed (or the
// proxy refused it, counted and reported), and afterwards no goroutine and
// no descriptor is left over.
func loadTest(t *testing.T, newDial func(rules string) kafkanat.DialFunc) {
	// Per conn: the client's end, the proxy's two ends (in process) and
	// the echo server's end, with room to spare.
	raiseFDLimit(t, 6*loadConns)
	var echoes []*server
	var rules strings.Builder
	for i := range echoListeners {
		s := newServer(t, echo)
		echoes = append(echoes, s)
		fmt.Fprintf(&rules, "echo%d.load.invalid:7 => %s\n", i, s.addr())
	}
	dial := newDial(rules.String())

	// Warm up: whatever a first dial opens for good (the runtime's
	// poller) is opened before the count.
	c, err := dial(context.Background(), "tcp", "echo0.load.invalid:7")
	require.NoError(t, err)
	require.NoError(t, echoCheck(c, []byte("warm up")))
	c.Close()
	eventually(t, "the warm-up conn closes", func() bool { return echoes[0].open() == 0 })
	noLeak(t)
	before := settledFDs(t)

	for round := 1; round <= loadRounds(); round++ {
		res := loadRound(t, dial)
		t.Logf("round %d: %d of %d conns connected and echoed, %d refused by the proxy, %d failed",
			round, res.ok, loadConns, len(res.refused), len(res.failed))
		for i, err := range res.refused {
			if i == 5 {
				t.Logf("... %d more refusals", len(res.refused)-i)
				break
			}
			t.Logf("refused: %v", err)
		}
		for i, err := range res.failed {
			if i == 10 {
				t.Errorf("... %d more failures", len(res.failed)-i)
				break
			}
			t.Errorf("failed: %v", err)
		}
	}
	// Closed conns take a moment to leave every end: the proxy's relay
	// and the echo servers see EOF and close theirs.
	var after fdCount
	if err := waitFor("sockets back to where they were", func() bool {
		after = countFDs(t)
		return after.sockets <= before.sockets
	}); err != nil {
		t.Errorf("%v: %d sockets open before the load, %d after", err, before.sockets, after.sockets)
	}
	t.Logf("open sockets: %d before, %d after (all descriptors: %d, %d)", before.sockets, after.sockets, before.all, after.all)
}

// fdCount is how many descriptors the process has open, and how many of
// them are sockets: what a leaked conn would hold. The total also counts
// the pipes Go's io.Copy between TCP conns keeps pooled for splice(2)
// until a garbage collection frees them, so only sockets are compared.
type fdCount struct{ all, sockets int }

func countFDs(t testing.TB) fdCount {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	var n fdCount
	for _, e := range entries {
		n.all++
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(link, "socket:") {
			n.sockets++
		}
	}
	return n
}

// settledFDs counts open descriptors once the socket count has stopped
// changing: the far ends of conns closed a moment ago (a proxy's relay)
// close on their own schedule.
func settledFDs(t *testing.T) fdCount {
	t.Helper()
	prev, stable := countFDs(t), 0
	eventually(t, "the socket count settles", func() bool {
		time.Sleep(50 * time.Millisecond)
		n := countFDs(t)
		if n.sockets == prev.sockets {
			stable++
		} else {
			stable = 0
		}
		prev = n
		return stable >= 4
	})
	return prev
}

// TestLoadSOCKS5 opens 1,000 connections at once through the in-process
// SOCKS5 server.
func TestLoadSOCKS5(t *testing.T) {
	p, err := kafkanattest.NewSOCKS5Server()
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	loadTest(t, func(rules string) kafkanat.DialFunc {
		return kafkanat.New(kafkanat.Rules(rules), kafkanat.Via(p.URL()), kafkanat.Strict())
	})
}

// TestLoadSOCKS5Credentials is TestLoadSOCKS5 with RFC 1929 authentication
// on every dial.
func TestLoadSOCKS5Credentials(t *testing.T) {
	p, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithCredentials("loader", "l0ad-pass"))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	loadTest(t, func(rules string) kafkanat.DialFunc {
		return kafkanat.New(kafkanat.Rules(rules), kafkanat.Via(p.URL()), kafkanat.Strict())
	})
}

// TestLoadMicrosocks opens 1,000 connections at once through microsocks.
func TestLoadMicrosocks(t *testing.T) {
	ms := startMicrosocks(t)
	loadTest(t, func(rules string) kafkanat.DialFunc {
		return kafkanat.New(kafkanat.Rules(rules), kafkanat.Via("socks5://"+ms.addr), kafkanat.Strict())
	})
}

// TestLoadHTTPConnect opens 1,000 connections at once through the
// in-process HTTP CONNECT proxy.
func TestLoadHTTPConnect(t *testing.T) {
	p, err := kafkanattest.NewHTTPProxy()
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	loadTest(t, func(rules string) kafkanat.DialFunc {
		return kafkanat.New(kafkanat.Rules(rules), kafkanat.Via(p.URL()), kafkanat.Strict())
	})
}

// TestLoadDirect is the baseline: 1,000 connections at once over the
// direct route.
func TestLoadDirect(t *testing.T) {
	loadTest(t, func(rules string) kafkanat.DialFunc {
		return kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	})
}

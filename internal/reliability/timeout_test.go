package reliability

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const hiddenBroker = "b0.kafka.internal.invalid:9092"

// hungRoute is a route whose far end accepted TCP and never answers.
type hungRoute struct {
	name    string
	opts    func(t *testing.T, addr string) []kafkanat.Option // the route to addr
	silent  bool                                              // the listener never even accepts
	reached func() int                                        // conns the hung server accepted; nil when silent
}

// hungRoutes are the routes every timeout test runs against: SOCKS5 and
// HTTP CONNECT proxies and a TLS broker that accept and never answer, or
// whose listener never accepts.
func hungRoutes() []hungRoute {
	var out []hungRoute
	for _, silent := range []bool{false, true} {
		suffix := " (accepts, never answers)"
		if silent {
			suffix = " (never accepts)"
		}
		out = append(out,
			hungRoute{name: "socks5" + suffix, silent: silent, opts: func(t *testing.T, addr string) []kafkanat.Option {
				return []kafkanat.Option{kafkanat.Map(hiddenBroker, closedPort(t)), kafkanat.Via("socks5://" + addr)}
			}},
			hungRoute{name: "http CONNECT" + suffix, silent: silent, opts: func(t *testing.T, addr string) []kafkanat.Option {
				return []kafkanat.Option{kafkanat.Map(hiddenBroker, closedPort(t)), kafkanat.Via("http://" + addr)}
			}},
			hungRoute{name: "TLS direct" + suffix, silent: silent, opts: func(t *testing.T, addr string) []kafkanat.Option {
				// The TCP connect succeeds; the TLS handshake waits forever.
				return []kafkanat.Option{kafkanat.Map(hiddenBroker, addr), kafkanat.TLS(&tls.Config{})}
			}},
		)
	}
	return append(out, sshHungRoutes()...)
}

// start starts the hung server and returns its address.
func (r *hungRoute) start(t *testing.T) string {
	if r.silent {
		return silentListener(t)
	}
	var accepted atomic.Int64
	s := newServer(t, func(c net.Conn) {
		accepted.Add(1)
		blackhole(c)
	})
	r.reached = func() int { return int(accepted.Load()) }
	return s.addr()
}

// TestTimeoutDialWithoutContext is how sarama dials: Dial, no context.
// DialTimeout alone must end the wait with a timeout error.
func TestTimeoutDialWithoutContext(t *testing.T) {
	noLeak(t)
	for _, r := range hungRoutes() {
		t.Run(r.name, func(t *testing.T) {
			addr := r.start(t)
			dial := kafkanat.New(append(r.opts(t, addr), kafkanat.DialTimeout(200*time.Millisecond))...)
			var (
				c   net.Conn
				err error
			)
			within(t, hangGuard, "Dial through a hung route", func() { c, err = dial.Dial("tcp", hiddenBroker) })
			require.Error(t, err)
			require.Nil(t, c)
			var de *kafkanat.DialError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			var ne net.Error
			if assert.ErrorAs(t, err, &ne, "a net.Error in %v", err) {
				assert.True(t, ne.Timeout(), "Timeout() of %v", err)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "kafkanat: dial "+hiddenBroker), err.Error())
			if r.reached != nil {
				assert.Equal(t, 1, r.reached(), "the hung server was not what the dial waited on")
			}
			t.Logf("%v", err)
		})
	}
}

// TestTimeoutContextCancelled cancels DialContext's context while the
// route hangs: the dial returns at once with the context's error, though
// the dial timeout is an hour.
func TestTimeoutContextCancelled(t *testing.T) {
	noLeak(t)
	for _, r := range hungRoutes() {
		t.Run(r.name, func(t *testing.T) {
			addr := r.start(t)
			dial := kafkanat.New(append(r.opts(t, addr), kafkanat.DialTimeout(time.Hour))...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			var err error
			within(t, hangGuard, "DialContext after cancel", func() {
				var c net.Conn
				if c, err = dial.DialContext(ctx, "tcp", hiddenBroker); c != nil {
					c.Close()
				}
			})
			require.ErrorIs(t, err, context.Canceled)
			var de *kafkanat.DialError
			require.ErrorAs(t, err, &de)
			t.Logf("%v", err)
		})
	}
}

// TestTimeoutContextDeadline gives DialContext a deadline shorter than
// the dial timeout: the context's deadline wins.
func TestTimeoutContextDeadline(t *testing.T) {
	noLeak(t)
	for _, r := range hungRoutes() {
		t.Run(r.name, func(t *testing.T) {
			addr := r.start(t)
			dial := kafkanat.New(append(r.opts(t, addr), kafkanat.DialTimeout(time.Hour))...)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			var err error
			within(t, hangGuard, "DialContext with a deadline", func() {
				var c net.Conn
				if c, err = dial.DialContext(ctx, "tcp", hiddenBroker); c != nil {
					c.Close()
				}
			})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			var ne net.Error
			if assert.ErrorAs(t, err, &ne) {
				assert.True(t, ne.Timeout(), "Timeout() of %v", err)
			}
		})
	}
}

// TestTimeoutEachRouteOfTwo checks that the dial timeout bounds each
// route attempt, not the dial: with `via hung, good` the first attempt
// times out and the second connects.
func TestTimeoutEachRouteOfTwo(t *testing.T) {
	noLeak(t)
	hung := newServer(t, blackhole)
	good, err := kafkanattest.NewSOCKS5Server()
	require.NoError(t, err)
	defer good.Close()
	target := newServer(t, echo)
	dial := kafkanat.New(kafkanat.Rules(hiddenBroker+" => "+target.addr()+" via socks5://"+hung.addr()+", "+good.URL()),
		kafkanat.DialTimeout(200*time.Millisecond))
	var c net.Conn
	within(t, hangGuard, "Dial over a hung route, then a good one", func() { c, err = dial.Dial("tcp", hiddenBroker) })
	require.NoError(t, err)
	defer c.Close()
	info, ok := kafkanat.InfoOf(c)
	require.True(t, ok)
	assert.Equal(t, routeName(t, good.URL()), info.Route)
	assert.Equal(t, []string{target.addr()}, good.Targets())
	roundTrip(t, c, []byte("after a hung route"))
}

// roundTrip writes msg to an echoing conn and reads it back.
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(hangGuard)))
	_, err := c.Write(msg)
	require.NoError(t, err)
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, msg, buf)
	require.NoError(t, c.SetDeadline(time.Time{}))
}

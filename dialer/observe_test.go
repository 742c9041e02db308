package dialer_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

func TestExplain(t *testing.T) {
	d := newDialer(t, dialer.Config{
		Rules: rules(t, `b{n}.kafka.invalid:9092 => 127.0.0.1:{31090+n}
*.blocked.invalid deny
*.gw.invalid via socks5://alice:s3cret@127.0.0.1:1080, direct`),
		Lookup: func(_ context.Context, address string) (string, bool, error) {
			return "127.0.0.1", address == "agent.invalid:7000", nil
		},
	})
	for _, tc := range []struct{ addr, want string }{
		{"b2.kafka.invalid:9092", "b2.kafka.invalid:9092 => 127.0.0.1:31092 via direct (rule 1: b{n}.kafka.invalid:9092 => 127.0.0.1:{31090+n})"},
		{"x.blocked.invalid:1", "x.blocked.invalid:1: refused by rule 2 (*.blocked.invalid deny)"},
		{"a.gw.invalid:9092", "a.gw.invalid:9092 via socks5://alice:xxxxx@127.0.0.1:1080, direct (rule 3: *.gw.invalid via socks5://alice:xxxxx@127.0.0.1:1080, direct)"},
		{"agent.invalid:7000", "agent.invalid:7000 => 127.0.0.1:7000 via direct (Lookup)"},
		{"other.invalid:9092", "other.invalid:9092: no rule: dialed directly"},
	} {
		dec, err := d.Explain(context.Background(), tc.addr)
		require.NoError(t, err)
		assert.Equal(t, tc.want, dec.String())
	}

	strict := newDialer(t, dialer.Config{Strict: true, Via: []string{"socks5://127.0.0.1:1080"}})
	dec, err := strict.Explain(context.Background(), "other.invalid:9092")
	require.NoError(t, err)
	assert.True(t, dec.Refused)
	assert.Equal(t, "other.invalid:9092: no rule: refused (strict)", dec.String())

	viaDefault := newDialer(t, dialer.Config{Via: []string{"socks5://127.0.0.1:1080"}})
	dec, err = viaDefault.Explain(context.Background(), "other.invalid:9092")
	require.NoError(t, err)
	assert.Equal(t, "other.invalid:9092: no rule: dialed via socks5://127.0.0.1:1080", dec.String())

	_, err = d.Explain(context.Background(), "no-port.invalid")
	require.Error(t, err)
}

type events struct {
	mu     sync.Mutex
	dials  []dialer.DialEvent
	closes []dialer.CloseEvent
}

func (e *events) DialDone(ev dialer.DialEvent) {
	e.mu.Lock()
	e.dials = append(e.dials, ev)
	e.mu.Unlock()
}

func (e *events) ConnClosed(ev dialer.CloseEvent) {
	e.mu.Lock()
	e.closes = append(e.closes, ev)
	e.mu.Unlock()
}

func TestStatsAndHook(t *testing.T) {
	echo := testnet.Echo(t)
	closed := testnet.ClosedPort(t)
	ev := &events{}
	d := newDialer(t, dialer.Config{
		Rules: rules(t, "ok.invalid:1 => "+echo+"\nbad.invalid:1 => "+closed+"\nfail.invalid:1 => "+echo+" via down, rec"),
		Routes: map[string]proxy.ContextDialer{
			"down": failing{io.ErrUnexpectedEOF},
			"rec":  &recorder{},
		},
		Hook: ev,
	})
	c1, err := d.Dial("tcp", "ok.invalid:1")
	require.NoError(t, err)
	roundTrip(t, c1)
	c2, err := d.Dial("tcp", "fail.invalid:1")
	require.NoError(t, err)
	_, err = d.Dial("tcp", "bad.invalid:1")
	require.Error(t, err)

	byRoute := func() map[string]dialer.RouteStats {
		m := map[string]dialer.RouteStats{}
		for _, rs := range d.Stats().Routes {
			m[rs.Route] = rs
		}
		return m
	}
	s := byRoute()
	assert.Equal(t, uint64(2), s["direct"].Dials)
	assert.Equal(t, uint64(1), s["direct"].Failures)
	assert.Equal(t, int64(1), s["direct"].Open)
	assert.Equal(t, uint64(5), s["direct"].BytesWritten)
	assert.Equal(t, uint64(5), s["direct"].BytesRead)
	assert.Equal(t, uint64(2), s["direct"].DialLatency.Count)
	assert.LessOrEqual(t, s["direct"].DialLatency.Min, s["direct"].DialLatency.Max)
	assert.LessOrEqual(t, s["direct"].DialLatency.P50, s["direct"].DialLatency.P99)
	assert.Equal(t, uint64(1), s["down"].Failures)
	assert.Equal(t, int64(1), s["rec"].Open)

	require.NoError(t, c1.Close())
	require.Error(t, c1.Close(), "a second Close fails but is not counted twice")
	require.NoError(t, c2.Close())
	s = byRoute()
	assert.Equal(t, int64(0), s["direct"].Open)
	assert.Equal(t, int64(0), s["rec"].Open)

	ev.mu.Lock()
	defer ev.mu.Unlock()
	require.Len(t, ev.dials, 4, "one event per route attempt")
	assert.NoError(t, ev.dials[0].Err)
	assert.Equal(t, "down", ev.dials[1].Info.Route)
	assert.ErrorIs(t, ev.dials[1].Err, io.ErrUnexpectedEOF)
	assert.Equal(t, "rec", ev.dials[2].Info.Route)
	assert.Error(t, ev.dials[3].Err)
	require.Len(t, ev.closes, 2)
	assert.Equal(t, "ok.invalid:1", ev.closes[0].Info.Address)
	assert.Equal(t, uint64(5), ev.closes[0].BytesRead)
	assert.Equal(t, uint64(5), ev.closes[0].BytesWritten)
}

func TestSetRulesTakesEffectAtNextDial(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "broker.invalid:9092 => "+echo1), Strict: true})
	c1, err := d.Dial("tcp", "broker.invalid:9092")
	require.NoError(t, err)
	defer c1.Close()

	require.NoError(t, d.SetRules(rules(t, "broker.invalid:9092 => "+echo2)))
	c2, err := d.Dial("tcp", "broker.invalid:9092")
	require.NoError(t, err)
	defer c2.Close()
	i2, _ := dialer.InfoOf(c2)
	assert.Equal(t, echo2, i2.Target)
	roundTrip(t, c1) // the open connection is untouched

	err = d.SetRules(rules(t, "broker.invalid:9092 => 127.0.0.1:1 via nowhere"))
	require.ErrorIs(t, err, dialer.ErrConfig)
	assert.Equal(t, `kafkanat: rules line 1, column 40: unknown route "nowhere": not "direct", a route URL, or a name given with Route`, err.Error())
	dec, err := d.Explain(context.Background(), "broker.invalid:9092")
	require.NoError(t, err)
	assert.Equal(t, echo2, dec.Target, "a failed SetRules keeps the table in use")
	assert.Len(t, d.Rules(), 1)
}

func TestConcurrentSetRulesAndDials(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "b.invalid:1 => "+echo1), Strict: true})
	tables := [][]string{{echo1}, {echo2}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = d.SetRules(rules(t, "b.invalid:1 => "+tables[i%2][0]))
		}
	})
	for range 200 {
		c, err := d.Dial("tcp", "b.invalid:1")
		require.NoError(t, err)
		i, _ := dialer.InfoOf(c)
		assert.Contains(t, []string{echo1, echo2}, i.Target)
		c.Close()
	}
	close(stop)
	wg.Wait()
}

func TestRulesFile(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	path := filepath.Join(t.TempDir(), "rules")
	require.NoError(t, os.WriteFile(path, []byte("# brokers\nbroker.invalid:9092 => "+echo1+"\n"), 0o600))
	d := newDialer(t, dialer.Config{Strict: true})
	target := func() string {
		dec, err := d.Explain(context.Background(), "broker.invalid:9092")
		require.NoError(t, err)
		return dec.Target
	}

	require.NoError(t, d.LoadRulesFile(path))
	assert.Equal(t, echo1, target())

	require.NoError(t, os.WriteFile(path, []byte("broker.invalid:9092 => \n"), 0o600))
	err := d.LoadRulesFile(path)
	require.ErrorIs(t, err, dialer.ErrConfig)
	assert.Contains(t, err.Error(), path+" line 1")
	assert.Equal(t, echo1, target())

	err = d.LoadRulesFile(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, dialer.ErrConfig)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// Watching: a change is picked up, a broken change is reported and
	// leaves the table alone, the next good change is picked up.
	replaceFile(t, path, "broker.invalid:9092 => "+echo1)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 10)
	done := make(chan error, 1)
	go func() { done <- d.WatchRulesFile(ctx, path, 5*time.Millisecond, func(err error) { errs <- err }) }()
	waitFor := func(want string) {
		t.Helper()
		require.Eventually(t, func() bool { return target() == want }, 10*time.Second, 5*time.Millisecond)
	}
	waitFor(echo1)
	replaceFile(t, path, "broker.invalid:9092 => "+echo2)
	waitFor(echo2)
	replaceFile(t, path, "broker.invalid:9092 => ~oops")
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, dialer.ErrConfig)
	case <-time.After(10 * time.Second):
		t.Fatal("a broken rules file was not reported")
	}
	assert.Equal(t, echo2, target())
	replaceFile(t, path, "broker.invalid:9092 => "+echo1)
	waitFor(echo1)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)

	err = d.WatchRulesFile(context.Background(), filepath.Join(t.TempDir(), "missing"), 0, nil)
	assert.ErrorIs(t, err, os.ErrNotExist, "a first load that fails returns at once")
}

// replaceFile replaces path atomically, as WatchRulesFile asks writers to.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(text), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestNoProxy(t *testing.T) {
	echo := testnet.Echo(t)
	rec := &recorder{}
	d := newDialer(t, dialer.Config{
		Rules:   rules(t, "mapped.invalid:1 => "+echo+"\nforced.invalid:1 => "+echo+" via rec"),
		Via:     []string{"rec"},
		Routes:  map[string]proxy.ContextDialer{"rec": rec},
		NoProxy: "127.0.0.0/8, .corp.invalid, exact.invalid:9092",
	})
	for _, tc := range []struct{ addr, route string }{
		{"mapped.invalid:1", "direct"},      // target 127.0.0.1 is in NO_PROXY
		{"forced.invalid:1", "rec"},         // a rule's own via wins
		{"a.b.corp.invalid:9092", "direct"}, // zone
		{"corp.invalid:9092", "direct"},     // the zone itself
		{"exact.invalid:9092", "direct"},    // host with port
		{"exact.invalid:9093", "rec"},       // other port
		{"notcorp.invalid:9092", "rec"},     // suffix without a dot
		{"[::1]:9092", "rec"},               // not in the list
	} {
		dec, err := d.Explain(context.Background(), tc.addr)
		require.NoError(t, err)
		assert.Equal(t, []string{tc.route}, dec.Routes, tc.addr)
	}
	for _, bad := range []string{"10.0.0.0/33", "*.*", "a b"} {
		_, err := dialer.New(dialer.Config{NoProxy: bad})
		require.ErrorIs(t, err, dialer.ErrConfig, bad)
		assert.Contains(t, err.Error(), "NO_PROXY entry 1")
	}
	all := newDialer(t, dialer.Config{Via: []string{"rec"}, Routes: map[string]proxy.ContextDialer{"rec": rec}, NoProxy: "*"})
	dec, err := all.Explain(context.Background(), "x.invalid:1")
	require.NoError(t, err)
	assert.Equal(t, []string{"direct"}, dec.Routes)
}

// closer is a route URL-less stand-in: a named route is the application's
// to close, so Dialer.Close must leave it alone.
type closer struct {
	recorder
	closed bool
}

func (c *closer) Close() error { c.closed = true; return nil }

func TestCloseLeavesNamedRoutesAlone(t *testing.T) {
	c := &closer{}
	d := newDialer(t, dialer.Config{Via: []string{"app"}, Routes: map[string]proxy.ContextDialer{"app": c}})
	require.NoError(t, d.Close())
	assert.False(t, c.closed)
}

// A dial whose TLS handshake fails makes no connection: the hook sees the
// failed attempt and no close, and the route has nothing open.
func TestFailedTLSIsNoConnection(t *testing.T) {
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	cert, err := ca.Issue("other.invalid")
	require.NoError(t, err)
	addr := testnet.Serve(t, func(c net.Conn) {
		_ = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	}).Addr()
	ev := &events{}
	d := newDialer(t, dialer.Config{
		Rules: rules(t, "broker.invalid:9093 => "+addr),
		TLS:   &tls.Config{RootCAs: ca.Pool()},
		Hook:  ev,
	})
	_, err = d.Dial("tcp", "broker.invalid:9093")
	require.ErrorContains(t, err, "TLS handshake with broker.invalid")
	ev.mu.Lock()
	require.Len(t, ev.dials, 1)
	assert.Error(t, ev.dials[0].Err)
	assert.Empty(t, ev.closes)
	ev.mu.Unlock()
	for _, rs := range d.Stats().Routes {
		assert.Zero(t, rs.Open, rs.Route)
	}
}

package dialer_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
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
		if err != nil {
			t.Fatalf("Explain(%q) failed: %v", tc.addr, err)
		}
		if got := dec.String(); got != tc.want {
			t.Errorf("Explain(%q): got %q, want %q", tc.addr, got, tc.want)
		}
	}

	strict := newDialer(t, dialer.Config{Strict: true, Via: []string{"socks5://127.0.0.1:1080"}})
	dec, err := strict.Explain(context.Background(), "other.invalid:9092")
	if err != nil {
		t.Fatalf("strict Explain failed: %v", err)
	}
	if !dec.Refused {
		t.Error("strict Explain: got Refused false, want true")
	}
	if got, want := dec.String(), "other.invalid:9092: no rule: refused (strict)"; got != want {
		t.Errorf("strict Explain: got %q, want %q", got, want)
	}

	viaDefault := newDialer(t, dialer.Config{Via: []string{"socks5://127.0.0.1:1080"}})
	dec, err = viaDefault.Explain(context.Background(), "other.invalid:9092")
	if err != nil {
		t.Fatalf("Explain with a default route failed: %v", err)
	}
	if got, want := dec.String(), "other.invalid:9092: no rule: dialed via socks5://127.0.0.1:1080"; got != want {
		t.Errorf("Explain with a default route: got %q, want %q", got, want)
	}

	if _, err := d.Explain(context.Background(), "no-port.invalid"); err == nil {
		t.Fatal(`Explain("no-port.invalid") succeeded, want an error`)
	}
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
	if err != nil {
		t.Fatalf("Dial(ok.invalid:1) failed: %v", err)
	}
	roundTrip(t, c1)
	c2, err := d.Dial("tcp", "fail.invalid:1")
	if err != nil {
		t.Fatalf("Dial(fail.invalid:1) failed: %v", err)
	}
	if _, err := d.Dial("tcp", "bad.invalid:1"); err == nil {
		t.Fatal("Dial(bad.invalid:1) to a closed port succeeded, want an error")
	}

	byRoute := func() map[string]dialer.RouteStats {
		m := map[string]dialer.RouteStats{}
		for _, rs := range d.Stats().Routes {
			m[rs.Route] = rs
		}
		return m
	}
	s := byRoute()
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"direct Dials", s["direct"].Dials, uint64(2)},
		{"direct Failures", s["direct"].Failures, uint64(1)},
		{"direct Open", s["direct"].Open, int64(1)},
		{"direct BytesWritten", s["direct"].BytesWritten, uint64(5)},
		{"direct BytesRead", s["direct"].BytesRead, uint64(5)},
		{"direct DialLatency.Count", s["direct"].DialLatency.Count, uint64(2)},
		{"down Failures", s["down"].Failures, uint64(1)},
		{"rec Open", s["rec"].Open, int64(1)},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	if l := s["direct"].DialLatency; l.Min > l.Max {
		t.Errorf("direct DialLatency: got Min %v > Max %v, want Min <= Max", l.Min, l.Max)
	}
	if l := s["direct"].DialLatency; l.P50 > l.P99 {
		t.Errorf("direct DialLatency: got P50 %v > P99 %v, want P50 <= P99", l.P50, l.P99)
	}

	if err := c1.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	if err := c1.Close(); err == nil {
		t.Fatal("a second Close succeeded, want an error (a second Close fails but is not counted twice)")
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	s = byRoute()
	if got := s["direct"].Open; got != 0 {
		t.Errorf("direct Open after Close: got %d, want 0", got)
	}
	if got := s["rec"].Open; got != 0 {
		t.Errorf("rec Open after Close: got %d, want 0", got)
	}

	ev.mu.Lock()
	defer ev.mu.Unlock()
	if got, want := len(ev.dials), 4; got != want {
		t.Fatalf("dial events: got %d, want %d (one event per route attempt): %+v", got, want, ev.dials)
	}
	if err := ev.dials[0].Err; err != nil {
		t.Errorf("dial event 0: got error %v, want nil", err)
	}
	if got, want := ev.dials[1].Info.Route, "down"; got != want {
		t.Errorf("dial event 1: got route %q, want %q", got, want)
	}
	if err := ev.dials[1].Err; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("dial event 1: got error %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if got, want := ev.dials[2].Info.Route, "rec"; got != want {
		t.Errorf("dial event 2: got route %q, want %q", got, want)
	}
	if ev.dials[3].Err == nil {
		t.Error("dial event 3: got no error, want the closed port's")
	}
	if got, want := len(ev.closes), 2; got != want {
		t.Fatalf("close events: got %d, want %d: %+v", got, want, ev.closes)
	}
	if got, want := ev.closes[0].Info.Address, "ok.invalid:1"; got != want {
		t.Errorf("close event 0: got address %q, want %q", got, want)
	}
	if got, want := ev.closes[0].BytesRead, uint64(5); got != want {
		t.Errorf("close event 0: got BytesRead %d, want %d", got, want)
	}
	if got, want := ev.closes[0].BytesWritten, uint64(5); got != want {
		t.Errorf("close event 0: got BytesWritten %d, want %d", got, want)
	}
}

func TestSetRulesTakesEffectAtNextDial(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "broker.invalid:9092 => "+echo1), Strict: true})
	c1, err := d.Dial("tcp", "broker.invalid:9092")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	defer c1.Close()

	if err := d.SetRules(rules(t, "broker.invalid:9092 => "+echo2)); err != nil {
		t.Fatalf("SetRules failed: %v", err)
	}
	c2, err := d.Dial("tcp", "broker.invalid:9092")
	if err != nil {
		t.Fatalf("Dial after SetRules failed: %v", err)
	}
	defer c2.Close()
	i2, _ := dialer.InfoOf(c2)
	if got, want := i2.Target, echo2; got != want {
		t.Errorf("Target after SetRules: got %q, want %q", got, want)
	}
	roundTrip(t, c1) // the open connection is untouched

	err = d.SetRules(rules(t, "broker.invalid:9092 => 127.0.0.1:1 via nowhere"))
	if !errors.Is(err, dialer.ErrConfig) {
		t.Fatalf("SetRules with an unknown route: got error %v, want %v", err, dialer.ErrConfig)
	}
	if got, want := err.Error(), `kafkanat: rules line 1, column 40: unknown route "nowhere": not "direct", a route URL, or a name given with Route`; got != want {
		t.Errorf("SetRules with an unknown route: got error %q, want %q", got, want)
	}
	dec, err := d.Explain(context.Background(), "broker.invalid:9092")
	if err != nil {
		t.Fatalf("Explain failed: %v", err)
	}
	if got, want := dec.Target, echo2; got != want {
		t.Errorf("Target after a failed SetRules: got %q, want %q (a failed SetRules keeps the table in use)", got, want)
	}
	if got, want := len(d.Rules()), 1; got != want {
		t.Errorf("Rules: got %d rules, want %d: %v", got, want, d.Rules())
	}
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
		if err != nil {
			t.Fatalf("Dial failed: %v", err)
		}
		i, _ := dialer.InfoOf(c)
		if i.Target != echo1 && i.Target != echo2 {
			t.Errorf("Target: got %q, want %q or %q", i.Target, echo1, echo2)
		}
		c.Close()
	}
	close(stop)
	wg.Wait()
}

func TestRulesFile(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	path := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(path, []byte("# brokers\nbroker.invalid:9092 => "+echo1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, dialer.Config{Strict: true})
	target := func() string {
		t.Helper()
		dec, err := d.Explain(context.Background(), "broker.invalid:9092")
		if err != nil {
			t.Fatalf("Explain failed: %v", err)
		}
		return dec.Target
	}

	if err := d.LoadRulesFile(path); err != nil {
		t.Fatalf("LoadRulesFile failed: %v", err)
	}
	if got, want := target(), echo1; got != want {
		t.Errorf("Target after LoadRulesFile: got %q, want %q", got, want)
	}

	if err := os.WriteFile(path, []byte("broker.invalid:9092 => \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := d.LoadRulesFile(path)
	if !errors.Is(err, dialer.ErrConfig) {
		t.Fatalf("LoadRulesFile of a broken file: got error %v, want %v", err, dialer.ErrConfig)
	}
	if want := path + " line 1"; !strings.Contains(err.Error(), want) {
		t.Errorf("LoadRulesFile of a broken file: got error %q, want one containing %q", err, want)
	}
	if got, want := target(), echo1; got != want {
		t.Errorf("Target after a failed LoadRulesFile: got %q, want %q", got, want)
	}

	err = d.LoadRulesFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, dialer.ErrConfig) {
		t.Fatalf("LoadRulesFile of a missing file: got error %v, want %v", err, dialer.ErrConfig)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadRulesFile of a missing file: got error %v, want one that wraps %v", err, os.ErrNotExist)
	}

	// Watching: a change is picked up, a broken change is reported and
	// leaves the table alone, the next good change is picked up.
	replaceFile(t, path, "broker.invalid:9092 => "+echo1)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 10)
	done := make(chan error, 1)
	go func() { done <- d.WatchRulesFile(ctx, path, 5*time.Millisecond, func(err error) { errs <- err }) }()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := target()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("watched rules file: Target still %q after 10s, want %q", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(echo1)
	replaceFile(t, path, "broker.invalid:9092 => "+echo2)
	waitFor(echo2)
	replaceFile(t, path, "broker.invalid:9092 => ~oops")
	select {
	case err := <-errs:
		if !errors.Is(err, dialer.ErrConfig) {
			t.Errorf("reported error: got %v, want %v", err, dialer.ErrConfig)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a broken rules file was not reported")
	}
	if got, want := target(), echo2; got != want {
		t.Errorf("Target after a broken change: got %q, want %q", got, want)
	}
	replaceFile(t, path, "broker.invalid:9092 => "+echo1)
	waitFor(echo1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchRulesFile: got error %v, want %v", err, context.Canceled)
	}

	err = d.WatchRulesFile(context.Background(), filepath.Join(t.TempDir(), "missing"), 0, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WatchRulesFile of a missing file: got error %v, want %v (a first load that fails returns at once)", err, os.ErrNotExist)
	}
}

// replaceFile replaces path atomically, as WatchRulesFile asks writers to.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatalf("Explain(%q) failed: %v", tc.addr, err)
		}
		if want := []string{tc.route}; !slices.Equal(dec.Routes, want) {
			t.Errorf("Explain(%q): got routes %q, want %q", tc.addr, dec.Routes, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "*.*", "a b"} {
		_, err := dialer.New(dialer.Config{NoProxy: bad})
		if !errors.Is(err, dialer.ErrConfig) {
			t.Fatalf("New with NoProxy %q: got error %v, want %v", bad, err, dialer.ErrConfig)
		}
		if want := "NO_PROXY entry 1"; !strings.Contains(err.Error(), want) {
			t.Errorf("New with NoProxy %q: got error %q, want one containing %q", bad, err, want)
		}
	}
	all := newDialer(t, dialer.Config{Via: []string{"rec"}, Routes: map[string]proxy.ContextDialer{"rec": rec}, NoProxy: "*"})
	dec, err := all.Explain(context.Background(), "x.invalid:1")
	if err != nil {
		t.Fatalf("Explain with NoProxy \"*\" failed: %v", err)
	}
	if want := []string{"direct"}; !slices.Equal(dec.Routes, want) {
		t.Errorf("Explain with NoProxy \"*\": got routes %q, want %q", dec.Routes, want)
	}
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
	if err := d.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	if c.closed {
		t.Error("Dialer.Close closed a named route, want it left alone")
	}
}

// A dial whose TLS handshake fails makes no connection: the hook sees the
// failed attempt and no close, and the route has nothing open.
func TestFailedTLSIsNoConnection(t *testing.T) {
	ca, err := testkit.NewCA()
	if err != nil {
		t.Fatalf("NewCA failed: %v", err)
	}
	cert, err := ca.Issue("other.invalid")
	if err != nil {
		t.Fatalf("Issue failed: %v", err)
	}
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
	if want := "TLS handshake with broker.invalid"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial: got error %v, want one containing %q", err, want)
	}
	ev.mu.Lock()
	if got, want := len(ev.dials), 1; got != want {
		t.Fatalf("dial events: got %d, want %d: %+v", got, want, ev.dials)
	}
	if ev.dials[0].Err == nil {
		t.Error("dial event: got no error, want the TLS handshake's")
	}
	if len(ev.closes) != 0 {
		t.Errorf("close events: got %+v, want none", ev.closes)
	}
	ev.mu.Unlock()
	for _, rs := range d.Stats().Routes {
		if rs.Open != 0 {
			t.Errorf("route %s: got Open %d, want 0", rs.Route, rs.Open)
		}
	}
}

// TestStatsOpenConnsClosedInAnyOrder closes a route's conns from the
// middle, the newest and the oldest: Open counts the rest, and the bytes of
// every conn, closed or not, stay counted.
func TestStatsOpenConnsClosedInAnyOrder(t *testing.T) {
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "a.invalid:1 => 127.0.0.1:1 via mem"),
		Routes: map[string]proxy.ContextDialer{"mem": nopRoute{}},
	})
	mem := func() dialer.RouteStats {
		t.Helper()
		for _, rs := range d.Stats().Routes {
			if rs.Route == "mem" {
				return rs
			}
		}
		t.Fatal("no stats for route mem")
		return dialer.RouteStats{}
	}
	conns := make([]net.Conn, 5)
	for i := range conns {
		c, err := d.Dial("tcp", "a.invalid:1")
		if err != nil {
			t.Fatal(err)
		}
		c.Write(make([]byte, i+1)) // 15 bytes in all
		conns[i] = c
	}
	for step, i := range []int{2, 4, 0, 3, 1} {
		conns[i].Close()
		if rs := mem(); rs.Open != int64(len(conns)-1-step) || rs.BytesWritten != 15 {
			t.Errorf("after closing conn %d: Open %d, BytesWritten %d; want %d, 15", i, rs.Open, rs.BytesWritten, len(conns)-1-step)
		}
	}
}

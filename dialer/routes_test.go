package dialer_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// counting is a direct dialer that counts the connections it made that
// are still open (to a proxy or a bastion).
type counting struct{ open, made atomic.Int32 }

func (c *counting) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	c.made.Add(1)
	return &countedConn{Conn: conn, n: &c.open}, nil
}

type countedConn struct {
	net.Conn
	n    *atomic.Int32
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.n.Add(-1) })
	return c.Conn.Close()
}

// eventually waits up to 5s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 5s", what)
		}
	}
}

func routeNames(d *dialer.Dialer) []string {
	var out []string
	for _, r := range d.Stats().Routes {
		out = append(out, r.Route)
	}
	return out
}

func sshServer(t *testing.T) *testkit.SSHServer {
	t.Helper()
	s, err := testkit.NewSSHServer(testkit.WithSSHPassword("alice", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// One proxy written two ways is one route: one entry in Stats, and for
// ssh:// one SSH connection.
func TestRoutesKeyedByCanonicalForm(t *testing.T) {
	echo := testnet.Echo(t)
	socks, err := testkit.NewSOCKS5Server()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close() })
	bastion := sshServer(t)
	_, sport, _ := net.SplitHostPort(socks.Addr())
	_, bport, _ := net.SplitHostPort(bastion.Addr())
	d := newDialer(t, dialer.Config{Rules: rules(t, `
		a.invalid:1 => `+echo+` via SOCKS5://127.0.0.1:`+sport+`
		b.invalid:1 => `+echo+` via socks5://127.0.0.1:`+sport+`/
		c.invalid:1 => `+echo+` via ssh://alice:pw@127.0.0.1:`+bport+`?insecure_ignore_host_key=true
		d.invalid:1 => `+echo+` via SSH://alice:pw@127.0.0.1:`+bport+`/?insecure_ignore_host_key=true
	`)})
	t.Cleanup(func() { d.Close() })
	for _, a := range []string{"a.invalid:1", "b.invalid:1", "c.invalid:1", "d.invalid:1"} {
		c, err := d.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c)
		c.Close()
	}
	if got := routeNames(d); len(got) != 3 {
		t.Errorf("Stats lists routes %q, want direct, one SOCKS5 and one SSH route", got)
	}
	if n := bastion.Connections(); n != 1 {
		t.Errorf("%d SSH connections to the bastion, want 1", n)
	}
}

// A table swap releases the routes it no longer names: they leave Stats,
// and an ssh:// route's connection closes once its last conn has.
func TestSetRulesReleasesRoutes(t *testing.T) {
	echo := testnet.Echo(t)
	bastion := sshServer(t)
	direct := &counting{}
	ssh := "ssh://alice:pw@" + bastion.Addr() + "?insecure_ignore_host_key=true"
	d := newDialer(t, dialer.Config{Direct: direct, Rules: rules(t, "a.invalid:1 => "+echo+" via "+ssh)})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial("tcp", "a.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetRules(rules(t, "a.invalid:1 => "+echo)); err != nil {
		t.Fatal(err)
	}
	if got := routeNames(d); len(got) != 1 || got[0] != "direct" {
		t.Errorf("after the swap Stats lists %q, want only direct", got)
	}
	roundTrip(t, c) // still open over the released route
	if n := direct.open.Load(); n != 1 {
		t.Fatalf("%d connections to the bastion while a conn is open, want 1", n)
	}
	c.Close()
	eventually(t, "closed the SSH connection of a released route", func() bool { return direct.open.Load() == 0 })

	// A table that fails leaves nothing behind.
	if err := d.SetRules(rules(t, "a.invalid:1 via "+ssh+"\nb.invalid:1 via nowhere")); err == nil {
		t.Fatal("SetRules with an unknown route succeeded")
	}
	if got := routeNames(d); len(got) != 1 {
		t.Errorf("after a failed SetRules Stats lists %q, want only direct", got)
	}
}

// Close ends the Dialer for good but leaves connections open, ssh://
// included; the SSH connection closes after the last of them.
func TestCloseLeavesConnectionsOpen(t *testing.T) {
	echo := testnet.Echo(t)
	bastion := sshServer(t)
	direct := &counting{}
	d := newDialer(t, dialer.Config{Direct: direct,
		Rules: rules(t, "a.invalid:1 => "+echo+" via ssh://alice:pw@"+bastion.Addr()+"?insecure_ignore_host_key=true")})
	c, err := d.Dial("tcp", "a.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Dial("tcp", "a.invalid:1"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want an error matching net.ErrClosed", err)
	}
	if err := d.SetRules(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetRules after Close: %v, want an error matching net.ErrClosed", err)
	}
	roundTrip(t, c)
	c.Close()
	eventually(t, "closed the SSH connection after Close and the last conn", func() bool { return direct.open.Load() == 0 })
}

// attempts records the route of every attempt, in order.
type attempts struct {
	mu     sync.Mutex
	routes []string
}

func (a *attempts) DialDone(e dialer.DialEvent) {
	a.mu.Lock()
	a.routes = append(a.routes, e.Info.Route)
	a.mu.Unlock()
}
func (a *attempts) ConnClosed(dialer.CloseEvent) {}
func (a *attempts) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.routes
	a.routes = nil
	return out
}

// A route that just failed is tried after the healthy ones; routes that
// all fail are all still tried.
func TestRouteHealth(t *testing.T) {
	echo := testnet.Echo(t)
	hole := "socks5://" + testnet.Blackhole(t)
	rec := &attempts{}
	d := newDialer(t, dialer.Config{
		Rules:         rules(t, "a.invalid:1 => "+echo+" via "+hole+", direct"),
		FallbackDelay: 50 * time.Millisecond,
		Hook:          rec,
	})
	c, err := d.Dial("tcp", "a.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The blackhole's attempt reports once it has been abandoned.
	eventually(t, "reported both attempts of the first dial", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.routes) == 2
	})
	if got := rec.take(); !slices.Contains(got, hole) || !slices.Contains(got, "direct") {
		t.Fatalf("first dial attempted %q, want the blackhole and direct", got)
	}
	var down dialer.RouteStats
	for _, r := range d.Stats().Routes {
		if r.Route == hole {
			down = r
		}
	}
	if !down.Unhealthy || !down.ProbeAt.After(time.Now()) {
		t.Errorf("the blackholed route's stats %+v, want it unhealthy for a while", down)
	}
	for range 3 {
		c, err := d.Dial("tcp", "a.invalid:1")
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := dialer.InfoOf(c); info.Route != "direct" {
			t.Errorf("connected via %s, want direct", info.Route)
		}
		c.Close()
		if got := rec.take(); len(got) != 1 || got[0] != "direct" {
			t.Errorf("attempts %q, want direct only: the unhealthy route waits behind it", got)
		}
	}

	closed1, closed2 := testnet.ClosedPort(t), testnet.ClosedPort(t)
	d = newDialer(t, dialer.Config{
		Rules:  rules(t, "a.invalid:1 via one, two"),
		Routes: map[string]proxy.ContextDialer{"one": redirect(closed1), "two": redirect(closed2)},
		Hook:   rec,
	})
	for range 2 {
		if _, err := d.Dial("tcp", "a.invalid:1"); err == nil {
			t.Fatal("dial over two closed ports succeeded")
		}
		if got := rec.take(); len(got) != 2 {
			t.Errorf("attempts %q, want both routes tried although both are unhealthy", got)
		}
	}
}

// redirect is a named route that dials addr whatever the target.
func redirect(addr string) testnet.DialFunc {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// A caller deadline shorter than the dial timeout leaves the second route
// time to connect; with no staggered start, the error names both routes.
func TestCallerDeadlineIsShared(t *testing.T) {
	echo := testnet.Echo(t)
	routes := map[string]proxy.ContextDialer{"stall": stalling{}}
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => "+echo+" via stall, direct"), Routes: routes, DialTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", "a.invalid:1")
	if err != nil {
		t.Fatalf("dial with a 1s deadline and a stalling first route: %v", err)
	}
	c.Close()

	d = newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => "+echo+" via stall, direct"), Routes: routes,
		DialTimeout: 200 * time.Millisecond, FallbackDelay: -1})
	_, err = d.Dial("tcp", "a.invalid:1")
	for _, want := range []string{"stall: context deadline exceeded", "direct: not tried: the dial's time ran out"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("dial: %v, want an error naming %q", err, want)
		}
	}
}

// A Lookup that never returns cannot hold a dial past the dial timeout,
// also for Dial, which has no context.
func TestDialTimeoutBoundsLookup(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	d := newDialer(t, dialer.Config{DialTimeout: 100 * time.Millisecond,
		Lookup: func(context.Context, string) (string, bool, error) {
			<-release // ignores its context
			return "", false, nil
		}})
	_, err := d.Dial("tcp", "a.invalid:1")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the Lookup function failed: it did not return before the dial's deadline") {
		t.Errorf("dial: %v, want the Lookup named and context.DeadlineExceeded", err)
	}
}

// A route that connects after another won is closed at once.
func TestLoserIsClosed(t *testing.T) {
	echo := testnet.Echo(t)
	counted := &counting{}
	slow := testnet.DialFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
		time.Sleep(300 * time.Millisecond) // ignores ctx, then connects
		return counted.DialContext(context.Background(), network, address)
	})
	d := newDialer(t, dialer.Config{
		Rules:         rules(t, "a.invalid:1 => "+echo+" via slow, direct"),
		Routes:        map[string]proxy.ContextDialer{"slow": slow},
		FallbackDelay: 20 * time.Millisecond,
	})
	c, err := d.Dial("tcp", "a.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if info, _ := dialer.InfoOf(c); info.Route != "direct" {
		t.Fatalf("connected via %s, want direct", info.Route)
	}
	eventually(t, "closed the late connection", func() bool { return counted.made.Load() == 1 && counted.open.Load() == 0 })
	roundTrip(t, c)
	for _, r := range d.Stats().Routes {
		if r.Route == "slow" && r.Open != 0 {
			t.Errorf("the slow route has %d open conns, want 0", r.Open)
		}
	}
}

// A failing route is probed in the background once its backoff expires,
// and is first again once a probe connects; no dial waits for it.
func TestRouteRecoversThroughProbe(t *testing.T) {
	echo := testnet.Echo(t)
	var down atomic.Bool
	down.Store(true)
	flaky := testnet.DialFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
		if down.Load() {
			return nil, errors.New("tunnel down")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	})
	rec := &attempts{}
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "a.invalid:1 => "+echo+" via flaky, direct"),
		Routes: map[string]proxy.ContextDialer{"flaky": flaky},
		Hook:   rec,
	})
	via := func() string {
		t.Helper()
		c, err := d.Dial("tcp", "a.invalid:1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		info, _ := dialer.InfoOf(c)
		return info.Route
	}
	if got := via(); got != "direct" {
		t.Fatalf("first dial via %s, want direct after flaky failed", got)
	}
	down.Store(false)
	rec.take()
	if got := via(); got != "direct" {
		t.Errorf("dial during the backoff via %s, want direct", got)
	}
	if got := rec.take(); len(got) != 1 {
		t.Errorf("attempts during the backoff %q, want direct only", got)
	}
	time.Sleep(time.Second + 50*time.Millisecond) // the first backoff
	if got := via(); got != "direct" {
		t.Errorf("the dial that starts the probe went via %s, want direct", got)
	}
	eventually(t, "made flaky healthy", func() bool {
		for _, r := range d.Stats().Routes {
			if r.Route == "flaky" {
				return !r.Unhealthy
			}
		}
		return false
	})
	if got := via(); got != "flaky" {
		t.Errorf("after a successful probe the dial went via %s, want flaky first again", got)
	}
}

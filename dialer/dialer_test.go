package dialer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/rewrite"
)

func TestMain(m *testing.M) {
	// Hidden names must fail here, in-process, not at the machine's DNS server.
	net.DefaultResolver = testkit.OfflineResolver()
	leakcheck.VerifyTestMain(m)
}

// recorder is a named route that records every target it is asked for and
// dials it directly.
type recorder struct {
	mu      sync.Mutex
	targets []string
}

func (r *recorder) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.targets = append(r.targets, address)
	r.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func (r *recorder) Targets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.targets...)
}

// failing is a named route that always fails.
type failing struct{ err error }

func (f failing) DialContext(context.Context, string, string) (net.Conn, error) { return nil, f.err }

// stalling is a named route that never connects: it waits for the context.
type stalling struct{}

func (stalling) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func rules(t *testing.T, text string) []rewrite.Rule {
	t.Helper()
	rs, err := rewrite.Parse("rules", text)
	if err != nil {
		t.Fatalf("rewrite.Parse(%q) failed: %v", text, err)
	}
	return rs
}

func newDialer(t *testing.T, cfg dialer.Config) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(cfg)
	if err != nil {
		t.Fatalf("dialer.New failed: %v", err)
	}
	return d
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	msg := []byte("kafka")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("Write failed: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo failed: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// checkDialOpError checks that err is, or wraps, a *net.OpError whose Op
// is "dial", as net.Dialer's errors are.
func checkDialOpError(t *testing.T, err error) {
	t.Helper()
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("got error %v (%T), want one that wraps a *net.OpError", err, err)
	}
	if got, want := op.Op, "dial"; got != want {
		t.Errorf("%v: OpError.Op: got %q, want %q", err, got, want)
	}
}

func TestRewriteAndRoute(t *testing.T) {
	echo := testnet.Echo(t)
	_, port, _ := net.SplitHostPort(echo)
	rec := &recorder{}
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "b{n}.kafka.internal.invalid:9092 => 127.0.0.1:{port-9092+"+port+"} via rec"),
		Routes: map[string]proxy.ContextDialer{"rec": rec},
	})
	c, err := d.DialContext(context.Background(), "tcp", "b7.kafka.internal.invalid:9092")
	if err != nil {
		t.Fatalf("DialContext failed: %v", err)
	}
	defer c.Close()
	roundTrip(t, c)
	info, ok := dialer.InfoOf(c)
	if !ok {
		t.Fatalf("InfoOf(%T) reports no Info, want one", c)
	}
	want := dialer.Info{
		Address:  "b7.kafka.internal.invalid:9092",
		Target:   echo,
		Rule:     1,
		RuleText: "b{n}.kafka.internal.invalid:9092 => 127.0.0.1:{port-9092+" + port + "} via rec",
		Route:    "rec",
	}
	if info != want {
		t.Errorf("InfoOf: got %+v, want %+v", info, want)
	}
	if got, want := rec.Targets(), []string{echo}; !slices.Equal(got, want) {
		t.Errorf("route targets: got %q, want %q", got, want)
	}
}

func TestNoRuleDialsDirectly(t *testing.T) {
	echo := testnet.Echo(t)
	d := newDialer(t, dialer.Config{})
	c, err := d.Dial("tcp", echo)
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	defer c.Close()
	roundTrip(t, c)
	info, _ := dialer.InfoOf(c)
	if want := (dialer.Info{Address: echo, Target: echo, RuleText: "no rule matched", Route: "direct"}); info != want {
		t.Errorf("InfoOf: got %+v, want %+v", info, want)
	}
}

func TestLookupConsultedAtEveryDial(t *testing.T) {
	echo1, echo2 := testnet.Echo(t), testnet.Echo(t)
	var mu sync.Mutex
	registry := map[string]string{"agent.invalid:9092": echo1}
	calls := 0
	d := newDialer(t, dialer.Config{
		Rules: rules(t, "static.invalid:9092 => "+echo2),
		Lookup: func(_ context.Context, address string) (string, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			target, ok := registry[address]
			return target, ok, nil
		},
		Strict: true,
	})
	dial := func(addr string) (dialer.Info, error) {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return dialer.Info{}, err
		}
		defer c.Close()
		info, _ := dialer.InfoOf(c)
		return info, nil
	}
	info, err := dial("agent.invalid:9092")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	if got, want := info.Target, echo1; got != want {
		t.Errorf("Target: got %q, want %q", got, want)
	}
	if got, want := info.RuleText, "Lookup"; got != want {
		t.Errorf("RuleText: got %q, want %q", got, want)
	}

	mu.Lock()
	registry["agent.invalid:9092"] = echo2
	mu.Unlock()
	info, err = dial("agent.invalid:9092")
	if err != nil {
		t.Fatalf("Dial after the entry changed failed: %v", err)
	}
	if got, want := info.Target, echo2; got != want {
		t.Errorf("Target after the entry changed: got %q, want %q (a changed entry takes effect at the next dial)", got, want)
	}

	mu.Lock()
	delete(registry, "agent.invalid:9092")
	mu.Unlock()
	_, err = dial("agent.invalid:9092")
	if !errors.Is(err, dialer.ErrNoRoute) {
		t.Errorf("Dial after the entry was removed: got error %v, want %v (a removed entry falls to Strict)", err, dialer.ErrNoRoute)
	}

	// Static rules come first: Lookup is not consulted when a rule matches.
	before := calls
	_, err = dial("static.invalid:9092")
	if err != nil {
		t.Fatalf("Dial of a rule's address failed: %v", err)
	}
	if got, want := calls, before; got != want {
		t.Errorf("Lookup calls after dialing a rule's address: got %d, want %d", got, want)
	}
}

func TestLookupTargetKeepsPortAndErrors(t *testing.T) {
	echo := testnet.Echo(t)
	host, port, _ := net.SplitHostPort(echo)
	d := newDialer(t, dialer.Config{Lookup: func(_ context.Context, address string) (string, bool, error) {
		switch address {
		case "keep.invalid:" + port:
			return host, true, nil
		case "broken.invalid:1":
			return "", false, errors.New("registry unavailable")
		case "bad.invalid:1":
			return "[::1", true, nil
		}
		return "", false, nil
	}})
	c, err := d.Dial("tcp", "keep.invalid:"+port)
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	c.Close()

	_, err = d.Dial("tcp", "broken.invalid:1")
	if want := "kafkanat: dial broken.invalid:1 (Lookup): the Lookup function failed: registry unavailable"; err == nil || err.Error() != want {
		t.Fatalf("Dial(broken.invalid:1): got error %v, want %q", err, want)
	}
	_, err = d.Dial("tcp", "bad.invalid:1")
	if want := `the Lookup function returned target "[::1"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial(bad.invalid:1): got error %v, want one containing %q", err, want)
	}
}

func TestStrictAndDenyNeverDial(t *testing.T) {
	rec := &recorder{}
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "*.blocked.invalid deny\nok.invalid:1 => 127.0.0.1:1 via rec"),
		Via:    []string{"rec"},
		Routes: map[string]proxy.ContextDialer{"rec": rec},
		Strict: true,
	})
	for _, tc := range []struct{ addr, msg string }{
		{"x.blocked.invalid:9092", "kafkanat: dial x.blocked.invalid:9092 (rule 1): no route: denied by rule 1 (*.blocked.invalid deny)"},
		{"other.invalid:9092", "kafkanat: dial other.invalid:9092 (no rule matched): no route: no rule matches and the dialer is strict; add a rule for other.invalid:9092"},
	} {
		_, err := d.Dial("tcp", tc.addr)
		if !errors.Is(err, dialer.ErrNoRoute) {
			t.Fatalf("Dial(%q): got error %v, want %v", tc.addr, err, dialer.ErrNoRoute)
		}
		if got := err.Error(); got != tc.msg {
			t.Fatalf("Dial(%q): got error %q, want %q", tc.addr, got, tc.msg)
		}
		var de *dialer.Error
		if !errors.As(err, &de) {
			t.Fatalf("Dial(%q): got error of type %T, want one that wraps a *dialer.Error", tc.addr, err)
		}
		checkDialOpError(t, err)
	}
	if got := rec.Targets(); len(got) != 0 {
		t.Errorf("route targets: got %q, want none (refused addresses must never reach a route)", got)
	}
}

func TestFailoverTriesRoutesInOrder(t *testing.T) {
	echo := testnet.Echo(t)
	rec := &recorder{}
	boom := errors.New("tunnel down")
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "svc.invalid:9092 => "+echo+" via down, rec"),
		Routes: map[string]proxy.ContextDialer{"down": failing{boom}, "rec": rec},
	})
	c, err := d.Dial("tcp", "svc.invalid:9092")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	defer c.Close()
	roundTrip(t, c)
	info, _ := dialer.InfoOf(c)
	if got, want := info.Route, "rec"; got != want {
		t.Errorf("Route: got %q, want %q", got, want)
	}

	closed := testnet.ClosedPort(t)
	d = newDialer(t, dialer.Config{
		Rules:  rules(t, "svc.invalid:9092 => "+closed+" via down, direct"),
		Routes: map[string]proxy.ContextDialer{"down": failing{boom}},
	})
	_, err = d.Dial("tcp", "svc.invalid:9092")
	if err == nil {
		t.Fatal("Dial over two failing routes succeeded, want an error")
	}
	if got, want := err.Error(), "kafkanat: dial svc.invalid:9092 => "+closed+" via down, direct (rule 1): down: tunnel down; direct: connect: connection refused"; got != want {
		t.Errorf("Dial: got error %q, want %q", got, want)
	}
	if !errors.Is(err, boom) {
		t.Errorf("Dial: got error %v, want one that wraps %v", err, boom)
	}
	checkDialOpError(t, err)
}

func TestErrorMessageAndOpError(t *testing.T) {
	closed := testnet.ClosedPort(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "# comment\nb2.abc.example.invalid:9094 => "+closed)})
	_, err := d.Dial("tcp", "b2.abc.example.invalid:9094")
	if want := "kafkanat: dial b2.abc.example.invalid:9094 => " + closed + " via direct (rule 1): connect: connection refused"; err == nil || err.Error() != want {
		t.Fatalf("Dial: got error %v, want %q", err, want)
	}
	var de *dialer.Error
	if !errors.As(err, &de) {
		t.Fatalf("Dial: got error of type %T, want one that wraps a *dialer.Error", err)
	}
	if got, want := de.Rule, 1; got != want {
		t.Errorf("Error.Rule: got %d, want %d", got, want)
	}
	if got, want := de.Target, closed; got != want {
		t.Errorf("Error.Target: got %q, want %q", got, want)
	}
	if got, want := de.Route, "direct"; got != want {
		t.Errorf("Error.Route: got %q, want %q", got, want)
	}
	checkDialOpError(t, err)
}

func TestUnresolvableNameSuggestsRule(t *testing.T) {
	t.Run("no such host", func(t *testing.T) { checkSuggestsRule(t, nil) })
	// A DNS server that cannot be reached, as in an isolated network: the
	// hint is the same, and the message says what the resolver said.
	unreachable := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "udp", Err: syscall.ECONNREFUSED}
	}}
	t.Run("no DNS server", func(t *testing.T) { checkSuggestsRule(t, unreachable) })
	// One that reads the question and never answers: the dial's deadline
	// ends the dial (the resolver's own lookup ends when the test closes
	// the server's side).
	var mu sync.Mutex
	var servers []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range servers {
			c.Close()
		}
	})
	silent := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		mu.Lock()
		servers = append(servers, server)
		mu.Unlock()
		go io.Copy(io.Discard, server)
		return client, nil
	}}
	t.Run("DNS timeout", func(t *testing.T) { checkSuggestsRule(t, silent) })
}

func checkSuggestsRule(t *testing.T, resolver *net.Resolver) {
	cfg := dialer.Config{DialTimeout: 200 * time.Millisecond}
	if resolver != nil {
		cfg.Direct = &net.Dialer{Resolver: resolver}
	}
	d := newDialer(t, cfg)
	_, err := d.Dial("tcp", "b1.kafka.internal.invalid:9092")
	if err == nil {
		t.Fatal("Dial of an unresolvable name succeeded, want an error")
	}
	var dns *net.DNSError
	if !errors.As(err, &dns) {
		t.Fatalf("Dial: got error %v (%T), want one that wraps a *net.DNSError", err, err)
	}
	msg := err.Error()
	if want := "kafkanat: dial b1.kafka.internal.invalid:9092 via direct (no rule matched): "; !strings.HasPrefix(msg, want) {
		t.Errorf("Dial: got error %q, want one that starts with %q", msg, want)
	}
	if want := `b1.kafka.internal.invalid could not be resolved here and no rule matched it: add a rule such as "b1.kafka.internal.invalid:9092 => HOST:PORT" or "*.kafka.internal.invalid via socks5://GATEWAY:1080"`; !strings.Contains(msg, want) {
		t.Errorf("Dial: got error %q, want one containing %q", msg, want)
	}
	checkDialOpError(t, err)
}

func TestDialTimeoutBoundsDialWithoutContext(t *testing.T) {
	d := newDialer(t, dialer.Config{
		Via:         []string{"stall"},
		Routes:      map[string]proxy.ContextDialer{"stall": stalling{}},
		DialTimeout: 50 * time.Millisecond,
	})
	done := make(chan error, 1)
	go func() {
		_, err := d.Dial("tcp", "127.0.0.1:9")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial: got error %v, want %v", err, context.DeadlineExceeded)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Fatalf("Dial: got error of type %T, want one that wraps a *net.OpError", err)
		}
		if !op.Timeout() {
			t.Errorf("Dial: got error %v with Timeout() false, want true (a timed-out dial reports Timeout())", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return although the dial timeout passed")
	}
}

func TestDialContextCancel(t *testing.T) {
	d := newDialer(t, dialer.Config{
		Via:    []string{"stall"},
		Routes: map[string]proxy.ContextDialer{"stall": stalling{}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.DialContext(ctx, "tcp", "127.0.0.1:9")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("DialContext: got error %v, want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DialContext did not return after its context was cancelled")
	}
}

func TestUnsupportedNetworkAndBadAddress(t *testing.T) {
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => 127.0.0.1:1")})
	_, err := d.Dial("udp", "a.invalid:1")
	if want := `kafkanat: dial a.invalid:1: network "udp" is not supported: kafkanat dials tcp, tcp4 or tcp6`; err == nil || err.Error() != want {
		t.Fatalf(`Dial("udp", "a.invalid:1"): got error %v, want %q`, err, want)
	}
	for _, addr := range []string{"", "no-port.invalid", "::1:9092", strings.Repeat("a", 65536) + ":1"} {
		_, err := d.Dial("tcp", addr)
		if err == nil {
			t.Fatalf("Dial(%.40q) succeeded, want an error", addr)
		}
		var de *dialer.Error
		if !errors.As(err, &de) {
			t.Fatalf("Dial(%.40q): got error of type %T, want one that wraps a *dialer.Error", addr, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dialer.Config
		msg  string
	}{
		{"unknown route in rule", dialer.Config{Rules: rules(t, "a.invalid => 127.0.0.1\nb.invalid via  nowhere")},
			`kafkanat: rules line 2, column 16: unknown route "nowhere": not "direct", a route URL, or a name given with Route`},
		{"unsupported scheme", dialer.Config{Rules: rules(t, "a.invalid via ftp://u:secret@127.0.0.1:21")},
			`kafkanat: rules line 1, column 15: route ftp://u:xxxxx@127.0.0.1:21: unsupported scheme "ftp" (use socks5, socks5h, http, https or ssh)`},
		{"unknown Via", dialer.Config{Via: []string{"gw"}},
			`kafkanat: Via("gw"): unknown route "gw": not "direct", a route URL, or a name given with Route`},
		{"negative timeout", dialer.Config{DialTimeout: -time.Second}, "kafkanat: DialTimeout -1s is negative"},
		{"reserved name", dialer.Config{Routes: map[string]proxy.ContextDialer{"direct": stalling{}}},
			`kafkanat: route name "direct" is reserved for the direct route`},
		{"nil route", dialer.Config{Routes: map[string]proxy.ContextDialer{"x": nil}}, `kafkanat: route "x": dialer is nil`},
		{"name with comma", dialer.Config{Routes: map[string]proxy.ContextDialer{"a,b": stalling{}}},
			`kafkanat: route name "a,b": unexpected "," in route name (at byte 2)`},
		{"name a rule cannot use", dialer.Config{Routes: map[string]proxy.ContextDialer{"a=>b": stalling{}}},
			`kafkanat: route name "a=>b": unexpected "=>" in route name (at byte 2)`},
		{"keyword name", dialer.Config{Routes: map[string]proxy.ContextDialer{"via": stalling{}}},
			`kafkanat: route name "via": route name cannot be the keyword "via"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialer.New(tc.cfg)
			if !errors.Is(err, dialer.ErrConfig) {
				t.Fatalf("New: got error %v, want %v", err, dialer.ErrConfig)
			}
			if got := err.Error(); got != tc.msg {
				t.Fatalf("New: got error %q, want %q", got, tc.msg)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("New: got error %q, want no password in it", err)
			}
		})
	}
}

func TestCredentialsNeverPrinted(t *testing.T) {
	closed := testnet.ClosedPort(t)
	var logs bytes.Buffer
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, fmt.Sprintf("a.invalid:9092 => 127.0.0.1:9092 via socks5://alice:s3cret@%s, http://bob:hunter2@%s", closed, closed)),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c, err := d.Dial("tcp", "a.invalid:9092")
	if err == nil {
		t.Fatal("Dial over two closed proxies succeeded, want an error")
	}
	if c != nil {
		t.Fatalf("Dial: got connection %v alongside its error, want nil", c)
	}
	for _, s := range []string{err.Error(), logs.String(), fmt.Sprintf("%+v", err)} {
		for _, password := range []string{"s3cret", "hunter2"} {
			if strings.Contains(s, password) {
				t.Errorf("got %q, want no password %q in it", s, password)
			}
		}
	}
	if want := "socks5://alice:xxxxx@" + closed; !strings.Contains(err.Error(), want) {
		t.Errorf("Dial: got error %q, want one containing %q", err, want)
	}
	for _, want := range []string{"level=DEBUG", "level=WARN"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log: got %q, want it to contain %q", logs.String(), want)
		}
	}
}

func TestLoggerAttributes(t *testing.T) {
	echo := testnet.Echo(t)
	var logs bytes.Buffer
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "a.invalid:9092 => "+echo),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c, err := d.Dial("tcp", "a.invalid:9092")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	c.Close()
	line := logs.String()
	for _, want := range []string{`msg="kafkanat: dial"`, "address=a.invalid:9092", "target=" + echo, "rule=1", "route=direct"} {
		if !strings.Contains(line, want) {
			t.Errorf("log: got %q, want it to contain %q", line, want)
		}
	}
}

func TestConnCloseWrite(t *testing.T) {
	echo := testnet.Echo(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => "+echo)})
	c, err := d.Dial("tcp", "a.invalid:1")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatalf("Write failed: %v", err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite failed: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll failed: %v (the echo server closes after it sees EOF)", err)
	}
	if want := "last words"; string(got) != want {
		t.Errorf("echo: got %q, want %q", got, want)
	}
}

func TestConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := nettest.NewLocalListener("tcp")
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		d, err := dialer.New(dialer.Config{Rules: rules(t, "peer.invalid:1 => "+ln.Addr().String())})
		if err != nil {
			return nil, nil, nil, err
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		c1, err = d.Dial("tcp", "peer.invalid:1")
		c2 = <-accepted
		if err != nil {
			if c2 != nil {
				c2.Close()
			}
			return nil, nil, nil, err
		}
		if _, ok := c1.(*dialer.Conn); !ok {
			return nil, nil, nil, fmt.Errorf("got %T, want *dialer.Conn", c1)
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestTLSVerifiesAdvertisedName(t *testing.T) {
	ca, err := testkit.NewCA()
	if err != nil {
		t.Fatalf("NewCA failed: %v", err)
	}
	cert, err := ca.Issue("broker.kafka.internal.invalid")
	if err != nil {
		t.Fatalf("Issue failed: %v", err)
	}
	sni := make(chan string, 4)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni <- h.ServerName
			return nil, nil
		},
	})
	if err != nil {
		t.Fatalf("tls.Listen failed: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	defer func() { ln.Close(); wg.Wait() }()

	d := newDialer(t, dialer.Config{
		Rules: rules(t, "*.kafka.internal.invalid => "+ln.Addr().String()),
		TLS:   &tls.Config{RootCAs: ca.Pool()},
	})
	c, err := d.Dial("tcp", "broker.kafka.internal.invalid:9093")
	if err != nil {
		t.Fatalf("Dial failed: %v", err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn); !ok {
		t.Fatalf("Dial: got a %T, want a *tls.Conn", c)
	}
	if got, want := <-sni, "broker.kafka.internal.invalid"; got != want {
		t.Errorf("SNI: got %q, want %q (SNI carries the advertised name)", got, want)
	}
	roundTrip(t, c)
	info, ok := dialer.InfoOf(c)
	if !ok {
		t.Fatal("InfoOf(*tls.Conn) reports no Info, want the wrapped connection's (InfoOf unwraps *tls.Conn)")
	}
	if got, want := info.Target, ln.Addr().String(); got != want {
		t.Errorf("Target: got %q, want %q", got, want)
	}

	// A certificate that does not name the advertised host is refused.
	_, err = d.Dial("tcp", "other.kafka.internal.invalid:9093")
	if err == nil {
		t.Fatal("Dial of a host the certificate does not name succeeded, want an error")
	}
	<-sni
	if want := "TLS handshake with other.kafka.internal.invalid: tls: failed to verify certificate"; !strings.Contains(err.Error(), want) {
		t.Errorf("Dial: got error %q, want one containing %q", err, want)
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("Dial: got error of type %T, want one that wraps a *tls.CertificateVerificationError", err)
	}
}

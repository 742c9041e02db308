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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/rewrite"
)

func TestMain(m *testing.M) {
	// Hidden names must fail here, in-process, not at the machine's DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m)
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
	require.NoError(t, err)
	return rs
}

func newDialer(t *testing.T, cfg dialer.Config) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(cfg)
	require.NoError(t, err)
	return d
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	msg := []byte("kafka")
	_, err := c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
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
	require.NoError(t, err)
	defer c.Close()
	roundTrip(t, c)
	info, ok := dialer.InfoOf(c)
	require.True(t, ok)
	assert.Equal(t, dialer.Info{
		Address:  "b7.kafka.internal.invalid:9092",
		Target:   echo,
		Rule:     1,
		RuleText: "b{n}.kafka.internal.invalid:9092 => 127.0.0.1:{port-9092+" + port + "} via rec",
		Route:    "rec",
	}, info)
	assert.Equal(t, []string{echo}, rec.Targets())
}

func TestNoRuleDialsDirectly(t *testing.T) {
	echo := testnet.Echo(t)
	d := newDialer(t, dialer.Config{})
	c, err := d.Dial("tcp", echo)
	require.NoError(t, err)
	defer c.Close()
	roundTrip(t, c)
	info, _ := dialer.InfoOf(c)
	assert.Equal(t, dialer.Info{Address: echo, Target: echo, RuleText: "no rule matched", Route: "direct"}, info)
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
	require.NoError(t, err)
	assert.Equal(t, echo1, info.Target)
	assert.Equal(t, "Lookup", info.RuleText)

	mu.Lock()
	registry["agent.invalid:9092"] = echo2
	mu.Unlock()
	info, err = dial("agent.invalid:9092")
	require.NoError(t, err)
	assert.Equal(t, echo2, info.Target, "a changed entry takes effect at the next dial")

	mu.Lock()
	delete(registry, "agent.invalid:9092")
	mu.Unlock()
	_, err = dial("agent.invalid:9092")
	assert.ErrorIs(t, err, dialer.ErrNoRoute, "a removed entry falls to Strict")

	// Static rules come first: Lookup is not consulted when a rule matches.
	before := calls
	_, err = dial("static.invalid:9092")
	require.NoError(t, err)
	assert.Equal(t, before, calls)
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
	require.NoError(t, err)
	c.Close()

	_, err = d.Dial("tcp", "broken.invalid:1")
	require.EqualError(t, err, "kafkanat: dial broken.invalid:1 (Lookup): the Lookup function failed: registry unavailable")
	_, err = d.Dial("tcp", "bad.invalid:1")
	require.ErrorContains(t, err, `the Lookup function returned target "[::1"`)
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
		require.ErrorIs(t, err, dialer.ErrNoRoute)
		require.EqualError(t, err, tc.msg)
		var de *dialer.Error
		require.ErrorAs(t, err, &de)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		assert.Equal(t, "dial", op.Op)
	}
	assert.Empty(t, rec.Targets(), "refused addresses must never reach a route")
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
	require.NoError(t, err)
	defer c.Close()
	roundTrip(t, c)
	info, _ := dialer.InfoOf(c)
	assert.Equal(t, "rec", info.Route)

	closed := testnet.ClosedPort(t)
	d = newDialer(t, dialer.Config{
		Rules:  rules(t, "svc.invalid:9092 => "+closed+" via down, direct"),
		Routes: map[string]proxy.ContextDialer{"down": failing{boom}},
	})
	_, err = d.Dial("tcp", "svc.invalid:9092")
	require.Error(t, err)
	assert.Equal(t, "kafkanat: dial svc.invalid:9092 => "+closed+" via down, direct (rule 1): down: tunnel down; direct: connect: connection refused", err.Error())
	assert.ErrorIs(t, err, boom)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
}

func TestErrorMessageAndOpError(t *testing.T) {
	closed := testnet.ClosedPort(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "# comment\nb2.abc.example.invalid:9094 => "+closed)})
	_, err := d.Dial("tcp", "b2.abc.example.invalid:9094")
	require.EqualError(t, err, "kafkanat: dial b2.abc.example.invalid:9094 => "+closed+" via direct (rule 1): connect: connection refused")
	var de *dialer.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1, de.Rule)
	assert.Equal(t, closed, de.Target)
	assert.Equal(t, "direct", de.Route)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
}

func TestUnresolvableNameSuggestsRule(t *testing.T) {
	d := newDialer(t, dialer.Config{})
	_, err := d.Dial("tcp", "b1.kafka.internal.invalid:9092")
	require.Error(t, err)
	var dns *net.DNSError
	require.ErrorAs(t, err, &dns)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "kafkanat: dial b1.kafka.internal.invalid:9092 via direct (no rule matched): "), msg)
	assert.Contains(t, msg, `b1.kafka.internal.invalid does not resolve here and no rule matched it: add a rule such as "b1.kafka.internal.invalid:9092 => HOST:PORT" or "*.kafka.internal.invalid via socks5://GATEWAY:1080"`)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
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
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		assert.True(t, op.Timeout(), "a timed-out dial reports Timeout()")
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
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("DialContext did not return after its context was cancelled")
	}
}

func TestUnsupportedNetworkAndBadAddress(t *testing.T) {
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => 127.0.0.1:1")})
	_, err := d.Dial("udp", "a.invalid:1")
	require.EqualError(t, err, `kafkanat: dial a.invalid:1: network "udp" is not supported: kafkanat dials tcp, tcp4 or tcp6`)
	for _, addr := range []string{"", "no-port.invalid", "::1:9092", strings.Repeat("a", 65536) + ":1"} {
		_, err := d.Dial("tcp", addr)
		require.Error(t, err, "address %.40q", addr)
		var de *dialer.Error
		require.ErrorAs(t, err, &de)
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
			`kafkanat: route name "a,b" may not contain white space, ',', ';' or '#'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialer.New(tc.cfg)
			require.ErrorIs(t, err, dialer.ErrConfig)
			require.EqualError(t, err, tc.msg)
			assert.NotContains(t, err.Error(), "secret")
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
	require.Error(t, err)
	require.Nil(t, c)
	for _, s := range []string{err.Error(), logs.String(), fmt.Sprintf("%+v", err)} {
		assert.NotContains(t, s, "s3cret")
		assert.NotContains(t, s, "hunter2")
	}
	assert.Contains(t, err.Error(), "socks5://alice:xxxxx@"+closed)
	assert.Contains(t, logs.String(), "level=DEBUG")
	assert.Contains(t, logs.String(), "level=WARN")
}

func TestLoggerAttributes(t *testing.T) {
	echo := testnet.Echo(t)
	var logs bytes.Buffer
	d := newDialer(t, dialer.Config{
		Rules:  rules(t, "a.invalid:9092 => "+echo),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c, err := d.Dial("tcp", "a.invalid:9092")
	require.NoError(t, err)
	c.Close()
	line := logs.String()
	for _, want := range []string{`msg="kafkanat: dial"`, "address=a.invalid:9092", "target=" + echo, "rule=1", "route=direct"} {
		assert.Contains(t, line, want)
	}
}

func TestConnCloseWrite(t *testing.T) {
	echo := testnet.Echo(t)
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:1 => "+echo)})
	c, err := d.Dial("tcp", "a.invalid:1")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("last words"))
	require.NoError(t, err)
	require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
	got, err := io.ReadAll(c)
	require.NoError(t, err, "the echo server closes after it sees EOF")
	assert.Equal(t, "last words", string(got))
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
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	cert, err := ca.Issue("broker.kafka.internal.invalid")
	require.NoError(t, err)
	sni := make(chan string, 4)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni <- h.ServerName
			return nil, nil
		},
	})
	require.NoError(t, err)
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
	require.NoError(t, err)
	defer c.Close()
	require.IsType(t, &tls.Conn{}, c)
	assert.Equal(t, "broker.kafka.internal.invalid", <-sni, "SNI carries the advertised name")
	roundTrip(t, c)
	info, ok := dialer.InfoOf(c)
	require.True(t, ok, "InfoOf unwraps *tls.Conn")
	assert.Equal(t, ln.Addr().String(), info.Target)

	// A certificate that does not name the advertised host is refused.
	_, err = d.Dial("tcp", "other.kafka.internal.invalid:9093")
	require.Error(t, err)
	<-sni
	assert.Contains(t, err.Error(), "TLS handshake with other.kafka.internal.invalid: tls: failed to verify certificate")
	var verr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &verr)
}

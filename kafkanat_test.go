package kafkanat_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// DialFunc is what golang.org/x/net/proxy's users take. The README's
// plug-in lines for each Kafka client compile in internal/e2e.
var (
	_ proxy.Dialer        = kafkanat.New()
	_ proxy.ContextDialer = kafkanat.New()
)

func TestMain(m *testing.M) {
	net.DefaultResolver = testkit.OfflineResolver()
	leakcheck.VerifyTestMain(m)
}

func info(t *testing.T, dial kafkanat.DialFunc, address string) kafkanat.ConnInfo {
	t.Helper()
	c, err := dial.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	i, ok := kafkanat.InfoOf(c)
	if !ok {
		t.Fatalf("InfoOf(%T) found no kafkanat connection", c)
	}
	return i
}

func TestOptionsApplyInOrder(t *testing.T) {
	a, b := testnet.Echo(t), testnet.Echo(t)
	dial := kafkanat.New(
		kafkanat.Map("x.invalid:9092", a),
		kafkanat.Rules("*.invalid => "+b),
		kafkanat.Map("y.invalid:9092", a), // after the wildcard: never reached
	)
	if got := info(t, dial, "x.invalid:9092"); got.Target != a {
		t.Errorf("x.invalid:9092 went to %s, want %s", got.Target, a)
	}
	if got := info(t, dial, "y.invalid:9092"); got.Target != b || got.Rule != 2 {
		t.Errorf("y.invalid:9092 went to %s by rule %d, want %s by rule 2", got.Target, got.Rule, b)
	}
}

type countingRoute struct {
	mu sync.Mutex
	n  int
}

func (r *countingRoute) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func TestViaNamedRoute(t *testing.T) {
	a := testnet.Echo(t)
	r := &countingRoute{}
	dial := kafkanat.New(kafkanat.Route("tun", r), kafkanat.Via("tun"), kafkanat.Map("x.invalid", "127.0.0.1"))
	_, port, _ := net.SplitHostPort(a)
	i := info(t, dial, "x.invalid:"+port)
	if i.Route != "tun" || i.Target != a || r.n != 1 {
		t.Errorf("dialed %s via %s, %d dials over the route; want %s via tun, 1 dial", i.Target, i.Route, r.n, a)
	}
}

func TestNewReturnsConfigErrorAtEveryDial(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kafkanat.Option
		msg  string
	}{
		{"bad rule", []kafkanat.Option{kafkanat.Rules("ok.invalid => 127.0.0.1\nbad.invalid =>")}, "kafkanat: rules line 2"},
		{"second Rules names itself", []kafkanat.Option{kafkanat.Rules("a.invalid deny"), kafkanat.Rules("b.invalid => ")}, "kafkanat: rules (Rules option 2) line 1"},
		{"bad Map", []kafkanat.Option{kafkanat.Map("", "127.0.0.1")}, `kafkanat: Map("", "127.0.0.1")`},
		{"empty Via", []kafkanat.Option{kafkanat.Via("direct, ")}, `kafkanat: Via("direct, "): empty route`},
		{"unknown Via", []kafkanat.Option{kafkanat.Via("gw")}, `kafkanat: Via("gw"): unknown route "gw"`},
		{"duplicate Route", []kafkanat.Option{kafkanat.Route("a", &countingRoute{}), kafkanat.Route("a", &countingRoute{})}, `kafkanat: Route("a"): the name is given twice`},
		{"nil Route", []kafkanat.Option{kafkanat.Route("a", nil)}, `kafkanat: Route("a"): dialer is nil`},
		{"nil Lookup", []kafkanat.Option{kafkanat.Lookup(nil)}, "kafkanat: Lookup: function is nil"},
		{"nil TLS", []kafkanat.Option{kafkanat.TLS(nil)}, "kafkanat: TLS: config is nil"},
		{"zero DialTimeout", []kafkanat.Option{kafkanat.DialTimeout(0)}, "kafkanat: DialTimeout(0s): must be positive"},
		{"nil option", []kafkanat.Option{nil}, "kafkanat: option is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafkanat.NewDialer(tc.opts...)
			if !errors.Is(err, kafkanat.ErrConfig) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("NewDialer: %v; want ErrConfig saying %q", err, tc.msg)
			}
			dial := kafkanat.New(tc.opts...)
			for range 2 {
				_, derr := dial.Dial("tcp", "127.0.0.1:1")
				var de *kafkanat.DialError
				want := "kafkanat: dial 127.0.0.1:1: " + strings.TrimPrefix(err.Error(), "kafkanat: ")
				if !errors.Is(derr, kafkanat.ErrConfig) || !errors.As(derr, &de) || derr.Error() != want {
					t.Fatalf("dial: %v; want a DialError %q", derr, want)
				}
				var op *net.OpError
				if errors.As(derr, &op) {
					t.Errorf("a config error is not a dial error (clients must not retry it), but As found %v", op)
				}
			}
		})
	}
}

func TestStrictRefuses(t *testing.T) {
	dial := kafkanat.New(kafkanat.Strict(), kafkanat.Rules("covered.invalid => 127.0.0.1"))
	_, err := dial.Dial("tcp", "uncovered.invalid:9092")
	var de *kafkanat.DialError
	if !errors.Is(err, kafkanat.ErrNoRoute) || !errors.As(err, &de) || de.Address != "uncovered.invalid:9092" {
		t.Fatalf("dial: %v; want a DialError for uncovered.invalid:9092 matching ErrNoRoute", err)
	}
}

func TestDialTimeoutOption(t *testing.T) {
	dial := kafkanat.New(kafkanat.DialTimeout(20*time.Millisecond), kafkanat.Route("stall", stall{}), kafkanat.Via("stall"))
	_, err := dial.Dial("tcp", "127.0.0.1:1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v; want context.DeadlineExceeded", err)
	}
}

type stall struct{}

func (stall) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

package kafkanat_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// The plug-in lines of the README compile as written.
var (
	_ kgo.Opt             = kgo.Dialer(kafkanat.New())
	_ proxy.Dialer        = kafkanat.New()
	_ proxy.ContextDialer = kafkanat.New()
	_                     = func(cfg *sarama.Config) { cfg.Net.Proxy.Dialer = kafkanat.New() }
)

func TestMain(m *testing.M) {
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m)
}

func info(t *testing.T, dial kafkanat.DialFunc, address string) kafkanat.ConnInfo {
	t.Helper()
	c, err := dial.Dial("tcp", address)
	require.NoError(t, err)
	defer c.Close()
	i, ok := kafkanat.InfoOf(c)
	require.True(t, ok)
	return i
}

func TestOptionsApplyInOrder(t *testing.T) {
	a, b := testnet.Echo(t), testnet.Echo(t)
	dial := kafkanat.New(
		kafkanat.Map("x.invalid:9092", a),
		kafkanat.Rules("*.invalid => "+b),
		kafkanat.Map("y.invalid:9092", a), // after the wildcard: never reached
	)
	assert.Equal(t, a, info(t, dial, "x.invalid:9092").Target)
	assert.Equal(t, b, info(t, dial, "y.invalid:9092").Target)
	assert.Equal(t, 2, info(t, dial, "y.invalid:9092").Rule)
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
	assert.Equal(t, "tun", i.Route)
	assert.Equal(t, a, i.Target)
	assert.Equal(t, 1, r.n)
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
			require.ErrorIs(t, err, kafkanat.ErrConfig)
			require.ErrorContains(t, err, tc.msg)
			dial := kafkanat.New(tc.opts...)
			for range 2 {
				_, derr := dial.Dial("tcp", "127.0.0.1:1")
				require.ErrorIs(t, derr, kafkanat.ErrConfig)
				require.Equal(t, err.Error(), derr.Error())
				var op *net.OpError
				assert.False(t, errors.As(derr, &op), "a config error is not a dial error: clients must not retry it")
			}
		})
	}
}

func TestStrictRefuses(t *testing.T) {
	dial := kafkanat.New(kafkanat.Strict(), kafkanat.Rules("covered.invalid => 127.0.0.1"))
	_, err := dial.Dial("tcp", "uncovered.invalid:9092")
	require.ErrorIs(t, err, kafkanat.ErrNoRoute)
	var de *kafkanat.DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "uncovered.invalid:9092", de.Address)
}

func TestDialTimeoutOption(t *testing.T) {
	dial := kafkanat.New(kafkanat.DialTimeout(20*time.Millisecond), kafkanat.Route("stall", stall{}), kafkanat.Via("stall"))
	_, err := dial.Dial("tcp", "127.0.0.1:1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

type stall struct{}

func (stall) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

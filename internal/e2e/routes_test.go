package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// redacted is how kafkanat names a route URL: with its password hidden.
func redacted(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Redacted()
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// Without kafkanat, a client that reaches the bootstrap broker at its real
// address still cannot reach any broker at its advertised address.
func TestWithoutKafkanatBrokersAreUnreachable(t *testing.T) {
	c := hiddenCluster(t)
	seed := c.Addrs()[0]

	t.Run("franz-go", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(topic),
			kgo.RecordDeliveryTimeout(3*time.Second))
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("lost")}).FirstErr()
		require.Error(t, err)
		require.NoError(t, ctx.Err(), "the plain client must fail on its own, not by our timeout")
	})
	t.Run("sarama", func(t *testing.T) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_0_0_0
		cfg.Producer.Return.Successes = true
		cfg.Metadata.Retry.Max = 1
		cfg.Producer.Retry.Max = 1
		prod, err := sarama.NewSyncProducer([]string{seed}, cfg)
		require.NoError(t, err)
		defer prod.Close()
		_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("lost")})
		require.Error(t, err)
	})
}

func TestRulesOnly(t *testing.T) {
	clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
		c := hiddenCluster(t)
		// The bootstrap address is hidden too: kafkanat sees every dial.
		rec := roundTrip(t, c.Advertised()[0], kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict()))
		rec.check(t, c, "direct", "")
	})
}

// viaProxy runs both clients through proxyURL with the cluster's mapping
// rules, checking that every broker connection went to the proxy.
func viaProxy(t *testing.T, proxyURL func(t *testing.T) string) {
	clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
		c := hiddenCluster(t)
		u := proxyURL(t)
		rec := roundTrip(t, c.Advertised()[0], kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Via(u), kafkanat.Strict()))
		rec.check(t, c, redacted(t, u), hostOf(t, u))
	})
}

func TestMicrosocks(t *testing.T) {
	viaProxy(t, func(t *testing.T) string { return peers.Microsocks(t, "", "") })
}

func TestMicrosocksWithCredentials(t *testing.T) {
	viaProxy(t, func(t *testing.T) string { return peers.Microsocks(t, "kafka", "pa55-word") })
}

func TestMicrosocksWrongCredentials(t *testing.T) {
	u, err := url.Parse(peers.Microsocks(t, "kafka", "right"))
	require.NoError(t, err)
	u.User = url.UserPassword("kafka", "wrong-secret")
	dial := kafkanat.New(kafkanat.Via(u.String()), kafkanat.Map("b0.kafka.internal.invalid", "127.0.0.1"))
	_, err = dial.Dial("tcp", "b0.kafka.internal.invalid:9092")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"kafka"`, "the error names the user")
	assert.NotContains(t, err.Error(), "wrong-secret")
}

func TestDante(t *testing.T) {
	viaProxy(t, func(t *testing.T) string { return peers.Dante(t) })
}

func TestTinyproxy(t *testing.T) {
	viaProxy(t, func(t *testing.T) string { return peers.Tinyproxy(t) })
}

func TestInProcessSOCKS5WithCredentials(t *testing.T) {
	viaProxy(t, func(t *testing.T) string {
		s, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithCredentials("kafka", "s3cret"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s.URL()
	})
}

func TestInProcessHTTPProxyWithCredentials(t *testing.T) {
	viaProxy(t, func(t *testing.T) string {
		p, err := kafkanattest.NewHTTPProxy(kafkanattest.WithCredentials("kafka", "s3cret"))
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p.URL()
	})
}

// A gateway inside the brokers' network resolves their names: kafkanat
// keeps the advertised address and sends the name to the proxy unresolved.
func TestGatewayResolvesHiddenNames(t *testing.T) {
	type proxyServer interface {
		URL() string
		Targets() []string
		Close() error
	}
	for _, tc := range []struct {
		name  string
		start func(opts ...kafkanattest.ProxyOption) (proxyServer, error)
	}{
		{"socks5", func(opts ...kafkanattest.ProxyOption) (proxyServer, error) {
			return kafkanattest.NewSOCKS5Server(opts...)
		}},
		{"http-connect", func(opts ...kafkanattest.ProxyOption) (proxyServer, error) { return kafkanattest.NewHTTPProxy(opts...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
				c := hiddenCluster(t)
				p, err := tc.start(kafkanattest.WithDialer(c.DialAdvertised))
				require.NoError(t, err)
				defer p.Close()
				rules := "*.kafka.internal.invalid via " + p.URL()
				rec := roundTrip(t, c.Advertised()[0], kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict()))
				rec.check(t, c, p.URL(), hostOf(t, p.URL()))
				for _, target := range p.Targets() {
					assert.True(t, strings.HasSuffix(strings.Split(target, ":")[0], ".kafka.internal.invalid"),
						"the proxy was asked for %q: names must travel unresolved", target)
				}
				assert.Subset(t, p.Targets(), c.Advertised())
			})
		})
	}
}

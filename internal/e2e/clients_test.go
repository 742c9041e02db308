// Package e2e runs real Kafka clients (franz-go and sarama) against hidden
// clusters through every route kafkanat offers.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// The plug-in lines of the README compile as written.
var (
	_ kgo.Opt = kgo.Dialer(kafkanat.New())
	_         = func(cfg *sarama.Config) { cfg.Net.Proxy.Enable, cfg.Net.Proxy.Dialer = true, kafkanat.New() }
	_         = &kafka.Transport{Dial: kafkanat.New()}
	_         = &kafka.Dialer{DialFunc: kafkanat.New()}
	_         = &http.Transport{DialContext: kafkanat.New()}
)

func TestMain(m *testing.M) {
	// Hidden names fail in-process instead of asking the machine's DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m,
		// sarama's metrics library starts one meter-ticking goroutine per
		// process and never stops it.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

const (
	topic      = "tasks"
	partitions = 6
	records    = 60
)

// hiddenCluster starts a cluster whose brokers advertise hidden names
// (opts may change them), with the test topic, its partitions spread over
// the brokers (kafkanattest.Topics) so that every client dials every broker.
func hiddenCluster(t *testing.T, opts ...kafkanattest.ClusterOption) *kafkanattest.Cluster {
	t.Helper()
	opts = append([]kafkanattest.ClusterOption{kafkanattest.Topics(partitions, topic)}, opts...)
	c, err := kafkanattest.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// recording wraps dial and remembers how each connection was made, so a
// test can prove which route every broker connection took.
type recording struct {
	dial  kafkanat.DialFunc
	mu    sync.Mutex
	infos []kafkanat.ConnInfo
	peers []string // RemoteAddr of each conn: the proxy for proxied routes
}

func (r *recording) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := r.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	info, ok := kafkanat.InfoOf(c)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("connection to %s carries no kafkanat info", address)
	}
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.peers = append(r.peers, c.RemoteAddr().String())
	r.mu.Unlock()
	return c, nil
}

func (r *recording) Dial(network, address string) (net.Conn, error) {
	return r.DialContext(context.Background(), network, address)
}

// check asserts that every advertised broker was dialed, over route, and
// that the peer of each connection was wantPeer (the proxy) when given.
func (r *recording) check(t *testing.T, c *kafkanattest.Cluster, route, wantPeer string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	dialed := map[string]bool{}
	for i, info := range r.infos {
		dialed[info.Address] = true
		assert.Equal(t, route, info.Route, "route of the connection to %s", info.Address)
		if wantPeer != "" {
			assert.Equal(t, wantPeer, r.peers[i], "peer of the connection to %s", info.Address)
		}
	}
	for _, adv := range c.Advertised() {
		assert.True(t, dialed[adv], "broker %s was never dialed through kafkanat (dialed: %v)", adv, dialed)
	}
}

// values returns the record values the tests produce.
func values() []string {
	vs := make([]string, records)
	for i := range vs {
		vs[i] = fmt.Sprintf("task-%03d", i)
	}
	return vs
}

// franzRoundTrip produces records with franz-go through dial and consumes
// them back, checking that every record arrives exactly once, in order per
// partition.
func franzRoundTrip(t *testing.T, seed string, dial kafkanat.DialFunc) *recording {
	t.Helper()
	return franzRoundTripWith(t, seed, dial)
}

// franzRoundTripWith is franzRoundTrip with opts (SASL, ...) added to both
// the producer and the consumer.
func franzRoundTripWith(t *testing.T, seed string, dial kafkanat.DialFunc, opts ...kgo.Opt) *recording {
	t.Helper()
	rec := &recording{dial: dial}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.Dialer(rec.DialContext),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}, opts...)...)
	require.NoError(t, err)
	defer prod.Close()
	var rs []*kgo.Record
	for _, v := range values() {
		rs = append(rs, &kgo.Record{Value: []byte(v)})
	}
	require.NoError(t, prod.ProduceSync(ctx, rs...).FirstErr())

	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.Dialer(rec.DialContext),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	require.NoError(t, err)
	defer cons.Close()
	var got []string
	last := map[int32]int64{}
	for len(got) < records {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "timed out with %d of %d records", len(got), records)
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok {
				assert.Greater(t, r.Offset, prev, "order in partition %d", r.Partition)
			}
			last[r.Partition] = r.Offset
			got = append(got, string(r.Value))
		})
	}
	slices.Sort(got)
	require.Equal(t, values(), got, "every record exactly once")
	return rec
}

// saramaRoundTrip produces with sarama's SyncProducer through dial and
// consumes with a sarama consumer group.
func saramaRoundTrip(t *testing.T, seed string, dial kafkanat.DialFunc) *recording {
	t.Helper()
	return saramaRoundTripWith(t, seed, dial, nil)
}

// saramaRoundTripWith is saramaRoundTrip with configure (Net.TLS,
// Net.SASL, ...), when not nil, applied to the config of every client.
func saramaRoundTripWith(t *testing.T, seed string, dial kafkanat.DialFunc, configure func(*sarama.Config)) *recording {
	t.Helper()
	rec := &recording{dial: dial}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = rec
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	if configure != nil {
		configure(cfg)
	}

	prod, err := sarama.NewSyncProducer([]string{seed}, cfg)
	require.NoError(t, err)
	var msgs []*sarama.ProducerMessage
	for _, v := range values() {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
	}
	require.NoError(t, prod.SendMessages(msgs))
	require.NoError(t, prod.Close())

	group, err := sarama.NewConsumerGroup([]string{seed}, "e2e-group", cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, group.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &collector{want: records, done: cancel}
	errs := make(chan error, 1)
	go func() {
		for err := range group.Errors() {
			select {
			case errs <- err:
			default:
			}
		}
	}()
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			require.NoError(t, err)
		}
	}
	select {
	case err := <-errs:
		t.Errorf("consumer group error: %v", err)
	default:
	}
	got, orderErr := h.values()
	require.NoError(t, orderErr)
	slices.Sort(got)
	require.Equal(t, values(), got, "every record exactly once")
	return rec
}

type collector struct {
	want int
	done context.CancelFunc
	mu   sync.Mutex
	got  []string
	last map[int32]int64
	err  error
}

func (*collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		if h.last == nil {
			h.last = map[int32]int64{}
		}
		if prev, ok := h.last[m.Partition]; ok && m.Offset <= prev && h.err == nil {
			h.err = fmt.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		h.last[m.Partition] = m.Offset
		h.got = append(h.got, string(m.Value))
		n := len(h.got)
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.want {
			h.done()
		}
	}
	return nil
}

func (h *collector) values() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...), h.err
}

// clients runs fn for each client as a subtest.
func clients(t *testing.T, fn func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording)) {
	t.Run("franz-go", func(t *testing.T) { fn(t, franzRoundTrip) })
	t.Run("sarama", func(t *testing.T) { fn(t, saramaRoundTrip) })
}

package e2e

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
)

// kafkagoRoundTrip produces with a segmentio/kafka-go Writer whose
// Transport dials through dial, and consumes with a kafka-go consumer group
// Reader whose Dialer dials through dial, checking that every record arrives
// exactly once, in order per partition. kafka-go runs TLS itself when
// tlsConfig is not nil. It returns the recordings of the Writer's and the
// Reader's dials.
func kafkagoRoundTrip(t *testing.T, seed string, dial kafkanat.DialFunc, tlsConfig *tls.Config) (writer, reader *recording) {
	t.Helper()
	writer, reader = &recording{dial: dial}, &recording{dial: dial}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The Writer leaves its Transport's connection pool open; close it.
	transport := &kafka.Transport{Dial: writer.DialContext, TLS: tlsConfig}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(seed),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		Transport:    transport,
	}
	var msgs []kafka.Message
	for _, v := range values() {
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{seed},
		GroupID:     "e2e-kafka-go",
		Topic:       topic,
		Dialer:      &kafka.Dialer{DialFunc: reader.DialContext, Timeout: 10 * time.Second, TLS: tlsConfig},
		StartOffset: kafka.FirstOffset,
		MaxWait:     100 * time.Millisecond,
	})
	defer func() { require.NoError(t, r.Close()) }()
	var got []string
	last := map[int]int64{}
	for len(got) < records {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err, "after %d of %d records", len(got), records)
		if prev, ok := last[m.Partition]; ok {
			assert.Greater(t, m.Offset, prev, "order in partition %d", m.Partition)
		}
		last[m.Partition] = m.Offset
		got = append(got, string(m.Value))
	}
	slices.Sort(got)
	require.Equal(t, values(), got, "every record exactly once")
	return writer, reader
}

// kafka-go's Writer (Transport.Dial) and Reader (Dialer.DialFunc) take
// kafkanat's DialFunc as it is and work through every route.
func TestKafkaGo(t *testing.T) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			c := hiddenCluster(t)
			opts, route, peer := routeOptions(t, c, r)
			writer, reader := kafkagoRoundTrip(t, c.Advertised()[0], kafkanat.New(opts...), nil)
			writer.check(t, c, route, peer)
			reader.check(t, c, route, peer)
		})
	}
}

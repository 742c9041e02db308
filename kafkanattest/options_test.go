package kafkanattest_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// leaders returns the leader of each partition of topic, by partition.
func leaders(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) map[int32]int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	out := map[int32]int32{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			out[p.Partition] = p.Leader
		}
	}
	return out
}

func TestTopicsSpreadLeadersAndMoveLeader(t *testing.T) {
	c := newCluster(t, kafkanattest.Topics(4, "a", "b"), kafkanattest.Topics(1, "c"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := newClient(t, kgo.SeedBrokers(c.Addrs()[0]))
	for _, topic := range []string{"a", "b"} {
		got := leaders(ctx, t, cl, topic)
		if len(got) != 4 {
			t.Fatalf("topic %s has partitions %v, want 4", topic, got)
		}
		for p, l := range got {
			if l != p%3 {
				t.Errorf("topic %s partition %d is led by %d, want %d", topic, p, l, p%3)
			}
		}
	}
	if err := c.MoveLeader("c", 0, 2); err != nil {
		t.Fatal(err)
	}
	if got := leaders(ctx, t, cl, "c"); got[0] != 2 {
		t.Errorf("after MoveLeader, c[0] is led by %d, want 2", got[0])
	}
	for _, tc := range []struct {
		topic         string
		partition, to int
		want          string
	}{
		{"c", 0, 3, "the cluster has brokers 0 to 2"},
		{"c", 0, -1, "the cluster has brokers 0 to 2"},
		{"missing", 0, 1, `MoveLeader("missing", 0, 1)`},
	} {
		if err := c.MoveLeader(tc.topic, tc.partition, tc.to); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MoveLeader(%q, %d, %d) = %v, want an error containing %q", tc.topic, tc.partition, tc.to, err, tc.want)
		}
	}
}

func TestOnRequestSASLAndTLS(t *testing.T) {
	ca, err := kafkanattest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var auths atomic.Int32
	c := newCluster(t, kafkanattest.Brokers(1),
		kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kafkanattest.SASL("PLAIN", "alice", "s3cret"),
		kafkanattest.OnRequest(int16(kmsg.SASLAuthenticate), func(node int32) {
			if node == 0 {
				auths.Add(1)
			}
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := func(password string) error {
		cl := newClient(t, kgo.SeedBrokers(c.Addrs()[0]),
			kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}),
			kgo.SASL(plain.Auth{User: "alice", Pass: password}.AsMechanism()))
		return cl.Ping(ctx)
	}
	if err := client("s3cret"); err != nil {
		t.Fatalf("TLS and SASL PLAIN with the right password: %v", err)
	}
	if auths.Load() == 0 {
		t.Error("OnRequest saw no SaslAuthenticate request")
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	cl := newClient(t, kgo.SeedBrokers(c.Addrs()[0]), kgo.RequestRetries(0),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}),
		kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	if err := cl.Ping(short); err == nil {
		t.Error("a wrong password was accepted")
	}
}

func TestDiscardProduce(t *testing.T) {
	c := newCluster(t, kafkanattest.Brokers(1), kafkanattest.Topics(1, "t"), kafkanattest.DiscardProduce())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := newClient(t, kgo.SeedBrokers(c.Addrs()[0]), kgo.Dialer(mappingDialer(t, c, new(dialRecorder))), kgo.DefaultProduceTopic("t"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("gone")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	// Offsets advance, but there is nothing to read.
	cons := newClient(t, kgo.SeedBrokers(c.Addrs()[0]), kgo.Dialer(mappingDialer(t, c, new(dialRecorder))),
		kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	poll, cancelPoll := context.WithTimeout(ctx, time.Second)
	defer cancelPoll()
	if n := cons.PollFetches(poll).NumRecords(); n != 0 {
		t.Errorf("consumed %d records from a cluster that discards them", n)
	}
}

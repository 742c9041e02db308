package kube_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

const (
	topic      = "orders"
	partitions = 3
	records    = 30
	// seed is the bootstrap address: the client service, which leads to
	// a ready broker pod.
	seed = "kafka.kafka.svc.cluster.local:9092"
)

// kafkaInCluster starts a 3-broker cluster whose brokers advertise their
// pods' headless names, and a test API server whose pods kafka-0..2 reach
// them, with the headless service kafka-headless and the client service
// kafka.
func kafkaInCluster(t *testing.T) (*kafkanattest.Cluster, *kubetest.Server) {
	t.Helper()
	var adv []string
	for i := range 3 {
		adv = append(adv, fmt.Sprintf("kafka-%d.kafka-headless.kafka.svc.cluster.local:9092", i))
	}
	cluster, err := kafkanattest.NewCluster(kafkanattest.Advertise(adv...), kafkanattest.Topics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	s := newServer(t)
	pods := s.AddStatefulSet(kubetest.StatefulSet{
		Namespace: "kafka", Name: "kafka", Service: "kafka-headless", Replicas: 3,
		Ports: []kubetest.ServicePort{{Name: "client", Port: 9092}},
		Dial: func(ctx context.Context, pod string, port int) (net.Conn, error) {
			// The pod's own address, as inside the pod's network.
			return cluster.DialAdvertised(ctx, "tcp", fmt.Sprintf("%s.kafka-headless.kafka.svc.cluster.local:%d", pod, port))
		},
	})
	s.AddService(kubetest.Service{Namespace: "kafka", Name: "kafka", Ports: []kubetest.ServicePort{{Name: "client", Port: 9092}}, Pods: pods})
	return cluster, s
}

func values() []string {
	vs := make([]string, records)
	for i := range vs {
		vs[i] = fmt.Sprintf("order-%03d", i)
	}
	return vs
}

func TestKafkaThroughPodRoute(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			for _, client := range []struct {
				name string
				run  func(t *testing.T, dial kafkanat.DialFunc)
			}{{"franz-go", franzRoundTrip}, {"sarama", saramaRoundTrip}} {
				t.Run(client.name, func(t *testing.T) {
					cluster, s := kafkaInCluster(t)
					kd := newDialer(t, s, kube.WithProtocol(proto))
					// The two forms: a rule, and the default route.
					rules := kafkanat.New(kafkanat.Route("k8s", kd), kafkanat.Rules("*.svc.cluster.local via k8s"), kafkanat.Strict())
					dflt := kafkanat.New(kafkanat.Route("k8s", kd), kafkanat.Via("k8s"))
					dial := rules
					if client.name == "sarama" {
						dial = dflt
					}
					client.run(t, dial)

					want := map[string]bool{}
					for _, u := range s.Upgrades() {
						if u.Protocol != map[kube.Protocol]string{kube.SPDY: "SPDY", kube.WebSocket: "WebSocket"}[proto] || u.Namespace != "kafka" {
							t.Errorf("upgrade %+v; want %s in namespace kafka", u, proto)
						}
						want[u.Pod] = true
					}
					if len(want) != 3 {
						t.Errorf("upgraded connections to pods %v; want all three brokers' pods", want)
					}
					t.Logf("%d upgraded connections carried %d forwarded connections", len(s.Upgrades()), len(s.Forwards()))
					if len(s.Upgrades()) > len(s.Forwards()) {
						t.Errorf("more upgrades than forwards")
					}
					_ = cluster
				})
			}
		})
	}
}

// franzRoundTrip produces records with franz-go and consumes them back,
// every record exactly once, in order per partition.
func franzRoundTrip(t *testing.T, dial kafkanat.DialFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var rs []*kgo.Record
	for _, v := range values() {
		rs = append(rs, &kgo.Record{Value: []byte(v)})
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	last := map[int32]int64{}
	for len(got) < records {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out with %d of %d records", len(got), records)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			got = append(got, string(r.Value))
		})
	}
	checkExactlyOnce(t, got)
}

// saramaRoundTrip produces with sarama's SyncProducer and consumes every
// partition with a sarama Consumer.
func saramaRoundTrip(t *testing.T, dial kafkanat.DialFunc) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = dial
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	prod, err := sarama.NewSyncProducer([]string{seed}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*sarama.ProducerMessage
	for _, v := range values() {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	cons, err := sarama.NewConsumer([]string{seed}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	timeout := time.After(30 * time.Second)
	for p := range int32(partitions) {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < records/partitions; n++ {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-timeout:
				t.Fatalf("timed out with %d of %d records", len(got), records)
			}
		}
		pc.Close()
	}
	checkExactlyOnce(t, got)
}

func checkExactlyOnce(t *testing.T, got []string) {
	t.Helper()
	slices.Sort(got)
	if want := values(); !slices.Equal(got, want) {
		t.Fatalf("consumed %d records %v; want every one of the %d exactly once", len(got), got, len(want))
	}
}

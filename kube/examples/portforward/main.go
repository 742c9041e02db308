// Command portforward reaches Kafka brokers inside Kubernetes through the
// API server's port-forward, with kafkanat's pod route (package kube): no
// local listener, no NodePort, nothing exposed by the cluster; the
// brokers' in-cluster names
//
//	kafka-0.kafka-headless.kafka.svc.cluster.local:9092
//
// are carried to their pods as they are, with one rule:
//
//	*.svc.cluster.local via k8s
//
// With no flags it runs on an embedded three-broker cluster whose brokers
// advertise those names, behind kubetest's in-process API server (the
// kubelet's real port-forward protocol), reached through a kubeconfig it
// writes. With -kubeconfig (and -context, -bootstrap) it produces to and
// consumes from a real cluster's topic instead.
//
//	go run ./kube/examples/portforward
//	go run ./kube/examples/portforward -kubeconfig ~/.kube/config -bootstrap kafka.kafka.svc.cluster.local:9092 -topic test
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

const rules = "*.svc.cluster.local via k8s"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "a real cluster's kubeconfig (default: an embedded cluster)")
	kubeContext := flag.String("context", "", "the kubeconfig context (default: its current context)")
	bootstrap := flag.String("bootstrap", "kafka.kafka.svc.cluster.local:9092", "the bootstrap address, an in-cluster name")
	topic := flag.String("topic", "orders", "the topic to produce to and consume from")
	flag.Parse()
	if err := run(*kubeconfig, *kubeContext, *bootstrap, *topic); err != nil {
		fmt.Fprintln(os.Stderr, "portforward:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, kubeContext, bootstrap, topic string) error {
	var api *kubetest.Server
	if kubeconfig == "" {
		// The demo stays on this machine: names no rule matches fail
		// in-process instead of at a DNS server.
		net.DefaultResolver = kafkanattest.OfflineResolver()
		cluster, s, err := embedded(topic)
		if err != nil {
			return err
		}
		defer cluster.Close()
		defer s.Close()
		api = s
		dir, err := os.MkdirTemp("", "kafkanat-kube-example")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		kubeconfig, kubeContext = filepath.Join(dir, "kubeconfig"), "kubetest"
		if err := s.WriteKubeconfig(kubeconfig, kubeContext); err != nil {
			return err
		}
		fmt.Printf("A StatefulSet kafka in namespace kafka, behind the test API server %s:\n", s.URL())
		for _, adv := range cluster.Advertised() {
			fmt.Printf("  %s\n", adv)
		}
	}

	kd, err := kube.FromKubeconfig(kubeconfig, kubeContext)
	if err != nil {
		return err
	}
	defer kd.Close()
	dial := kafkanat.New(kafkanat.Route("k8s", kd), kafkanat.Rules(rules), kafkanat.Strict())
	fmt.Printf("\nThrough the API server's port-forward, rule:\n   %s\n", rules)
	if err := roundTrip(bootstrap, topic, 9, trace(dial)); err != nil {
		return err
	}
	if api != nil {
		streams := map[kubetest.Forward]int{}
		for _, f := range api.Forwards() {
			streams[f]++
		}
		fmt.Printf("   %d upgraded connections to the API server carried %d port-forward streams:\n", len(api.Upgrades()), len(api.Forwards()))
		for _, u := range api.Upgrades() {
			f := kubetest.Forward{Namespace: u.Namespace, Pod: u.Pod, Port: 9092}
			fmt.Printf("   pod %s/%s over %s: %d streams to port 9092\n", u.Namespace, u.Pod, u.Protocol, streams[f])
		}
	}
	return nil
}

// embedded starts three brokers advertising their pods' headless names,
// and a test API server whose pods kafka-0..2 reach them (the headless
// service kafka-headless, and the client service kafka).
func embedded(topic string) (*kafkanattest.Cluster, *kubetest.Server, error) {
	const name = "kafka-%d.kafka-headless.kafka.svc.cluster.local:9092"
	cluster, err := kafkanattest.NewCluster(
		kafkanattest.Advertise(fmt.Sprintf(name, 0), fmt.Sprintf(name, 1), fmt.Sprintf(name, 2)),
		kafkanattest.Topics(3, topic))
	if err != nil {
		return nil, nil, err
	}
	s := kubetest.NewServer()
	pods := s.AddStatefulSet(kubetest.StatefulSet{
		Namespace: "kafka", Name: "kafka", Service: "kafka-headless", Replicas: 3,
		Ports: []kubetest.ServicePort{{Name: "client", Port: 9092}},
		Dial: func(ctx context.Context, pod string, port int) (net.Conn, error) {
			// Inside the pod, the broker listens on its own name.
			return cluster.DialAdvertised(ctx, "tcp", fmt.Sprintf("%s.kafka-headless.kafka.svc.cluster.local:%d", pod, port))
		},
	})
	s.AddService(kubetest.Service{Namespace: "kafka", Name: "kafka", Ports: []kubetest.ServicePort{{Name: "client", Port: 9092}}, Pods: pods})
	return cluster, s, nil
}

// roundTrip produces n records to topic through dial, one to each
// partition in turn, and consumes them back.
func roundTrip(seed, topic string, n int, dial kafkanat.DialFunc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}).FirstErr(); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume: got %d of %d records: %w", got, n, err)
		}
		got += fs.NumRecords()
	}
	fmt.Printf("   produced %d records to %s and consumed them back\n", n, topic)
	return nil
}

// trace prints how dial sent each address and which pod address it
// reached, or why it failed, once per distinct outcome.
func trace(dial kafkanat.DialFunc) kafkanat.DialFunc {
	var seen sync.Map
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		line := fmt.Sprintf("   dial %s failed: %v", address, err)
		if info, ok := kafkanat.InfoOf(c); ok {
			line = fmt.Sprintf("   dial %s: pod at %s", info, c.RemoteAddr())
		}
		if _, dup := seen.LoadOrStore(line, true); !dup {
			fmt.Println(line)
		}
		return c, err
	}
}

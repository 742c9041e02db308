// Command scenario2-kubernetes shows scenario 2: Kafka runs as a
// StatefulSet in Kubernetes and its brokers advertise names that resolve
// only inside the cluster:
//
//	kafka-controller-0.kafka-controller-headless.gcp.svc.cluster.local:9092
//
// A client outside reaches them in one of two ways, each one rule:
//
//	# one NodePort per broker (31090, 31091, 31092 on a node):
//	kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
//	# or a SOCKS5 gateway inside the cluster, which resolves cluster DNS:
//	*.svc.cluster.local via socks5://gateway:1080
//
// A rescheduled broker keeps its name, so the rules keep working. With no
// flags it runs an embedded three-broker cluster advertising those names,
// listening on three consecutive loopback ports (the "NodePorts"), and an
// in-process SOCKS5 gateway that resolves the names, and produces and
// consumes through each rule. With -bootstrap and -rules it checks a real
// cluster instead (read-only: metadata, then an ApiVersions request to
// every broker).
//
//	go run ./examples/scenario2-kubernetes
//	go run ./examples/scenario2-kubernetes -bootstrap 203.0.113.10:31090 \
//	    -rules 'kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}'
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const podName = "kafka-controller-%d.kafka-controller-headless.gcp.svc.cluster.local:9092"

func main() {
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded cluster)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	flag.Parse()
	if err := run(*bootstrap, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "scenario2:", err)
		os.Exit(1)
	}
}

func run(bootstrap, rules string) error {
	if bootstrap != "" {
		fmt.Printf("Checking %s with rules:\n%s\n", bootstrap, rules)
		return check(bootstrap, kafkanat.New(kafkanat.Rules(rules)))
	}

	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	k8s, base, err := startCluster()
	if err != nil {
		return err
	}
	defer k8s.Close()
	fmt.Println("A StatefulSet whose brokers advertise in-cluster names:")
	for i, adv := range k8s.Advertised() {
		fmt.Printf("  %s  (NodePort %s)\n", adv, k8s.Addrs()[i])
	}

	// 1. One NodePort per broker: the port is computed from the pod's number.
	rules = fmt.Sprintf("kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 127.0.0.1:{%d+n}", base)
	fmt.Printf("\n1. NodePorts, rule:\n   %s\n", rules)
	seed := fmt.Sprintf(podName, 0)
	if err := roundTrip(seed, "nodeports", 9, kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())); err != nil {
		return err
	}

	// 2. A SOCKS5 gateway inside the cluster: the names travel to it
	// unresolved and it resolves them with cluster DNS.
	gateway, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(k8s.DialAdvertised))
	if err != nil {
		return err
	}
	defer gateway.Close()
	rules = "*.svc.cluster.local via " + gateway.URL()
	fmt.Printf("\n2. A SOCKS5 gateway in the cluster, rule:\n   %s\n", rules)
	if err := roundTrip(seed, "gateway", 9, kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, t := range gateway.Targets() {
		names[t] = true
	}
	fmt.Printf("   the gateway resolved %d distinct names\n", len(names))
	return nil
}

// startCluster starts three brokers advertising pod names and listening
// on three consecutive loopback ports, like NodePorts base, base+1,
// base+2. base is drawn from Kubernetes' NodePort range (30000-32767),
// which lies below Linux's ephemeral ports (32768 up), so that outgoing
// connections do not hold them; a port another program listens on makes
// it draw again.
func startCluster() (*kafkanattest.Cluster, int, error) {
	var lastErr error
	for range 20 {
		base := 30000 + rand.IntN(32767-30000-2)
		c, err := kafkanattest.NewCluster(
			kafkanattest.Advertise(fmt.Sprintf(podName, 0), fmt.Sprintf(podName, 1), fmt.Sprintf(podName, 2)),
			kafkanattest.Ports(base, base+1, base+2), kafkanattest.Topics(3, "nodeports", "gateway"))
		if err == nil {
			return c, base, nil
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("no 3 consecutive free loopback ports: %w", lastErr)
}

// roundTrip produces n records to topic through dial, one to each
// partition in turn, and consumes them back: the client dials every broker
// that leads a partition.
func roundTrip(seed, topic string, n int, dial kafkanat.DialFunc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(trace(dial)),
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

// check asks the cluster for its brokers through dial, then sends each an
// ApiVersions request. It writes nothing.
func check(bootstrap string, dial kafkanat.DialFunc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.Dialer(trace(dial)))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	for _, b := range meta.Brokers {
		addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
		if _, err := cl.Broker(int(b.NodeID)).Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
			return fmt.Errorf("broker %d at %s: %w", b.NodeID, addr, err)
		}
		fmt.Printf("   broker %d at %s answers\n", b.NodeID, addr)
	}
	return nil
}

// trace prints how dial sent each address, or why it failed, once per
// distinct outcome (clients open several connections per broker).
func trace(dial kafkanat.DialFunc) kafkanat.DialFunc {
	var seen sync.Map
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		line := fmt.Sprintf("   dial %s failed: %v", address, err)
		if info, ok := kafkanat.InfoOf(c); ok {
			line = "   dial " + info.String()
		}
		if _, dup := seen.LoadOrStore(line, true); !dup {
			fmt.Println(line)
		}
		return c, err
	}
}

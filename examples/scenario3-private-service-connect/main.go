// Command scenario3-private-service-connect shows scenario 3: a managed
// service reaches a self-hosted cluster through a private endpoint (Private
// Service Connect, or a load balancer) with one IP and one port per
// broker. The brokers' EXTERNAL listener advertises
//
//	b1.abc.us-west1.example.com:9093, b2...:9094, b3...:9095
//
// and the client must send every such name to the endpoint IP, keeping the
// port. One rule, whose target has no port, does it:
//
//	*.abc.us-west1.example.com => 10.128.0.5
//
// Unlike a Metadata-rewriting proxy, this runs in every client: any
// number of instances, no shared state. With no flags it runs an embedded
// three-broker cluster advertising those names with the ports of its real
// loopback listeners (the "endpoint" is 127.0.0.1), and produces and
// consumes through the rule. With -bootstrap and -rules it checks a real
// cluster instead (read-only: metadata, then an ApiVersions request to
// every broker).
//
//	go run ./examples/scenario3-private-service-connect
//	go run ./examples/scenario3-private-service-connect -bootstrap 10.128.0.5:9093 -rules '*.abc.us-west1.example.com => 10.128.0.5'
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded cluster)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	flag.Parse()
	if err := run(*bootstrap, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "scenario3:", err)
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
	psc, err := startCluster()
	if err != nil {
		return err
	}
	defer psc.Close()
	fmt.Println("Brokers behind one endpoint (127.0.0.1), one port each, advertising:")
	for _, adv := range psc.Advertised() {
		fmt.Printf("  %s\n", adv)
	}

	// A target without a port keeps the advertised port.
	rules = "*.abc.us-west1.example.com => 127.0.0.1"
	fmt.Printf("Rule: %s\n", rules)
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	return roundTrip(psc.Advertised()[0], "orders", 9, dial)
}

// startCluster starts three brokers b1..b3 that advertise the port they
// really listen on, as the endpoint's per-broker ports would be. Another
// process may take a port between the probe and the listen, so it retries.
func startCluster() (*kafkanattest.Cluster, error) {
	var lastErr error
	for range 20 {
		var ports []int
		var adv []string
		for i := 1; i <= 3; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			ports = append(ports, port)
			adv = append(adv, fmt.Sprintf("b%d.abc.us-west1.example.com:%d", i, port))
		}
		c, err := kafkanattest.NewCluster(kafkanattest.Advertise(adv...), kafkanattest.Ports(ports...),
			kafkanattest.Topics(3, "orders"))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free loopback ports: %w", lastErr)
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

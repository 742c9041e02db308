// Command scenario4-one-host-several-ports shows scenario 4: a partner's
// three brokers advertise node1:9092, node2:9092 and node3:9092, and are
// reachable from a test zone only through one proxy host, one port each
// (proxy:7092, proxy:8092, proxy:9092). Bootstrap works, but after
// metadata the client dials nodeN:9092 and most sends fail. One rule per
// node fixes it:
//
//	node1:9092 => proxy:7092; node2:9092 => proxy:8092; node3:9092 => proxy:9092
//
// With no flags it runs an embedded three-broker cluster advertising
// nodeN:9092, whose real loopback listeners play the proxy's ports, and
// produces and consumes through the rules. With -bootstrap and -rules it
// checks a real cluster instead (read-only: metadata, then an ApiVersions
// request to every broker).
//
//	go run ./examples/scenario4-one-host-several-ports
//	go run ./examples/scenario4-one-host-several-ports -bootstrap proxy:7092 \
//	    -rules 'node1:9092 => proxy:7092; node2:9092 => proxy:8092; node3:9092 => proxy:9092'
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
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
		fmt.Fprintln(os.Stderr, "scenario4:", err)
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
	partner, err := kafkanattest.NewCluster(kafkanattest.Advertise("node1:9092", "node2:9092", "node3:9092"),
		kafkanattest.Topics(3, "payments"))
	if err != nil {
		return err
	}
	defer partner.Close()

	// The proxy host's ports, one per broker: here, the real listeners.
	proxy := partner.Addrs()
	var lines []string
	for i := range proxy {
		lines = append(lines, fmt.Sprintf("node%d:9092 => %s", i+1, proxy[i]))
	}
	rules = strings.Join(lines, "; ")
	fmt.Printf("Three brokers advertise node1:9092, node2:9092, node3:9092 behind one host.\nRules: %s\n", rules)
	// Not Strict: the bootstrap address, the proxy's first port, needs
	// no rule and is dialed as it is.
	dial := kafkanat.New(kafkanat.Rules(rules))

	// Bootstrap through the proxy's first port, as the test zone does.
	return roundTrip(proxy[0], "payments", 9, dial)
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

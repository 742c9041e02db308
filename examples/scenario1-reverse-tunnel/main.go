// Command scenario1-reverse-tunnel shows scenario 1: a broker inside an
// office network advertises kafka:9092, and a reverse tunnel (frp)
// exposes its port on a public tunnel server. Instead of an /etc/hosts
// entry on every client, one rule sends the name to the tunnel:
//
//	kafka:9092 => 109.109.109.109:9092
//
// With no flags it runs an embedded broker advertising kafka:9092 whose
// real listener plays the tunnel server, and produces and consumes through
// the rule. With -bootstrap and -rules it checks a real cluster instead
// (read-only: metadata, then an ApiVersions request to every broker):
//
//	go run ./examples/scenario1-reverse-tunnel
//	go run ./examples/scenario1-reverse-tunnel -bootstrap kafka:9092 -rules 'kafka:9092 => 109.109.109.109:9092'
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
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded broker)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	flag.Parse()
	if err := run(*bootstrap, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "scenario1:", err)
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
	office, err := kafkanattest.NewCluster(kafkanattest.Advertise("kafka:9092"), kafkanattest.Topics(1, "tasks"))
	if err != nil {
		return err
	}
	defer office.Close()
	tunnelServer := office.Addrs()[0] // where frp would expose the broker's port
	fmt.Printf("The office broker advertises kafka:9092; the tunnel server exposes it at %s.\n", tunnelServer)

	// The one line that replaces the /etc/hosts entry on every client.
	rules = "kafka:9092 => " + tunnelServer
	fmt.Printf("Rule: %s\n", rules)
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())

	// The client knows only the broker's name, as it would in the office.
	return roundTrip("kafka:9092", "tasks", 10, dial)
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
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "task %d", i)}).FirstErr(); err != nil {
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

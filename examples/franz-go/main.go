// Command franz-go shows how kafkanat plugs into franz-go: one option.
//
//	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(kafkanat.New(kafkanat.Rules(rules))))
//
// Every connection the client opens, to the seed and to every advertised
// broker, goes through the rules. kgo.Dialer and kgo.DialTLSConfig are
// exclusive: for TLS, give kafkanat the option kafkanat.TLS, which
// verifies the broker's ADVERTISED name whatever the rule rewrote the
// address to. franz-go's HookBrokerConnect sees each connection;
// kafkanat.InfoOf tells how it was made.
//
// Ping after NewClient, and wire a logger. franz-go treats a failed dial
// as retryable and keeps retrying it in silence: ProduceSync waits until
// its context (or the record's delivery timeout) ends, then reports the
// deadline, not the dial error, and kgo logs nothing unless given a
// logger. (sarama gives up after its few metadata retries, in under a
// second, with kafkanat's message.) cl.Ping asks the seed brokers for
// metadata and returns the dial error at once, naming the address, rule,
// target and route; the two loggers show every later failed dial, kgo's
// with the broker, kafkanat's with the rule:
//
//	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial),
//		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)))
//	if err := cl.Ping(ctx); err != nil { ... } // kafkanat: dial ... via ... (rule 1): ...
//
// With no flags it runs an embedded cluster whose brokers advertise hidden
// names, produces a record and reads it back. With -bootstrap, -rules and
// -topic it does the same against a real cluster (it writes one record to
// the topic).
//
//	go run ./examples/franz-go
//	go run ./examples/franz-go -bootstrap kafka.example.com:9092 -rules '*.kafka.internal => 203.0.113.10' -topic kafkanat-test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded cluster)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	topic := flag.String("topic", "", "with -bootstrap: the topic to write one record to and read it back")
	flag.Parse()
	if err := run(*bootstrap, *rules, *topic); err != nil {
		fmt.Fprintln(os.Stderr, "franz-go:", err)
		os.Exit(1)
	}
}

func run(bootstrap, rules, topic string) error {
	if bootstrap == "" {
		// The demo stays on this machine: names no rule matches fail
		// in-process instead of at a DNS server.
		net.DefaultResolver = kafkanattest.OfflineResolver()
		topic = "greetings"
		c, err := kafkanattest.NewCluster(kafkanattest.Topics(1, topic))
		if err != nil {
			return err
		}
		defer c.Close()
		bootstrap, rules = c.Advertised()[0], c.Rules()
	} else if topic == "" {
		return errors.New("-bootstrap needs -topic")
	}
	fmt.Printf("Rules:\n%s\n", rules)

	// The whole integration is the kgo.Dialer option. The loggers say
	// why a dial fails while franz-go retries it in silence: kgo's names
	// the broker, kafkanat's the rule, target and route.
	warn := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.Dialer(kafkanat.New(kafkanat.Rules(rules), kafkanat.Logger(warn))),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)),
		kgo.WithHooks(printConnections{new(sync.Map)}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	producer, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return err
	}
	defer producer.Close()
	// A dial that fails would make ProduceSync wait, silent, for ctx:
	// Ping fails at once with kafkanat's message instead.
	if err := producer.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	fmt.Println("ping: the seed broker answered")
	value := fmt.Sprintf("hello through kafkanat at %s", time.Now().Format(time.RFC3339Nano))
	r, err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).First()
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	fmt.Printf("produced to %s partition %d offset %d\n", r.Topic, r.Partition, r.Offset)

	consumer, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {r.Partition: kgo.NewOffset().At(r.Offset)},
	}))...)
	if err != nil {
		return err
	}
	defer consumer.Close()
	fs := consumer.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	got := string(fs.Records()[0].Value)
	if got != value {
		return fmt.Errorf("consumed %q, want %q", got, value)
	}
	fmt.Printf("consumed it back: %q\n", got)
	return nil
}

// printConnections prints how each broker connection was made, once per
// distinct way (franz-go opens several connections per broker).
type printConnections struct{ seen *sync.Map }

func (p printConnections) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, conn net.Conn, err error) {
	line := fmt.Sprintf("  connect %s: %v", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), err)
	if info, ok := kafkanat.InfoOf(conn); ok && err == nil {
		line = "  connected " + info.String()
	}
	if _, dup := p.seen.LoadOrStore(line, true); !dup {
		fmt.Println(line)
	}
}

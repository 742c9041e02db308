// Command kafka-go shows how kafkanat plugs into segmentio/kafka-go: as the
// Dial of a Writer's Transport and the DialFunc of a Reader's Dialer.
//
//	w := &kafka.Writer{Addr: kafka.TCP(seed), Topic: topic, Transport: &kafka.Transport{Dial: dial}}
//	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{seed}, Dialer: &kafka.Dialer{DialFunc: dial}, ...})
//
// kafka-go calls the function with the address it wants, the seed or a
// broker's advertised host:port, and needs nothing of the connection but
// net.Conn. Build the Writer as a value: the deprecated kafka.NewWriter
// (WriterConfig) ignores Dialer.DialFunc and would dial directly. Do not use
// kafka-go's Resolver for this: it cannot change ports, and the TLS name
// becomes the resolved address.
//
// It runs an embedded cluster whose brokers advertise hidden names, writes
// records with a Writer and reads them back with a consumer group Reader.
//
//	go run ./examples/kafka-go
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const (
	topic = "kafka-go-demo"
	n     = 9
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-go:", err)
		os.Exit(1)
	}
}

func run() error {
	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	cluster, err := kafkanattest.NewCluster(kafkanattest.Topics(3, topic))
	if err != nil {
		return err
	}
	defer cluster.Close()
	rules := cluster.Rules()
	fmt.Printf("An embedded cluster whose brokers advertise hidden names. Rules:\n%s\n", rules)

	// The whole integration: one DialFunc for the Writer and the Reader.
	// (trace, below, only prints each connection as it goes by; dial plugs
	// in as it is.)
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	seed := cluster.Advertised()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	fmt.Println("1. A kafka.Writer with Transport{Dial: dial}:")
	transport := &kafka.Transport{Dial: trace(dial)}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(seed), Topic: topic, Balancer: &kafka.RoundRobin{}, Transport: transport}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: fmt.Appendf(nil, "record %d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return errors.Join(fmt.Errorf("write: %w", err), w.Close())
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Printf("   wrote %d messages to %s\n", n, topic)

	fmt.Println("2. A consumer group kafka.Reader with Dialer{DialFunc: dial}:")
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{seed},
		GroupID:     "kafka-go-demo",
		Topic:       topic,
		Dialer:      &kafka.Dialer{DialFunc: trace(dial), Timeout: 10 * time.Second},
		StartOffset: kafka.FirstOffset,
		MaxWait:     100 * time.Millisecond,
	})
	for got := 0; got < n; got++ {
		if _, err := r.FetchMessage(ctx); err != nil {
			return errors.Join(fmt.Errorf("read: got %d of %d messages: %w", got, n, err), r.Close())
		}
	}
	fmt.Printf("   read %d messages back\n", n)
	return r.Close()
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

// Command quickstart shows kafkanat on an embedded cluster whose brokers
// advertise addresses no client can reach (b0.kafka.internal.invalid:9092,
// ...). A plain franz-go client fails; the same client with kafkanat
// produces and consumes, first through mapping rules, then through a
// SOCKS5 gateway that resolves the hidden names.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

var topics = []string{"quickstart-rules", "quickstart-socks5"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	// The demo stays on this machine: unknown names fail in-process
	// instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	cluster, err := kafkanattest.NewCluster(kafkanattest.Topics(3, topics...))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Println("An embedded cluster whose brokers advertise hidden addresses:")
	for i, adv := range cluster.Advertised() {
		fmt.Printf("  broker %d advertises %-32s listens on %s\n", i, adv, cluster.Addrs()[i])
	}

	// 1. A plain client reaches the bootstrap broker at its real address,
	// learns the advertised ones from metadata, and cannot dial them.
	fmt.Println("\n1. A plain client, seeded with the real bootstrap address:")
	start := time.Now()
	var (
		plain  net.Dialer
		mu     sync.Mutex
		failed = map[string]bool{}
	)
	plainDial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := plain.DialContext(ctx, network, address)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !failed[address] {
			failed[address] = true
			fmt.Printf("   %v\n", err)
		}
		return c, err
	}
	if err := produce(cluster.Addrs()[0], plainDial, topics[0], 1); err == nil {
		return fmt.Errorf("the plain client reached hidden brokers; the demo is broken")
	} else {
		fmt.Printf("   and gives up after %v: %v\n", time.Since(start).Round(100*time.Millisecond), err)
	}

	// 2. The same client with kafkanat and the cluster's mapping rules.
	rules := cluster.Rules()
	fmt.Printf("\n2. With kafkanat.New(kafkanat.Rules(...)), rules:\n%s", indent(rules))
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	if err := roundTrip(cluster.Advertised()[0], dial, topics[0]); err != nil {
		return err
	}

	// 3. Through a SOCKS5 gateway inside the brokers' network: the names
	// travel to the gateway unresolved and the gateway resolves them.
	gateway, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(cluster.DialAdvertised))
	if err != nil {
		return err
	}
	defer gateway.Close()
	rules = "*.kafka.internal.invalid via " + gateway.URL()
	fmt.Printf("\n3. Through a SOCKS5 gateway that resolves the hidden names, rules:\n%s", indent(rules))
	if err := roundTrip(cluster.Advertised()[0], kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict()), topics[1]); err != nil {
		return err
	}
	fmt.Printf("   the gateway was asked for: %v\n", gateway.Targets())
	return nil
}

// roundTrip produces and consumes through dial, printing how each
// connection was made (kafkanat.InfoOf), once per distinct way: franz-go
// opens separate connections for metadata, produce and fetch.
func roundTrip(seed string, dial kafkanat.DialFunc, topic string) error {
	var seen sync.Map
	show := kafkanat.DialFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		line := fmt.Sprintf("   dial %s failed: %v", address, err)
		if info, ok := kafkanat.InfoOf(c); ok {
			line = "   dial " + info.String()
		}
		if _, dup := seen.LoadOrStore(line, true); !dup {
			fmt.Println(line)
		}
		return c, err
	})
	const n = 9
	if err := produce(seed, show, topic, n); err != nil {
		return fmt.Errorf("produce through kafkanat: %w", err)
	}
	fmt.Printf("   produced %d records\n", n)
	got, err := consume(seed, show, topic, n)
	if err != nil {
		return fmt.Errorf("consume through kafkanat: %w", err)
	}
	fmt.Printf("   consumed %d records\n", got)
	return nil
}

func produce(seed string, dial kafkanat.DialFunc, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(2*time.Second), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}
	}
	return cl.ProduceSync(ctx, rs...).FirstErr()
}

func consume(seed string, dial kafkanat.DialFunc, topic string, n int) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, fmt.Errorf("got %d of %d records: %w", got, n, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return got, errs[0].Err
		}
		got += fs.NumRecords()
	}
	return got, nil
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(strings.TrimSpace(s)) {
		b.WriteString("     ")
		b.WriteString(strings.TrimSpace(line))
		b.WriteString("\n")
	}
	return b.String()
}

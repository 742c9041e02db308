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
// checks a real cluster instead (read-only).
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

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/exampleutil"
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
	ctx := context.Background()
	if bootstrap != "" {
		dial := kafkanat.New(kafkanat.Rules(rules))
		fmt.Printf("Checking %s with rules:\n%s\n", bootstrap, rules)
		return exampleutil.Check(ctx, kgo.SeedBrokers(bootstrap), kgo.Dialer(exampleutil.Trace(dial)))
	}

	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	partner, err := kafkanattest.NewCluster(kafkanattest.Advertise("node1:9092", "node2:9092", "node3:9092"),
		kafkanattest.KfakeOptions(kfake.SeedTopics(3, "payments")))
	if err != nil {
		return err
	}
	defer partner.Close()
	if err := exampleutil.SpreadLeaders(partner, 3, "payments"); err != nil {
		return err
	}

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
	return exampleutil.RoundTrip(ctx, "payments", 9, kgo.SeedBrokers(proxy[0]), kgo.Dialer(exampleutil.Trace(dial)))
}

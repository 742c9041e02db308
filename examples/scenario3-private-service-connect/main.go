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
// cluster instead (read-only).
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
		fmt.Fprintln(os.Stderr, "scenario3:", err)
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
	return exampleutil.RoundTrip(ctx, "orders", 9, kgo.SeedBrokers(psc.Advertised()[0]), kgo.Dialer(exampleutil.Trace(dial)))
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
		c, err := kafkanattest.NewCluster(kafkanattest.Advertise(adv...),
			kafkanattest.KfakeOptions(kfake.Ports(ports...), kfake.SeedTopics(3, "orders")))
		if err != nil {
			lastErr = err
			continue
		}
		if err := exampleutil.SpreadLeaders(c, 3, "orders"); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("no free loopback ports: %w", lastErr)
}

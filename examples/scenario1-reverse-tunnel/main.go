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
// (read-only):
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

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/exampleutil"
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
	ctx := context.Background()
	if bootstrap != "" {
		dial := kafkanat.New(kafkanat.Rules(rules))
		fmt.Printf("Checking %s with rules:\n%s\n", bootstrap, rules)
		return exampleutil.Check(ctx, kgo.SeedBrokers(bootstrap), kgo.Dialer(exampleutil.Trace(dial)))
	}

	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	office, err := kafkanattest.NewCluster(kafkanattest.Advertise("kafka:9092"),
		kafkanattest.KfakeOptions(kfake.SeedTopics(1, "tasks")))
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
	return exampleutil.RoundTrip(ctx, "tasks", 10, kgo.SeedBrokers("kafka:9092"), kgo.Dialer(exampleutil.Trace(dial)))
}

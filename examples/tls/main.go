// Command tls shows kafkanat's TLS option: TLS over whatever route a rule
// chose, verifying each broker against its ADVERTISED name, which is also
// sent as SNI, not against the address the rule rewrote it to.
//
//	kgo.Dialer(kafkanat.New(kafkanat.Rules(rules), kafkanat.TLS(&tls.Config{RootCAs: roots})))
//
// With franz-go, use it instead of kgo.DialTLSConfig (the two are
// exclusive). sarama and kafka-go run TLS themselves after the dial, with
// the advertised name: configure TLS in those clients and not in kafkanat
// (see examples/sarama).
//
// It runs an embedded cluster whose brokers advertise hidden names and
// present a certificate for those names only, while the rules send every
// connection to a loopback address the certificate does not name. It
// produces and consumes through kafkanat.TLS, then shows that verifying
// the address actually dialed fails.
//
//	go run ./examples/tls
package main

import (
	"context"
	"crypto/tls"
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

const topic = "tls-demo"

var advertised = []string{
	"b0.kafka.internal.invalid:9092",
	"b1.kafka.internal.invalid:9092",
	"b2.kafka.internal.invalid:9092",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tls:", err)
		os.Exit(1)
	}
}

func run() error {
	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	// A private CA and a broker certificate naming only the hidden hosts.
	ca, err := kafkanattest.NewCA()
	if err != nil {
		return err
	}
	var hosts []string
	for _, a := range advertised {
		host, _, _ := net.SplitHostPort(a)
		hosts = append(hosts, host)
	}
	cert, err := ca.Issue(hosts...)
	if err != nil {
		return err
	}
	cluster, err := kafkanattest.NewCluster(kafkanattest.Advertise(advertised...), kafkanattest.Topics(3, topic),
		kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Printf("An embedded TLS cluster; its certificate names only %s.\n", strings.Join(hosts, ", "))
	rules := cluster.Rules()
	fmt.Printf("Rules:\n%s\n", rules)

	// The whole integration: kafkanat runs TLS after the rule's route
	// connects. ServerName stays empty: kafkanat sets it to the advertised
	// host of each connection.
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict(),
		kafkanat.TLS(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}))
	if err := roundTrip(advertised[0], 9, traceTLS(dial)); err != nil {
		return err
	}

	// What kafkanat.TLS avoids: verifying the broker against the address
	// the connection really goes to fails, because no certificate names it.
	target := cluster.Addrs()[0]
	c, err := (&tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool()}}).DialContext(context.Background(), "tcp", target)
	if err == nil {
		c.Close()
		return fmt.Errorf("the certificate verified for %s; the demo is broken", target)
	}
	fmt.Printf("For comparison, TLS verifying %s itself: %v\n", target, err)
	return nil
}

// roundTrip produces n records to the topic through dial, one to each
// partition in turn, and consumes them back: the client dials every broker.
func roundTrip(seed string, n int, dial kafkanat.DialFunc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial),
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

// traceTLS wraps dial and prints, once per distinct line, how each
// connection was made and which name its TLS handshake sent and verified.
func traceTLS(dial kafkanat.DialFunc) kafkanat.DialFunc {
	var seen sync.Map
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		line := fmt.Sprintf("   dial %s failed: %v", address, err)
		if err == nil {
			info, _ := kafkanat.InfoOf(c)
			state := c.(*tls.Conn).ConnectionState()
			line = fmt.Sprintf("   dial %s: %s, SNI and verified name %s", info,
				tls.VersionName(state.Version), state.ServerName)
		}
		if _, dup := seen.LoadOrStore(line, true); !dup {
			fmt.Println(line)
		}
		return c, err
	}
}

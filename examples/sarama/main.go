// Command sarama shows how kafkanat plugs into sarama: as its proxy
// dialer.
//
//	cfg.Net.Proxy.Enable = true
//	cfg.Net.Proxy.Dialer = kafkanat.New(kafkanat.Rules(rules))
//
// sarama calls Dial("tcp", addr) without a context and does not apply
// Net.DialTimeout to a proxy dialer; kafkanat's DialTimeout (10s by
// default) bounds those dials. sarama does TLS itself AFTER the dial
// (Net.TLS), over the connection kafkanat made, and verifies the address
// it dialed, the ADVERTISED name, which is what the broker's certificate
// holds. So with sarama, configure TLS in sarama and not with
// kafkanat.TLS (that would be TLS twice).
//
// With no flags it runs an embedded TLS cluster whose brokers advertise
// hidden names and whose certificate names only those, produces a record
// with sarama over TLS through the rules, and reads it back. With
// -bootstrap, -rules and -topic it does the same against a real cluster (it
// writes one record to the topic); -tls turns on TLS with the system's
// roots.
//
//	go run ./examples/sarama
//	go run ./examples/sarama -bootstrap kafka.example.com:9093 -tls -rules '*.kafka.internal => 203.0.113.10' -topic kafkanat-test
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded cluster)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	topic := flag.String("topic", "", "with -bootstrap: the topic to write one record to and read it back")
	useTLS := flag.Bool("tls", false, "with -bootstrap: TLS to the brokers, verified with the system's roots")
	flag.Parse()
	if err := run(*bootstrap, *rules, *topic, *useTLS); err != nil {
		fmt.Fprintln(os.Stderr, "sarama:", err)
		os.Exit(1)
	}
}

func run(bootstrap, rules, topic string, useTLS bool) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	if useTLS {
		cfg.Net.TLS.Enable = true
	}

	if bootstrap == "" {
		// The demo stays on this machine: names no rule matches fail
		// in-process instead of at a DNS server.
		net.DefaultResolver = kafkanattest.OfflineResolver()
		c, roots, err := tlsCluster()
		if err != nil {
			return err
		}
		defer c.Close()
		bootstrap, rules, topic = c.Advertised()[0], c.Rules(), "greetings"
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		fmt.Println("An embedded TLS cluster; its certificate names only the advertised hosts.")
	} else if topic == "" {
		return errors.New("-bootstrap needs -topic")
	}
	fmt.Printf("Rules:\n%s\n", rules)

	// The whole integration: kafkanat as sarama's proxy dialer. (trace,
	// below, only prints each connection as it goes by; kafkanat.New's
	// result plugs in as it is.)
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = trace(kafkanat.New(kafkanat.Rules(rules)))

	producer, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	value := fmt.Sprintf("hello through kafkanat at %s", time.Now().Format(time.RFC3339Nano))
	partition, offset, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(value)})
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	fmt.Printf("produced to %s partition %d offset %d\n", topic, partition, offset)

	consumer, err := sarama.NewConsumer([]string{bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != value {
			return fmt.Errorf("consumed %q, want %q", m.Value, value)
		}
		fmt.Printf("consumed it back over TLS=%v: %q\n", cfg.Net.TLS.Enable, m.Value)
	case err := <-pc.Errors():
		return fmt.Errorf("consume: %w", err)
	case <-time.After(30 * time.Second):
		return errors.New("consume: no record within 30s")
	}
	return nil
}

// tlsCluster starts a cluster whose brokers serve TLS with a certificate
// for their advertised names only, and returns the roots that verify it.
func tlsCluster() (*kafkanattest.Cluster, *x509.CertPool, error) {
	ca, err := kafkanattest.NewCA()
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.Issue("b0.kafka.internal.invalid", "b1.kafka.internal.invalid", "b2.kafka.internal.invalid")
	if err != nil {
		return nil, nil, err
	}
	c, err := kafkanattest.NewCluster(kafkanattest.Topics(1, "greetings"),
		kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, nil, err
	}
	// Broker 2 leads the topic, so that the client, seeded with broker 0,
	// dials an address it learned from metadata.
	if err := c.MoveLeader("greetings", 0, 2); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, ca.Pool(), nil
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

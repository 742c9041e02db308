// Command ssh-bastion reaches hidden brokers through an SSH bastion: one SSH
// connection carries every broker connection, the bastion resolves the
// brokers' names, and the bastion's host key is checked against a
// known_hosts file. With no arguments it runs against an embedded cluster
// and an in-process SSH server standing in for the bastion.
//
//	go run ./examples/ssh-bastion
//
// Against a real bastion the rule reads, for example:
//
//	*.kafka.internal via ssh://kafka@bastion.example.com:22?key=~/.ssh/id_ed25519
package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const topic = "bastion-demo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ssh-bastion:", err)
		os.Exit(1)
	}
}

func run() error {
	// The demo stays on this machine: unknown names fail in-process
	// instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	cluster, err := kafkanattest.NewCluster(kafkanattest.Topics(3, topic))
	if err != nil {
		return err
	}
	defer cluster.Close()

	// The bastion: key authentication for user "kafka"; it reaches the
	// brokers by their advertised names, as a host inside their network does.
	signer, keyPEM, err := kafkanattest.NewSSHKey()
	if err != nil {
		return err
	}
	bastion, err := kafkanattest.NewSSHServer(
		kafkanattest.WithSSHAuthorizedKey("kafka", signer.PublicKey()),
		kafkanattest.WithSSHDialer(cluster.DialAdvertised))
	if err != nil {
		return err
	}
	defer bastion.Close()

	// The client side: a private key and a known_hosts file, as ~/.ssh holds.
	dir, err := os.MkdirTemp("", "kafkanat-ssh-bastion")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyFile, knownHosts := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(knownHosts, []byte(bastion.KnownHosts()+"\n"), 0o600); err != nil {
		return err
	}
	route := url.URL{Scheme: "ssh", User: url.User("kafka"), Host: bastion.Addr(),
		RawQuery: url.Values{"key": {keyFile}, "known_hosts": {knownHosts}}.Encode()}
	rules := "*.kafka.internal.invalid via " + route.String()
	fmt.Printf("rules: %s\n", rules)

	d, err := kafkanat.NewDialer(kafkanat.Rules(rules), kafkanat.Strict())
	if err != nil {
		return err
	}
	defer d.Close() // closes the SSH connection

	// Print how each broker was reached, once per broker (franz-go opens
	// several connections to each).
	var seen sync.Map
	show := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, address)
		if info, ok := kafkanat.InfoOf(c); ok {
			if _, dup := seen.LoadOrStore(address, true); !dup {
				fmt.Printf("  dial %s via %s (rule %d)\n", info.Address, info.Route, info.Rule)
			}
		}
		return c, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Advertised()[0]), kgo.Dialer(show),
		kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const n = 9
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}).FirstErr(); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consumed %d of %d records: %w", got, n, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return errs[0].Err
		}
		got += fs.NumRecords()
	}
	fmt.Printf("produced and consumed %d records through the bastion\n", n)
	fmt.Printf("SSH connections to the bastion: %d, carrying %d broker connections\n",
		bastion.Connections(), len(bastion.Targets()))
	return nil
}

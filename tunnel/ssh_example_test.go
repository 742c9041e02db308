package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/tunnel"
)

// A bastion reaches a broker whose name only it can resolve; the route
// sends the name unresolved, over an SSH connection whose host key is
// checked against known_hosts.
func ExampleNewSSH() {
	// The bastion: every target it is asked for answers with a greeting.
	bastion, err := testkit.NewSSHServer(
		testkit.WithSSHPassword("alice", "s3cret"),
		testkit.WithSSHDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
			client, broker := net.Pipe()
			go func() {
				io.WriteString(broker, "hello from "+address)
				broker.Close()
			}()
			return client, nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer bastion.Close()

	dir, err := os.MkdirTemp("", "kafkanat-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(bastion.KnownHosts()+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	u := &url.URL{Scheme: "ssh", User: url.UserPassword("alice", "s3cret"), Host: bastion.Addr(),
		RawQuery: "known_hosts=" + knownHosts}
	d, err := tunnel.NewSSH(u, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	conn, err := d.DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	greeting, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(greeting))

	// A bastion known_hosts does not list is refused before any password
	// is sent.
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		log.Fatal(err)
	}
	other, err := tunnel.NewSSH(u, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	_, err = other.DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
	var ke *knownhosts.KeyError
	fmt.Println(errors.As(err, &ke) && len(ke.Want) == 0)
	// Output:
	// hello from b1.kafka.internal.invalid:9092
	// true
}

package socks_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/socks"
)

// A broker advertises a name that resolves only behind the proxy: the
// Dialer hands the name to the proxy, which resolves it on its side.
func ExampleNew() {
	// A stand-in for the broker, and a proxy that knows its hidden name.
	broker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	go func() {
		c, err := broker.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	gateway, err := testkit.NewSOCKS5Server(
		testkit.WithCredentials("alice", "s3cret"),
		testkit.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, broker.Addr().String())
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer gateway.Close()

	u, err := url.Parse(gateway.URL()) // socks5://alice:s3cret@127.0.0.1:PORT
	if err != nil {
		log.Fatal(err)
	}
	d, err := socks.New(u, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := d.DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("echo: %s\n", buf)
	fmt.Println("the proxy was asked for", gateway.Targets())
	// Output:
	// echo: hello
	// the proxy was asked for [b1.kafka.internal.invalid:9092]
}

package socks_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/socks"
)

// BenchmarkDial reports a dial and close through an in-process SOCKS5
// server to a loopback listener that closes every conn it accepts: with
// golang.org/x/net/proxy used by hand (what a program does without
// kafkanat) and with socks.Dialer, which is built on it and adds error
// reporting and the raw conn's CloseWrite. Both bound each dial with a 10s
// timeout, as a Kafka client does. Allocations are counted process-wide,
// so the server's appear in both variants.
func BenchmarkDial(b *testing.B) {
	target := testnet.Sink(b)
	srv, err := testkit.NewSOCKS5Server()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })

	xd, err := proxy.SOCKS5("tcp", srv.Addr(), nil, &net.Dialer{})
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	sd, err := socks.New(u, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		d    proxy.ContextDialer
	}{{"x-net-proxy", xd.(proxy.ContextDialer)}, {"socks.Dialer", sd}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := v.d.DialContext(ctx, "tcp", target)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

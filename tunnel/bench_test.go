package tunnel_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/tunnel"
)

// BenchmarkDial reports a dial and close through an in-process HTTP
// CONNECT proxy to a loopback listener that closes every conn it accepts:
// with a minimal CONNECT client written by hand (dial, write the request,
// read the reply with net/http) and with tunnel.HTTPDialer, which also
// watches the context, bounds the reply and keeps bytes sent after it.
// Both bound each dial with a 10s timeout, as a Kafka client does.
// Allocations are counted process-wide, so the proxy's appear in both.
func BenchmarkDial(b *testing.B) {
	target := testnet.Sink(b)
	p, err := testkit.NewHTTPProxy()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	u, err := url.Parse(p.URL())
	if err != nil {
		b.Fatal(err)
	}
	hd, err := tunnel.NewHTTP(u, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		d    proxy.ContextDialer
	}{{"by-hand", byHand{proxy: p.Addr()}}, {"tunnel.HTTPDialer", hd}} {
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

// byHand opens a CONNECT tunnel as a program without kafkanat would.
type byHand struct{ proxy string }

func (h byHand) DialContext(ctx context.Context, _, target string) (net.Conn, error) {
	return testnet.ConnectByHand(ctx, h.proxy, target)
}

package tunnel_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/kafkanattest"
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
	target := benchSink(b)
	p, err := kafkanattest.NewHTTPProxy()
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

func (h byHand) DialContext(ctx context.Context, network, target string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, h.proxy)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// benchSink is a loopback listener that closes every conn it accepts.
func benchSink(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

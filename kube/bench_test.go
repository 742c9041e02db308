package kube_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

// benchConns runs fn with a connection to an echo server: direct, and
// through the test API server's port-forward over SPDY and WebSocket, as
// sub-benchmarks, so that -count interleaves them.
//
//	go test -run '^$' -bench 'RoundTrip|Throughput' -count 5 ./kube
func benchConns(b *testing.B, fn func(b *testing.B, c net.Conn)) {
	echo := newEcho(b)
	s := newServer(b)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: echo.dial})
	b.Run("direct", func(b *testing.B) {
		c, err := echo.dial(context.Background(), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		fn(b, c)
	})
	for _, proto := range protocols {
		b.Run(proto.String(), func(b *testing.B) {
			d := newDialer(b, s, kube.WithProtocol(proto))
			c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:1")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			fn(b, c)
		})
	}
}

// BenchmarkRoundTrip measures a 64-byte echo round trip: a Kafka request's
// latency added by the route.
func BenchmarkRoundTrip(b *testing.B) {
	benchConns(b, func(b *testing.B, c net.Conn) {
		msg := make([]byte, 64)
		for b.Loop() {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkThroughput measures 256 KiB echoed in 16 KiB writes, the bytes
// counted once.
func BenchmarkThroughput(b *testing.B) {
	benchConns(b, func(b *testing.B, c net.Conn) {
		const total, chunk = 256 << 10, 16 << 10
		b.SetBytes(total)
		buf := make([]byte, chunk)
		for b.Loop() {
			done := make(chan error, 1)
			go func() {
				_, err := io.ReadFull(c, make([]byte, total))
				done <- err
			}()
			for sent := 0; sent < total; sent += chunk {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
}

package dialer_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/rewrite"
)

// benchTimeout is the dial timeout every variant uses, kafkanat and the
// baselines alike: a Kafka client always dials with one (franz-go's default
// dialer is a net.Dialer with a Timeout), and a timeout costs a context and
// a timer per dial.
const benchTimeout = 10 * time.Second

// hiddenAddr is the advertised address the benchmarks' rules map.
const hiddenAddr = "b0.kafka.internal.invalid:9092"

// benchDialer returns a Dialer for the rule text.
func benchDialer(tb testing.TB, text string) *dialer.Dialer {
	tb.Helper()
	rs, err := rewrite.Parse("rules", text)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := dialer.New(dialer.Config{Rules: rs, DialTimeout: benchTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// dialFunc is a way to open a connection to a fixed place.
type dialFunc func(ctx context.Context) (net.Conn, error)

// timeoutDial bounds one dial of f by benchTimeout, as the Dialer bounds
// each route attempt.
func timeoutDial(f func(ctx context.Context) (net.Conn, error)) dialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, benchTimeout)
		defer cancel()
		return f(ctx)
	}
}

// routeCase is one route measured two ways: by hand with the library a
// program would use without kafkanat, and through a kafkanat Dialer whose
// rule maps a hidden name onto the same place over the same route.
type routeCase struct {
	name     string
	baseline string // what the by-hand variant uses
	byHand   dialFunc
	kafkanat dialFunc
}

// routeCases builds the direct, SOCKS5 and HTTP CONNECT cases towards
// target (a loopback listener), with in-process proxies from kafkanattest
// that are closed at cleanup.
func routeCases(tb testing.TB, target string) []routeCase {
	tb.Helper()
	netDialer := &net.Dialer{Timeout: benchTimeout}

	socksSrv, err := testkit.NewSOCKS5Server()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { socksSrv.Close() })
	xnet, err := proxy.SOCKS5("tcp", socksSrv.Addr(), nil, &net.Dialer{})
	if err != nil {
		tb.Fatal(err)
	}
	xnetCtx := xnet.(proxy.ContextDialer)

	httpSrv, err := testkit.NewHTTPProxy()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { httpSrv.Close() })

	kafkanat := func(rule string) dialFunc {
		d := benchDialer(tb, rule)
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", hiddenAddr) }
	}
	return []routeCase{{
		name:     "direct",
		baseline: "net.Dialer",
		byHand:   func(ctx context.Context) (net.Conn, error) { return netDialer.DialContext(ctx, "tcp", target) },
		kafkanat: kafkanat(hiddenAddr + " => " + target),
	}, {
		name:     "socks5",
		baseline: "x-net-proxy",
		byHand: timeoutDial(func(ctx context.Context) (net.Conn, error) {
			return xnetCtx.DialContext(ctx, "tcp", target)
		}),
		kafkanat: kafkanat(hiddenAddr + " => " + target + " via " + socksSrv.URL()),
	}, {
		name:     "connect",
		baseline: "by-hand",
		byHand: timeoutDial(func(ctx context.Context) (net.Conn, error) {
			return testnet.ConnectByHand(ctx, httpSrv.Addr(), target)
		}),
		kafkanat: kafkanat(hiddenAddr + " => " + target + " via " + httpSrv.URL()),
	}}
}

// BenchmarkDial reports a dial and close over each route, by hand (the
// baseline) and through kafkanat with a rule mapping a hidden name onto the
// same loopback listener, which closes every conn it accepts. The
// difference between the two variants of a route is what kafkanat costs per
// dial: allocations are counted process-wide, so the listener's and the
// in-process proxy's allocations appear in both.
func BenchmarkDial(b *testing.B) {
	target := testnet.Sink(b)
	ctx := context.Background()
	for _, rc := range routeCases(b, target) {
		for _, v := range []struct {
			name string
			dial dialFunc
		}{{rc.baseline, rc.byHand}, {"kafkanat", rc.kafkanat}} {
			b.Run(rc.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c, err := v.dial(ctx)
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
				}
			})
		}
	}
}

// BenchmarkDecide reports the part of a kafkanat dial that is not the
// route's: rule matching, building the Conn and closing it, with a named
// route that returns a conn without any system call.
func BenchmarkDecide(b *testing.B) {
	rs, err := rewrite.Parse("rules", hiddenAddr+" => 127.0.0.1:9092 via mem")
	if err != nil {
		b.Fatal(err)
	}
	d, err := dialer.New(dialer.Config{Rules: rs, Routes: map[string]proxy.ContextDialer{"mem": nopRoute{}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.DialContext(ctx, "tcp", hiddenAddr)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// nopRoute is a route that connects at once to nothing: its conn reads
// and writes succeed without a system call.
type nopRoute struct{}

func (nopRoute) DialContext(context.Context, string, string) (net.Conn, error) { return nopConn{}, nil }

type nopConn struct{ net.Conn }

func (nopConn) Read(p []byte) (int, error)  { return len(p), nil }
func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
func (nopConn) Close() error                { return nil }

// BenchmarkConnOverhead isolates the cost of the *dialer.Conn wrapper on
// every Read and Write: the conn underneath does no I/O, so the difference
// between raw and wrapped is the wrapper's work alone (an indirect call and
// its byte counters). The parallel variants give every goroutine its own
// conn over the same route, as a client with one conn per broker has, so
// they also show what counters shared by a route's conns cost when cores
// contend for them.
func BenchmarkConnOverhead(b *testing.B) {
	rs, err := rewrite.Parse("rules", hiddenAddr+" => 127.0.0.1:9092 via mem")
	if err != nil {
		b.Fatal(err)
	}
	d, err := dialer.New(dialer.Config{Rules: rs, Routes: map[string]proxy.ContextDialer{"mem": nopRoute{}}})
	if err != nil {
		b.Fatal(err)
	}
	open := func(wrapped bool) net.Conn {
		if !wrapped {
			return nopConn{}
		}
		c, err := d.Dial("tcp", hiddenAddr)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := c.(*dialer.Conn); !ok {
			b.Fatalf("Dial returned %T, want *dialer.Conn", c)
		}
		return c
	}
	for _, parallel := range []bool{false, true} {
		for _, wrapped := range []bool{false, true} {
			name := map[bool]string{false: "raw", true: "wrapped"}[wrapped]
			if parallel {
				name = "parallel/" + name
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				if !parallel {
					c := open(wrapped)
					buf := make([]byte, 1024)
					for b.Loop() {
						c.Write(buf)
						c.Read(buf)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					c := open(wrapped)
					buf := make([]byte, 1024)
					for pb.Next() {
						c.Write(buf)
						c.Read(buf)
					}
				})
			})
		}
	}
}

// BenchmarkConn reports Read and Write loops over a loopback TCP pair, on
// the *net.TCPConn itself (raw) and on the *dialer.Conn a kafkanat dial
// returned for a conn to the same listener (wrapped). For Write the peer
// discards everything; for Read it writes as fast as it can.
func BenchmarkConn(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, op := range []string{"Write", "Read"} {
			for _, kind := range []string{"raw", "wrapped"} {
				b.Run(fmt.Sprintf("%s/%dKiB/%s", op, size>>10, kind), func(b *testing.B) {
					c := connPair(b, op, size, kind == "wrapped")
					buf := make([]byte, size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						var err error
						if op == "Write" {
							_, err = c.Write(buf)
						} else {
							_, err = io.ReadFull(c, buf)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// connPair returns the client end of a loopback TCP conn whose server end
// discards what it reads (op "Write") or writes size-byte buffers until the
// conn closes (op "Read"). wrapped makes the client end a *dialer.Conn from
// a kafkanat dial; otherwise it is the *net.TCPConn of a net.Dialer.
func connPair(b *testing.B, op string, size int, wrapped bool) net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		s, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer s.Close()
		if op == "Write" {
			io.Copy(io.Discard, s)
			return
		}
		buf := make([]byte, size)
		for {
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	var c net.Conn
	if wrapped {
		c, err = benchDialer(b, hiddenAddr+" => "+ln.Addr().String()).Dial("tcp", hiddenAddr)
		if _, ok := c.(*dialer.Conn); err == nil && !ok {
			err = fmt.Errorf("kafkanat dial returned %T, want *dialer.Conn", c)
		}
	} else {
		c, err = (&net.Dialer{Timeout: benchTimeout}).Dial("tcp", ln.Addr().String())
	}
	if err != nil {
		ln.Close()
		<-served
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close()
		<-served
	})
	return c
}

// BenchmarkDialPaired measures the same pairs as BenchmarkDial, but
// alternates the two variants of a route within one benchmark, one dial
// each per iteration (their order swapped every iteration), and times each
// dial. On a busy machine, two benchmarks run one after the other see
// different loads; pairs see the same. It reports both variants' ns per
// dial and their ratio (kafkanat / by hand).
func BenchmarkDialPaired(b *testing.B) {
	target := testnet.Sink(b)
	ctx := context.Background()
	for _, rc := range routeCases(b, target) {
		b.Run(rc.name, func(b *testing.B) {
			var spent [2]time.Duration
			dials := [2]dialFunc{rc.byHand, rc.kafkanat}
			i := 0
			for b.Loop() {
				for j := range 2 {
					v := (i + j) % 2
					start := time.Now()
					c, err := dials[v](ctx)
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
					spent[v] += time.Since(start)
				}
				i++
			}
			reportPair(b, rc.baseline, "kafkanat", spent, i)
		})
	}
}

// reportPair reports the ns per operation of two variants measured n
// times each, and the ratio of the second to the first.
func reportPair(b *testing.B, first, second string, spent [2]time.Duration, n int) {
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(n), first+"-ns/op")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(n), second+"-ns/op")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
}

// connBlock is how many Reads or Writes BenchmarkConnPaired times at once.
const connBlock = 32

// BenchmarkConnPaired measures the loops of BenchmarkConn on one TCP
// connection used both ways: through the *dialer.Conn a kafkanat dial
// returned (wrapped) and through the *net.TCPConn inside it (raw). Each
// iteration runs a block of connBlock operations each way (the order
// swapped every iteration) and times each block. One socket for both keeps
// what differs between two sockets (their buffers grow on their own) out
// of the ratio. It reports both ways' ns per operation and their ratio
// (wrapped / raw).
func BenchmarkConnPaired(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, op := range []string{"Write", "Read"} {
			b.Run(fmt.Sprintf("%s/%dKiB", op, size>>10), func(b *testing.B) {
				wrapped := connPair(b, op, size, true)
				conns := [2]net.Conn{wrapped.(*dialer.Conn).NetConn(), wrapped}
				buf := make([]byte, size)
				var spent [2]time.Duration
				b.SetBytes(int64(2 * connBlock * size))
				i := 0
				for b.Loop() {
					for j := range 2 {
						v := (i + j) % 2
						c := conns[v]
						start := time.Now()
						for range connBlock {
							var err error
							if op == "Write" {
								_, err = c.Write(buf)
							} else {
								_, err = io.ReadFull(c, buf)
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						spent[v] += time.Since(start)
					}
					i++
				}
				reportPair(b, "raw", "wrapped", spent, i*connBlock)
			})
		}
	}
}

// BenchmarkFailoverBlackholed measures issue 9's target for route health:
// with "via a, b" and route a blackholed (a SOCKS5 proxy address that
// accepts and never answers), once a has failed, a dial must cost no more
// than 1.2x a dial over b alone. Each iteration dials both ways, the order
// swapped every iteration, through a SOCKS5 server to a sink (b), and
// reports both ns per dial and their ratio (via a, b / via b).
func BenchmarkFailoverBlackholed(b *testing.B) {
	target := testnet.Sink(b)
	socks, err := testkit.NewSOCKS5Server()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { socks.Close() })
	hole := "socks5://" + testnet.Blackhole(b)
	failover := benchDialer(b, "t.invalid:1 => "+target+" via "+hole+", "+socks.URL())
	alone := benchDialer(b, "t.invalid:1 => "+target+" via "+socks.URL())
	ctx := context.Background()
	// The first dial finds the blackhole (it waits the fallback delay).
	c, err := failover.DialContext(ctx, "tcp", "t.invalid:1")
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	dials := [2]*dialer.Dialer{alone, failover}
	var spent [2]time.Duration
	i := 0
	for b.Loop() {
		for j := range 2 {
			v := (i + j) % 2
			start := time.Now()
			c, err := dials[v].DialContext(ctx, "tcp", "t.invalid:1")
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
			spent[v] += time.Since(start)
		}
		i++
	}
	reportPair(b, "via-b", "via-a-b", spent, i)
}

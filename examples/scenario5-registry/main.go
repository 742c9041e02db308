// Command scenario5-registry shows scenario 5: brokers live in isolated
// VPCs, each next to an agent that keeps two reverse connections open to a
// central proxy fleet. A registry records which public endpoint (proxy IP
// and port) reaches which private broker address; entries change at run
// time and go stale. Applications reach the brokers through a SOCKS5
// front.
//
// kafkanat consults the registry at every dial (Lookup: nothing is
// cached), carries each connection over the SOCKS5 front, and fails over
// to a second route when the first is down (Via with two routes). Names no
// rule or registry entry covers are refused (Strict), and the static
// rules, consulted before the registry, can be replaced while clients run
// (SetRules).
//
// It runs on this machine only: three embedded brokers advertise
// kafka.vpc-{a,b,c}.invalid:9092, each "reverse connection" is a loopback
// port forwarding to a broker, the SOCKS5 front is in-process, and the
// first route is a SOCKS5 proxy that is down (a closed loopback port).
//
//	go run ./examples/scenario5-registry
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/rewrite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scenario5:", err)
		os.Exit(1)
	}
}

// registry maps a private broker address to the public endpoint of a
// reverse connection that reaches it. It changes while clients run.
type registry struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *registry) set(private, public string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[private] = public
}

func (r *registry) remove(private string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, private)
}

// lookup is the kafkanat.Lookup function: asked at every dial.
func (r *registry) lookup(_ context.Context, address string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	target, ok := r.m[address]
	return target, ok, nil
}

var topics = []string{"step2", "step3"}

func run() error {
	ctx := context.Background()
	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	brokers, err := kafkanattest.NewCluster(
		kafkanattest.Advertise("kafka.vpc-a.invalid:9092", "kafka.vpc-b.invalid:9092", "kafka.vpc-c.invalid:9092"),
		kafkanattest.Topics(3, topics...))
	if err != nil {
		return err
	}
	defer brokers.Close()
	a, b, c := brokers.Advertised()[0], brokers.Advertised()[1], brokers.Advertised()[2]

	// Each agent keeps two reverse connections to the proxy fleet.
	reverse := map[string][2]*reverseConn{}
	for i, private := range brokers.Advertised() {
		var pair [2]*reverseConn
		for j := range pair {
			if pair[j], err = openReverseConn(brokers.Addrs()[i]); err != nil {
				return err
			}
			defer pair[j].Close()
		}
		reverse[private] = pair
		fmt.Printf("agent for %s: reverse connections at %s and %s\n", private, pair[0].Addr(), pair[1].Addr())
	}

	front, err := kafkanattest.NewSOCKS5Server()
	if err != nil {
		return err
	}
	defer front.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	down := "socks5://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: a proxy that is down

	reg := &registry{m: map[string]string{a: reverse[a][0].Addr(), b: reverse[b][0].Addr()}}
	routes := down + ", " + front.URL()
	fmt.Printf("SOCKS5 routes, tried in order: %s\n", routes)
	d, err := kafkanat.NewDialer(kafkanat.Lookup(reg.lookup), kafkanat.Via(routes), kafkanat.Strict())
	if err != nil {
		return err
	}
	defer d.Close()

	fmt.Println("\n1. The agent for vpc-c has not registered yet:")
	explain(ctx, d, a, b, c)
	tryDial(ctx, d, c)

	fmt.Println("\n2. It registers; a client produces and consumes through the registry:")
	reg.set(c, reverse[c][0].Addr())
	explain(ctx, d, c)
	if err := roundTrip(a, topics[0], 9, d.DialContext); err != nil {
		return err
	}

	fmt.Println("\n3. vpc-a's first reverse connection dies; the registry moves it to the second:")
	reverse[a][0].Close()
	reg.set(a, reverse[a][1].Addr())
	explain(ctx, d, a)
	if err := roundTrip(a, topics[1], 9, d.DialContext); err != nil {
		return err
	}

	fmt.Println("\n4. The agent for vpc-b goes away and its entry is removed:")
	reg.remove(b)
	explain(ctx, d, b)
	tryDial(ctx, d, b)

	fmt.Println("\n5. An operator pins vpc-b to its second reverse connection with a static rule,")
	fmt.Println("   replacing the rule table while the dialer runs:")
	rules, err := rewrite.Parse("rules", b+" => "+reverse[b][1].Addr())
	if err != nil {
		return err
	}
	if err := d.SetRules(rules); err != nil {
		return err
	}
	explain(ctx, d, b)
	tryDial(ctx, d, b)

	fmt.Println("\nRoutes (the first is down, so every dial failed over to the second):")
	for _, r := range d.Stats().Routes {
		fmt.Printf("   %-28s dials %3d, failures %3d, open %d\n", r.Route, r.Dials, r.Failures, r.Open)
	}
	return nil
}

// explain prints what the dialer would do with each address right now.
func explain(ctx context.Context, d *dialer.Dialer, addrs ...string) {
	for _, addr := range addrs {
		dec, err := d.Explain(ctx, addr)
		if err != nil {
			fmt.Printf("   explain %s: %v\n", addr, err)
			continue
		}
		fmt.Printf("   explain %s\n", dec)
	}
}

// tryDial dials address once, printing how the connection was made or why
// it was not.
func tryDial(ctx context.Context, d *dialer.Dialer, address string) {
	if c, err := trace(d.DialContext)(ctx, "tcp", address); err == nil {
		c.Close()
	}
}

// roundTrip produces n records to topic through dial, one to each
// partition in turn, and consumes them back: the client dials every broker
// that leads a partition.
func roundTrip(seed, topic string, n int, dial kafkanat.DialFunc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(trace(dial)),
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

// reverseConn stands in for one reverse connection an agent keeps open to
// the proxy fleet: a port on the fleet's side that leads to the broker.
type reverseConn struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func openReverseConn(broker string) (*reverseConn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &reverseConn{ln: ln, conns: map[net.Conn]bool{}}
	r.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", broker)
			if err != nil || !r.track(in, out) {
				in.Close()
				if out != nil {
					out.Close()
				}
				continue
			}
			r.wg.Go(func() { io.Copy(out, in); out.Close() })
			r.wg.Go(func() { io.Copy(in, out); in.Close() })
		}
	})
	return r, nil
}

// track remembers both ends so that Close can cut them; false once closed.
func (r *reverseConn) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *reverseConn) Addr() string { return r.ln.Addr().String() }

// Close stops accepting and cuts every connection, as a dying reverse
// connection does. Calling it again is harmless.
func (r *reverseConn) Close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

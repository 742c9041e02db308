package kafkanattest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/net/nettest"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

func newCluster(t *testing.T, opts ...kafkanattest.ClusterOption) *kafkanattest.Cluster {
	t.Helper()
	c, err := kafkanattest.NewCluster(opts...)
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// dialRecorder is a kgo dialer that records every address it is asked for.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (r *dialRecorder) record(addr string) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
}

func (r *dialRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.addrs)
}

// mappingDialer dials the real seed addresses directly and advertised
// addresses through DialAdvertised; anything else is a test bug and is
// refused, never dialed.
func mappingDialer(t *testing.T, c *kafkanattest.Cluster, rec *dialRecorder) func(context.Context, string, string) (net.Conn, error) {
	realAddrs := c.Addrs()
	advertised := c.Advertised()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		rec.record(addr)
		switch {
		case slices.Contains(advertised, addr):
			return c.DialAdvertised(ctx, network, addr)
		case slices.Contains(realAddrs, addr):
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		default:
			t.Errorf("client asked to dial %q, neither advertised nor real", addr)
			return nil, fmt.Errorf("test dialer: unexpected address %q", addr)
		}
	}
}

func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// requestMetadata asks the seed broker for metadata and checks that it
// advertises exactly the cluster's advertised addresses.
func requestMetadata(ctx context.Context, t *testing.T, cl *kgo.Client, c *kafkanattest.Cluster) []int32 {
	t.Helper()
	resp, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatalf("metadata through the seed: %v", err)
	}
	meta := resp.(*kmsg.MetadataResponse)
	var got []string
	var ids []int32
	for _, b := range meta.Brokers {
		got = append(got, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		ids = append(ids, b.NodeID)
	}
	slices.Sort(got)
	want := c.Advertised()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("metadata brokers = %v, want the advertised %v", got, want)
	}
	return ids
}

func TestClusterProduceConsumeThroughMapping(t *testing.T) {
	const topic = "hidden"
	c := newCluster(t, kafkanattest.Topics(3, topic))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rec := new(dialRecorder)
	cl := newClient(t,
		kgo.SeedBrokers(c.Addrs()[0]),
		kgo.Dialer(mappingDialer(t, c, rec)),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)

	ids := requestMetadata(ctx, t, cl, c)
	// Every broker answers through its advertised address.
	for _, id := range ids {
		if _, err := cl.Broker(int(id)).Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatalf("ApiVersions to broker %d: %v", id, err)
		}
	}

	// One record per partition, so produce reaches every partition leader.
	want := map[string]bool{}
	var records []*kgo.Record
	for p := range int32(3) {
		v := fmt.Sprintf("record for partition %d", p)
		want[v] = true
		records = append(records, &kgo.Record{Partition: p, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	got := map[string]bool{}
	for len(got) < len(want) {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before %v", len(got), len(want), err)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	for v := range want {
		if !got[v] {
			t.Errorf("record %q not consumed", v)
		}
	}

	dialed := rec.seen()
	for _, adv := range c.Advertised() {
		if !slices.Contains(dialed, adv) {
			t.Errorf("client never dialed advertised %s; dialed %v", adv, dialed)
		}
	}
}

func TestClusterUnmappedClientCannotReachBrokers(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A plain net.Dialer, as a client without kafkanat has, but with a
	// resolver that answers every DNS question in-process: the hidden
	// names must not reach a real DNS server.
	d := &net.Dialer{Resolver: kafkanattest.OfflineResolver()}
	rec := new(dialRecorder)
	cl := newClient(t,
		kgo.SeedBrokers(c.Addrs()[0]),
		kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			rec.record(addr)
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err == nil && ip != nil && !ip.IsLoopback() {
				t.Errorf("client asked to dial non-loopback %q", addr)
				return nil, errors.New("test dialer: refusing non-loopback address")
			}
			return d.DialContext(ctx, network, addr)
		}),
		kgo.RetryTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second),
	)

	// Bootstrap works: the seed is a real address.
	ids := requestMetadata(ctx, t, cl, c)

	start := time.Now()
	for _, id := range ids {
		adv := c.Advertised()[id]
		_, err := cl.Broker(int(id)).Request(ctx, kmsg.NewPtrApiVersionsRequest())
		if err == nil {
			t.Fatalf("broker %d (%s) answered a client that cannot resolve its address", id, adv)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			t.Errorf("broker %d: error %v (%T), want a dial *net.OpError", id, err, err)
		}
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("broker %d: error %v, want a not-found *net.DNSError", id, err)
		}
		host, _, _ := net.SplitHostPort(adv)
		if !strings.Contains(err.Error(), host) {
			t.Errorf("broker %d: error %q does not name %s", id, err, host)
		}
		if !slices.Contains(rec.seen(), adv) {
			t.Errorf("broker %d: client never tried %s; dialed %v", id, adv, rec.seen())
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("unreachable brokers took until the deadline (%v) instead of failing fast", time.Since(start))
	}
}

func TestClusterAddresses(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		c := newCluster(t)
		want := []string{
			"b0.kafka.internal.invalid:9092",
			"b1.kafka.internal.invalid:9092",
			"b2.kafka.internal.invalid:9092",
		}
		if got := c.Advertised(); !slices.Equal(got, want) {
			t.Errorf("Advertised() = %v, want %v", got, want)
		}
		checkAddrs(t, c)
	})
	t.Run("custom", func(t *testing.T) {
		want := []string{"kafka:9092", "Node2.Example.Invalid:19093"}
		c := newCluster(t, kafkanattest.Advertise(want...))
		if got := c.Advertised(); !slices.Equal(got, want) {
			t.Errorf("Advertised() = %v, want %v", got, want)
		}
		checkAddrs(t, c)
	})
	t.Run("one broker", func(t *testing.T) {
		c := newCluster(t, kafkanattest.Brokers(1))
		if got, want := c.Advertised(), []string{"b0.kafka.internal.invalid:9092"}; !slices.Equal(got, want) {
			t.Errorf("Advertised() = %v, want %v", got, want)
		}
		checkAddrs(t, c)
	})
	t.Run("results are copies", func(t *testing.T) {
		c := newCluster(t)
		c.Advertised()[0] = "changed:1"
		c.Addrs()[0] = "changed:1"
		if c.Advertised()[0] == "changed:1" || c.Addrs()[0] == "changed:1" {
			t.Error("Advertised or Addrs returned the cluster's own slice")
		}
	})
}

// checkAddrs checks Addrs, Rules, kfake's view and DialAdvertised for every
// broker of c.
func checkAddrs(t *testing.T, c *kafkanattest.Cluster) {
	t.Helper()
	adv, realAddrs := c.Advertised(), c.Addrs()
	if len(realAddrs) != len(adv) {
		t.Fatalf("Addrs() = %v, want %d addresses", realAddrs, len(adv))
	}
	var rules strings.Builder
	for i, a := range realAddrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Errorf("Addrs()[%d] = %q, want 127.0.0.1:<port>", i, a)
		}
		fmt.Fprintf(&rules, "%s => %s\n", adv[i], a)
	}
	if got := c.Rules(); got != rules.String() {
		t.Errorf("Rules() =\n%s\nwant\n%s", got, rules.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, a := range adv {
		// Hosts match ignoring case.
		for _, addr := range []string{a, strings.ToUpper(a)} {
			conn, err := c.DialAdvertised(ctx, "tcp", addr)
			if err != nil {
				t.Errorf("DialAdvertised(%q): %v", addr, err)
				continue
			}
			if got := conn.RemoteAddr().String(); got != realAddrs[i] {
				t.Errorf("DialAdvertised(%q) reached %s, want %s", addr, got, realAddrs[i])
			}
			conn.Close()
		}
	}
}

func TestNewClusterOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []kafkanattest.ClusterOption
		want string // substring of the error
	}{
		{"zero brokers", []kafkanattest.ClusterOption{kafkanattest.Brokers(0)}, "Brokers(0)"},
		{"negative brokers", []kafkanattest.ClusterOption{kafkanattest.Brokers(-2)}, "at least 1 broker"},
		{"count mismatch", []kafkanattest.ClusterOption{kafkanattest.Brokers(3), kafkanattest.Advertise("a:1", "b:2")}, "Brokers(3) but Advertise gave 2"},
		{"no addresses", []kafkanattest.ClusterOption{kafkanattest.Advertise()}, "no addresses"},
		{"no port", []kafkanattest.ClusterOption{kafkanattest.Advertise("kafka")}, `address 1 "kafka"`},
		{"named port", []kafkanattest.ClusterOption{kafkanattest.Advertise("a:9092", "kafka:http")}, `address 2 "kafka:http": port "http"`},
		{"port zero", []kafkanattest.ClusterOption{kafkanattest.Advertise("kafka:0")}, `port "0"`},
		{"port too big", []kafkanattest.ClusterOption{kafkanattest.Advertise("kafka:65536")}, `port "65536"`},
		{"empty host", []kafkanattest.ClusterOption{kafkanattest.Advertise(":9092")}, "empty host"},
		{"duplicate", []kafkanattest.ClusterOption{kafkanattest.Advertise("Kafka:9092", "kafka:9092")}, `address 2 "kafka:9092" repeats address 1`},
		{"nil option", []kafkanattest.ClusterOption{nil}, "option 1 is nil"},
		{"no partitions", []kafkanattest.ClusterOption{kafkanattest.Topics(0, "a")}, "Topics(0, ...): a topic needs at least 1 partition"},
		{"no topics", []kafkanattest.ClusterOption{kafkanattest.Topics(1)}, "Topics(1): no topic names"},
		{"empty topic", []kafkanattest.ClusterOption{kafkanattest.Topics(1, "a", "")}, "empty topic name"},
		{"ports for fewer brokers", []kafkanattest.ClusterOption{kafkanattest.Brokers(3), kafkanattest.Ports(0, 0)}, "Ports gave 2 ports for 3 brokers"},
		{"ports and addresses", []kafkanattest.ClusterOption{kafkanattest.Ports(0), kafkanattest.Advertise("a:1", "b:2")}, "Ports gave 1 ports for 2 brokers"},
		{"bad port", []kafkanattest.ClusterOption{kafkanattest.Ports(70000)}, "Ports: 70000 is not a port number"},
		{"nil TLS", []kafkanattest.ClusterOption{kafkanattest.TLS(nil)}, "TLS: config is nil"},
		{"SASL mechanism", []kafkanattest.ClusterOption{kafkanattest.SASL("GSSAPI", "u", "p")}, `SASL("GSSAPI", ...): mechanism`},
		{"SASL user", []kafkanattest.ClusterOption{kafkanattest.SASL("PLAIN", "", "p")}, `SASL("PLAIN", ...): empty user`},
		{"nil observer", []kafkanattest.ClusterOption{kafkanattest.OnRequest(3, nil)}, "OnRequest(3): function is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kafkanattest.NewCluster(tt.opts...)
			if err == nil {
				c.Close()
				t.Fatalf("NewCluster succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "kafkanattest: NewCluster: ") {
				t.Errorf("error %q, want prefix \"kafkanattest: NewCluster: \" and %q", err, tt.want)
			}
		})
	}
}

func TestDialAdvertisedRefusesOtherAddresses(t *testing.T) {
	c := newCluster(t, kafkanattest.Brokers(2))

	// A loopback listener nobody advertises: DialAdvertised must not
	// connect to it even though it is reachable.
	ln, err := nettest.NewLocalListener("tcp")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn
		}
		close(accepted)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", ln.Addr().String(), "is not an address this cluster advertises"},
		{"tcp", c.Addrs()[0], "is not an address this cluster advertises"},
		{"tcp", "b2.kafka.internal.invalid:9092", `"b2.kafka.internal.invalid:9092" is not an address`},
		{"tcp", "b0.kafka.internal.invalid:9093", "it advertises b0.kafka.internal.invalid:9092, b1.kafka.internal.invalid:9092"},
		{"tcp", "b0.kafka.internal.invalid", "is not an address"},
		{"udp", "b0.kafka.internal.invalid:9092", `network "udp" not supported`},
	} {
		conn, err := c.DialAdvertised(ctx, tc.network, tc.addr)
		if err == nil {
			conn.Close()
			t.Errorf("DialAdvertised(%q, %q) connected, want an error", tc.network, tc.addr)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DialAdvertised(%q, %q) error %q, want it to contain %q", tc.network, tc.addr, err, tc.want)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			t.Errorf("DialAdvertised(%q, %q) error %T, want a dial *net.OpError", tc.network, tc.addr, err)
		}
	}

	// A canceled context fails even an advertised address.
	canceled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if conn, err := c.DialAdvertised(canceled, "tcp", c.Advertised()[0]); err == nil {
		conn.Close()
		t.Error("DialAdvertised with a canceled context connected")
	}

	ln.Close()
	if conn, ok := <-accepted; ok {
		conn.Close()
		t.Error("the unadvertised listener accepted a connection")
	}
}

// ExampleNewCluster shows a cluster whose brokers advertise names that exist
// only inside "the cluster's network".
func ExampleNewCluster() {
	c, err := kafkanattest.NewCluster(kafkanattest.Advertise(
		"kafka-0.kafka-headless.svc.cluster.local:9092",
		"kafka-1.kafka-headless.svc.cluster.local:9092",
	))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(strings.Join(c.Advertised(), "\n"))
	// Rules maps each advertised address to the broker's real listener,
	// e.g. "kafka-0.kafka-headless.svc.cluster.local:9092 => 127.0.0.1:40123".
	fmt.Println(strings.Count(c.Rules(), " => 127.0.0.1:"))
	// Output:
	// kafka-0.kafka-headless.svc.cluster.local:9092
	// kafka-1.kafka-headless.svc.cluster.local:9092
	// 2
}

package kafkanattest_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// Linux routes all of 127.0.0.0/8 to the loopback interface, so three
// brokers can each have an address of their own without a namespace.
func TestListenOnGivesEachBrokerItsAddress(t *testing.T) {
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	c := newCluster(t, kafkanattest.ListenOn(ips...), kafkanattest.Topics(3, "t"))
	addrs := c.Addrs()
	for i, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != ips[i] {
			t.Errorf("broker %d listens on %q, want host %s", i, a, ips[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := new(dialRecorder)
	cl := newClient(t, kgo.SeedBrokers(addrs[0]), kgo.Dialer(mappingDialer(t, c, rec)),
		kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d (led by broker %d on %s): %v", p, p, addrs[p], err)
		}
	}
}

func TestListenOnOneAddressForAll(t *testing.T) {
	c := newCluster(t, kafkanattest.ListenOn("127.0.0.5"), kafkanattest.Brokers(2))
	for i, a := range c.Addrs() {
		if !strings.HasPrefix(a, "127.0.0.5:") {
			t.Errorf("broker %d listens on %q, want 127.0.0.5", i, a)
		}
	}
}

func TestListenOnRefusesWhatCouldReachBeyondTheMachine(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kafkanattest.ClusterOption
		want string
	}{
		{"private address", []kafkanattest.ClusterOption{kafkanattest.ListenOn("10.0.0.1")},
			`ListenOn: address 1 "10.0.0.1": not loopback and not in a test range`},
		{"public address second", []kafkanattest.ClusterOption{kafkanattest.ListenOn("198.51.100.11", "192.0.2.300", "8.8.8.8")},
			`ListenOn: address 2 "192.0.2.300": not an IP address`},
		{"unspecified", []kafkanattest.ClusterOption{kafkanattest.ListenOn("0.0.0.0")},
			`"0.0.0.0": not loopback and not in a test range`},
		{"host name", []kafkanattest.ClusterOption{kafkanattest.ListenOn("localhost")},
			`"localhost": not an IP address`},
		{"with a port", []kafkanattest.ClusterOption{kafkanattest.ListenOn("127.0.0.1:9092")},
			`"127.0.0.1:9092": not an IP address`},
		{"zone", []kafkanattest.ClusterOption{kafkanattest.ListenOn("fd00::1%eth0")},
			`"fd00::1%eth0": not an IP address`},
		{"none", []kafkanattest.ClusterOption{kafkanattest.ListenOn()}, "ListenOn(): no addresses given"},
		{"count", []kafkanattest.ClusterOption{kafkanattest.ListenOn("127.0.0.2", "127.0.0.3")},
			"ListenOn gave 2 addresses for 3 brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kafkanattest.NewCluster(tc.opts...)
			if err == nil {
				c.Close()
				t.Fatalf("NewCluster succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMoveBrokerKeepsItsListenOnAddress(t *testing.T) {
	c := newCluster(t, kafkanattest.ListenOn("127.0.0.2", "127.0.0.3"), kafkanattest.Brokers(2))
	before := c.Addrs()[1]
	moved, err := c.MoveBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(moved)
	if err != nil || host != "127.0.0.3" || moved == before {
		t.Fatalf("MoveBroker(1) = %q, %v; want a new port on 127.0.0.3 (was %s)", moved, err, before)
	}
	if got := c.Addrs()[1]; got != moved {
		t.Errorf("Addrs()[1] = %q after the move, want %q", got, moved)
	}
	conn, err := net.Dial("tcp", moved)
	if err != nil {
		t.Fatalf("the moved broker does not accept on %s: %v", moved, err)
	}
	conn.Close()
}

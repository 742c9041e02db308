package kafkanattest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// apiVersions sends a raw ApiVersions v0 request on conn and reads the
// whole reply, proving a broker serves conn.
func apiVersions(conn net.Conn) error {
	// size, api key 18, version 0, correlation id 7, null client id
	req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff}
	if _, err := conn.Write(req); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("reply of %d bytes", n)
	}
	_, err := io.ReadFull(conn, make([]byte, n))
	return err
}

func TestMoveBroker(t *testing.T) {
	const topic = "moving"
	c := newCluster(t, kafkanattest.Topics(3, topic)) // broker p leads partition p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := c.Addrs()
	adv := c.Advertised()

	// A connection the broker serves before the move.
	old, err := net.Dial("tcp", before[1])
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := apiVersions(old); err != nil {
		t.Fatalf("broker 1 before the move: %v", err)
	}

	// A client that finds brokers the way in-cluster DNS does, so that it
	// follows the move by itself.
	rec := new(dialRecorder)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		rec.record(addr)
		return c.DialAdvertised(ctx, network, addr)
	}
	cl := newClient(t, kgo.SeedBrokers(adv[0]), kgo.Dialer(dial),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	produce := func(round int) {
		t.Helper()
		var rs []*kgo.Record
		for p := range int32(3) {
			rs = append(rs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "round %d partition %d", round, p)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
	}
	produce(0)

	newAddr, err := c.MoveBroker(1)
	if err != nil {
		t.Fatalf("MoveBroker(1): %v", err)
	}
	if newAddr == before[1] || !strings.HasPrefix(newAddr, "127.0.0.1:") {
		t.Fatalf("MoveBroker(1) = %q, want a new 127.0.0.1 address (was %s)", newAddr, before[1])
	}
	want := slices.Clone(before)
	want[1] = newAddr
	if got := c.Addrs(); !slices.Equal(got, want) {
		t.Errorf("Addrs() after the move = %v, want %v", got, want)
	}
	if got := c.Advertised(); !slices.Equal(got, adv) {
		t.Errorf("Advertised() changed to %v", got)
	}
	checkAddrs(t, c) // Rules, kfake's advertised view and DialAdvertised

	// The connection to the old port is cut...
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := old.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Errorf("read on a connection to the old port: %v, want it cut", err)
	}
	// ...and the old port refuses new ones.
	if conn, err := net.Dial("tcp", before[1]); err == nil {
		conn.Close()
		t.Errorf("the old port %s still accepts connections", before[1])
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial the old port: %v, want connection refused", err)
	}
	// The new port serves Kafka.
	moved, err := net.Dial("tcp", newAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	moved.SetDeadline(time.Now().Add(10 * time.Second))
	if err := apiVersions(moved); err != nil {
		t.Fatalf("broker 1 at its new address: %v", err)
	}

	// The client redials the advertised name and carries on; the broker
	// kept its partitions and data.
	produce(1)
	got := map[string]bool{}
	for len(got) < 6 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 6 records: %v", len(got), err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	for round := range 2 {
		for p := range 3 {
			if v := fmt.Sprintf("round %d partition %d", round, p); !got[v] {
				t.Errorf("record %q lost", v)
			}
		}
	}
	if n := strings.Count(strings.Join(rec.seen(), " "), adv[1]); n < 2 {
		t.Errorf("the client dialed %s %d times, want a redial after the move", adv[1], n)
	}

	// A second move works too.
	again, err := c.MoveBroker(1)
	if err != nil || again == newAddr {
		t.Fatalf("second MoveBroker(1) = %q, %v", again, err)
	}
	produce(2)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestMoveBrokerErrors(t *testing.T) {
	c := newCluster(t, kafkanattest.Brokers(2))
	for _, node := range []int{-1, 2} {
		if addr, err := c.MoveBroker(node); err == nil || !strings.Contains(err.Error(), "no such broker") {
			t.Errorf("MoveBroker(%d) = %q, %v; want a no such broker error", node, addr, err)
		}
	}
	before := c.Addrs()
	c.Close()
	if addr, err := c.MoveBroker(0); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("MoveBroker on a closed cluster = %q, %v; want an error", addr, err)
	}
	if got := c.Addrs(); !slices.Equal(got, before) {
		t.Errorf("a failed move changed Addrs from %v to %v", before, got)
	}
}

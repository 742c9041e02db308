// Package exampleutil holds what the programs in examples/ share but do
// not show: printing each connection kafkanat made, spreading partition
// leaders over an embedded cluster, a franz-go produce-and-consume round
// trip, and a read-only check of a real cluster. Each example keeps its rules and its kafkanat options in its
// own main.go; only this plumbing lives here.
package exampleutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// Trace wraps dial and prints, once per distinct outcome, which address
// the client dialed, where kafkanat sent it, over which route and by which
// rule (from kafkanat.InfoOf), or why the dial failed. Clients open
// several connections per broker; printing each outcome once keeps the
// output readable while still showing every change.
func Trace(dial kafkanat.DialFunc) kafkanat.DialFunc {
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		var line string
		switch info, ok := kafkanat.InfoOf(c); {
		case err != nil:
			line = fmt.Sprintf("   dial %s failed: %v", address, err)
		case ok:
			line = "   dial " + Describe(info)
		default:
			line = fmt.Sprintf("   dial %s: not a kafkanat connection", address)
		}
		mu.Lock()
		if !seen[line] {
			seen[line] = true
			fmt.Println(line)
		}
		mu.Unlock()
		return c, err
	}
}

// Describe formats a connection's info as "ADDRESS => TARGET via ROUTE
// (rule N: TEXT)".
func Describe(info kafkanat.ConnInfo) string {
	var b strings.Builder
	b.WriteString(info.Address)
	if info.Target != info.Address {
		b.WriteString(" => " + info.Target)
	}
	b.WriteString(" via " + info.Route)
	if info.Rule > 0 {
		fmt.Fprintf(&b, " (rule %d: %s)", info.Rule, info.RuleText)
	} else {
		fmt.Fprintf(&b, " (%s)", info.RuleText)
	}
	return b.String()
}

// SpreadLeaders makes node p%n (n brokers) lead partition p of each topic,
// which has the given number of partitions, so that a round trip dials
// every broker (kfake picks leaders at random).
func SpreadLeaders(c *kafkanattest.Cluster, partitions int, topics ...string) error {
	n := len(c.Advertised())
	for _, t := range topics {
		for p := range partitions {
			if err := c.Kfake().MoveTopicPartition(t, int32(p), int32(p%n)); err != nil {
				return fmt.Errorf("topic %s partition %d: %w", t, p, err)
			}
		}
	}
	return nil
}

// RoundTrip produces n records to topic with a franz-go client built from
// opts (which give the seed brokers and the dialer) and consumes them back
// with another, so that every broker leading a partition is dialed.
func RoundTrip(ctx context.Context, topic string, n int, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(append(slices.Clone(opts), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordDeliveryTimeout(15*time.Second))...)
	if err != nil {
		return err
	}
	defer prod.Close()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}

	cons, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume: got %d of %d records: %w", got, n, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("consume: %w", errs[0].Err)
		}
		got += fs.NumRecords()
	}
	fmt.Printf("   produced %d records to %s and consumed them back\n", n, topic)
	return nil
}

// Check fetches metadata with a franz-go client built from opts and runs
// an ApiVersions round trip with every broker it lists, printing each. It
// writes nothing, so it is safe against a real cluster.
func Check(ctx context.Context, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	meta, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var errs []error
	for _, b := range meta.Brokers {
		addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
		if _, err := cl.Broker(int(b.NodeID)).Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
			errs = append(errs, fmt.Errorf("broker %d at %s: %w", b.NodeID, addr, err))
			continue
		}
		fmt.Printf("   broker %d at %s answers\n", b.NodeID, addr)
	}
	return errors.Join(errs...)
}

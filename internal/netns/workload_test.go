package netns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The workload mode of the client role: produce numbered records at a
// steady rate with franz-go or sarama while consuming them back, and
// check that each was acknowledged once and read once, in order.

// workResult is the workload's own account of what it produced and read.
type workResult struct {
	Offered    int      `json:"offered"`
	Acked      int      `json:"acked"`       // records acknowledged without error
	AckErrors  []string `json:"ack_errors"`  // the first few records given up
	AckedTwice []int    `json:"acked_twice"` // records acknowledged more than once
	Consumed   int      `json:"consumed"`    // records read, duplicates included
	Lost       []int    `json:"lost"`        // acknowledged but never read
	Duplicated []int    `json:"duplicated"`  // read more than once
	Unexpected []string `json:"unexpected"`  // read, but never acknowledged or not ours
	Disorder   []string `json:"disorder"`    // read out of order within a partition
}

// tally checks exactly-once delivery: every record offered is
// acknowledged once and read once, in order within its partition.
type tally struct {
	mu       sync.Mutex
	acks     map[int]int // acknowledgements, with or without error
	okAcks   map[int]int // acknowledgements without error
	reads    map[int]int
	last     map[int32]int // partition -> last record read
	ackErrs  []string
	readBad  []string
	disorder []string
	changed  chan struct{} // signalled (not closed) at each ack and read
}

func newTally() *tally {
	return &tally{acks: map[int]int{}, okAcks: map[int]int{}, reads: map[int]int{}, last: map[int32]int{}, changed: make(chan struct{}, 1)}
}

func recordValue(seq int) []byte { return fmt.Appendf(nil, "%07d", seq) }

func (t *tally) ack(seq int, err error, out *emitter) {
	t.mu.Lock()
	t.acks[seq]++
	if err != nil {
		if len(t.ackErrs) < 10 {
			t.ackErrs = append(t.ackErrs, fmt.Sprintf("record %d: %v", seq, err))
		}
	} else {
		t.okAcks[seq]++
	}
	t.mu.Unlock()
	t.signal()
	ev := event{Ev: "ack", Seq: seq}
	if err != nil {
		ev.Err = err.Error()
	}
	out.emit(ev)
}

func (t *tally) read(partition int32, value []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq, err := strconv.Atoi(string(value))
	if err != nil || seq < 0 {
		t.readBad = append(t.readBad, fmt.Sprintf("partition %d: value %q", partition, value))
	} else {
		t.reads[seq]++
		if last, ok := t.last[partition]; ok && seq <= last {
			t.disorder = append(t.disorder, fmt.Sprintf("partition %d: %d after %d", partition, seq, last))
		}
		t.last[partition] = seq
	}
	t.signal()
}

// signal wakes a waiter: something was acknowledged or read.
func (t *tally) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// waitAcked waits until n records have been acknowledged (with or
// without an error), or limit.
func (t *tally) waitAcked(n int, limit time.Duration) {
	deadline := time.After(limit)
	for {
		t.mu.Lock()
		done := len(t.acks) >= n
		t.mu.Unlock()
		if done {
			return
		}
		select {
		case <-t.changed:
		case <-deadline:
			return
		}
	}
}

// caughtUp reports whether every acknowledged record has been read.
func (t *tally) caughtUp() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for seq := range t.okAcks {
		if t.reads[seq] == 0 {
			return false
		}
	}
	return true
}

// waitCaughtUp waits until every acknowledged record was read, or limit,
// then a little longer, so that duplicates still in flight show.
func (t *tally) waitCaughtUp(limit time.Duration) {
	deadline := time.After(limit)
	for !t.caughtUp() {
		select {
		case <-t.changed:
		case <-deadline:
			return
		}
	}
	time.Sleep(500 * time.Millisecond)
}

func (t *tally) result(offered int) *workResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &workResult{Offered: offered, Acked: len(t.okAcks), AckErrors: t.ackErrs, Unexpected: t.readBad, Disorder: t.disorder}
	for seq := range offered {
		if t.acks[seq] > 1 {
			r.AckedTwice = append(r.AckedTwice, seq)
		}
		switch n := t.reads[seq]; {
		case n == 0 && t.okAcks[seq] > 0:
			r.Lost = append(r.Lost, seq)
		case n > 1:
			r.Duplicated = append(r.Duplicated, seq)
		}
	}
	for seq, n := range t.reads {
		r.Consumed += n
		if seq >= offered || t.acks[seq] == 0 {
			r.Unexpected = append(r.Unexpected, fmt.Sprintf("record %d read %d times, never acknowledged", seq, n))
		}
	}
	return r
}

// offer sends record numbers 0..records-1 to produce at rate per second.
func offer(records, rate int, produce func(seq int)) {
	perTick := max(1, rate/100)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; seq < records; {
		<-tick.C
		for i := 0; i < perTick && seq < records; i++ {
			produce(seq)
			seq++
		}
	}
}

// franzWorkload produces with franz-go's default producer (idempotent,
// acks=all) while a second client consumes the topic from the start.
func franzWorkload(spec clientSpec, dial dialFunc, out *emitter) (*workResult, error) {
	common := []kgo.Opt{kgo.SeedBrokers(spec.Seed), kgo.Dialer(dial)}
	prod, err := kgo.NewClient(append(common, kgo.DefaultProduceTopic(spec.Topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(append(common, kgo.ConsumeTopics(spec.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := newTally()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { t.read(r.Partition, r.Value) })
		}
	}()
	offer(spec.Records, spec.Rate, func(seq int) {
		r := &kgo.Record{Partition: int32(seq % partitions), Value: recordValue(seq)}
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) { t.ack(seq, err, out) })
	})
	if err := prod.Flush(ctx); err != nil {
		cancel()
		return nil, err
	}
	t.waitCaughtUp(time.Minute)
	cancel()
	<-consumed
	cons.Close()
	return t.result(spec.Records), nil
}

// saramaDialer adapts the dial function to sarama, which calls Dial
// without a context.
type saramaDialer dialFunc

func (d saramaDialer) Dial(network, address string) (net.Conn, error) {
	return d(context.Background(), network, address)
}

// saramaConfig is sarama's idempotent producer as its documentation
// requires it (acks=all, one request in flight), retrying long enough to
// ride out the faults, and its consumer.
func saramaConfig(dial dialFunc) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = saramaDialer(dial)
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 1000
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 1000
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	return cfg
}

func saramaWorkload(spec clientSpec, dial dialFunc, out *emitter) (*workResult, error) {
	if dial == nil {
		return nil, errors.New("the sarama workload needs kafkanat (Plain is for ping and dial)")
	}
	t := newTally()
	cons, err := sarama.NewConsumer([]string{spec.Seed}, saramaConfig(dial))
	if err != nil {
		return nil, fmt.Errorf("sarama consumer: %w", err)
	}
	var (
		reading sync.WaitGroup
		pcs     []sarama.PartitionConsumer
	)
	stopReading := func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		reading.Wait()
		cons.Close()
	}
	for p := range int32(partitions) {
		pc, err := cons.ConsumePartition(spec.Topic, p, sarama.OffsetOldest)
		if err != nil {
			stopReading()
			return nil, fmt.Errorf("sarama consumer, partition %d: %w", p, err)
		}
		pcs = append(pcs, pc)
		reading.Add(1)
		go func() {
			defer reading.Done()
			for m := range pc.Messages() {
				t.read(m.Partition, m.Value)
			}
		}()
	}
	prod, err := sarama.NewAsyncProducer([]string{spec.Seed}, saramaConfig(dial))
	if err != nil {
		stopReading()
		return nil, fmt.Errorf("sarama producer: %w", err)
	}
	var acking sync.WaitGroup
	acking.Add(2)
	go func() {
		defer acking.Done()
		for m := range prod.Successes() {
			t.ack(m.Metadata.(int), nil, out)
		}
	}()
	go func() {
		defer acking.Done()
		for e := range prod.Errors() {
			t.ack(e.Msg.Metadata.(int), e.Err, out)
		}
	}()
	offer(spec.Records, spec.Rate, func(seq int) {
		prod.Input() <- &sarama.ProducerMessage{Topic: spec.Topic, Partition: int32(seq % partitions),
			Value: sarama.ByteEncoder(recordValue(seq)), Metadata: seq}
	})
	// sarama's AsyncClose fails the records still being retried with
	// ErrShuttingDown instead of flushing them: close once every record
	// has its answer, as franz-go's Flush waits.
	t.waitAcked(spec.Records, 2*time.Minute)
	prod.AsyncClose() // then closes Successes and Errors
	acking.Wait()
	t.waitCaughtUp(time.Minute)
	stopReading()
	return t.result(spec.Records), nil
}

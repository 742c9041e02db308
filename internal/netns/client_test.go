package netns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
)

// clientSpec is what the client role, run inside a namespace, does.
type clientSpec struct {
	// Mode is "workload" (produce Records at Rate while consuming them
	// back, then check them), "dial" (dial each of Dials once and report)
	// or "ping" (a franz-go client asks the seed broker for metadata).
	Mode   string `json:"mode"`
	Client string `json:"client"` // "franz-go" or "sarama", for workload
	// Plain uses the Kafka client's own dialer: no kafkanat.
	Plain       bool              `json:"plain"`
	Seed        string            `json:"seed"`
	Rules       string            `json:"rules"`
	Via         string            `json:"via"`
	Registry    map[string]string `json:"registry"`   // Lookup: advertised address -> target
	LookupDNS   bool              `json:"lookup_dns"` // Lookup resolves the host over DNS
	DialTimeout time.Duration     `json:"dial_timeout"`
	Topic       string            `json:"topic"`
	Records     int               `json:"records"`
	Rate        int               `json:"rate"` // records offered per second
	Dials       []dialSpec        `json:"dials"`
	Guard       time.Duration     `json:"guard"` // bounds the whole run: a hang, not a slow machine
}

// dialSpec is one dial of the "dial" mode.
type dialSpec struct {
	Address  string        `json:"address"`
	Deadline time.Duration `json:"deadline"` // of the caller's context; 0: none
}

// event is one line the client role prints (JSON) for the test to read.
type event struct {
	Ev      string        `json:"ev"` // dial, close, call, ack, dialed, pinged, result, fatal
	T       int64         `json:"t"`  // when, in Unix nanoseconds
	Start   int64         `json:"start,omitempty"`
	Seq     int           `json:"seq"`
	Addr    string        `json:"addr,omitempty"`
	Target  string        `json:"target,omitempty"`
	Route   string        `json:"route,omitempty"`
	Dur     time.Duration `json:"dur,omitempty"`
	Err     string        `json:"err,omitempty"`
	Timeout bool          `json:"timeout,omitempty"`
	Result  *workResult   `json:"result,omitempty"`
}

func (e event) at() time.Time { return time.Unix(0, e.T) }

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

// emitter prints events as JSON lines, one writer at a time.
type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *emitter) emit(ev event) {
	if ev.T == 0 {
		ev.T = time.Now().UnixNano()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(ev)
}

// runClient is the client role.
func runClient() error {
	var spec clientSpec
	if err := readSpec(&spec); err != nil {
		return err
	}
	out := &emitter{enc: json.NewEncoder(os.Stdout)}
	dial, closeDialer, err := clientDialer(spec, out)
	if err != nil {
		return err
	}
	defer closeDialer()
	// A guard against hangs: the test reads "fatal" and fails.
	guard := time.AfterFunc(spec.Guard, func() {
		out.emit(event{Ev: "fatal", Err: fmt.Sprintf("the client did not finish within %v", spec.Guard)})
		os.Exit(3)
	})
	defer guard.Stop()
	switch spec.Mode {
	case "workload":
		var res *workResult
		if spec.Client == "sarama" {
			res, err = saramaWorkload(spec, dial, out)
		} else {
			res, err = franzWorkload(spec, dial, out)
		}
		if err != nil {
			return err
		}
		out.emit(event{Ev: "result", Result: res})
	case "dial":
		for _, d := range spec.Dials {
			dialOnce(d, dial, out)
		}
	case "ping":
		opts := []kgo.Opt{kgo.SeedBrokers(spec.Seed)}
		if dial != nil {
			opts = append(opts, kgo.Dialer(dial))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), spec.Guard/2)
		err = cl.Ping(ctx)
		cancel()
		cl.Close()
		ev := event{Ev: "pinged"}
		if err != nil {
			ev.Err = err.Error()
		}
		out.emit(ev)
	default:
		return fmt.Errorf("unknown mode %q", spec.Mode)
	}
	return nil
}

type dialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// clientDialer builds the dialer the client uses: kafkanat with the
// spec's rules and routes, reporting every route attempt and closed
// connection through its Hook and every call of the client; or, for a
// Plain client, nil (the Kafka client's own dialer), except in dial mode,
// where it is a net.Dialer.
func clientDialer(spec clientSpec, out *emitter) (dialFunc, func(), error) {
	if spec.Plain {
		if spec.Mode == "dial" {
			var d net.Dialer
			return d.DialContext, func() {}, nil
		}
		return nil, func() {}, nil
	}
	opts := []kafkanat.Option{
		kafkanat.Hook(dialer.HookFuncs{
			Dial: func(e dialer.DialEvent) {
				ev := event{Ev: "dial", Addr: e.Info.Address, Target: e.Info.Target, Route: e.Info.Route, Dur: e.Duration}
				if e.Err != nil {
					ev.Err = e.Err.Error()
					ev.Timeout = isTimeout(e.Err)
				}
				out.emit(ev)
			},
			Close: func(e dialer.CloseEvent) {
				out.emit(event{Ev: "close", Addr: e.Info.Address, Route: e.Info.Route, Dur: e.Open})
			},
		}),
	}
	if spec.Rules != "" {
		opts = append(opts, kafkanat.Rules(spec.Rules))
	}
	if spec.Via != "" {
		opts = append(opts, kafkanat.Via(spec.Via))
	}
	if spec.DialTimeout > 0 {
		opts = append(opts, kafkanat.DialTimeout(spec.DialTimeout))
	}
	if spec.Registry != nil {
		reg := spec.Registry
		opts = append(opts, kafkanat.Lookup(func(_ context.Context, address string) (string, bool, error) {
			target, ok := reg[address]
			return target, ok, nil
		}))
	}
	if spec.LookupDNS {
		// A registry reached over the network: here, DNS, which the
		// client's network cannot reach.
		opts = append(opts, kafkanat.Lookup(func(ctx context.Context, address string) (string, bool, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return "", false, err
			}
			ips, err := net.DefaultResolver.LookupHost(ctx, host)
			if err != nil {
				return "", false, err
			}
			return net.JoinHostPort(ips[0], port), true, nil
		}))
	}
	d, err := kafkanat.NewDialer(opts...)
	if err != nil {
		return nil, nil, err
	}
	call := func(ctx context.Context, network, address string) (net.Conn, error) {
		start := time.Now()
		c, err := d.DialContext(ctx, network, address)
		ev := event{Ev: "call", Start: start.UnixNano(), Addr: address, Dur: time.Since(start)}
		if err != nil {
			ev.Err, ev.Timeout = err.Error(), isTimeout(err)
		} else if info, ok := kafkanat.InfoOf(c); ok {
			ev.Route, ev.Target = info.Route, info.Target
		}
		out.emit(ev)
		return c, err
	}
	return call, func() { d.Close() }, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// dialOnce dials d.Address with the caller's deadline d.Deadline and
// reports how it went.
func dialOnce(d dialSpec, dial dialFunc, out *emitter) {
	ctx := context.Background()
	if d.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Deadline)
		defer cancel()
	}
	start := time.Now()
	c, err := dial(ctx, "tcp", d.Address)
	ev := event{Ev: "dialed", Start: start.UnixNano(), Addr: d.Address, Dur: time.Since(start)}
	if err != nil {
		ev.Err, ev.Timeout = err.Error(), isTimeout(err)
	} else {
		if info, ok := kafkanat.InfoOf(c); ok {
			ev.Route, ev.Target = info.Route, info.Target
		}
		c.Close()
	}
	out.emit(ev)
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
	changed  chan struct{} // signalled (not closed) at each read
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
	select {
	case t.changed <- struct{}{}:
	default:
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
	prod.AsyncClose() // flushes, then closes Successes and Errors
	acking.Wait()
	t.waitCaughtUp(time.Minute)
	stopReading()
	return t.result(spec.Records), nil
}

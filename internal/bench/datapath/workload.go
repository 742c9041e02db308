package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// opTimeout bounds every produce, so a stuck variant fails instead of
// hanging the run.
const opTimeout = time.Minute

// saramaChunk is how many messages each SendMessages call of sarama's
// throughput burst carries.
const saramaChunk = 1000

// clockEvery is how many records franz-go's throughput burst produces
// between two looks at the clock.
const clockEvery = 64

// sample is one variant's measurements in one round.
type sample struct {
	franz, sarama clientSample
	consume       clientSample // franz-go consuming; no latency
}

// clientSample is what one client achieved in one round.
type clientSample struct {
	mbps     float64       // record value bytes per second, in MB (10^6 B)
	cpuPerMB float64       // client-side CPU time per MB, in µs (see harness.cpu); 0 when unknown
	p50, p99 time.Duration // of synchronous single-record produces
	n        int           // latency samples taken
}

// target is one variant during a run: its cluster and its two clients,
// connected and warm.
type target struct {
	name     string
	env      *env
	franz    *kgo.Client
	consumer *kgo.Client // consumes consumeTopic, paused between bursts
	sarama   sarama.SyncProducer
	err      error // the first failure; the variant sits out the rest of the run
	reported bool  // err was reported
	next     int   // index of the next record, so that partitions take turns
}

func (t *target) close() {
	if t.franz != nil {
		t.franz.Close()
	}
	if t.consumer != nil {
		t.consumer.Close()
	}
	if t.sarama != nil {
		t.sarama.Close()
	}
	t.env.close()
}

// connect creates both clients of t and opens their connections to every
// broker with a warm-up produce to every partition.
func (h *harness) connect(ctx context.Context, t *target) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(t.env.seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Records go to the partitions in turn, so every broker, and
		// every connection, carries an equal share.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryTimeout(opTimeout),
	}
	if t.env.dial != nil {
		opts = append(opts, kgo.Dialer(t.env.dial))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("franz-go: %w", err)
	}
	t.franz = cl
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	warm := make([]*kgo.Record, h.cfg.partitions)
	for p := range warm {
		warm[p] = h.record(p)
	}
	if err := cl.ProduceSync(ctx, warm...).FirstErr(); err != nil {
		return fmt.Errorf("franz-go: warm-up produce: %w", err)
	}

	copts := []kgo.Opt{
		kgo.SeedBrokers(t.env.seeds...),
		kgo.ConsumeTopics(consumeTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if t.env.dial != nil {
		copts = append(copts, kgo.Dialer(t.env.dial))
	}
	if t.consumer, err = kgo.NewClient(copts...); err != nil {
		return fmt.Errorf("franz-go consumer: %w", err)
	}
	if f := t.consumer.PollRecords(ctx, 1); f.Err0() != nil || f.NumRecords() == 0 {
		return fmt.Errorf("franz-go consumer: warm-up fetch: %v (%d records)", f.Err0(), f.NumRecords())
	}
	t.consumer.PauseFetchTopics(consumeTopic)

	cfg := sarama.NewConfig()
	cfg.ClientID = "kafkanat-bench"
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Producer.Timeout = opTimeout
	cfg.Net.DialTimeout = opTimeout
	if t.env.dial != nil {
		cfg.Net.Proxy.Enable = true
		cfg.Net.Proxy.Dialer = t.env.dial
	}
	prod, err := sarama.NewSyncProducer(t.env.seeds, cfg)
	if err != nil {
		return fmt.Errorf("sarama: %w", err)
	}
	t.sarama = prod
	msgs := make([]*sarama.ProducerMessage, h.cfg.partitions)
	for p := range msgs {
		msgs[p] = h.message(p)
	}
	if err := prod.SendMessages(msgs); err != nil {
		return fmt.Errorf("sarama: warm-up produce: %w", err)
	}
	return nil
}

func (h *harness) record(i int) *kgo.Record {
	return &kgo.Record{Value: h.values[i%len(h.values)], Partition: int32(i % h.cfg.partitions)}
}

func (h *harness) message(i int) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Partition: int32(i % h.cfg.partitions), Value: sarama.ByteEncoder(h.values[i%len(h.values)])}
}

// measureRound runs the four measurements one after the other, each on
// every target in turn (A B C ... then A B C ... again), and returns the
// samples of the targets that did not fail. A failure is left in t.err.
func (h *harness) measureRound(ctx context.Context, ts []*target) map[*target]*sample {
	out := map[*target]*sample{}
	for _, t := range ts {
		if t.err == nil {
			out[t] = &sample{}
		}
	}
	phases := []func(context.Context, *target, *sample) error{
		h.franzThroughput, h.franzLatency, h.saramaThroughput, h.saramaLatency, h.consumeThroughput,
	}
	for _, phase := range phases {
		for _, t := range ts {
			if t.err != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				t.err = err
				continue
			}
			t.err = phase(ctx, t, out[t])
		}
	}
	for t := range out {
		if t.err != nil {
			delete(out, t)
		}
	}
	return out
}

// franzThroughput produces records asynchronously for cfg.duration, then
// waits for every acknowledgement (Flush also cuts the linger short), and
// counts the record bytes per second of the whole.
func (h *harness) franzThroughput(ctx context.Context, t *target, s *sample) error {
	var (
		mu      sync.Mutex
		failure error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if failure == nil {
				failure = err
			}
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	runtime.GC() // the garbage of other bursts is not this one's to collect
	n := 0
	cpu, start := h.cpu(t), time.Now()
	for deadline := start.Add(h.cfg.duration); n%clockEvery != 0 || time.Now().Before(deadline); n++ {
		t.franz.Produce(ctx, h.record(t.next+n), done)
	}
	if err := t.franz.Flush(ctx); err != nil {
		return fmt.Errorf("franz-go: flush: %w", err)
	}
	elapsed, cpu := time.Since(start), h.cpu(t)-cpu
	t.next += n
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		return fmt.Errorf("franz-go: produce: %w", failure)
	}
	s.franz.mbps = float64(n*h.cfg.size) / elapsed.Seconds() / 1e6
	s.franz.cpuPerMB = micros(cpu) / (float64(n*h.cfg.size) / 1e6)
	return nil
}

// saramaThroughput sends SendMessages of saramaChunk messages until
// cfg.duration has passed.
func (h *harness) saramaThroughput(ctx context.Context, t *target, s *sample) error {
	msgs := make([]*sarama.ProducerMessage, saramaChunk)
	runtime.GC()
	n := 0
	cpu, start := h.cpu(t), time.Now()
	for deadline := start.Add(h.cfg.duration); n == 0 || time.Now().Before(deadline); n += saramaChunk {
		for i := range msgs {
			msgs[i] = h.message(t.next + n + i)
		}
		if err := t.sarama.SendMessages(msgs); err != nil {
			return fmt.Errorf("sarama: produce: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	elapsed, cpu := time.Since(start), h.cpu(t)-cpu
	t.next += n
	s.sarama.mbps = float64(n*h.cfg.size) / elapsed.Seconds() / 1e6
	s.sarama.cpuPerMB = micros(cpu) / (float64(n*h.cfg.size) / 1e6)
	return nil
}

// cpu is the client-side CPU time so far: this process's (the clients,
// kafkanat, and the brokers unless they run in processes of their own) and
// that of the variant's client-side helper processes (ssh -L).
func (h *harness) cpu(t *target) time.Duration {
	d := cpuTime()
	if t.env.sideCPU != nil {
		d += t.env.sideCPU()
	}
	return d
}

// consumeThroughput lets the consumer fetch for cfg.duration and counts
// the record value bytes it polled per second, and the client-side CPU
// per MB. The consumer is paused outside its burst; what it fetched
// before the burst is dropped (franz-go strips paused topics from polls).
func (h *harness) consumeThroughput(ctx context.Context, t *target, s *sample) error {
	runtime.GC()
	drop, cancel := context.WithCancel(ctx)
	cancel()
	t.consumer.PollFetches(drop)
	ctx, cancel = context.WithTimeout(ctx, h.cfg.duration)
	defer cancel()
	var bytes int64
	cpu, start := h.cpu(t), time.Now()
	t.consumer.ResumeFetchTopics(consumeTopic)
	for ctx.Err() == nil {
		f := t.consumer.PollFetches(ctx)
		for _, e := range f.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				t.consumer.PauseFetchTopics(consumeTopic)
				return fmt.Errorf("franz-go: consume: %w", e.Err)
			}
		}
		f.EachRecord(func(r *kgo.Record) { bytes += int64(len(r.Value)) })
	}
	t.consumer.PauseFetchTopics(consumeTopic)
	elapsed, cpu := time.Since(start), h.cpu(t)-cpu
	if bytes == 0 {
		return errors.New("franz-go: consumed nothing")
	}
	s.consume.mbps = float64(bytes) / elapsed.Seconds() / 1e6
	s.consume.cpuPerMB = micros(cpu) / (float64(bytes) / 1e6)
	return nil
}

// franzLatency times synchronous single-record produces for
// cfg.latencyFor (at least one).
func (h *harness) franzLatency(ctx context.Context, t *target, s *sample) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	lat, err := h.latencies(t, func(i int) error {
		return t.franz.ProduceSync(ctx, h.record(i)).FirstErr()
	})
	if err != nil {
		return fmt.Errorf("franz-go: synchronous produce: %w", err)
	}
	s.franz.p50, s.franz.p99, s.franz.n = percentile(lat, 0.50), percentile(lat, 0.99), len(lat)
	return nil
}

// saramaLatency times SendMessage of one message for cfg.latencyFor (at
// least one).
func (h *harness) saramaLatency(ctx context.Context, t *target, s *sample) error {
	lat, err := h.latencies(t, func(i int) error {
		if _, _, err := t.sarama.SendMessage(h.message(i)); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("sarama: synchronous produce: %w", err)
	}
	s.sarama.p50, s.sarama.p99, s.sarama.n = percentile(lat, 0.50), percentile(lat, 0.99), len(lat)
	return nil
}

// latencies times op on successive records until cfg.latencyFor has
// passed, and returns every duration.
func (h *harness) latencies(t *target, op func(i int) error) ([]time.Duration, error) {
	var lat []time.Duration
	for deadline := time.Now().Add(h.cfg.latencyFor); len(lat) == 0 || time.Now().Before(deadline); {
		start := time.Now()
		if err := op(t.next); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
		t.next++
	}
	return lat, nil
}

// percentile returns the q-quantile of d by the nearest-rank method.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

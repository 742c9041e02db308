package reliability

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// workload is how much a fault test produces and how often it strikes.
type workload struct {
	records int // numbered 0..records-1; record i goes to partition i mod partitions
	faults  int // how many times the fault strikes, spread evenly over the stream
	rate    int // records offered per second
}

// streamWorkload is the default run's workload, or the soak's.
func streamWorkload() workload {
	if soak() {
		return workload{records: 100_000, faults: 25, rate: 2000}
	}
	return workload{records: 2000, faults: 1, rate: 1000}
}

// producer sends every record number read from in, in order, through dial
// and calls ack exactly once per record when the client reports it
// written (err nil) or given up (err set). It returns when every record
// it was given has been acknowledged and the client is closed.
type producer func(t *testing.T, seed string, dial *dialLog, in <-chan int, ack func(seq int, err error))

// producers are the clients every fault is tried with, by name.
var producers = []struct {
	name string
	run  producer
}{
	{"franz-go", franzProduce},
	{"sarama", saramaProduce},
}

// eachProducer runs fn as a subtest per client.
func eachProducer(t *testing.T, fn func(t *testing.T, produce producer)) {
	for _, p := range producers {
		t.Run(p.name, func(t *testing.T) { fn(t, p.run) })
	}
}

func recordValue(seq int) []byte { return fmt.Appendf(nil, "%07d", seq) }

// franzProduce is franz-go's default producer: idempotent, acks=all,
// retrying until the (generous) delivery timeout.
func franzProduce(t *testing.T, seed string, dial *dialLog, in <-chan int, ack func(int, error)) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial.DialContext),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		t.Errorf("franz-go client: %v", err)
		for seq := range in {
			ack(seq, err)
		}
		return
	}
	defer cl.Close()
	ctx := context.Background()
	for seq := range in {
		r := &kgo.Record{Partition: int32(seq % partitions), Value: recordValue(seq)}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { ack(seq, err) })
	}
	if err := cl.Flush(ctx); err != nil {
		t.Errorf("franz-go flush: %v", err)
	}
}

// saramaProduce is sarama's idempotent AsyncProducer, configured as its
// documentation requires for exactly-once per partition: acks=all, one
// request in flight, retries.
func saramaProduce(t *testing.T, seed string, dial *dialLog, in <-chan int, ack func(int, error)) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = dial
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 300
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 300
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	p, err := sarama.NewAsyncProducer([]string{seed}, cfg)
	if err != nil {
		t.Errorf("sarama producer: %v", err)
		for seq := range in {
			ack(seq, err)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			ack(m.Metadata.(int), nil)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			ack(e.Msg.Metadata.(int), e.Err)
		}
	}()
	for seq := range in {
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: int32(seq % partitions),
			Value: sarama.ByteEncoder(recordValue(seq)), Metadata: seq}
	}
	p.AsyncClose() // flushes, then closes Successes and Errors
	wg.Wait()
}

// streamResult is what produceThroughFaults observed.
type streamResult struct {
	faultStarts, faultEnds []time.Time
	ackedAtFault           []int // records acknowledged when each fault started
	ackedAfterFault        []int // and when it ended
}

// produceThroughFaults offers w.records numbered records at a steady rate
// to produce and, each time another 1/(faults+1) of them has been
// acknowledged, calls fault (with its number, from 1) while production
// goes on. It fails the test unless every record is acknowledged exactly
// once without error, and unless every fault struck mid-stream. Then it
// reads the topic back and checks it holds exactly the records produced.
func produceThroughFaults(t *testing.T, c *kafkanattest.Cluster, seed string, dial *dialLog, produce producer, w workload, fault func(n int)) streamResult {
	t.Helper()
	var (
		acked   atomic.Int64
		mu      sync.Mutex
		ackSeen = make([]int, w.records)
		ackErrs []string
	)
	ack := func(seq int, err error) {
		mu.Lock()
		ackSeen[seq]++
		if err != nil && len(ackErrs) < 20 {
			ackErrs = append(ackErrs, fmt.Sprintf("record %d: %v", seq, err))
		}
		mu.Unlock()
		acked.Add(1)
	}

	in := make(chan int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		produce(t, seed, dial, in, ack)
	}()

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dials:\n%s", dial.summary())
		}
	})
	var res streamResult
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		for n := 1; n <= w.faults; n++ {
			threshold := int64(n * w.records / (w.faults + 1))
			for acked.Load() < threshold {
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			start := time.Now()
			at := int(acked.Load())
			fault(n)
			res.faultStarts = append(res.faultStarts, start)
			res.faultEnds = append(res.faultEnds, time.Now())
			res.ackedAtFault = append(res.ackedAtFault, at)
			res.ackedAfterFault = append(res.ackedAfterFault, int(acked.Load()))
		}
	}()

	// Offer the records at a steady rate, in ticks of 10ms.
	perTick := max(1, w.rate/100)
	tick := time.NewTicker(10 * time.Millisecond)
	for seq := 0; seq < w.records; {
		<-tick.C
		for i := 0; i < perTick && seq < w.records; i++ {
			in <- seq
			seq++
		}
	}
	tick.Stop()
	close(in)

	// Generous: the clients ride over each fault with their own retries.
	limit := 3*time.Minute + time.Duration(w.faults)*30*time.Second
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("the producer has not finished %v after the last record was offered: %d of %d acknowledged; dials:\n%s",
			limit, acked.Load(), w.records, dial.summary())
	}
	<-faultsDone

	mu.Lock()
	for _, e := range ackErrs {
		t.Errorf("producer gave up: %s", e)
	}
	for seq, n := range ackSeen {
		if n != 1 {
			t.Errorf("record %d acknowledged %d times, want once", seq, n)
		}
	}
	mu.Unlock()
	require.Len(t, res.faultStarts, w.faults, "faults that struck")
	for i := range res.faultStarts {
		// Mid-stream: records were acknowledged before the fault, and
		// others were still to come after it.
		require.Positive(t, res.ackedAtFault[i], "fault %d struck before any record was acknowledged", i+1)
		require.Less(t, res.ackedAfterFault[i], w.records, "fault %d ended after the stream had ended", i+1)
	}
	t.Logf("%d records; faults struck at %v acknowledged, ended at %v", w.records, res.ackedAtFault, res.ackedAfterFault)
	if !t.Failed() {
		verifyTopic(t, c, w.records)
	}
	return res
}

// verifyTopic reads the whole topic back over a fault-free mapping and
// fails the test unless it holds exactly records 0..want-1: partition p
// holds p, p+partitions, p+2*partitions... in that order, none lost, none
// twice.
func verifyTopic(t *testing.T, c *kafkanattest.Cluster, want int) {
	t.Helper()
	problems, err := checkTopic(c, want)
	require.NoError(t, err)
	for _, p := range problems {
		t.Error(p)
	}
}

// checkTopic is verifyTopic's check: it returns what is wrong with the
// topic, or an error when it could not read it.
func checkTopic(c *kafkanattest.Cluster, want int) (problems []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dial := kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict())
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Advertised()[0]), kgo.Dialer(dial),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	// What the log holds, from the high watermarks: every offset is one
	// record (no transactions, no compaction).
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(partitions) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("ListOffsets: %w", err)
	}
	stored := 0
	for _, tr := range resp.Topics {
		for _, pr := range tr.Partitions {
			if pr.ErrorCode != 0 {
				return nil, fmt.Errorf("ListOffsets partition %d: error code %d", pr.Partition, pr.ErrorCode)
			}
			stored += int(pr.Offset)
		}
	}
	if stored != want {
		problems = append(problems, fmt.Sprintf("the topic holds %d records, %d were produced (%+d)", stored, want, stored-want))
	}

	got := make([][]int, partitions)
	n := 0
	for n < stored {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("consumed %d of %d records: %w", n, stored, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			problems = append(problems, fmt.Sprintf("fetch %s[%d]: %v", topic, p, err))
		})
		fs.EachRecord(func(r *kgo.Record) {
			seq, err := strconv.Atoi(string(r.Value))
			if err != nil {
				problems = append(problems, fmt.Sprintf("partition %d offset %d: value %q is not a record number", r.Partition, r.Offset, r.Value))
				seq = -1
			}
			got[r.Partition] = append(got[r.Partition], seq)
			n++
		})
	}
	for p := range partitions {
		var exp []int
		for seq := p; seq < want; seq += partitions {
			exp = append(exp, seq)
		}
		if !slices.Equal(got[p], exp) {
			problems = append(problems, fmt.Sprintf("partition %d: %s", p, describeDiff(exp, got[p])))
		}
	}
	return problems, nil
}

// describeDiff says how got differs from the sequence exp: records lost,
// duplicated, or out of order.
func describeDiff(exp, got []int) string {
	count := map[int]int{}
	for _, s := range got {
		count[s]++
	}
	var lost, dup []int
	for _, s := range exp {
		switch {
		case count[s] == 0:
			lost = append(lost, s)
		case count[s] > 1:
			dup = append(dup, s)
		}
	}
	disorder := -1
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			disorder = i
			break
		}
	}
	return fmt.Sprintf("%d records, want %d; lost %v; duplicated %v; first out of order at index %d", len(got), len(exp), head(lost), head(dup), disorder)
}

func head(s []int) []int {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// TestCheckTopicCatchesLossDuplicatesAndDisorder proves the check every
// fault test ends with can fail: a topic with a record lost, one written
// twice and two swapped is reported as such.
func TestCheckTopicCatchesLossDuplicatesAndDisorder(t *testing.T) {
	c := hiddenCluster(t)
	const want = 4 * partitions
	var seqs []int
	for seq := range want {
		switch seq {
		case 7: // lost
		case 8: // written twice
			seqs = append(seqs, seq, seq)
		case 3: // swapped with 3+partitions
			seqs = append(seqs, 3+partitions)
		case 3 + partitions:
			seqs = append(seqs, 3)
		default:
			seqs = append(seqs, seq)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Advertised()[0]), kgo.Dialer(kafkanat.New(kafkanat.Rules(c.Rules()))),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, seq := range seqs {
		// One at a time, so the log holds them in exactly this order.
		r := &kgo.Record{Partition: int32(seq % partitions), Value: recordValue(seq)}
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}

	problems, err := checkTopic(c, want)
	require.NoError(t, err)
	text := strings.Join(problems, "\n")
	for _, wantText := range []string{
		"lost [7]",
		"duplicated [8]",
		"partition 3: 4 records, want 4; lost []; duplicated []; first out of order at index 1",
	} {
		require.Contains(t, text, wantText)
	}
	// One lost and one extra: the count alone would not notice.
	require.Len(t, problems, 3, text)
}

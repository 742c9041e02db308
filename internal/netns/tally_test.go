package netns_test

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
)

// TestTallyCatchesLossDuplicatesAndDisorder proves the exactly-once check
// every workload ends with can fail: a record lost, one read twice, one
// given up, one acknowledged twice, two read out of order, and a value
// that is no record number are each reported.
func TestTallyCatchesLossDuplicatesAndDisorder(t *testing.T) {
	out := &emitter{enc: json.NewEncoder(io.Discard)}
	tl := newTally()
	const offered = 12
	for seq := range offered {
		switch seq {
		case 5:
			tl.ack(seq, errors.New("gave up"), out)
		case 6:
			tl.ack(seq, nil, out)
			tl.ack(seq, nil, out)
		default:
			tl.ack(seq, nil, out)
		}
	}
	// Partition = seq mod 6, as the workloads produce.
	for _, seq := range []int{0, 1, 2, 3, 4, 6, 6, 8, 9, 10, 11} { // 5 was given up, 7 is lost, 6 read twice
		tl.read(int32(seq%partitions), recordValue(seq))
	}
	tl.read(1, recordValue(1)) // 1 again after 1 in its partition: twice, and out of order
	tl.read(2, []byte("garbage"))
	res := tl.result(offered)
	checks := []struct {
		what      string
		got, want []int
	}{
		{"lost", res.Lost, []int{7}},
		{"duplicated", res.Duplicated, []int{1, 6}},
		{"acknowledged twice", res.AckedTwice, []int{6}},
	}
	for _, c := range checks {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if len(res.AckErrors) != 1 || res.Acked != offered-1 {
		t.Errorf("%d records acknowledged, errors %v; want %d and 1 error", res.Acked, res.AckErrors, offered-1)
	}
	if len(res.Disorder) == 0 || len(res.Unexpected) == 0 {
		t.Errorf("disorder %v, unexpected %v; want both reported", res.Disorder, res.Unexpected)
	}
	if p := exactlyOnceProblems(res); len(p) != 2 {
		t.Errorf("problems %q; want the acknowledgements and the reads", p)
	}
	// A clean run has none.
	clean := newTally()
	for seq := range offered {
		clean.ack(seq, nil, out)
		clean.read(int32(seq%partitions), recordValue(seq))
	}
	if p := exactlyOnceProblems(clean.result(offered)); len(p) != 0 {
		t.Errorf("a clean run has problems: %q", p)
	}
}

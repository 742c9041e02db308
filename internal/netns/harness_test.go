package netns_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// clientRun is a client role running inside a namespace, seen from the
// test: the events it printed so far.
type clientRun struct {
	name string
	proc *netns.Process

	mu      sync.Mutex
	events  []event
	acked   int      // acknowledgements without error
	garbage []string // lines that were not events
	notify  chan struct{}
}

// startClient starts a client role in namespace ns. It is stopped, if
// still running, when the test ends; its output is logged if the test
// failed.
func (l *lab) startClient(t *testing.T, ns, name string, spec clientSpec) *clientRun {
	t.Helper()
	r, err := launchClient(ns, name, spec)
	if err != nil {
		t.Fatal(err)
	}
	p := r.proc
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s (client in %s) stderr:\n%s", name, ns, p.Output())
		}
	})
	return r
}

// launchClient starts a client role in namespace ns.
func launchClient(ns, name string, spec clientSpec) (*clientRun, error) {
	if spec.Guard == 0 {
		spec.Guard = 2 * time.Minute
	}
	r := &clientRun{name: name, notify: make(chan struct{}, 1)}
	p, err := startRole(ns, "client", spec, r.line)
	if err != nil {
		return nil, err
	}
	r.proc = p
	return r, nil
}

func (r *clientRun) line(s string) {
	var ev event
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		r.garbage = append(r.garbage, s)
		return
	}
	r.events = append(r.events, ev)
	if ev.Ev == "ack" && ev.Err == "" {
		r.acked++
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Acked is how many records were acknowledged so far.
func (r *clientRun) Acked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

// waitAcked waits until n records are acknowledged; it fails the test if
// the client exits first or limit passes (a hang guard).
func (r *clientRun) waitAcked(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for r.Acked() < n {
		select {
		case <-r.notify:
		case <-r.proc.Exited():
			if r.Acked() < n {
				t.Fatalf("%s exited (%v) with %d records acknowledged, before %d", r.name, r.proc.Err(), r.Acked(), n)
			}
		case <-deadline:
			t.Fatalf("%s: %d records acknowledged after %v, waiting for %d", r.name, r.Acked(), limit, n)
		}
	}
}

// wait waits for the client to exit and returns its events; it fails the
// test if the client failed or printed anything but events.
func (r *clientRun) wait(t *testing.T) []event {
	t.Helper()
	events, err := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// finish waits for the client to exit and returns its events, or an
// error if it failed or printed anything but events.
func (r *clientRun) finish() ([]event, error) {
	if err := r.proc.Err(); err != nil {
		return nil, fmt.Errorf("%s failed: %v; output:\n%s", r.name, err, r.proc.Output())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Ev == "fatal" {
			return nil, fmt.Errorf("%s: %s", r.name, ev.Err)
		}
	}
	if len(r.garbage) > 0 {
		return nil, fmt.Errorf("%s printed lines that are not events: %q", r.name, r.garbage)
	}
	return append([]event(nil), r.events...), nil
}

// result returns the workload's result event of a finished client.
func (r *clientRun) result(t *testing.T) *workResult {
	t.Helper()
	for _, ev := range r.wait(t) {
		if ev.Ev == "result" && ev.Result != nil {
			return ev.Result
		}
	}
	t.Fatalf("%s printed no result", r.name)
	return nil
}

// only returns the events of one kind.
func only(events []event, kind string) []event {
	var out []event
	for _, ev := range events {
		if ev.Ev == kind {
			out = append(out, ev)
		}
	}
	return out
}

// checkExactlyOnce fails the test unless every record offered was
// acknowledged once, without error, and read back exactly once, in order.
func checkExactlyOnce(t *testing.T, name string, res *workResult) {
	t.Helper()
	for _, p := range exactlyOnceProblems(res) {
		t.Errorf("%s: %s", name, p)
	}
}

// exactlyOnceProblems says what is wrong with a workload's result.
func exactlyOnceProblems(res *workResult) []string {
	var out []string
	if res.Acked != res.Offered || len(res.AckErrors) > 0 || len(res.AckedTwice) > 0 {
		out = append(out, fmt.Sprintf("%d of %d records acknowledged; given up: %v; acknowledged twice: %v",
			res.Acked, res.Offered, res.AckErrors, head(res.AckedTwice)))
	}
	if len(res.Lost)+len(res.Duplicated)+len(res.Unexpected)+len(res.Disorder) > 0 {
		out = append(out, fmt.Sprintf("read back %d records: lost %v, duplicated %v, unexpected %v, out of order %v",
			res.Consumed, head(res.Lost), head(res.Duplicated), res.Unexpected, res.Disorder))
	}
	if res.Consumed != res.Offered {
		out = append(out, fmt.Sprintf("read %d records, offered %d", res.Consumed, res.Offered))
	}
	return out
}

func head(s []int) []int {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// routesOf counts the connections the client made, by route.
func routesOf(events []event) map[string]int {
	out := map[string]int{}
	for _, ev := range only(events, "call") {
		if ev.Err == "" {
			out[ev.Route]++
		}
	}
	return out
}

// targetsOf lists the distinct targets the client connected to.
func targetsOf(events []event) []string {
	seen := map[string]bool{}
	for _, ev := range only(events, "call") {
		if ev.Err == "" {
			seen[ev.Target] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dialSummary describes a client's dials for a failure message.
func dialSummary(events []event) string {
	var b strings.Builder
	for _, ev := range events {
		if ev.Ev != "dial" && ev.Ev != "call" {
			continue
		}
		status := "ok"
		if ev.Err != "" {
			status = ev.Err
		}
		fmt.Fprintf(&b, "  %s %-4s %s -> %s via %s (%v): %s\n", ev.at().Format("15:04:05.000"), ev.Ev, ev.Addr, ev.Target, ev.Route, ev.Dur.Round(time.Millisecond), status)
	}
	return b.String()
}

// scenarioGuard bounds waits for a client's progress: passing it means a
// hang, not a slow machine.
const scenarioGuard = 90 * time.Second

func nowNano() int64 { return time.Now().UnixNano() }

package netns_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// TestIsolation proves the lab is what the other tests assume: from the
// client's network, a Kafka client without kafkanat cannot reach the
// brokers, neither by their advertised names (no DNS) nor by their real
// addresses (no route), while the same client on the edge host can.
func TestIsolation(t *testing.T) {
	l := getLab(t)
	report, err := l.isolation()
	t.Log(report)
	if err != nil {
		t.Fatal(err)
	}
}

// requireIsolated fails the test unless the lab's isolation was proven
// (once per run: the first test to ask pays for it).
func (l *lab) requireIsolated(t *testing.T) {
	t.Helper()
	if _, err := l.isolation(); err != nil {
		t.Fatalf("the lab is not isolated, so this test would prove nothing: %v", err)
	}
}

var (
	isolationOnce   sync.Once
	isolationReport string
	isolationErr    error
)

func (l *lab) isolation() (string, error) {
	isolationOnce.Do(func() { isolationReport, isolationErr = l.proveIsolation() })
	return isolationReport, isolationErr
}

func (l *lab) proveIsolation() (string, error) {
	seed := netns.Brokers[0].Advertised()
	ping := clientSpec{Mode: "ping", Plain: true, Seed: seed, Guard: 16 * time.Second}
	byAddr := clientSpec{Mode: "dial", Plain: true, Guard: 16 * time.Second, Dials: []dialSpec{{Address: netns.Brokers[0].Real(), Deadline: 5 * time.Second}}}
	runs := []struct {
		what, ns string
		spec     clientSpec
		fail     bool   // must fail
		want     string // in the error
	}{
		{"client host, plain franz-go, seed " + seed, l.topo.Client, ping, true, ""},
		{"client host, plain dial of broker 0's real address " + netns.Brokers[0].Real(), l.topo.Client, byAddr, true, "network is unreachable"},
		{"edge host (control), plain franz-go, seed " + seed, l.topo.Edge, ping, false, ""},
	}
	var report strings.Builder
	var errs []error
	for _, r := range runs {
		cr, err := launchClient(r.ns, "isolation", r.spec)
		if err != nil {
			return "", err
		}
		events, err := cr.finish()
		if err != nil {
			return "", err
		}
		var got *event
		for i := range events {
			if events[i].Ev == "pinged" || events[i].Ev == "dialed" {
				got = &events[i]
			}
		}
		if got == nil {
			errs = append(errs, fmt.Errorf("%s: no result", r.what))
			continue
		}
		status := "connected"
		if got.Err != "" {
			status = "failed: " + got.Err
		}
		fmt.Fprintf(&report, "%s: %s\n", r.what, status)
		switch {
		case r.fail && got.Err == "":
			errs = append(errs, fmt.Errorf("%s: connected, want a failure", r.what))
		case r.fail && !strings.Contains(got.Err, r.want):
			errs = append(errs, fmt.Errorf("%s: %s, want an error containing %q", r.what, got.Err, r.want))
		case !r.fail && got.Err != "":
			errs = append(errs, fmt.Errorf("%s: %s, want it to connect", r.what, got.Err))
		}
	}
	return report.String(), errors.Join(errs...)
}

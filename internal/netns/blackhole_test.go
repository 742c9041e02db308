package netns_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// blackholeTimeout is the DialTimeout of the blackhole tests: a route
// attempt that hits the blackhole costs this much unless the dialer
// remembers the route failed, or starts the next route before it ends.
const blackholeTimeout = 3 * time.Second

// blackholes are the two ways a first route can swallow connections:
// SYNs dropped on the way (connect never completes), and a proxy that
// accepts and never answers (the SOCKS5 handshake never completes).
func blackholes(l *lab) []struct {
	name  string
	start func(t *testing.T) string // returns the route URL
} {
	return []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"SYNs dropped", func(t *testing.T) string {
			rule(t, l.topo.Edge, "filter", "INPUT", append([]string{"-i", "client0", "-p", "tcp", "--dport", "1082", "--syn"},
				append(netns.Counted("blackhole"), "-j", "DROP")...)...)
			return "socks5://" + netns.EdgeIP + ":1082"
		}},
		{"accepts and never answers", func(t *testing.T) string {
			p, err := startService(l.topo.Edge, "blackhole", blackholeSpec{Addr: netns.EdgeIP + ":1083"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Stop() })
			return "socks5://" + netns.EdgeIP + ":1083"
		}},
	}
}

// TestBlackholedFirstRoute: with "via a, b" and route a a blackhole,
// fresh clients must get going through b, and the dialer must remember
// that a failed: a dial that starts right after a's failure goes to b
// without waiting for a's timeout again.
func TestBlackholedFirstRoute(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	for _, bh := range blackholes(l) {
		t.Run(bh.name, func(t *testing.T) {
			a := bh.start(t)
			b, _ := l.dante(t, 1080)
			runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + a + ", " + b,
				DialTimeout: blackholeTimeout})
			events := checkRuns(t, runs, isRoute(b), advertisedTargets())
			for _, c := range clients {
				checkRouteMemory(t, c, events[c], a)
			}
		})
	}
}

// checkRouteMemory checks, from a client's events, that route a was tried
// and failed (a timeout, or too slow while b connected), and that no
// attempt on a started within memoryWindow after one of a's failures:
// the dialer remembered. It logs what the dials cost.
func checkRouteMemory(t *testing.T, client string, events []event, a string) {
	t.Helper()
	var failures []int64
	var retried []string
	for _, ev := range only(events, "dial") {
		if ev.Route != a {
			continue
		}
		start := ev.T - int64(ev.Dur)
		for _, f := range failures {
			if start >= f && start < f+int64(memoryWindow) {
				retried = append(retried, fmt.Sprintf("%s at +%v", ev.Addr, time.Duration(start-f).Round(time.Millisecond)))
				break
			}
		}
		if ev.Err != "" {
			failures = append(failures, ev.T)
		}
	}
	if len(failures) == 0 {
		t.Errorf("%s: route %s was never tried, or never failed: the blackhole proves nothing\n%s", client, a, dialSummary(events))
		return
	}
	calls := only(events, "call")
	var paid int
	var slowest time.Duration
	for _, c := range calls {
		if c.Dur >= blackholeTimeout*9/10 {
			paid++
		}
		slowest = max(slowest, c.Dur)
	}
	var firstAck int64
	for _, ev := range only(events, "ack") {
		if ev.Err == "" {
			firstAck = ev.T
			break
		}
	}
	t.Logf("REAL-NETWORK blackholed first route, %s: %d dials, %d of them waited the whole DialTimeout (%v), the slowest took %v; route a tried %d times; first record acknowledged %v after the first dial",
		client, len(calls), paid, blackholeTimeout, slowest.Round(time.Millisecond), len(failures)+len(retried),
		time.Duration(firstAck-calls[0].Start).Round(10*time.Millisecond))
	if len(retried) > 0 {
		t.Errorf("%s: route a was tried again right after it failed (no memory of the failure): %s\n%s", client, strings.Join(retried, "; "), dialSummary(events))
	}
}

// memoryWindow is how soon after a route's failure no dial may try it
// again: well inside the backoff the dialer promises (a second at first).
const memoryWindow = 500 * time.Millisecond

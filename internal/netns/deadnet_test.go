package netns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// dialOnceIn runs one dial in the client's network and returns its event.
func (l *lab) dialOnceIn(t *testing.T, spec clientSpec) event {
	t.Helper()
	spec.Mode = "dial"
	if spec.Guard == 0 {
		spec.Guard = time.Minute
	}
	evs := only(l.startClient(t, l.topo.Client, "dial", spec).wait(t), "dialed")
	if len(evs) != 1 {
		t.Fatalf("%d dial results, want 1", len(evs))
	}
	t.Logf("dial %s: %v after %v", evs[0].Addr, orOK(evs[0].Err), evs[0].Dur.Round(time.Millisecond))
	return evs[0]
}

func orOK(err string) string {
	if err == "" {
		return "connected"
	}
	return err
}

// TestDialerOnADeadNetwork: what the dialer says and how long it takes
// where the client's network has no DNS server that answers and routes
// that swallow packets.
func TestDialerOnADeadNetwork(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	name := netns.Brokers[0].Advertised()

	t.Run("no rule and no DNS server: the error suggests a rule", func(t *testing.T) {
		ev := l.dialOnceIn(t, clientSpec{DialTimeout: 10 * time.Second, Dials: []dialSpec{{Address: name}}})
		for _, want := range []string{"could not be resolved", "add a rule"} {
			if !strings.Contains(ev.Err, want) {
				t.Errorf("error %q does not contain %q", ev.Err, want)
			}
		}
	})

	t.Run("DialTimeout bounds Lookup", func(t *testing.T) {
		// The resolver alone, for comparison: it gives up after the
		// client's resolv.conf timeout.
		plain := l.dialOnceIn(t, clientSpec{Plain: true, Dials: []dialSpec{{Address: name}}})
		const timeout = 300 * time.Millisecond
		ev := l.dialOnceIn(t, clientSpec{LookupDNS: true, DialTimeout: timeout, Dials: []dialSpec{{Address: name}}})
		t.Logf("REAL-NETWORK dead DNS: the resolver gave up after %v; a dial whose Lookup asks it, with DialTimeout %v, returned after %v",
			plain.Dur.Round(time.Millisecond), timeout, ev.Dur.Round(time.Millisecond))
		if ev.Err == "" || !ev.Timeout {
			t.Errorf("the dial returned %q, want a timeout", orOK(ev.Err))
		}
		// The dial's own deadline ended it, not the resolver giving up.
		if want := "did not return before the dial's deadline"; !strings.Contains(ev.Err, want) {
			t.Errorf("the dial returned %q, want %q: DialTimeout %v did not bound Lookup", ev.Err, want, timeout)
		}
	})

	t.Run("a caller deadline shorter than DialTimeout leaves time for the second route", func(t *testing.T) {
		rule(t, l.topo.Edge, "filter", "INPUT", "-i", "client0", "-p", "tcp", "--dport", "1082", "--syn", "-j", "DROP")
		a := "socks5://" + netns.EdgeIP + ":1082"
		b, _ := l.dante(t, 1080)
		ev := l.dialOnceIn(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + a + ", " + b, DialTimeout: 10 * time.Second,
			Dials: []dialSpec{{Address: name, Deadline: 2 * time.Second}}})
		if ev.Err != "" || ev.Route != b {
			t.Errorf("dial with a 2s deadline, DialTimeout 10s, route a blackholed: %s over %q, want a connection over %s", orOK(ev.Err), ev.Route, b)
		}
	})

	t.Run("the error names every route and why each failed", func(t *testing.T) {
		rule(t, l.topo.Edge, "filter", "INPUT", "-i", "client0", "-p", "tcp", "--dport", "1082", "--syn", "-j", "DROP")
		a := "socks5://" + netns.EdgeIP + ":1082" // blackholed
		b := "socks5://" + netns.EdgeIP + ":1084" // nothing listens: refused
		ev := l.dialOnceIn(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + a + ", " + b, DialTimeout: time.Second,
			Dials: []dialSpec{{Address: name}}})
		for _, want := range []string{name, a, b, "refused", "deadline exceeded"} {
			if !strings.Contains(ev.Err, want) {
				t.Errorf("error %q does not contain %q", ev.Err, want)
			}
		}
	})
}

package netns_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

const (
	// outage is how long the link to the proxy or bastion drops every
	// packet, silently: no RST, no ICMP.
	outage = 15 * time.Second
	// linkRecords at linkRate keep both clients producing before, during
	// and well after the outage.
	linkRecords = 2000
	linkRate    = 100
)

// faultWindow is when a fault struck and when it was lifted.
type faultWindow struct{ start, end int64 }

// linkMeasure is what one client saw of a silent link death.
type linkMeasure struct {
	detected  time.Duration // from the fault to the first failed dial or closed connection before recovery; -1: none (the connections rode it out)
	recovered time.Duration // from the link's return to the first record acknowledged after it; -1: none
	during    int           // records acknowledged while the link was dead
	failed    int           // route attempts that failed during the fault and until recovery
}

func (m linkMeasure) String() string {
	d := "none (the connections rode it out)"
	if m.detected >= 0 {
		d = m.detected.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("detection %s, recovery %s after the link returned, %d records acknowledged during the outage, %d failed route attempts",
		d, m.recovered.Round(10*time.Millisecond), m.during, m.failed)
}

// measureLink reads a client's events around a fault.
func measureLink(events []event, w faultWindow) linkMeasure {
	m := linkMeasure{detected: -1, recovered: -1}
	var recoveredAt int64
	for _, ev := range events {
		if ev.Ev == "ack" && ev.Err == "" && ev.T >= w.end && recoveredAt == 0 {
			recoveredAt = ev.T
			m.recovered = time.Duration(ev.T - w.end)
		}
	}
	for _, ev := range events {
		if ev.T < w.start || recoveredAt != 0 && ev.T > recoveredAt {
			continue
		}
		switch {
		case ev.Ev == "ack" && ev.Err == "" && ev.T < w.end:
			m.during++
		case ev.Ev == "dial" && ev.Err != "":
			m.failed++
			fallthrough
		case ev.Ev == "close":
			if m.detected < 0 {
				m.detected = time.Duration(ev.T - w.start)
			}
		}
	}
	return m
}

// dropLink makes the edge drop, silently and both ways, every packet of
// the client's connections to port on the edge, for d.
func dropLink(t *testing.T, l *lab, port int, d time.Duration) faultWindow {
	t.Helper()
	p := strconv.Itoa(port)
	in, err := netns.Insert(l.topo.Edge, "filter", "INPUT", "-i", "client0", "-p", "tcp", "--dport", p, "-j", "DROP")
	if err != nil {
		t.Fatal(err)
	}
	out, err := netns.Insert(l.topo.Edge, "filter", "OUTPUT", "-o", "client0", "-p", "tcp", "--sport", p, "-j", "DROP")
	if err != nil {
		in.Delete()
		t.Fatal(err)
	}
	w := faultWindow{start: nowNano()}
	time.Sleep(d)
	for _, r := range []*netns.Rule{in, out} {
		if err := r.Delete(); err != nil {
			t.Fatalf("restoring the link: %v", err)
		}
	}
	w.end = nowNano()
	return w
}

// TestSilentLinkDeath: mid-stream, the link between the client host and
// the edge drops every packet of the route's connections for a while, as
// a dead link, a rebooted NAT or a firewall losing its state does, with
// no RST. Both clients must lose nothing; the test measures how long they
// took to notice and to recover once the link returned.
func TestSilentLinkDeath(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	for _, tc := range []struct {
		name  string
		route func(t *testing.T) (string, func() int)
		port  int
	}{
		// The route's defaults: an outage shorter than its keepalive
		// (about 15s x 3) goes unnoticed by the route, and traffic
		// resumes only when TCP retransmits on the stalled connection.
		{"SSH with the default keepalive", func(t *testing.T) (string, func() int) {
			b, _ := l.sshd(t, "")
			return b, nil
		}, 22},
		{"SOCKS5", func(t *testing.T) (string, func() int) {
			gw, _ := l.dante(t, 1080)
			return gw, nil
		}, 1080},
		// Keepalives every second, two missed ones and the bastion is
		// dead: the SSH route must drop the stalled connection and
		// dial a new one when the link returns.
		{"SSH with keepalive=1s and keepalive_max=2", func(t *testing.T) (string, func() int) {
			b, sshd := l.sshd(t, "keepalive=1s&keepalive_max=2")
			return b, func() int { return sshLogins(sshd) }
		}, 22},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route, logins := tc.route(t)
			runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + route, DialTimeout: 5 * time.Second,
				Records: linkRecords, Rate: linkRate})
			for _, c := range clients {
				runs[c].waitAcked(t, linkRecords/5, scenarioGuard)
			}
			loginsBefore := 0
			if logins != nil {
				loginsBefore = logins()
			}
			w := dropLink(t, l, tc.port, outage)
			events := checkRuns(t, runs, func(r string) bool { return strings.HasPrefix(r, strings.SplitN(route, "?", 2)[0]) }, advertisedTargets())
			for _, c := range clients {
				m := measureLink(events[c], w)
				t.Logf("REAL-NETWORK %s link dead %v, %s: %s", tc.name, outage, c, m)
				if m.recovered < 0 {
					t.Errorf("%s: no record acknowledged after the link returned", c)
				}
			}
			if logins != nil {
				after := logins()
				t.Logf("sshd let in %d SSH connections before the outage, %d in all", loginsBefore, after)
				if after <= loginsBefore {
					t.Errorf("no new SSH connection after the outage: the stalled one was never declared dead (keepalive)")
				}
			}
		})
	}
}

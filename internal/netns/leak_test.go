package netns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// leakCounters makes the client's firewall count, until the test ends,
// every packet leaving the client host that could leak: DNS queries (UDP
// and TCP port 53), TCP SYNs to anything but allowed ("ip:port"), and
// other UDP. SYNs to allowed are counted apart. Nothing is dropped: the
// rules only count, and the counts are the test's evidence.
func leakCounters(t *testing.T, l *lab, allowed string) {
	t.Helper()
	ip, port, _ := strings.Cut(allowed, ":")
	for _, spec := range [][]string{
		{"-o", "lo", "-j", "RETURN"},
		append(append([]string{"-p", "tcp", "--syn", "-d", ip, "--dport", port}, netns.Counted("allowed-syn")...), "-j", "RETURN"),
		append(append([]string{"-p", "udp", "--dport", "53"}, netns.Counted("dns")...), "-j", "RETURN"),
		append(append([]string{"-p", "tcp", "--dport", "53"}, netns.Counted("dns")...), "-j", "RETURN"),
		append(append([]string{"-p", "tcp", "--syn"}, netns.Counted("other-syn")...), "-j", "RETURN"),
		append([]string{"-p", "udp"}, netns.Counted("other-udp")...),
	} {
		r, err := netns.Append(l.topo.Client, "filter", "OUTPUT", spec...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := r.Delete(); err != nil {
				t.Errorf("removing %s: %v", r, err)
			}
		})
	}
}

func clientCounters(t *testing.T, l *lab) map[string]uint64 {
	t.Helper()
	c, err := netns.Counters(l.topo.Client, "filter")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNoLeakFromTheClientNetwork: through a SOCKS5 gateway or an SSH
// bastion, the only packets that open anything outside the client host
// are SYNs to the route's proxy: no DNS query, no SYN elsewhere, no other
// UDP. The control shows the counters do see a client that leaks.
func TestNoLeakFromTheClientNetwork(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)

	t.Run("control: the counters see a plain client", func(t *testing.T) {
		leakCounters(t, l, netns.EdgeIP+":1080")
		// A plain client resolves the seed itself (a DNS query), and a
		// plain dial of the edge's closed port 9 sends a SYN elsewhere.
		r := l.startClient(t, l.topo.Client, "plain", clientSpec{Mode: "ping", Plain: true, Seed: netns.Brokers[0].Advertised(), Guard: 16 * time.Second})
		r.wait(t)
		d := l.startClient(t, l.topo.Client, "plain dial", clientSpec{Mode: "dial", Plain: true, Guard: 16 * time.Second,
			Dials: []dialSpec{{Address: netns.EdgeIP + ":9", Deadline: 5 * time.Second}}})
		d.wait(t)
		c := clientCounters(t, l)
		t.Logf("counters: %s", describeCounts(c))
		if c["dns"] == 0 || c["other-syn"] == 0 {
			t.Errorf("the counters missed a leak: %s; want dns and other-syn above 0", describeCounts(c))
		}
	})

	for _, tc := range []struct {
		name  string
		route func(t *testing.T) string
		proxy string
	}{
		{"SOCKS5 gateway", func(t *testing.T) string { gw, _ := l.dante(t, 1080); return gw }, netns.EdgeIP + ":1080"},
		{"SSH bastion", func(t *testing.T) string { b, _ := l.sshd(t, ""); return b }, netns.EdgeIP + ":22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := tc.route(t)
			leakCounters(t, l, tc.proxy)
			runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + route})
			checkRuns(t, runs, func(r string) bool { return strings.HasPrefix(r, strings.SplitN(route, "?", 2)[0]) }, advertisedTargets())
			c := clientCounters(t, l)
			t.Logf("packets out of the client host: %s", describeCounts(c))
			for _, k := range []string{"dns", "other-syn", "other-udp"} {
				if c[k] != 0 {
					t.Errorf("%d %s packets left the client host; want none", c[k], k)
				}
			}
			if c["allowed-syn"] == 0 {
				t.Errorf("no SYN to the route's proxy %s was counted: the counters do not see the client", tc.proxy)
			}
		})
	}
}

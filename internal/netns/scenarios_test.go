package netns_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// Every scenario runs franz-go and sarama at once, each in its own process
// in the client's network, each producing its records to a topic of its
// own while consuming them back.
const (
	scenarioRecords = 600
	scenarioRate    = 300
)

// clients are the Kafka clients every scenario runs.
var clients = []string{"franz-go", "sarama"}

// runClients starts one workload per client with spec, and returns the
// runs by client.
func (l *lab) runClients(t *testing.T, spec clientSpec) map[string]*clientRun {
	t.Helper()
	runs := map[string]*clientRun{}
	for _, c := range clients {
		s := spec
		s.Mode, s.Client, s.Topic = "workload", c, l.topic(t)
		if s.Seed == "" {
			s.Seed = netns.Brokers[0].Advertised()
		}
		if s.Records == 0 {
			s.Records = scenarioRecords
		}
		if s.Rate == 0 {
			s.Rate = scenarioRate
		}
		runs[c] = l.startClient(t, l.topo.Client, c, s)
	}
	return runs
}

// checkRuns waits for every run, checks exactly-once delivery, and checks
// that every connection went over a route accepted by route and to a
// target in targets (nil: any). It returns the events by client.
func checkRuns(t *testing.T, runs map[string]*clientRun, route func(string) bool, targets []string) map[string][]event {
	t.Helper()
	out := map[string][]event{}
	for _, c := range clients {
		r := runs[c]
		res := r.result(t)
		events := r.wait(t)
		out[c] = events
		checkExactlyOnce(t, c, res)
		for rt, n := range routesOf(events) {
			if !route(rt) {
				t.Errorf("%s: %d connections over route %q", c, n, rt)
			}
		}
		if got := targetsOf(events); targets != nil && !slices.Equal(got, targets) {
			t.Errorf("%s: connected to targets %v, want %v", c, got, targets)
		}
		if t.Failed() {
			t.Logf("%s dials:\n%s", c, dialSummary(events))
		}
		t.Logf("%s: %d records produced and read back exactly once; connections by route: %v", c, res.Offered, routesOf(events))
	}
	return out
}

func isRoute(want string) func(string) bool {
	return func(got string) bool { return got == want }
}

// advertisedTargets is what a route that resolves names on the far side is
// asked for: the advertised addresses, unresolved.
func advertisedTargets() []string {
	var out []string
	for _, b := range netns.Brokers {
		out = append(out, b.Advertised())
	}
	return out
}

// TestScenario2NodePortsThroughNAT: brokers in "Kubernetes", one NodePort
// per broker on a node address, the node NATs each port to its broker
// (iptables DNAT on the edge). The rule computes the port from the
// broker's number.
func TestScenario2NodePortsThroughNAT(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	var targets []string
	for _, b := range netns.Brokers {
		nodePort := netns.NodeIP + ":" + strconv.Itoa(31090+b.Node)
		targets = append(targets, nodePort)
		rule(t, l.topo.Edge, "nat", "PREROUTING", append([]string{"-d", netns.NodeIP, "-p", "tcp", "--dport", strconv.Itoa(31090 + b.Node)},
			append(netns.Counted("nodeport"), "-j", "DNAT", "--to-destination", b.Real())...)...)
	}
	rules := "kafka-{n}." + netns.BrokerDomain + " => " + netns.NodeIP + ":{31090+n}"
	runs := l.runClients(t, clientSpec{Rules: rules})
	checkRuns(t, runs, isRoute("direct"), targets)
	counts, err := netns.Counters(l.topo.Edge, "nat")
	if err != nil {
		t.Fatal(err)
	}
	// The DNAT rules see the first packet of each connection.
	if counts["nodeport"] == 0 {
		t.Error("no connection went through the edge's NAT")
	}
	t.Logf("connections translated by the edge's NodePort NAT: %d", counts["nodeport"])
}

// TestScenario2SOCKS5Gateway: a SOCKS5 gateway (dante) inside the brokers'
// network resolves their names; the client sends names unresolved.
func TestScenario2SOCKS5Gateway(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	gw, _ := l.dante(t, 1080)
	runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + gw})
	checkRuns(t, runs, isRoute(gw), advertisedTargets())
}

// TestScenario3LoadBalancerPortPerBroker: one load balancer address
// (haproxy on the edge), one port per broker; every broker name goes to
// that address and keeps its advertised port.
func TestScenario3LoadBalancerPortPerBroker(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	var fw []forward
	var targets []string
	for _, b := range netns.Brokers {
		lb := netns.LBIP + ":" + strconv.Itoa(b.Port)
		fw = append(fw, forward{listen: lb, target: b.Real()})
		targets = append(targets, lb)
	}
	l.haproxy(t, fw)
	runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " => " + netns.LBIP})
	checkRuns(t, runs, isRoute("direct"), targets)
}

// TestScenario4OneHostSeveralPorts: one proxy host maps a port to each
// broker (socat), on ports unrelated to the brokers'.
func TestScenario4OneHostSeveralPorts(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	var fw []forward
	var rules []string
	var targets []string
	for i, b := range netns.Brokers {
		proxy := netns.ProxyIP + ":" + strconv.Itoa(7092+1000*i)
		fw = append(fw, forward{listen: proxy, target: b.Real()})
		rules = append(rules, b.Advertised()+" => "+proxy)
		targets = append(targets, proxy)
	}
	l.socat(t, fw)
	runs := l.runClients(t, clientSpec{Rules: strings.Join(rules, "; ")})
	checkRuns(t, runs, isRoute("direct"), targets)
}

// TestScenario5RegistryAndFailover: a registry (Lookup) maps each
// advertised address to the broker's private address, reached through
// SOCKS5 fronts tried in order. Front a dies mid-stream (SIGKILL): the
// clients carry on through front b, and lose nothing.
func TestScenario5RegistryAndFailover(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	a, frontA := l.dante(t, 1085)
	b, _ := l.microsocks(t, 1081)
	registry := map[string]string{}
	var targets []string
	for _, br := range netns.Brokers {
		registry[br.Advertised()] = br.Real()
		targets = append(targets, br.Real())
	}
	runs := l.runClients(t, clientSpec{Registry: registry, Via: a + ", " + b, Records: 1500})
	runs["franz-go"].waitAcked(t, 400, scenarioGuard)
	frontA.Kill()
	killed := nowNano()
	events := checkRuns(t, runs, func(r string) bool { return r == a || r == b }, targets)
	for _, c := range clients {
		var before, after []string
		var firstOverB int64
		for _, ev := range only(events[c], "call") {
			if ev.Err != "" {
				continue
			}
			if ev.T < killed {
				before = append(before, ev.Route)
			} else {
				after = append(after, ev.Route)
				if firstOverB == 0 && ev.Route == b {
					firstOverB = ev.T
				}
			}
		}
		var firstAck int64
		for _, ev := range only(events[c], "ack") {
			if ev.T >= firstOverB && ev.Err == "" {
				firstAck = ev.T
				break
			}
		}
		t.Logf("REAL-NETWORK front a killed, %s: first connection over front b %v after the kill, first record acknowledged over it %v after the kill",
			c, time.Duration(firstOverB-killed).Round(time.Millisecond), time.Duration(firstAck-killed).Round(time.Millisecond))
		if len(before) == 0 || slices.ContainsFunc(before, func(r string) bool { return r != a }) {
			t.Errorf("%s: connections before front a died went over %v, want all over %s", c, before, a)
		}
		if len(after) == 0 || slices.ContainsFunc(after, func(r string) bool { return r != b }) {
			t.Errorf("%s: connections after front a died went over %v, want at least one, all over %s", c, after, b)
		}
		t.Logf("%s: %d connections over front a before it died, %d over front b after", c, len(before), len(after))
	}
}

// TestSSHBastion: every broker connection is a channel of one SSH
// connection to OpenSSH's sshd on the edge, which resolves the names.
func TestSSHBastion(t *testing.T) {
	l := getLab(t)
	l.requireIsolated(t)
	bastion, sshd := l.sshd(t, "")
	runs := l.runClients(t, clientSpec{Rules: "*." + netns.BrokerDomain + " via " + bastion})
	events := checkRuns(t, runs, func(r string) bool { return strings.HasPrefix(r, "ssh://root@"+netns.EdgeIP+":22") }, advertisedTargets())
	// One SSH connection per client process carries all of its broker
	// connections (producer and consumer clients share the dialer).
	if n := sshLogins(sshd); n != len(clients) {
		t.Errorf("sshd let in %d SSH connections, want %d (one per client process)", n, len(clients))
	}
	for _, c := range clients {
		t.Logf("%s: %d broker connections over the bastion", c, len(only(events[c], "call")))
	}
}

func describeCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

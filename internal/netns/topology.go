package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Addresses of the topology. Only documentation ranges (RFC 5737) are
// used, so nothing here can be confused with a real network.
const (
	ClientIP = "203.0.113.2"  // the client host
	EdgeIP   = "203.0.113.1"  // the edge's address on the client side: gateways and the bastion
	LBIP     = "203.0.113.3"  // the edge's load balancer address (one port per broker)
	ProxyIP  = "203.0.113.4"  // the edge's proxy host address (several ports, several brokers)
	NodeIP   = "203.0.113.10" // the edge's "Kubernetes node" address (NodePorts, NAT)

	// DeadDNSIP is the client's name server: an address in the client's
	// subnet that no host holds, so queries go out and nothing answers.
	DeadDNSIP = "203.0.113.53"

	EdgeBrokersIP = "198.51.100.1"  // the edge's address on the brokers' side
	DNSIP         = "198.51.100.53" // the brokers' network's DNS server

	// BrokerDomain is the zone the brokers' DNS server answers for.
	BrokerDomain = "brokers.kafkanat.test"
)

// Interface names, inside the namespaces (the root namespace never sees
// them).
const (
	clientLink       = "edge0"    // in client
	edgeClientLink   = "client0"  // in edge
	edgeBrokersLink  = "brokers0" // in edge
	brokersEdgeLink  = "edge0"    // in brokers
	namePrefixFormat = "kntns%d"
)

// Brokers are the brokers' addresses, names and ports, in node order.
var Brokers = []Broker{
	{Node: 0, IP: "198.51.100.11", Port: 9092},
	{Node: 1, IP: "198.51.100.12", Port: 9093},
	{Node: 2, IP: "198.51.100.13", Port: 9094},
}

// Broker is one broker of the brokers' network. Each listens on its own
// address and a port of its own, so that both one-IP-per-broker and
// one-port-per-broker designs can be built in front of them.
type Broker struct {
	Node int
	IP   string
	Port int
}

// Host is the name the broker advertises, which only the brokers' DNS
// server resolves.
func (b Broker) Host() string { return fmt.Sprintf("kafka-%d.%s", b.Node, BrokerDomain) }

// Advertised is the broker's advertised host:port.
func (b Broker) Advertised() string { return b.Host() + ":" + strconv.Itoa(b.Port) }

// Real is the broker's real IP:port inside the brokers' network.
func (b Broker) Real() string { return b.IP + ":" + strconv.Itoa(b.Port) }

// Topology is the three namespaces of one run: client, edge and brokers.
type Topology struct {
	Prefix  string // "kntns<pid>": every name of the run starts with it
	Client  string // namespace names
	Edge    string
	Brokers string
}

// Prefix returns the name prefix of the run of process pid.
func Prefix(pid int) string { return fmt.Sprintf(namePrefixFormat, pid) }

// Build creates the topology of the run whose names start with prefix. On
// error whatever was created is removed again.
func Build(prefix string) (*Topology, error) {
	if err := checkHostSubnets(); err != nil {
		return nil, err
	}
	t := &Topology{Prefix: prefix, Client: prefix + "-client", Edge: prefix + "-edge", Brokers: prefix + "-brokers"}
	if err := t.build(); err != nil {
		if rmErr := Remove(prefix); rmErr != nil {
			err = fmt.Errorf("%w (and removing what was built: %v)", err, rmErr)
		}
		return nil, fmt.Errorf("building the network namespaces %s-*: %w", prefix, err)
	}
	return t, nil
}

func (t *Topology) build() error {
	// Name servers first: "ip netns exec" bind-mounts these files over
	// /etc, so every process started in a namespace sees its own.
	resolv := map[string]string{
		t.Client:  "nameserver " + DeadDNSIP + "\noptions timeout:2 attempts:1\n",
		t.Edge:    "nameserver " + DNSIP + "\n",
		t.Brokers: "nameserver " + DNSIP + "\n",
	}
	for ns, text := range resolv {
		dir := filepath.Join(etcNetns, ns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"netns", "add", t.Client}, {"netns", "add", t.Edge}, {"netns", "add", t.Brokers},
		// Created inside the namespaces: nothing appears in the root one,
		// not even for a moment.
		{"link", "add", "name", clientLink, "netns", t.Client, "type", "veth", "peer", "name", edgeClientLink, "netns", t.Edge},
		{"link", "add", "name", edgeBrokersLink, "netns", t.Edge, "type", "veth", "peer", "name", brokersEdgeLink, "netns", t.Brokers},
		{"-n", t.Client, "addr", "add", ClientIP + "/24", "dev", clientLink},
		{"-n", t.Edge, "addr", "add", EdgeIP + "/24", "dev", edgeClientLink},
		{"-n", t.Edge, "addr", "add", LBIP + "/24", "dev", edgeClientLink},
		{"-n", t.Edge, "addr", "add", ProxyIP + "/24", "dev", edgeClientLink},
		{"-n", t.Edge, "addr", "add", NodeIP + "/24", "dev", edgeClientLink},
		{"-n", t.Edge, "addr", "add", EdgeBrokersIP + "/24", "dev", edgeBrokersLink},
		{"-n", t.Brokers, "addr", "add", DNSIP + "/24", "dev", brokersEdgeLink},
	}
	for _, b := range Brokers {
		steps = append(steps, []string{"-n", t.Brokers, "addr", "add", b.IP + "/24", "dev", brokersEdgeLink})
	}
	for _, l := range []struct{ ns, dev string }{
		{t.Client, "lo"}, {t.Client, clientLink},
		{t.Edge, "lo"}, {t.Edge, edgeClientLink}, {t.Edge, edgeBrokersLink},
		{t.Brokers, "lo"}, {t.Brokers, brokersEdgeLink},
	} {
		steps = append(steps, []string{"-n", l.ns, "link", "set", l.dev, "up"})
	}
	for i, s := range steps {
		if _, err := Run("ip", s...); err != nil {
			return err
		}
		if i == 2 {
			// IPv4 only: with IPv6 off, no packet can leave by a path the
			// IPv4 firewall counters do not see.
			for _, ns := range []string{t.Client, t.Edge, t.Brokers} {
				for _, key := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
					if _, err := InNS(ns, "sysctl", "-q", "-w", key); err != nil {
						return err
					}
				}
			}
		}
	}
	return t.edgeForwarding()
}

// edgeForwarding makes the edge a router for translated connections only:
// forwarding on (in the edge's namespace alone), everything forwarded
// dropped except connections a DNAT rule translated, and those leave
// towards the brokers from the edge's own address, so the brokers need no
// route back to the client.
func (t *Topology) edgeForwarding() error {
	rules := [][]string{
		{"sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		{"iptables", "-w", "-P", "FORWARD", "DROP"},
		{"iptables", "-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"iptables", "-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"},
		{"iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", edgeBrokersLink, "-m", "conntrack", "--ctstate", "DNAT", "-j", "SNAT", "--to-source", EdgeBrokersIP},
	}
	for _, r := range rules {
		if _, err := InNS(t.Edge, r[0], r[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the topology: every process still in its namespaces is
// killed, the namespaces (and with them the veth pairs and firewall rules)
// are deleted, and the per-namespace files under /etc/netns are removed.
func (t *Topology) Close() error { return Remove(t.Prefix) }

// etcNetns is where "ip netns exec" finds per-namespace /etc files.
const etcNetns = "/etc/netns"

// Remove deletes every namespace whose name starts with prefix+"-", after
// killing the processes inside, and its /etc/netns directory. Removing
// what does not exist is not an error.
func Remove(prefix string) error {
	names, err := namespaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range names {
		if !strings.HasPrefix(ns, prefix+"-") {
			continue
		}
		if err := killAll(ns); err != nil {
			errs = append(errs, err)
		}
		if _, err := Run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(etcNetns, prefix+"-*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	// Only removes /etc/netns when nothing else is left in it.
	_ = os.Remove(etcNetns)
	return errors.Join(errs...)
}

// namespaces lists the named network namespaces ("ip netns list").
func namespaces() ([]string, error) {
	out, err := Run("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// Lines read "name" or "name (id: 3)".
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// killAll kills every process in namespace ns and waits until they are
// gone, so that the namespace really disappears when it is deleted.
func killAll(ns string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := Run("ip", "netns", "pids", ns)
		if err != nil {
			return err
		}
		pids := strings.Fields(out)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in namespace %s survive SIGKILL", pids, ns)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var runName = regexp.MustCompile(`^kntns(\d+)-`)

// RemoveStale removes what runs that died without cleaning up left: the
// namespaces and /etc/netns directories named after a process that no
// longer exists. It returns the prefixes it removed. Runs whose process is
// alive are left alone.
func RemoveStale() ([]string, error) {
	names, err := namespaces()
	if err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(etcNetns, "kntns*"))
	for _, d := range dirs {
		names = append(names, filepath.Base(d))
	}
	seen := map[string]bool{}
	var removed []string
	var errs []error
	for _, n := range names {
		m := runName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		prefix := "kntns" + m[1]
		if err != nil || seen[prefix] || processExists(pid) {
			continue
		}
		seen[prefix] = true
		if err := Remove(prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, prefix)
	}
	return removed, errors.Join(errs...)
}

func processExists(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// suiteSubnets are the networks the topology uses.
var suiteSubnets = []netip.Prefix{netip.MustParsePrefix(ClientIP + "/24"), netip.MustParsePrefix(EdgeBrokersIP + "/24")}

// checkHostSubnets refuses to build when the machine's own network (the
// namespace the tests run in) uses one of the suite's networks: a program
// started in the wrong namespace by mistake would then reach a real host
// at the suite's addresses instead of failing.
func checkHostSubnets() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("listing the machine's addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		for _, p := range suiteSubnets {
			if p.Contains(ip.Unmap()) {
				return fmt.Errorf("the machine's own network has %s, inside %s, which the suite's namespaces use; not building them", ip, p)
			}
		}
	}
	return nil
}

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// The scenarios of shared/SCENARIOS.md, with the rules written there and
// the targets changed to the test's loopback listeners.

// freePorts returns n free loopback ports; consecutive when asked, for
// rules that compute the port from the broker number.
func freePorts(t *testing.T, n int, consecutive bool) []int {
	t.Helper()
	for range 50 {
		var lns []net.Listener
		// Consecutive ports are drawn below Linux's ephemeral range (32768
		// up): there, outgoing connections of other tests hold odd ports.
		addr := "127.0.0.1:0"
		if consecutive {
			addr = fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		}
		first, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		lns = append(lns, first)
		base := first.Addr().(*net.TCPAddr).Port
		for i := 1; i < n; i++ {
			addr := "127.0.0.1:0"
			if consecutive {
				addr = fmt.Sprintf("127.0.0.1:%d", base+i)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		ports := make([]int, 0, n)
		for _, ln := range lns {
			ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
		}
		if len(ports) == n {
			return ports
		}
	}
	t.Fatalf("found no %d free loopback ports", n)
	return nil
}

// Scenario 1: a reverse tunnel (frp) exposes the office broker, which
// advertises kafka:9092, on a tunnel server.
func TestScenario1ReverseTunnel(t *testing.T) {
	clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
		c := hiddenCluster(t, kafkanattest.Brokers(1), kafkanattest.Advertise("kafka:9092"))
		tunnelServer := c.Addrs()[0]
		rec := roundTrip(t, "kafka:9092", kafkanat.New(kafkanat.Rules("kafka:9092 => "+tunnelServer)))
		rec.check(t, c, "direct", tunnelServer)
	})
}

const k8sName = "kafka-controller-%d.kafka-controller-headless.gcp.svc.cluster.local:9092"

// Scenario 2: a StatefulSet in Kubernetes, reached through one NodePort per
// broker (31090+n on a node), or through a SOCKS5 gateway in the cluster.
func TestScenario2Kubernetes(t *testing.T) {
	t.Run("nodeports", func(t *testing.T) {
		clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
			ports := freePorts(t, 3, true)
			c := hiddenCluster(t,
				kafkanattest.Advertise(fmt.Sprintf(k8sName, 0), fmt.Sprintf(k8sName, 1), fmt.Sprintf(k8sName, 2)),
				kafkanattest.Ports(ports...))
			rules := fmt.Sprintf("kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 127.0.0.1:{%d+n}", ports[0])
			rec := roundTrip(t, fmt.Sprintf(k8sName, 0), kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict()))
			rec.check(t, c, "direct", "")
		})
	})
	t.Run("socks5-gateway", func(t *testing.T) {
		clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
			c := hiddenCluster(t,
				kafkanattest.Advertise(fmt.Sprintf(k8sName, 0), fmt.Sprintf(k8sName, 1), fmt.Sprintf(k8sName, 2)))
			gateway, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
			require.NoError(t, err)
			defer gateway.Close()
			rules := "*.svc.cluster.local via " + gateway.URL()
			rec := roundTrip(t, fmt.Sprintf(k8sName, 0), kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict()))
			rec.check(t, c, gateway.URL(), gateway.Addr())
			require.Subset(t, gateway.Targets(), c.Advertised(), "the gateway resolves the cluster names")
		})
	})
}

// Scenario 3: Private Service Connect: one endpoint IP, one port per
// broker; the rule rewrites every broker name to the IP and keeps the port.
func TestScenario3PrivateServiceConnect(t *testing.T) {
	clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
		ports := freePorts(t, 3, false)
		var adv []string
		for i, p := range ports {
			adv = append(adv, fmt.Sprintf("b%d.abc.us-west1.example.com:%d", i+1, p))
		}
		c := hiddenCluster(t, kafkanattest.Advertise(adv...), kafkanattest.Ports(ports...))
		rec := roundTrip(t, adv[0], kafkanat.New(kafkanat.Rules("*.abc.us-west1.example.com => 127.0.0.1"), kafkanat.Strict()))
		rec.check(t, c, "direct", "")
	})
}

// Scenario 4: three brokers with the same advertised port behind one proxy
// host, one port each.
func TestScenario4OneHostSeveralPorts(t *testing.T) {
	clients(t, func(t *testing.T, roundTrip func(*testing.T, string, kafkanat.DialFunc) *recording) {
		c := hiddenCluster(t, kafkanattest.Advertise("node1:9092", "node2:9092", "node3:9092"))
		var rules []string
		for i, real := range c.Addrs() {
			rules = append(rules, fmt.Sprintf("node%d:9092 => %s", i+1, real))
		}
		rec := roundTrip(t, "node1:9092", kafkanat.New(kafkanat.Rules(strings.Join(rules, "; ")), kafkanat.Strict()))
		rec.check(t, c, "direct", "")
	})
}

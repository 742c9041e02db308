// Command scenario2-kubernetes shows scenario 2: Kafka runs as a
// StatefulSet in Kubernetes and its brokers advertise names that resolve
// only inside the cluster:
//
//	kafka-controller-0.kafka-controller-headless.gcp.svc.cluster.local:9092
//
// A client outside reaches them in one of two ways, each one rule:
//
//	# one NodePort per broker (31090, 31091, 31092 on a node):
//	kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
//	# or a SOCKS5 gateway inside the cluster, which resolves cluster DNS:
//	*.svc.cluster.local via socks5://gateway:1080
//
// A rescheduled broker keeps its name, so the rules keep working. With no
// flags it runs an embedded three-broker cluster advertising those names,
// listening on three consecutive loopback ports (the "NodePorts"), and an
// in-process SOCKS5 gateway that resolves the names, and produces and
// consumes through each rule. With -bootstrap and -rules it checks a real
// cluster instead (read-only).
//
//	go run ./examples/scenario2-kubernetes
//	go run ./examples/scenario2-kubernetes -bootstrap 203.0.113.10:31090 \
//	    -rules 'kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}'
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/exampleutil"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const podName = "kafka-controller-%d.kafka-controller-headless.gcp.svc.cluster.local:9092"

func main() {
	bootstrap := flag.String("bootstrap", "", "a real cluster's bootstrap address (default: an embedded cluster)")
	rules := flag.String("rules", "", "kafkanat rules for the real cluster")
	flag.Parse()
	if err := run(*bootstrap, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "scenario2:", err)
		os.Exit(1)
	}
}

func run(bootstrap, rules string) error {
	ctx := context.Background()
	if bootstrap != "" {
		dial := kafkanat.New(kafkanat.Rules(rules))
		fmt.Printf("Checking %s with rules:\n%s\n", bootstrap, rules)
		return exampleutil.Check(ctx, kgo.SeedBrokers(bootstrap), kgo.Dialer(exampleutil.Trace(dial)))
	}

	// The demo stays on this machine: names no rule matches fail
	// in-process instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	k8s, base, err := startCluster()
	if err != nil {
		return err
	}
	defer k8s.Close()
	fmt.Println("A StatefulSet whose brokers advertise in-cluster names:")
	for i, adv := range k8s.Advertised() {
		fmt.Printf("  %s  (NodePort %s)\n", adv, k8s.Addrs()[i])
	}

	// 1. One NodePort per broker: the port is computed from the pod's number.
	rules = fmt.Sprintf("kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 127.0.0.1:{%d+n}", base)
	fmt.Printf("\n1. NodePorts, rule:\n   %s\n", rules)
	dial := kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	seed := fmt.Sprintf(podName, 0)
	if err := exampleutil.RoundTrip(ctx, "nodeports", 9, kgo.SeedBrokers(seed), kgo.Dialer(exampleutil.Trace(dial))); err != nil {
		return err
	}

	// 2. A SOCKS5 gateway inside the cluster: the names travel to it
	// unresolved and it resolves them with cluster DNS.
	gateway, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(k8s.DialAdvertised))
	if err != nil {
		return err
	}
	defer gateway.Close()
	rules = "*.svc.cluster.local via " + gateway.URL()
	fmt.Printf("\n2. A SOCKS5 gateway in the cluster, rule:\n   %s\n", rules)
	dial = kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict())
	if err := exampleutil.RoundTrip(ctx, "gateway", 9, kgo.SeedBrokers(seed), kgo.Dialer(exampleutil.Trace(dial))); err != nil {
		return err
	}
	fmt.Printf("   the gateway resolved %d distinct names\n", len(distinct(gateway.Targets())))
	return nil
}

// startCluster starts three brokers advertising pod names and listening
// on three consecutive loopback ports, like NodePorts base, base+1,
// base+2. Another process may take a port between the probe and the
// listen, so it retries with other ports.
func startCluster() (*kafkanattest.Cluster, int, error) {
	var lastErr error
	for range 20 {
		base, err := consecutivePorts(3)
		if err != nil {
			return nil, 0, err
		}
		c, err := kafkanattest.NewCluster(
			kafkanattest.Advertise(fmt.Sprintf(podName, 0), fmt.Sprintf(podName, 1), fmt.Sprintf(podName, 2)),
			kafkanattest.KfakeOptions(kfake.Ports(base, base+1, base+2), kfake.SeedTopics(3, "nodeports", "gateway")))
		if err == nil {
			if err := exampleutil.SpreadLeaders(c, 3, "nodeports", "gateway"); err != nil {
				c.Close()
				return nil, 0, err
			}
			return c, base, nil
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("no %d consecutive free loopback ports: %w", 3, lastErr)
}

// consecutivePorts finds n consecutive free loopback ports and returns the
// first.
func consecutivePorts(n int) (int, error) {
	for range 100 {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports", n)
}

func distinct(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

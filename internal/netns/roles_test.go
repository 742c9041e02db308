package netns_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/kafkanat/kafkanat/internal/netns"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// partitions is how many partitions every topic of the brokers has.
const partitions = 6

// runRole runs the role the binary was re-executed for, inside a
// namespace, and returns the exit code. Services print "ready" on
// standard output once they serve, and run until they are stopped.
func runRole(role string) int {
	if err := netns.CheckNotParentNamespace(); err != nil {
		fmt.Fprintf(os.Stderr, "netns role %s: refusing to run: %v\n", role, err)
		return 1
	}
	var err error
	switch role {
	case "dns":
		err = serveDNS()
	case "brokers":
		err = serveBrokers()
	case "blackhole":
		err = serveBlackhole()
	case "client":
		err = runClient()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns role %s: %v\n", role, err)
		return 1
	}
	return 0
}

// readSpec decodes the role's spec from the environment.
func readSpec(v any) error {
	if err := json.Unmarshal([]byte(os.Getenv(specEnv)), v); err != nil {
		return fmt.Errorf("spec in %s: %w", specEnv, err)
	}
	return nil
}

// serveDNS is the brokers' network's DNS server: it resolves the brokers'
// names, and nothing else.
func serveDNS() error {
	hosts := map[string]string{}
	for _, b := range netns.Brokers {
		hosts[b.Host()] = b.IP
	}
	srv, err := netns.NewDNSServer(netns.BrokerDomain, hosts)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(netns.DNSIP, "53"))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return srv.Serve(pc)
}

// brokersSpec is what the brokers role starts.
type brokersSpec struct {
	Topics     []string `json:"topics"`
	Partitions int      `json:"partitions"`
}

// serveBrokers runs the cluster: kfake brokers, each on its own address
// and port, advertising names only the brokers' DNS resolves. Partition p
// of every topic is led by broker p mod 3, so a client that uses every
// partition talks to every broker.
func serveBrokers() error {
	var spec brokersSpec
	if err := readSpec(&spec); err != nil {
		return err
	}
	var adv, ips []string
	var ports []int
	for _, b := range netns.Brokers {
		adv = append(adv, b.Advertised())
		ips = append(ips, b.IP)
		ports = append(ports, b.Port)
	}
	c, err := kafkanattest.NewCluster(kafkanattest.Advertise(adv...), kafkanattest.ListenOn(ips...),
		kafkanattest.Ports(ports...), kafkanattest.Topics(spec.Partitions, spec.Topics...))
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("ready")
	// Until stopped: SIGTERM ends the process.
	select {}
}

// blackholeSpec is where the blackhole role listens.
type blackholeSpec struct {
	Addr string `json:"addr"`
}

// serveBlackhole accepts connections and never answers: a proxy that hung.
func serveBlackhole() error {
	var spec blackholeSpec
	if err := readSpec(&spec); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", spec.Addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
}

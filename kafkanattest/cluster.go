package kafkanattest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// defaultBrokers is how many brokers NewCluster starts when neither Brokers
// nor Advertise says otherwise.
const defaultBrokers = 3

// ClusterOption configures NewCluster.
type ClusterOption func(*clusterConfig)

// clusterConfig collects options; errors are kept and reported by NewCluster
// because an option function cannot return one.
type clusterConfig struct {
	brokers    int
	brokersSet bool
	advertise  []string
	advSet     bool
	topics     []topics
	ports      []int
	listenOn   []string
	tls        *tls.Config
	sasl       []saslUser
	discard    bool
	observers  []observer
	errs       []error
}

// Brokers sets how many brokers the cluster starts, overriding the default
// of 3 (or the number of addresses given to Advertise or Ports). n must be
// at least 1, and equal to the number of Advertise addresses and Ports
// when those are given.
func Brokers(n int) ClusterOption {
	return func(c *clusterConfig) {
		c.brokers = n
		c.brokersSet = true
	}
}

// Advertise sets the host:port each broker advertises in metadata, in node
// order (node 0 first), overriding the default of
// "b<nodeID>.kafka.internal.invalid:9092". The port must be numeric (kfake
// parses it); the host is never resolved, so any name works, and names under
// .invalid never resolve anywhere. Without Brokers, the number of addresses
// sets the number of brokers.
//
//	kafkanattest.NewCluster(kafkanattest.Advertise("kafka:9092"))
func Advertise(addrs ...string) ClusterOption {
	list := append([]string(nil), addrs...)
	return func(c *clusterConfig) {
		c.advertise = list
		c.advSet = true
	}
}

// Cluster is an in-process Kafka cluster (franz-go's kfake) whose brokers
// advertise hidden addresses: each broker listens on a real 127.0.0.1 port
// (or an address given to ListenOn) but tells clients, in every metadata response, the address given to Advertise.
// A client reaches the brokers after bootstrap only if it maps the advertised
// addresses to the real ones, which is the problem kafkanat solves.
//
// Methods are safe for concurrent use.
type Cluster struct {
	kf         *kfake.Cluster
	advertised []string // node order, as given

	mu    sync.Mutex            // guards what MoveBroker changes
	addrs []string              // node order, real loopback host:port
	real  map[string]string     // normalized advertised address -> real address
	lns   []*advertisedListener // node order
}

// NewCluster starts a cluster with the given options. Every broker listens on
// 127.0.0.1 only, unless ListenOn gives other addresses. Close it when done.
func NewCluster(opts ...ClusterOption) (*Cluster, error) {
	cfg := clusterConfig{brokers: defaultBrokers}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("kafkanattest: NewCluster: option %d is nil", i+1)
		}
		o(&cfg)
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, fmt.Errorf("kafkanattest: NewCluster: %w", err)
	}
	advertised, err := cfg.resolveAdvertised()
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: NewCluster: %w", err)
	}
	if n := len(cfg.listenOn); n > 1 && n != len(advertised) {
		return nil, fmt.Errorf("kafkanattest: NewCluster: ListenOn gave %d addresses for %d brokers; give one address, or one per broker", n, len(advertised))
	}

	c := &Cluster{
		advertised: advertised,
		real:       make(map[string]string, len(advertised)),
	}
	var (
		mu      sync.Mutex // kfake's AddNode calls listen from its own goroutine
		created int
	)
	listen := func(network, address string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		if created >= len(advertised) {
			return nil, fmt.Errorf("kafkanattest: kfake asked for broker listener %d, but the cluster has %d advertised addresses (set the broker count with Brokers or Advertise, not with kfake options or AddNode)",
				created+1, len(advertised))
		}
		// kfake asks for "127.0.0.1:<port>"; refuse anything else so a
		// broker can never listen beyond loopback or the addresses
		// ListenOn checked.
		host, port, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("kafkanattest: kfake asked to listen on %q, want a loopback address", address)
		}
		if ip := cfg.listenIP(created); ip != "" {
			address = net.JoinHostPort(ip, port)
		}
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, fmt.Errorf("kafkanattest: broker %d: %w", created, err)
		}
		adv := advertised[created]
		al := newAdvertisedListener(ln, adv)
		c.mu.Lock()
		c.addrs = append(c.addrs, ln.Addr().String())
		c.real[normalize(adv)] = ln.Addr().String()
		c.lns = append(c.lns, al)
		c.mu.Unlock()
		created++
		return al, nil
	}

	kopts := append(cfg.kfakeOptions(), kfake.NumBrokers(len(advertised)), kfake.ListenFn(listen))
	kf, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: NewCluster: starting kfake: %w", err)
	}
	mu.Lock()
	n := created
	mu.Unlock()
	if n != len(advertised) {
		kf.Close()
		return nil, fmt.Errorf("kafkanattest: NewCluster: kfake started %d brokers but %d addresses are advertised", n, len(advertised))
	}
	c.kf = kf
	if err := c.start(&cfg); err != nil {
		kf.Close()
		return nil, fmt.Errorf("kafkanattest: NewCluster: %w", err)
	}
	return c, nil
}

// resolveAdvertised validates the broker count and the advertised addresses
// and returns the addresses in node order.
func (cfg *clusterConfig) resolveAdvertised() ([]string, error) {
	if cfg.brokersSet && cfg.brokers < 1 {
		return nil, fmt.Errorf("Brokers(%d): a cluster needs at least 1 broker", cfg.brokers)
	}
	if !cfg.advSet {
		if cfg.ports != nil && !cfg.brokersSet {
			cfg.brokers = len(cfg.ports)
		}
		if cfg.ports != nil && len(cfg.ports) != cfg.brokers {
			return nil, fmt.Errorf("Ports gave %d ports for %d brokers; give one port per broker", len(cfg.ports), cfg.brokers)
		}
		out := make([]string, cfg.brokers)
		for i := range out {
			out[i] = fmt.Sprintf("b%d.kafka.internal.invalid:9092", i)
		}
		return out, nil
	}
	if len(cfg.advertise) == 0 {
		return nil, errors.New("Advertise(): no addresses given")
	}
	if cfg.brokersSet && len(cfg.advertise) != cfg.brokers {
		return nil, fmt.Errorf("Brokers(%d) but Advertise gave %d addresses; give one address per broker", cfg.brokers, len(cfg.advertise))
	}
	if cfg.ports != nil && len(cfg.ports) != len(cfg.advertise) {
		return nil, fmt.Errorf("Ports gave %d ports for %d brokers; give one port per broker", len(cfg.ports), len(cfg.advertise))
	}
	seen := make(map[string]int, len(cfg.advertise))
	for i, a := range cfg.advertise {
		if err := validateHostPort(a); err != nil {
			return nil, fmt.Errorf("Advertise: address %d %q: %w", i+1, a, err)
		}
		key := normalize(a)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("Advertise: address %d %q repeats address %d %q; each broker needs its own", i+1, a, j+1, cfg.advertise[j])
		}
		seen[key] = i
	}
	return append([]string(nil), cfg.advertise...), nil
}

// listenIP returns the address broker i listens on when ListenOn was
// given, or "" for kfake's 127.0.0.1.
func (cfg *clusterConfig) listenIP(i int) string {
	switch {
	case len(cfg.listenOn) == 0:
		return ""
	case len(cfg.listenOn) == 1:
		return cfg.listenOn[0]
	}
	return cfg.listenOn[i]
}

// validateHostPort accepts what kfake can advertise: a non-empty host and a
// numeric port in 1..65535.
func validateHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "" {
		return errors.New("empty host")
	}
	if strings.ContainsAny(host, " \t\r\n") {
		return errors.New("host contains white space")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// normalize returns the form advertised addresses are looked up by: host
// lowercased (DNS names ignore case) and the port as a plain number.
// addr must be a valid host:port.
func normalize(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if p, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(p, 10)
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

// Advertised returns the address each broker advertises, in node order.
func (c *Cluster) Advertised() []string {
	return append([]string(nil), c.advertised...)
}

// Addrs returns the real address each broker listens on ("127.0.0.1:port",
// or on an address given to ListenOn), in node order. Use one as the
// bootstrap (seed) address. After MoveBroker it reports the broker's new
// address.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// Rules returns rule text mapping every advertised address to its real
// listener, one "<advertised> => <real>" line per broker in node order, ready
// for kafkanat.Rules.
func (c *Cluster) Rules() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, adv := range c.advertised {
		fmt.Fprintf(&b, "%s => %s\n", adv, c.addrs[i])
	}
	return b.String()
}

// DialAdvertised connects an advertised address to the real listener of its
// broker, as DNS inside the cluster's network would; the host is matched
// ignoring case. network must be "tcp" or "tcp4". Any other address is refused
// without being dialed, with a *net.OpError (Op "dial") naming it, so that
// Kafka clients treat it as the dial failure it models. It has the signature
// of net.Dialer.DialContext, so it can serve as a proxy's dialer (an
// in-cluster gateway) or a client's. If ctx expires before the connection is
// complete, an error is returned; once connected, ctx has no effect.
func (c *Cluster) DialAdvertised(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "dial", Net: network,
			Err: fmt.Errorf("kafkanattest: DialAdvertised %q: network %q not supported, want tcp", address, network)}
	}
	c.mu.Lock()
	target, ok := c.real[normalize(address)]
	c.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network,
			Err: fmt.Errorf("kafkanattest: %q is not an address this cluster advertises (it advertises %s)", address, strings.Join(c.advertised, ", "))}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

// Close shuts the cluster down. Calling it more than once is harmless.
func (c *Cluster) Close() {
	c.kf.Close()
}

// advertisedAddr is a net.Addr holding a host:port that need not resolve.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

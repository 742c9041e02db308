package kafkanattest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The options below cover what tests of kafkanat need from kfake without
// exposing kfake's types, which have no tagged release: a test kit's API
// must not tie its users to a pseudo-version.

type topics struct {
	partitions int
	names      []string
}

type saslUser struct{ mechanism, user, password string }

type observer struct {
	key int16
	fn  func(node int32)
}

// Topics creates topics with the given number of partitions, partition p
// led by broker p mod brokers (kfake alone would pick leaders at random),
// so that a client producing to or consuming every partition dials every
// broker. It may be given several times.
//
//	kafkanattest.NewCluster(kafkanattest.Topics(3, "orders", "payments"))
func Topics(partitions int, names ...string) ClusterOption {
	list := append([]string(nil), names...)
	return func(c *clusterConfig) {
		switch {
		case partitions < 1:
			c.errs = append(c.errs, fmt.Errorf("Topics(%d, ...): a topic needs at least 1 partition", partitions))
		case len(list) == 0:
			c.errs = append(c.errs, fmt.Errorf("Topics(%d): no topic names", partitions))
		case slices.Contains(list, ""):
			c.errs = append(c.errs, fmt.Errorf("Topics(%d, %q): empty topic name", partitions, list))
		default:
			c.topics = append(c.topics, topics{partitions, list})
		}
	}
}

// Ports makes the brokers listen on the given 127.0.0.1 ports, in node
// order, overriding the default of free ports; 0 picks a free one. Give
// one port per broker.
func Ports(ports ...int) ClusterOption {
	list := append([]int(nil), ports...)
	return func(c *clusterConfig) {
		for _, p := range list {
			if p < 0 || p > 65535 {
				c.errs = append(c.errs, fmt.Errorf("Ports: %d is not a port number", p))
				return
			}
		}
		c.ports = list
	}
}

// ListenOn makes the brokers listen on the given IP addresses instead of
// 127.0.0.1: broker i on ips[i], or every broker on ips[0] when one address
// is given. It is for tests that run a cluster inside a Linux network
// namespace, where each broker has an address of its own; Ports still
// chooses the ports (brokers on different addresses may share one). Only
// loopback addresses and the ranges tests may use in namespaces they build
// are accepted: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737)
// and fd00::/8, so a broker can never listen on a network that reaches
// beyond the machine. MoveBroker still moves a broker to a 127.0.0.1 port.
//
//	kafkanattest.NewCluster(kafkanattest.ListenOn("198.51.100.11", "198.51.100.12", "198.51.100.13"))
func ListenOn(ips ...string) ClusterOption {
	list := append([]string(nil), ips...)
	return func(c *clusterConfig) {
		if len(list) == 0 {
			c.errs = append(c.errs, errors.New("ListenOn(): no addresses given"))
			return
		}
		for i, s := range list {
			if err := checkListenIP(s); err != nil {
				c.errs = append(c.errs, fmt.Errorf("ListenOn: address %d %q: %w", i+1, s, err))
				return
			}
		}
		c.listenOn = list
	}
}

// testRanges are the networks, besides loopback, that ListenOn accepts.
var testRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("fd00::/8"),
}

// checkListenIP accepts an IP literal that is loopback or in testRanges.
func checkListenIP(s string) error {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return errors.New("not an IP address (want an address such as 198.51.100.11, without a port)")
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return nil
	}
	for _, p := range testRanges {
		if p.Contains(ip) {
			return nil
		}
	}
	return errors.New("not loopback and not in a test range (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, fd00::/8)")
}

// TLS makes every broker serve TLS with cfg (its certificates name what
// the test chooses: see CA), overriding the default of plaintext.
func TLS(cfg *tls.Config) ClusterOption {
	return func(c *clusterConfig) {
		if cfg == nil {
			c.errs = append(c.errs, errors.New("TLS: config is nil"))
			return
		}
		c.tls = cfg.Clone()
	}
}

// SASL makes the brokers require SASL authentication and accept user with
// password for mechanism ("PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"). It
// may be given several times, for several users.
func SASL(mechanism, user, password string) ClusterOption {
	return func(c *clusterConfig) {
		switch mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			c.errs = append(c.errs, fmt.Errorf("SASL(%q, ...): mechanism is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mechanism))
			return
		}
		if user == "" {
			c.errs = append(c.errs, fmt.Errorf("SASL(%q, ...): empty user", mechanism))
			return
		}
		c.sasl = append(c.sasl, saslUser{mechanism, user, password})
	}
}

// DiscardProduce makes the brokers acknowledge produced records without
// storing them, so that memory stays flat in long benchmarks. Offsets
// still advance; consumers read nothing.
func DiscardProduce() ClusterOption {
	return func(c *clusterConfig) { c.discard = true }
}

// OnRequest calls fn, with the node that received it, for every request
// with the Kafka API key apiKey (for example 36 for SaslAuthenticate),
// before the broker handles it. fn must be quick and safe for concurrent
// use; it observes only.
func OnRequest(apiKey int16, fn func(node int32)) ClusterOption {
	return func(c *clusterConfig) {
		if fn == nil {
			c.errs = append(c.errs, fmt.Errorf("OnRequest(%d): function is nil", apiKey))
			return
		}
		c.observers = append(c.observers, observer{apiKey, fn})
	}
}

// kfakeOptions translates the options that kfake applies at start.
func (cfg *clusterConfig) kfakeOptions() []kfake.Opt {
	var opts []kfake.Opt
	for _, t := range cfg.topics {
		opts = append(opts, kfake.SeedTopics(int32(t.partitions), t.names...))
	}
	if cfg.ports != nil {
		opts = append(opts, kfake.Ports(cfg.ports...))
	}
	if cfg.tls != nil {
		opts = append(opts, kfake.TLS(cfg.tls))
	}
	if len(cfg.sasl) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.sasl {
			opts = append(opts, kfake.Superuser(u.mechanism, u.user, u.password))
		}
	}
	if cfg.discard {
		opts = append(opts, kfake.BlackholeProduce())
	}
	return opts
}

// start applies what needs a running cluster: leaders and observers.
func (c *Cluster) start(cfg *clusterConfig) error {
	n := len(c.advertised)
	for _, t := range cfg.topics {
		for _, name := range t.names {
			for p := range t.partitions {
				if err := c.MoveLeader(name, p, p%n); err != nil {
					return err
				}
			}
		}
	}
	for _, o := range cfg.observers {
		c.kf.ControlKey(o.key, func(kmsg.Request) (kmsg.Response, error, bool) {
			c.kf.KeepControl()
			o.fn(c.kf.CurrentNode())
			return nil, nil, false
		})
	}
	return nil
}

// MoveLeader makes broker node (its position in node order) the leader of
// a topic's partition.
func (c *Cluster) MoveLeader(topic string, partition, node int) error {
	if node < 0 || node >= len(c.advertised) {
		return fmt.Errorf("kafkanattest: MoveLeader(%q, %d, %d): the cluster has brokers 0 to %d", topic, partition, node, len(c.advertised)-1)
	}
	if err := c.kf.MoveTopicPartition(topic, int32(partition), int32(node)); err != nil {
		return fmt.Errorf("kafkanattest: MoveLeader(%q, %d, %d): %w", topic, partition, node, err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// topic is the topic every cluster is seeded with.
const topic = "bench"

// config is what one run measures.
type config struct {
	rounds     int
	duration   time.Duration // of each throughput burst
	latencyFor time.Duration // of each latency burst
	size       int           // bytes per record value
	partitions int
	brokers    int
	variants   []string
	// brokerProcess runs each cluster (and a Go bastion) in a process of
	// its own, so that this process's CPU time is the clients' alone.
	brokerProcess bool
	connCost      int // conns per variant for the SSH conn cost; 0: not measured
}

// defaultConfig takes about two and a half minutes with the seven default
// variants on two cores, in under 200 MB of memory.
func defaultConfig() config {
	return config{
		rounds:     20,
		duration:   300 * time.Millisecond,
		latencyFor: 150 * time.Millisecond,
		size:       1024,
		partitions: 6,
		brokers:    3,
		variants:   []string{"direct", "kafkanat", "direct-again", "socks5-microsocks", "socks5-dante", "socat", "socat-nodelay"},
		connCost:   100,
	}
}

func (c config) validate() error {
	switch {
	case c.rounds < 1:
		return fmt.Errorf("-rounds %d: want at least 1", c.rounds)
	case c.duration <= 0:
		return fmt.Errorf("-duration %v: want a positive duration", c.duration)
	case c.latencyFor <= 0:
		return fmt.Errorf("-latency-duration %v: want a positive duration", c.latencyFor)
	case c.size < 1 || c.size > 512<<10:
		return fmt.Errorf("-size %d: want 1 to %d bytes", c.size, 512<<10)
	case c.partitions < 1:
		return fmt.Errorf("-partitions %d: want at least 1", c.partitions)
	case c.brokers < 1:
		return fmt.Errorf("-brokers %d: want at least 1", c.brokers)
	case c.connCost < 0:
		return fmt.Errorf("-conn-cost %d: want 0 (off) or more", c.connCost)
	}
	if !slices.Contains(c.variants, "direct") {
		return fmt.Errorf("-variants %q: direct, the reference of every ratio, is missing", strings.Join(c.variants, ","))
	}
	seen := map[string]bool{}
	for _, v := range c.variants {
		if findVariant(v) == nil {
			return fmt.Errorf("-variants: unknown variant %q (known: %s)", v, strings.Join(variantNames(), ", "))
		}
		if seen[v] {
			return fmt.Errorf("-variants: %q given twice", v)
		}
		seen[v] = true
	}
	return nil
}

// env is one variant's way to the brokers of its cluster.
type env struct {
	seeds []string
	dial  kafkanat.DialFunc // nil: the clients dial the seeds and advertised addresses themselves
	close func()
	// sideCPU, if not nil, is the CPU time so far of the processes that
	// carry the clients' bytes on the client side (ssh -L): what the
	// client pays for its path beyond its own process.
	sideCPU func() time.Duration
	// costs, if not nil, measures what an open conn costs (the SSH
	// variants); see connCosts.
	costs func(n int) ([]costLine, error)
}

// variant is one way for the clients to reach the brokers.
type variant struct {
	name  string
	about string
	// setup starts a cluster and whatever the variant puts in front of it.
	// Peers started through package peers stop at the harness's cleanup.
	// An error wrapping errSkip means the variant cannot run here.
	setup func(h *harness) (*env, error)
}

var variants = []variant{
	{"direct", "brokers advertise their real addresses; clients dial them (no kafkanat)", setupDirect},
	{"kafkanat", "hidden brokers; a kafkanat rule maps each advertised name to its listener", setupKafkanat},
	{"direct-again", "a second direct cluster: the noise floor (ideally 1.00x)", setupDirect},
	{"socks5-microsocks", "kafkanat via SOCKS5 through microsocks (Debian), one extra hop", setupSOCKS("microsocks")},
	{"socks5-dante", "kafkanat via SOCKS5 through danted (Debian dante-server), one extra hop", setupSOCKS("dante")},
	{"socks5-inproc", "kafkanat via SOCKS5 through kafkanattest's in-process server, one extra hop", setupSOCKS("inproc")},
	{"socat", "external TCP hop: a socat forwarder per broker (default options), advertised by the brokers", setupSocat(false)},
	{"socat-nodelay", "the same with TCP_NODELAY on both of socat's sockets (the hop at its best)", setupSocat(true)},
	{"ssh", "kafkanat via ssh:// through OpenSSH's sshd (Debian openssh-server), one SSH connection for every broker conn", setupSSH(true)},
	{"ssh-no-quickack", "the same without re-arming TCP_QUICKACK on the connection to sshd (what the route did before)", setupSSH(false)},
	{"ssh-L", "OpenSSH's ssh -N -L, one per broker, default cipher, through the same kind of sshd; the brokers advertise the forwards", setupSSHL("")},
	{"ssh-L-gcm", "the same with -c " + sshCipher + ", the cipher kafkanat's x/crypto negotiates with OpenSSH", setupSSHL(sshCipher)},
	{"ssh-go", "kafkanat via ssh:// through kafkanattest's Go SSH server, which sets TCP_NODELAY (a bastion that sends promptly)", setupSSHGo(true)},
	{"ssh-go-no-quickack", "the same without TCP_QUICKACK: what quick ACKs cost when the bastion does not need them", setupSSHGo(false)},
}

func findVariant(name string) *variant {
	for i := range variants {
		if variants[i].name == name {
			return &variants[i]
		}
	}
	return nil
}

func variantNames() []string {
	var names []string
	for _, v := range variants {
		names = append(names, v.name)
	}
	return names
}

// errSkip marks a variant that cannot run on this machine; the errors
// saying so are *skipError.
var errSkip = errors.New("skipped")

// skipError is why a variant cannot run here.
type skipError struct{ reason string }

func (e *skipError) Error() string        { return "skipped: " + e.reason }
func (e *skipError) Is(target error) bool { return target == errSkip }

// harness holds what a run shares.
type harness struct {
	cfg    config
	tb     testing.TB
	values [][]byte // random record values, cycled
}

// results are every measurement of a run.
type results struct {
	// samples[variant][round]; nil when the variant did not run that round.
	samples   map[string][]*sample
	skipped   map[string]string     // variant -> why it could not run
	costs     map[string][]costLine // variant -> what its open conns cost
	failures  []string
	loadStart string // load average when the run began
}

// run measures every variant in cfg.rounds rounds and returns the samples.
// Progress goes to progress. Peers are started with tb and stopped at its
// cleanup. The error is for a run that cannot start; a failed measurement
// is recorded in results.failures and its variant sits out the rest of
// the run.
func run(ctx context.Context, cfg config, tb testing.TB, progress io.Writer) (*results, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, tb: tb, values: randomValues(cfg.size)}
	res := &results{samples: map[string][]*sample{}, skipped: map[string]string{}, costs: map[string][]costLine{}, loadStart: loadAverage()}
	fail := func(round int, name string, err error) {
		where := "setup"
		if round >= 0 {
			where = fmt.Sprintf("round %d", round+1)
		}
		res.failures = append(res.failures, fmt.Sprintf("%s, %s: %v", where, name, err))
		fmt.Fprintf(progress, "%-9s %-18s FAILED: %v\n", where, name, err)
	}

	var ts []*target
	defer func() {
		for _, t := range ts {
			t.close()
		}
	}()
	for _, name := range cfg.variants {
		res.samples[name] = make([]*sample, cfg.rounds)
		e, err := findVariant(name).setup(h)
		if skip := (*skipError)(nil); errors.As(err, &skip) {
			res.skipped[name] = skip.reason
			fmt.Fprintf(progress, "%-9s %-18s skipped: %s\n", "setup", name, res.skipped[name])
			continue
		}
		if err != nil {
			fail(-1, name, err)
			continue
		}
		t := &target{name: name, env: e}
		ts = append(ts, t)
		if t.err = h.connect(ctx, t); t.err != nil {
			t.reported = true
			fail(-1, name, t.err)
		}
	}

	for round := range cfg.rounds {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted in round %d: %w", round+1, err)
		}
		// Each round starts with the next variant, so that every variant
		// runs in every position equally often: with a fixed order, the
		// first variant of each cycle measured 10-25% slower than an
		// identical cluster measured after it.
		order := append(slices.Clone(ts[round%max(len(ts), 1):]), ts[:round%max(len(ts), 1)]...)
		samples := h.measureRound(ctx, order)
		for _, t := range ts {
			if t.err != nil {
				if !t.reported {
					t.reported = true
					fail(round, t.name, t.err)
				}
				continue
			}
			s := samples[t]
			res.samples[t.name][round] = s
			fmt.Fprintf(progress, "round %-3d %-18s franz-go %7.1f MB/s p50 %8s p99 %8s | sarama %7.1f MB/s p50 %8s p99 %8s | consume %7.1f MB/s\n",
				round+1, t.name, s.franz.mbps, us(s.franz.p50), us(s.franz.p99), s.sarama.mbps, us(s.sarama.p50), us(s.sarama.p99), s.consume.mbps)
		}
	}
	for _, t := range ts {
		if t.err != nil || t.env.costs == nil || cfg.connCost == 0 {
			continue
		}
		lines, err := t.env.costs(cfg.connCost)
		if err != nil {
			fail(-1, t.name+" conn cost", err)
			continue
		}
		res.costs[t.name] = lines
	}
	return res, nil
}

// randomValues returns distinct random values of size bytes (4096 of
// them, or fewer to stay within 64 MiB), which compression could not
// shrink.
func randomValues(size int) [][]byte {
	n := min(4096, max(1, (64<<20)/size))
	rng := rand.New(rand.NewChaCha8([32]byte{'k', 'a', 'f', 'k', 'a', 'n', 'a', 't'}))
	buf := make([]byte, n*size)
	for i := 0; i < len(buf); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(buf); j++ {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
	values := make([][]byte, n)
	for i := range values {
		values[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return values
}

func setupDirect(h *harness) (*env, error) {
	// The brokers listen on ports chosen here and advertise them, so that
	// clients reach them with nothing in between. The cluster is built like
	// every other variant's: only the client's path differs.
	var lastErr error
	for range 3 { // a port found free may be taken before kfake binds it
		ports, err := freePorts(h.cfg.brokers)
		if err != nil {
			return nil, err
		}
		c, err := h.cluster(clusterSpec{Ports: ports, Advertise: loopbackAddrs(ports)})
		if err != nil {
			lastErr = err
			continue
		}
		return &env{seeds: c.Addrs, close: c.close}, nil
	}
	return nil, lastErr
}

// loopbackAddrs is 127.0.0.1:port for each port.
func loopbackAddrs(ports []int) []string {
	adv := make([]string, len(ports))
	for i, p := range ports {
		adv[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return adv
}

// cluster starts a cluster (see startCluster) of the run's shape with
// spec's addresses: in this process, or in a broker process of its own
// with -broker-process.
func (h *harness) cluster(spec clusterSpec) (*cluster, error) {
	spec.Brokers, spec.Partitions, spec.RecordSize = h.cfg.brokers, h.cfg.partitions, h.cfg.size
	if h.cfg.brokerProcess {
		return startBrokerProcess(spec)
	}
	return startCluster(spec)
}

// kafkanatEnv maps every advertised name of c to its listener, over via
// when it is not empty, with opts added to the dialer's. The seeds are the
// hidden names, so that every connection, bootstrap included, goes
// through a rule.
func kafkanatEnv(c *cluster, via string, opts ...kafkanat.Option) (*env, error) {
	var rules strings.Builder
	for i, adv := range c.Advertised {
		// The target is an IP: a peer proxy must never resolve a name.
		fmt.Fprintf(&rules, "%s => %s", adv, c.Addrs[i])
		if via != "" {
			fmt.Fprintf(&rules, " via %s", via)
		}
		rules.WriteByte('\n')
	}
	d, err := kafkanat.NewDialer(append(opts, kafkanat.Rules(rules.String()))...)
	if err != nil {
		return nil, err
	}
	return &env{seeds: c.Advertised, dial: d.DialContext, close: func() {
		d.Close()
		c.close()
	}}, nil
}

// envOver starts a cluster of spec and makes the variant's env over it
// with mk; the cluster is closed if mk fails.
func (h *harness) envOver(spec clusterSpec, mk func(*cluster) (*env, error)) (*env, error) {
	c, err := h.cluster(spec)
	if err != nil {
		return nil, err
	}
	e, err := mk(c)
	if err != nil {
		c.close()
		return nil, err
	}
	return e, nil
}

func setupKafkanat(h *harness) (*env, error) {
	return h.envOver(clusterSpec{}, func(c *cluster) (*env, error) { return kafkanatEnv(c, "") })
}

func setupSOCKS(kind string) func(h *harness) (*env, error) {
	return func(h *harness) (*env, error) {
		var (
			proxyURL   string
			closeProxy = func() {}
			err        error
		)
		switch kind {
		case "inproc":
			srv, err := kafkanattest.NewSOCKS5Server()
			if err != nil {
				return nil, err
			}
			proxyURL, closeProxy = srv.URL(), func() { srv.Close() }
		case "microsocks":
			proxyURL, err = startPeer(h.tb, func(tb testing.TB) string { return peers.Microsocks(tb, "", "") })
		case "dante":
			proxyURL, err = startPeer(h.tb, peers.Dante)
		}
		if err != nil {
			return nil, err
		}
		e, err := h.envOver(clusterSpec{}, func(c *cluster) (*env, error) { return kafkanatEnv(c, proxyURL) })
		if err != nil {
			closeProxy()
			return nil, err
		}
		closeEnv := e.close
		e.close = func() {
			closeEnv()
			closeProxy()
		}
		return e, nil
	}
}

func setupSocat(nodelay bool) func(h *harness) (*env, error) {
	return func(h *harness) (*env, error) {
		e, _, err := h.forwardedEnv(func(port int, target string) (*forwarder, error) { return startSocat(port, target, nodelay) })
		return e, err
	}
}

// forwardedEnv puts a forwarding process per broker in front of a cluster,
// as people do without kafkanat: the brokers advertise local ports, and
// start runs a forwarder from each port to its broker. The brokers
// advertise the forwarders, so every connection after the bootstrap goes
// through one too.
func (h *harness) forwardedEnv(start func(port int, target string) (*forwarder, error)) (*env, []*forwarder, error) {
	ports, err := freePorts(h.cfg.brokers)
	if err != nil {
		return nil, nil, err
	}
	adv := loopbackAddrs(ports)
	c, err := h.cluster(clusterSpec{Advertise: adv})
	if err != nil {
		return nil, nil, err
	}
	var fwds []*forwarder
	closeAll := func() {
		c.close()
		for _, f := range slices.Backward(fwds) {
			f.stop()
		}
	}
	for i, target := range c.Addrs {
		f, err := start(ports[i], target)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		fwds = append(fwds, f)
	}
	return &env{seeds: adv, close: closeAll}, fwds, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/kafkanat/kafkanat/dialer"
)

const probeUsage = `Usage: kafkanat probe --bootstrap HOST:PORT [--rules TEXT | --rules-file FILE] [--via URL]
        [--strict] [--timeout D] [--tls [--tls-ca FILE] [--tls-server-name NAME]
        [--tls-insecure-skip-verify]] [--sasl-mechanism M --sasl-user USER
        --sasl-password-env VAR] [--suggest] [--json]

Dials the bootstrap address through the rules, fetches metadata, and checks
every broker on a connection of its own: it dials the broker's advertised
address through the rules, runs an ApiVersions round trip, and proves that
the endpoint it reached is that broker (a broker describes only its own
configuration; or, without that permission, only a partition's leader
answers for it). One row per broker: node id, advertised address, rule,
target, route, status (ok, refused, unreachable, failed, wrong-broker), dial
time, round-trip time and the time of each stage (name resolution, TCP
connect, proxy handshake, SSH channel, TLS, SASL, Kafka requests); the
reason of each failure, with the stage that failed, follows the table.

--timeout bounds each dial (every route of a rule shares it, and a route
that hangs costs the next only kafkanat's fallback delay, 300ms) and, once
connected, the Kafka requests.

--suggest prints rules that would cover the addresses no rule matched: one
"ADDRESS => HOST:PORT" line per broker (a tunnel or load-balancer port each)
and, for brokers sharing a domain, "*.DOMAIN => HOST" (one endpoint keeping
each broker's port; only when their ports differ), "name-{n}.DOMAIN:PORT =>
HOST:{BASE+n}" (numbered names, consecutive ports such as NodePorts) and
"*.DOMAIN via socks5://GATEWAY:1080" (a gateway in the brokers' network that
resolves their names). Replace the upper-case words and pick one.

Exit status: 0 every broker answered as itself; 1 the bootstrap or some
broker did not; 2 usage or configuration error.

Flags:
`

// Broker statuses.
const (
	statusOK          = "ok"           // the Kafka requests succeeded (and the broker proved to be itself, or could not tell)
	statusRefused     = "refused"      // the configuration refuses the address; not dialed
	statusUnreachable = "unreachable"  // the dial failed
	statusFailed      = "failed"       // connected, but Kafka did not answer (SASL, not Kafka, timeout)
	statusWrongBroker = "wrong-broker" // the endpoint is another broker, or none of the cluster's
)

// parallel bounds how many brokers are checked at once.
const parallel = 8

func runProbe(args []string, stdout, stderr io.Writer) int {
	var (
		rf        ruleFlags
		cf        connFlags
		bootstrap string
		suggest   bool
		jsonOut   bool
	)
	fs := newFlagSet("probe", stderr)
	fs.StringVar(&bootstrap, "bootstrap", "", "the `HOST:PORT` to fetch metadata from (required)")
	rf.register(fs)
	cf.register(fs)
	fs.BoolVar(&suggest, "suggest", false, "print rules covering the brokers no rule matched")
	fs.BoolVar(&jsonOut, "json", false, "print a JSON document instead of the table")
	extra, status, ok := parseFlags(fs, args, probeUsage, stdout, stderr)
	if !ok {
		return status
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kafkanat probe: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case len(extra) > 0:
		return fail("unexpected argument %q (give the bootstrap address with --bootstrap)", extra[0])
	case bootstrap == "":
		return fail("--bootstrap HOST:PORT is required\nrun 'kafkanat probe -h' for usage")
	}
	if host, port, err := net.SplitHostPort(bootstrap); err != nil || host == "" || port == "" {
		return fail("--bootstrap %q: want HOST:PORT", bootstrap)
	}
	cfg, err := rf.config()
	if err != nil {
		return fail("%v", err)
	}
	if err := cf.apply(&cfg); err != nil {
		return fail("%v", err)
	}
	mech, err := cf.mechanism()
	if err != nil {
		return fail("%v", err)
	}
	// This dialer explains the decisions and checks the configuration;
	// every check dials through a dialer of its own (see check).
	d, err := newDialer(cfg)
	if err != nil {
		return fail("%v", err)
	}
	defer d.Close()

	p := &prober{d: d, cfg: cfg, mech: mech, timeout: cf.timeout}
	rep := p.probe(context.Background(), bootstrap)
	sugg := suggestRules(unmatched(rep))
	rep.SuggestedRules = []string{}
	for _, s := range sugg {
		rep.SuggestedRules = append(rep.SuggestedRules, s.Rules...)
	}
	if jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "kafkanat probe: %v\n", err)
			return exitUnreachable
		}
	} else {
		writeText(stdout, rep, suggest, sugg)
	}
	if !rep.OK {
		return exitUnreachable
	}
	return exitOK
}

// writeJSON prints v as indented JSON, rules legible ("a => b", not
// "a =\u003e b").
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// prober checks addresses through kafkanat dialers built from one
// configuration.
type prober struct {
	d       *dialer.Dialer // for decisions
	cfg     dialer.Config  // for the dialer of each check
	mech    sasl.Mechanism // nil: no SASL
	timeout time.Duration
}

// probe checks the bootstrap address, then every broker its metadata
// lists.
func (p *prober) probe(ctx context.Context, bootstrap string) *Report {
	rep := &Report{Brokers: []BrokerReport{}}
	b := &rep.Bootstrap
	b.Address = bootstrap
	b.ControllerID = -1
	b.RuleDecision = p.decide(ctx, bootstrap)

	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only, no topics
	var meta *kmsg.MetadataResponse
	b.Outcome, b.MetadataMS = p.check(ctx, bootstrap, func(request requestFunc) (time.Duration, error) {
		// Open the connection first, so that the Metadata request is
		// timed alone.
		if _, _, err := request(kmsg.NewPtrApiVersionsRequest()); err != nil {
			return 0, err
		}
		resp, took, err := request(req)
		if err == nil {
			meta = resp.(*kmsg.MetadataResponse)
		}
		return took, err
	})
	if b.Status != statusOK {
		return rep
	}
	if err := kerr.ErrorForCode(meta.ErrorCode); err != nil {
		b.Status, b.Error = statusFailed, "the metadata request failed: "+err.Error()
		return rep
	}
	if meta.ClusterID != nil {
		b.ClusterID = *meta.ClusterID
	}
	b.ControllerID = meta.ControllerID
	if len(meta.Brokers) == 0 {
		b.Status, b.Error = statusFailed, "the metadata lists no brokers"
		return rep
	}

	brokers := slices.Clone(meta.Brokers)
	slices.SortFunc(brokers, func(a, b kmsg.MetadataResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
	nodes := make([]int32, len(brokers))
	for i, mb := range brokers {
		nodes[i] = mb.NodeID
	}
	rep.Brokers = make([]BrokerReport, len(brokers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i, mb := range brokers {
		r := &rep.Brokers[i]
		r.NodeID = mb.NodeID
		if mb.Rack != nil {
			r.Rack = *mb.Rack
		}
		r.Advertised = net.JoinHostPort(mb.Host, fmt.Sprint(mb.Port))
		r.Identity = Identity{Status: identityUnchecked, AnsweredAs: -1}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r.RuleDecision = p.decide(ctx, r.Advertised)
			r.Outcome, r.RTTMS = p.check(ctx, r.Advertised, func(request requestFunc) (time.Duration, error) {
				// The first request opens the connection (and runs
				// kgo's own ApiVersions and SASL); the second times a
				// bare round trip on it.
				if _, _, err := request(kmsg.NewPtrApiVersionsRequest()); err != nil {
					return 0, err
				}
				_, rtt, err := request(kmsg.NewPtrApiVersionsRequest())
				if err != nil {
					return 0, err
				}
				r.Identity = identify(request, r.NodeID, nodes)
				return rtt, nil
			})
		})
	}
	wg.Wait()
	rep.OK = true
	for i := range rep.Brokers {
		r := &rep.Brokers[i]
		if r.Status == statusOK && r.Identity.Status == identityWrong {
			r.Status, r.Error = statusWrongBroker, misMapped(r, rep.Brokers)
		}
		if r.Status == statusOK {
			rep.Reachable++
		} else {
			rep.OK = false
		}
	}
	return rep
}

// misMapped says what the rules did wrong for r, whose endpoint proved to
// be another broker (or none of the cluster's).
func misMapped(r *BrokerReport, brokers []BrokerReport) string {
	var b strings.Builder
	if r.Rule > 0 {
		fmt.Fprintf(&b, "rule %d sends node %d (%s) to the endpoint of ", r.Rule, r.NodeID, r.Advertised)
	} else {
		fmt.Fprintf(&b, "node %d (%s), which no rule matched, reaches the endpoint of ", r.NodeID, r.Advertised)
	}
	i := slices.IndexFunc(brokers, func(o BrokerReport) bool { return o.NodeID == r.Identity.AnsweredAs })
	if i < 0 {
		fmt.Fprintf(&b, "a broker that is none of the %d in the metadata (another cluster's?)", len(brokers))
	} else {
		fmt.Fprintf(&b, "node %d (%s)", brokers[i].NodeID, brokers[i].Advertised)
	}
	fmt.Fprintf(&b, ": %s via %s answers %s as ", r.Target, r.Route, r.Identity.Method)
	if i < 0 {
		b.WriteString("none of them")
	} else {
		fmt.Fprintf(&b, "node %d", brokers[i].NodeID)
	}
	return b.String()
}

// decide asks the dialer what it would do with address.
func (p *prober) decide(ctx context.Context, address string) RuleDecision {
	dec, err := p.d.Explain(ctx, address)
	return ruleDecision(address, dec, err)
}

// ruleDecision is the report of Explain's answer about address.
func ruleDecision(address string, dec dialer.Decision, err error) RuleDecision {
	out := RuleDecision{Rule: dec.Rule, RuleText: dec.RuleText, Target: dec.Target, Routes: dec.Routes, Refused: dec.Refused}
	if out.Routes == nil {
		out.Routes = []string{}
	}
	if err != nil {
		out.Decision = fmt.Sprintf("%s: %v", address, err)
	} else {
		out.Decision = dec.String()
	}
	return out
}

// requestFunc issues one request to the broker being checked and returns
// the response and how long it took.
type requestFunc func(kmsg.Request) (kmsg.Response, time.Duration, error)

// check dials address through a dialer of its own, which times every
// stage of the dial (see dialTrace), then hands the connection to a kgo
// client that knows address only, as its one seed broker, and calls do
// with a function issuing requests to it. do returns the time to report
// (in ms, the second result), and its error fails the check.
//
// The dial is bounded by the dial timeout alone (every route shares it);
// the requests, by the timeout again from the moment the dial returned.
func (p *prober) check(ctx context.Context, address string, do func(requestFunc) (time.Duration, error)) (Outcome, float64) {
	trace := newDialTrace()
	cfg := p.cfg
	cfg.Direct, cfg.Hook = trace, trace
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.ClientSessionCache = trace
	}
	out := Outcome{Stages: []Stage{}}
	d, err := newDialer(cfg)
	if err != nil { // the configuration was checked once already
		out.Status, out.Error = statusFailed, err.Error()
		return out, 0
	}
	defer d.Close()

	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", address)
	dialTook := time.Since(start)
	if err == nil {
		// The routes tried before the winner, in the order written (a
		// new dialer knows no failing route to try last).
		info, _ := dialer.InfoOf(c)
		dec, _ := d.Explain(ctx, address)
		trace.wait(slices.Index(dec.Routes, info.Route)+1, start.Add(p.cfg.DialTimeout))
	}
	stages, failed := trace.stages()
	out.Stages = append(out.Stages, stages...)
	if err != nil {
		out.Error = err.Error()
		if errors.Is(err, dialer.ErrNoRoute) {
			out.Status = statusRefused
			return out, 0
		}
		out.Status, out.DialMS, out.FailedStage = statusUnreachable, ms(dialTook), failed
		if out.FailedStage == "" {
			out.FailedStage = string(dialer.StageOf(err))
		}
		return out, 0
	}
	info, _ := dialer.InfoOf(c)
	out.Status, out.Route, out.DialMS = statusOK, info.Route, ms(dialTook)

	peek := &peekConn{Conn: c}
	var handed atomic.Bool
	firstDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if handed.CompareAndSwap(false, true) {
			return peek, nil
		}
		return d.DialContext(ctx, network, addr)
	}
	x := &exchange{}
	opts := []kgo.Opt{kgo.SeedBrokers(address), kgo.Dialer(firstDial), kgo.ClientID("kafkanat-probe"), kgo.WithHooks(x)}
	if p.mech != nil {
		opts = append(opts, kgo.SASL(p.mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.Close()
		out.Status, out.Error = statusFailed, err.Error()
		return out, 0
	}
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	seed := cl.SeedBrokers()[0]
	start = time.Now()
	reported, err := do(func(req kmsg.Request) (kmsg.Response, time.Duration, error) {
		start := time.Now()
		resp, err := seed.Request(rctx, req)
		return resp, time.Since(start), err
	})
	took := time.Since(start)
	cancel()
	cl.Close()
	if !handed.Load() {
		c.Close()
	}
	reason := ""
	if err != nil {
		what := peek.notKafka()
		if what == "" && errors.Is(err, context.DeadlineExceeded) {
			what = sniff(ctx, d.DialContext, address, p.timeout)
		}
		reason = p.exchangeFailure(info, what, err)
	}
	stages, failed = x.stages(took, err, reason)
	out.Stages = append(out.Stages, stages...)
	if err != nil {
		out.Status, out.Error, out.FailedStage = statusFailed, reason, failed
		return out, 0
	}
	return out, ms(reported)
}

// exchangeFailure says why the Kafka requests over a connection made as
// info says failed with err; what is what the peer is, when it is not a
// Kafka broker.
func (p *prober) exchangeFailure(info dialer.Info, what string, err error) string {
	prefix := fmt.Sprintf("connected to %s via %s, but ", info.Target, info.Route)
	if what != "" {
		return prefix + what
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("%sthe Kafka exchange failed: no answer within %v (--timeout)", prefix, p.timeout)
	}
	return prefix + "the Kafka exchange failed: " + err.Error()
}

// ms converts d to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// unmatched returns the addresses no rule matched that need one: every
// broker no rule matched, and the bootstrap when it failed.
func unmatched(rep *Report) []string {
	var out []string
	noRule := func(d RuleDecision) bool { return d.Rule == 0 && d.RuleText != "Lookup" }
	if rep.Bootstrap.Status != statusOK && noRule(rep.Bootstrap.RuleDecision) {
		out = append(out, rep.Bootstrap.Address)
	}
	for _, b := range rep.Brokers {
		if noRule(b.RuleDecision) && !slices.Contains(out, b.Advertised) {
			out = append(out, b.Advertised)
		}
	}
	return out
}

// ruleColumn is the RULE cell of a row.
func ruleColumn(d RuleDecision) string {
	switch {
	case d.Rule > 0:
		return fmt.Sprintf("%d: %s", d.Rule, d.RuleText)
	case d.RuleText == "" || strings.HasPrefix(d.RuleText, "no rule"):
		return "no rule"
	}
	return d.RuleText
}

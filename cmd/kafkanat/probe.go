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
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
)

const probeUsage = `Usage: kafkanat probe --bootstrap HOST:PORT [--rules TEXT | --rules-file FILE] [--via URL]
        [--strict] [--timeout D] [--tls [--tls-ca FILE] [--tls-server-name NAME]
        [--tls-insecure-skip-verify]] [--sasl-mechanism M --sasl-user USER
        --sasl-password-env VAR] [--suggest] [--json]

Dials the bootstrap address through the rules, fetches metadata, and checks
every broker: it dials the broker's advertised address through the rules on
a connection of its own and runs an ApiVersions round trip over it. One row
per broker: node id, advertised address, rule, target, route, status (ok,
refused, unreachable, failed), dial time and round-trip time; the reason of
each failure follows the table.

--suggest prints rules that would cover the addresses no rule matched: one
"ADDRESS => HOST:PORT" line per broker (a tunnel or load-balancer port each)
and, for brokers sharing a domain, "*.DOMAIN => HOST" (one endpoint keeping
each broker's port; only when their ports differ), "name-{n}.DOMAIN:PORT =>
HOST:{BASE+n}" (numbered names, consecutive ports such as NodePorts) and
"*.DOMAIN via socks5://GATEWAY:1080" (a gateway in the brokers' network that
resolves their names). Replace the upper-case words and pick one.

Exit status: 0 every broker answered; 1 the bootstrap or some broker did
not; 2 usage or configuration error.

Flags:
`

// Broker statuses.
const (
	statusOK          = "ok"          // the Kafka round trip succeeded
	statusRefused     = "refused"     // the configuration refuses the address; not dialed
	statusUnreachable = "unreachable" // the dial failed
	statusFailed      = "failed"      // connected, but Kafka did not answer
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
		fmt.Fprintf(stderr, "kafkanat probe: %s\n", strings.TrimPrefix(fmt.Sprintf(format, a...), "kafkanat: "))
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
	connOpts, err := cf.options()
	if err != nil {
		return fail("%v", err)
	}
	mech, err := cf.mechanism()
	if err != nil {
		return fail("%v", err)
	}
	d, err := rf.newDialer(connOpts...)
	if err != nil {
		return fail("%v", err)
	}
	defer d.Close()

	p := &prober{d: d, mech: mech, timeout: cf.timeout}
	rep := p.probe(context.Background(), bootstrap)
	var sugg []suggestion
	if suggest {
		sugg = suggestRules(unmatched(rep))
		rep.SuggestedRules = []string{}
		for _, s := range sugg {
			rep.SuggestedRules = append(rep.SuggestedRules, s.Rules...)
		}
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // rules read "a => b", not "a =\u003e b"
		if err := enc.Encode(rep); err != nil {
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

// prober checks addresses through one kafkanat dialer.
type prober struct {
	d       *dialer.Dialer
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
	b.Outcome, b.MetadataMS = p.check(ctx, bootstrap, func(request requestFunc) error {
		// Open the connection first, so that the Metadata request is
		// timed alone.
		if _, err := request(kmsg.NewPtrApiVersionsRequest()); err != nil {
			return err
		}
		resp, err := request(req)
		if err == nil {
			meta = resp.(*kmsg.MetadataResponse)
		}
		return err
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
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r.RuleDecision = p.decide(ctx, r.Advertised)
			r.Outcome, r.RTTMS = p.check(ctx, r.Advertised, func(request requestFunc) error {
				// The first request opens the connection (and runs
				// kgo's own ApiVersions and SASL); the second times a
				// bare round trip on it.
				if _, err := request(kmsg.NewPtrApiVersionsRequest()); err != nil {
					return err
				}
				_, err := request(kmsg.NewPtrApiVersionsRequest())
				return err
			})
		})
	}
	wg.Wait()
	rep.OK = true
	for _, r := range rep.Brokers {
		if r.Status == statusOK {
			rep.Reachable++
		} else {
			rep.OK = false
		}
	}
	return rep
}

// decide asks the dialer what it would do with address.
func (p *prober) decide(ctx context.Context, address string) RuleDecision {
	dec, err := p.d.Explain(ctx, address)
	out := RuleDecision{Rule: dec.Rule, RuleText: dec.RuleText, Target: dec.Target, Routes: dec.Routes, Refused: dec.Refused}
	if err != nil {
		out.Decision = fmt.Sprintf("%s: %v", address, err)
	} else {
		out.Decision = dec.String()
	}
	return out
}

// requestFunc issues one request to the broker being checked.
type requestFunc func(kmsg.Request) (kmsg.Response, error)

// check opens a kgo client that knows address only, as its one seed
// broker, and calls do with a function issuing requests to it: every
// connection the client opens goes to address through the dialer. It
// reports the dial, and how long the last request of do took in ms.
func (p *prober) check(ctx context.Context, address string, do func(requestFunc) error) (Outcome, float64) {
	rec := newRecorder(p.d)
	opts := []kgo.Opt{kgo.SeedBrokers(address), kgo.Dialer(rec.DialContext), kgo.ClientID("kafkanat-probe")}
	if p.mech != nil {
		opts = append(opts, kgo.SASL(p.mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Outcome{Status: statusFailed, Error: err.Error()}, 0
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	seed := cl.SeedBrokers()[0]
	var last time.Duration
	err = do(func(req kmsg.Request) (kmsg.Response, error) {
		start := time.Now()
		resp, err := seed.Request(ctx, req)
		last = time.Since(start)
		return resp, err
	})
	cancel()
	cl.Close()
	// The request returns when ctx ends even if the dial is still under
	// way; wait for it so that its result is the one reported.
	dial := rec.wait()

	out := Outcome{Status: statusOK}
	if dial.done {
		out.DialMS = ms(dial.took)
		if dial.err == nil {
			out.Route = dial.info.Route
		}
	}
	switch {
	case dial.err != nil && errors.Is(dial.err, kafkanat.ErrNoRoute):
		out.Status, out.Error, out.DialMS = statusRefused, dial.err.Error(), 0
	case dial.err != nil:
		out.Status, out.Error = statusUnreachable, dial.err.Error()
	case err != nil && dial.done:
		out.Status = statusFailed
		out.Error = fmt.Sprintf("connected to %s via %s, but the Kafka exchange failed: %v", dial.info.Target, dial.info.Route, err)
	case err != nil:
		out.Status, out.Error = statusFailed, "no connection was made: "+err.Error()
	}
	if out.Status != statusOK {
		return out, 0
	}
	return out, ms(last)
}

// ms converts d to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// dialResult is one dial through the dialer.
type dialResult struct {
	done bool
	info kafkanat.ConnInfo
	err  error
	took time.Duration
}

// recorder wraps the dialer and keeps the last dial's result.
type recorder struct {
	d       *dialer.Dialer
	mu      sync.Mutex
	cond    *sync.Cond // signalled when a dial ends
	pending int        // dials under way
	last    dialResult
}

func newRecorder(d *dialer.Dialer) *recorder {
	r := &recorder{d: d}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// DialContext dials through the dialer and records the result.
func (r *recorder) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.pending++
	r.mu.Unlock()
	start := time.Now()
	c, err := r.d.DialContext(ctx, network, address)
	res := dialResult{done: true, err: err, took: time.Since(start)}
	if err == nil {
		res.info, _ = kafkanat.InfoOf(c)
	}
	r.mu.Lock()
	r.pending--
	r.last = res
	r.cond.Broadcast()
	r.mu.Unlock()
	return c, err
}

// wait returns the last dial's result once no dial is under way.
func (r *recorder) wait() dialResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.pending > 0 {
		r.cond.Wait()
	}
	return r.last
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

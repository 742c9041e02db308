package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kafkanat/kafkanat/dialer"
)

// Report is what probe found; --json prints it. Fields are never renamed
// or removed; new ones may be added.
type Report struct {
	// OK is true when the bootstrap and every broker answered: exit
	// status 0.
	OK        bool            `json:"ok"`
	Bootstrap BootstrapReport `json:"bootstrap"`
	// Brokers are the brokers the metadata lists, in node id order; empty
	// when the bootstrap failed.
	Brokers []BrokerReport `json:"brokers"`
	// Reachable counts the brokers whose status is "ok".
	Reachable int `json:"reachable"`
	// SuggestedRules are rule lines covering the addresses no rule
	// matched, alternatives in the order --suggest prints them; upper-case
	// words (HOST, PORT, BASE, GATEWAY) are to be replaced. Always an
	// array, empty when every address matched a rule.
	SuggestedRules []string `json:"suggested_rules"`
}

// RuleDecision is what the rules say about an address, found without
// dialing (kafkanat's Explain).
type RuleDecision struct {
	// Decision is the decision in one line (kafkanat.Decision.String), or
	// the error that prevented one.
	Decision string `json:"decision"`
	Rule     int    `json:"rule"`      // 1-based number of the matching rule; 0 when none matched
	RuleText string `json:"rule_text"` // the rule, or "no rule matched"; credentials redacted
	Target   string `json:"target"`    // where the address is dialed; empty when refused
	// Routes are the routes tried in order, credentials redacted.
	Routes  []string `json:"routes"`
	Refused bool     `json:"refused"` // a deny rule, or --strict and no rule, refuses the address
}

// Outcome is the result of dialing an address through the rules and
// talking Kafka over the connection.
type Outcome struct {
	Route  string `json:"route"`  // the route that carried the connection; empty if none did
	Status string `json:"status"` // "ok", "refused", "unreachable", "failed" or "wrong-broker"
	// Error says why, when status is not "ok": kafkanat's message for dial
	// failures.
	Error string `json:"error"`
	// FailedStage is the stage that failed (see Stage), "" when none did
	// (also when refused or wrong-broker).
	FailedStage string  `json:"failed_stage"`
	DialMS      float64 `json:"dial_ms"` // the dial through kafkanat, every route attempt; 0 if not dialed
	// Stages are the timed stages: those of each route attempt, in the
	// order the attempts started, then SASL and the Kafka requests. Empty
	// when the address was refused.
	Stages []Stage `json:"stages"`
}

// BootstrapReport is the bootstrap address's decision and outcome, and
// what its metadata said.
type BootstrapReport struct {
	Address string `json:"address"` // as given to --bootstrap
	RuleDecision
	Outcome
	MetadataMS   float64 `json:"metadata_ms"`   // the Metadata round trip
	ClusterID    string  `json:"cluster_id"`    // from the metadata
	ControllerID int32   `json:"controller_id"` // from the metadata; -1 when unknown
}

// BrokerReport is one broker's advertised address, decision and outcome.
type BrokerReport struct {
	NodeID     int32  `json:"node_id"`
	Rack       string `json:"rack"`
	Advertised string `json:"advertised"` // host:port from the metadata
	RuleDecision
	Outcome
	RTTMS float64 `json:"rtt_ms"` // an ApiVersions round trip on the open connection; 0 when the requests failed
	// Identity is what the endpoint proved to be; "unchecked" when the
	// requests failed.
	Identity Identity `json:"identity"`
}

// writeText prints rep as a table with the failures below it.
func writeText(w io.Writer, rep *Report, suggest bool, sugg []suggestion) {
	b := rep.Bootstrap
	fmt.Fprintf(w, "bootstrap %s\n", b.Decision)
	if b.Status != statusOK {
		fmt.Fprintf(w, "  %s: %s\n", statusText(b.Outcome), b.Error)
	} else {
		fmt.Fprintf(w, "  ok via %s: dial %s, metadata %s; cluster %q, controller %d, %d brokers\n",
			b.Route, fmtMS(b.DialMS), fmtMS(b.MetadataMS), b.ClusterID, b.ControllerID, len(rep.Brokers))
	}
	if len(b.Stages) > 0 {
		fmt.Fprintf(w, "  stages: %s\n", stagesColumn(b.Stages))
	}

	if len(rep.Brokers) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tADVERTISED\tRULE\tTARGET\tROUTE\tSTATUS\tDIAL\tRTT\tSTAGES")
		for _, r := range rep.Brokers {
			route := r.Route
			if route == "" {
				route = strings.Join(r.Routes, ", ")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.NodeID, r.Advertised, ruleColumn(r.RuleDecision),
				dash(r.Target), dash(route), r.Status, fmtMS(r.DialMS), fmtMS(r.RTTMS), dash(stagesColumn(r.Stages)))
		}
		tw.Flush()
		var notes []string
		for _, r := range rep.Brokers {
			switch {
			case r.Status != statusOK:
				notes = append(notes, fmt.Sprintf("node %d %s: %s", r.NodeID, statusText(r.Outcome), r.Error))
			case r.Identity.Status == identityUnverified:
				notes = append(notes, fmt.Sprintf("node %d ok, identity unverified: %s", r.NodeID, r.Identity.Note))
			}
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
		}
		fmt.Fprintf(w, "\n%d of %d brokers reachable\n", rep.Reachable, len(rep.Brokers))
	}

	if n := failedUnmatched(rep); !suggest && n > 0 {
		fmt.Fprintf(w, "--suggest prints rules for the %d %s no rule matched\n", n, plural(n, "address", "addresses"))
	}
	if suggest {
		fmt.Fprintln(w)
		writeSuggestions(w, sugg)
	}
}

// statusText is the status with the stage that failed, if any:
// "unreachable (TCP connect)".
func statusText(o Outcome) string {
	if o.FailedStage == "" {
		return o.Status
	}
	return o.Status + " (" + o.FailedStage + ")"
}

// stageLabels are the short names of the stages in the table.
var stageLabels = map[string]string{
	string(dialer.StageResolve):   "dns",
	string(dialer.StageConnect):   "tcp",
	string(dialer.StageHandshake): "proxy",
	string(dialer.StageChannel):   "ssh",
	string(dialer.StageTLS):       "tls",
	stageSASL:                     "sasl",
	stageKafka:                    "kafka",
}

// stagesColumn is the stages in one line: "tcp 120µs, tls 2.1ms, kafka
// 1.4ms"; a stage that failed is marked "!", and route attempts are
// separated by " | ".
func stagesColumn(stages []Stage) string {
	var b strings.Builder
	for i, s := range stages {
		switch {
		case i == 0:
		case s.Route != "" && stages[i-1].Route != "" && (s.Route != stages[i-1].Route || stages[i-1].Error != ""):
			b.WriteString(" | ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(stageLabels[s.Stage])
		if s.Error != "" {
			b.WriteString("!")
		}
		b.WriteString(" ")
		if s.MS == 0 {
			b.WriteString("<1µs") // under the resolution, not missing
		} else {
			b.WriteString(fmtMS(s.MS))
		}
	}
	return b.String()
}

// failedUnmatched counts the addresses no rule matched that a rule could
// fix: refused by --strict, or unreachable over the direct route.
func failedUnmatched(rep *Report) int {
	n := 0
	fixable := func(d RuleDecision, o Outcome) bool {
		return d.Rule == 0 && d.RuleText != "Lookup" &&
			(o.Status == statusRefused || o.Status == statusUnreachable && slices.Equal(d.Routes, []string{"direct"}))
	}
	if fixable(rep.Bootstrap.RuleDecision, rep.Bootstrap.Outcome) {
		n++
	}
	for _, b := range rep.Brokers {
		if fixable(b.RuleDecision, b.Outcome) && b.Advertised != rep.Bootstrap.Address {
			n++
		}
	}
	return n
}

// fmtMS formats milliseconds for the table: "-" for none.
func fmtMS(v float64) string {
	if v == 0 {
		return "-"
	}
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

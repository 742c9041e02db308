package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	iroute "github.com/kafkanat/kafkanat/internal/route"
)

const noRule = "no rule matched"

// decision is what the configuration says about one address.
type decision struct {
	target   string
	rule     int
	ruleText string
	routes   []*route
}

// decide applies the rules, then Lookup, then the default. A refused or
// malformed address is an *Error.
func (d *Dialer) decide(ctx context.Context, network, address string) (decision, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return decision{}, &Error{Address: address, Err: fmt.Errorf("network %q is not supported: kafkanat dials tcp, tcp4 or tcp6", network)}
	}
	if err := checkAddress(address); err != nil {
		return decision{}, &Error{Address: address, Err: err}
	}
	st := d.rules.Load()
	m, ok, err := st.table.Match(address)
	if err != nil {
		e := &Error{Address: address, Err: err}
		if m.Rule != nil {
			e.Rule, e.RuleText = m.Rule.Index, st.text[m.Rule.Index-1]
		}
		return decision{}, e
	}
	if ok {
		i := m.Rule.Index - 1
		dec := decision{target: m.Target, rule: m.Rule.Index, ruleText: st.text[i], routes: st.routes[i]}
		if m.Rule.Deny {
			return decision{}, &Error{Address: address, Rule: dec.rule, RuleText: dec.ruleText, Err: fmt.Errorf("%w: denied by rule %d (%s)", ErrNoRoute, dec.rule, dec.ruleText)}
		}
		if dec.routes == nil {
			dec.routes = d.defaultRoutesFor(dec.target)
		}
		return dec, nil
	}
	if d.lookup != nil {
		target, ok, err := d.callLookup(ctx, address)
		if err != nil {
			return decision{}, &Error{Address: address, RuleText: "Lookup", Err: fmt.Errorf("the Lookup function failed: %w", err)}
		}
		if ok {
			target, err = completeTarget(target, address)
			if err != nil {
				return decision{}, &Error{Address: address, RuleText: "Lookup", Err: err}
			}
			return decision{target: target, ruleText: "Lookup", routes: d.defaultRoutesFor(target)}, nil
		}
	}
	if d.strict {
		return decision{}, &Error{Address: address, RuleText: noRule, Err: fmt.Errorf("%w: no rule matches and the dialer is strict; add a rule for %s", ErrNoRoute, address)}
	}
	return decision{target: address, ruleText: noRule, routes: d.defaultRoutesFor(address)}, nil
}

// addresses is what every route can dial and any broker can advertise:
// host:port with a host of at most 253 bytes (the longest DNS name; IP
// addresses are shorter), a port in 1..65535 and no control character or
// space.
var addresses = iroute.Targets{Forbidden: " ", MaxHost: 253, Protocol: "DNS name"}

// checkAddress refuses what no route could dial and no broker can
// advertise (see addresses). Every route then sees the same addresses,
// whichever the rules pick.
func checkAddress(address string) error {
	if _, err := addresses.Check(address); err != nil {
		return fmt.Errorf("malformed address %s: %w", quoteClipped(address), err)
	}
	return nil
}

// defaultRoutesFor returns the default routes, or the direct route when
// NoProxy exempts target.
func (d *Dialer) defaultRoutesFor(target string) []*route {
	if d.noProxy != nil && d.noProxy.match(target) {
		return d.routes.directOnly
	}
	return d.defaultRoutes
}

// Decision is what a Dialer would do with an address, found without
// dialing (see Explain).
type Decision struct {
	Address  string   // the address asked about
	Target   string   // where it would be dialed; empty when refused
	Rule     int      // 1-based number of the matching rule; 0 when none matched
	RuleText string   // the matching rule, credentials redacted, or "Lookup" or "no rule matched"
	Routes   []string // the routes that would be tried, in order, credentials redacted
	Refused  bool     // a deny rule or Strict refuses the address
	Reason   string   // why it is refused, when Refused
}

// String describes the decision in one line, for example
//
//	b2.abc.example.com:9094 => 10.0.0.7:9094 via socks5://bastion:1080 (rule 3: *.abc.example.com => 10.0.0.7)
//	other.invalid:9092: no rule: dialed directly
//	x.invalid:9092: refused by rule 1 (*.invalid deny)
func (dec Decision) String() string {
	var b strings.Builder
	b.WriteString(dec.Address)
	switch {
	case dec.Refused && dec.Rule > 0:
		fmt.Fprintf(&b, ": refused by rule %d (%s)", dec.Rule, dec.RuleText)
		return b.String()
	case dec.Refused:
		b.WriteString(": no rule: refused (strict)")
		return b.String()
	case dec.Rule == 0 && dec.RuleText == noRule:
		if len(dec.Routes) == 1 && dec.Routes[0] == "direct" {
			b.WriteString(": no rule: dialed directly")
		} else {
			b.WriteString(": no rule: dialed via ")
			b.WriteString(strings.Join(dec.Routes, ", "))
		}
		return b.String()
	}
	return Info{Address: dec.Address, Target: dec.Target, Rule: dec.Rule, RuleText: dec.RuleText, Route: strings.Join(dec.Routes, ", ")}.String()
}

// Explain reports what a dial of address ("host:port") would do, without
// dialing: the rule, the target and the routes, or why it would be
// refused. It consults Lookup like a dial does. The error is that of a
// dial that could not decide (a malformed address, a target that cannot be
// built, a failing Lookup).
func (d *Dialer) Explain(ctx context.Context, address string) (Decision, error) {
	dec, err := d.decide(ctx, "tcp", address)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrNoRoute) {
			return Decision{Address: address, Rule: e.Rule, RuleText: e.RuleText, Refused: true, Reason: reason(e.Err, "")}, nil
		}
		return Decision{Address: address}, err
	}
	out := Decision{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText}
	for _, r := range dec.routes {
		out.Routes = append(out.Routes, r.name)
	}
	return out, nil
}

// completeTarget checks a Lookup target and gives a port-less one the
// address's port.
func completeTarget(target, address string) (string, error) {
	if host, port, err := net.SplitHostPort(target); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("the Lookup function returned target %q: host and port must not be empty", target)
		}
		return target, nil
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", address, err)
	}
	host := target
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1] // a bracketed IPv6 literal
	} else if strings.Contains(host, ":") {
		host = ""
	}
	if host == "" || strings.ContainsAny(host, "[] \t\r\n") {
		return "", fmt.Errorf("the Lookup function returned target %q: want host:port or host", target)
	}
	return net.JoinHostPort(host, port), nil
}

// callLookup calls the Lookup function, returning when ctx ends even if
// the function does not: a registry that stalls must not hold a dial past
// its deadline (the call then finishes in the background).
func (d *Dialer) callLookup(ctx context.Context, address string) (string, bool, error) {
	type result struct {
		target string
		ok     bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		target, ok, err := d.lookup(ctx, address)
		done <- result{target, ok, err}
	}()
	select {
	case r := <-done:
		return r.target, r.ok, r.err
	case <-ctx.Done():
		return "", false, fmt.Errorf("it did not return before the dial's deadline: %w", context.Cause(ctx))
	}
}

// hintFor suggests a rule when an address no rule matched could not be
// resolved: the name does not exist, no DNS server answered, or the lookup
// timed out. The wording holds in every case.
func hintFor(address string, err error) string {
	var dns *net.DNSError
	if !errors.As(err, &dns) {
		return ""
	}
	host, _, splitErr := net.SplitHostPort(address)
	if splitErr != nil {
		return ""
	}
	hint := fmt.Sprintf("%s could not be resolved here and no rule matched it: add a rule such as %q", host, address+" => HOST:PORT")
	if i := strings.IndexByte(host, '.'); i > 0 && i < len(host)-1 {
		hint += fmt.Sprintf(" or %q", "*"+host[i:]+" via socks5://GATEWAY:1080")
	}
	return hint
}

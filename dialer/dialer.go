package dialer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/rewrite"
)

// DefaultDialTimeout bounds each route attempt when Config.DialTimeout is zero.
const DefaultDialTimeout = 10 * time.Second

// Config configures a Dialer. The zero value is valid: no rules, every
// address dialed directly with DefaultDialTimeout.
type Config struct {
	// Rules are matched in order at every dial; the first that matches
	// decides. See package rewrite for the rule language.
	Rules []rewrite.Rule

	// Lookup, if not nil, is consulted at every dial whose address no rule
	// matched. It returns the target ("host:port", or "host" to keep the
	// address's port), which is dialed over the default route; ok false
	// means it has no entry for the address.
	Lookup func(ctx context.Context, address string) (target string, ok bool, err error)

	// Via lists the default routes, tried in order, for rules without
	// "via" and for addresses no rule matched: "direct", a route URL
	// (socks5://, socks5h://, http://, https://) or a name from Routes.
	// Empty means direct.
	Via []string

	// Routes are routes the application provides, by name, usable in
	// rules ("via NAME") and in Via. A name may not contain white space,
	// ",", ";", "#" or "://", and may not be "direct".
	Routes map[string]proxy.ContextDialer

	// Strict refuses addresses that no rule (and no Lookup) matched with
	// ErrNoRoute instead of dialing them directly.
	Strict bool

	// TLS, if not nil, makes the Dialer run TLS over the route. When
	// TLS.ServerName is empty, the advertised host (the address the client
	// dialed, not the rewritten target) is verified and sent as SNI.
	TLS *tls.Config

	// DialTimeout bounds each route attempt, TLS handshake included, also
	// when Dial is called without a context. Zero means
	// DefaultDialTimeout; negative is invalid.
	DialTimeout time.Duration

	// Logger receives a Debug record per dial decision and a Warn record
	// per failed dial. Nil means silent.
	Logger *slog.Logger

	// Direct dials the direct route and every proxy the route URLs name.
	// Nil means a net.Dialer.
	Direct proxy.ContextDialer
}

// Dialer rewrites each address by rule and dials it over its route. It
// is safe for concurrent use. Nothing is cached between dials: every dial
// evaluates the rules again.
type Dialer struct {
	table         *rewrite.Table
	ruleRoutes    [][]*route // by rule index - 1; nil means the default routes
	ruleText      []string   // by rule index - 1, credentials redacted
	defaultRoutes []*route
	lookup        func(ctx context.Context, address string) (string, bool, error)
	strict        bool
	tls           *tls.Config
	timeout       time.Duration
	log           *slog.Logger
}

var _ proxy.ContextDialer = (*Dialer)(nil)
var _ proxy.Dialer = (*Dialer)(nil)

// New returns a Dialer for cfg, or an error matching ErrConfig that names
// what is wrong and where.
func New(cfg Config) (*Dialer, error) {
	d, err := newDialer(cfg)
	return d, ConfigError(err)
}

func newDialer(cfg Config) (*Dialer, error) {
	if cfg.DialTimeout < 0 {
		return nil, fmt.Errorf("DialTimeout %v is negative", cfg.DialTimeout)
	}
	for name, r := range cfg.Routes {
		if err := checkRouteName(name); err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("route %q: dialer is nil", name)
		}
	}
	table, err := rewrite.Compile(cfg.Rules)
	if err != nil {
		return nil, err
	}
	direct := cfg.Direct
	if direct == nil {
		direct = directDialer()
	}
	set := newRouteSet(direct, cfg.Routes)
	d := &Dialer{
		table:   table,
		lookup:  cfg.Lookup,
		strict:  cfg.Strict,
		timeout: cfg.DialTimeout,
		log:     cfg.Logger,
	}
	if d.timeout == 0 {
		d.timeout = DefaultDialTimeout
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if cfg.TLS != nil {
		d.tls = cfg.TLS.Clone()
	}
	for _, ref := range cfg.Via {
		r, err := set.resolve(strings.TrimSpace(ref))
		if err != nil {
			return nil, fmt.Errorf("Via(%q): %w", ref, err)
		}
		d.defaultRoutes = append(d.defaultRoutes, r)
	}
	if len(d.defaultRoutes) == 0 {
		d.defaultRoutes = []*route{set.direct}
	}
	rules := table.Rules()
	d.ruleRoutes = make([][]*route, len(rules))
	d.ruleText = make([]string, len(rules))
	for i := range rules {
		rule := &rules[i]
		d.ruleText[i] = rule.String()
		for _, ref := range rule.Routes {
			r, err := set.resolve(ref.Name)
			if err != nil {
				return nil, &rewrite.SyntaxError{Source: rule.Source, Line: ref.Line, Col: ref.Col, Msg: err.Error()}
			}
			d.ruleRoutes[i] = append(d.ruleRoutes[i], r)
		}
	}
	return d, nil
}

func checkRouteName(name string) error {
	switch {
	case name == "":
		return errors.New("route name is empty")
	case name == "direct":
		return errors.New(`route name "direct" is reserved for the direct route`)
	case strings.Contains(name, "://"):
		return fmt.Errorf("route name %q looks like a URL; names may not contain \"://\"", name)
	case strings.ContainsAny(name, " \t\r\n,;#"):
		return fmt.Errorf("route name %q may not contain white space, ',', ';' or '#'", name)
	}
	return nil
}

// Dial dials address over its route, bounded by the dial timeout. It is
// DialContext with context.Background(), the form sarama calls.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// decision is what the rules say about one address.
type decision struct {
	target   string
	rule     int
	ruleText string
	routes   []*route
}

// DialContext rewrites address by the rules and dials the result over
// the rule's routes, in order, until one connects. If the context expires
// before the connection is complete, an error is returned. Once
// successfully connected, any expiration of the context will not affect
// the connection.
//
// Every error is an *Error; a refused address matches ErrNoRoute.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	start := time.Now()
	dec, err := d.decide(ctx, network, address)
	if err != nil {
		d.logFailure(ctx, err.(*Error), start)
		return nil, err
	}
	if d.log.Enabled(ctx, slog.LevelDebug) {
		d.log.LogAttrs(ctx, slog.LevelDebug, "kafkanat: dial",
			slog.String("address", address), slog.String("target", dec.target),
			slog.Int("rule", dec.rule), slog.String("rule_text", dec.ruleText),
			slog.String("route", names(dec.routes)))
	}
	var errs []error
	for _, r := range dec.routes {
		c, err := d.attempt(ctx, network, address, dec.target, r)
		if err == nil {
			wrapped := &Conn{c: c, info: Info{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText, Route: r.name}}
			if d.tls == nil {
				return wrapped, nil
			}
			tc, err := d.handshake(ctx, wrapped, address)
			if err == nil {
				return tc, nil
			}
			errs = append(errs, err)
		} else {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	e := &Error{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText, Route: names(dec.routes)}
	if len(errs) == 1 {
		e.Err = errs[0]
	} else {
		for i := range errs {
			errs[i] = &routeError{route: dec.routes[i].name, err: errs[i]}
		}
		e.Err = routeErrors(errs)
	}
	if dec.rule == 0 && dec.ruleText == noRule {
		e.hint = hintFor(address, e.Err)
	}
	d.logFailure(ctx, e, start)
	return nil, e
}

const noRule = "no rule matched"

// decide applies the rules, then Lookup, then the default.
func (d *Dialer) decide(ctx context.Context, network, address string) (decision, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return decision{}, &Error{Address: address, Err: fmt.Errorf("network %q is not supported: kafkanat dials tcp, tcp4 or tcp6", network)}
	}
	m, ok, err := d.table.Match(address)
	if err != nil {
		e := &Error{Address: address, Err: err}
		if m.Rule != nil {
			e.Rule, e.RuleText = m.Rule.Index, d.ruleText[m.Rule.Index-1]
		}
		return decision{}, e
	}
	if ok {
		i := m.Rule.Index - 1
		dec := decision{target: m.Target, rule: m.Rule.Index, ruleText: d.ruleText[i], routes: d.ruleRoutes[i]}
		if m.Rule.Deny {
			return decision{}, &Error{Address: address, Rule: dec.rule, RuleText: dec.ruleText, Err: fmt.Errorf("%w: denied by rule %d (%s)", ErrNoRoute, dec.rule, dec.ruleText)}
		}
		if dec.routes == nil {
			dec.routes = d.defaultRoutes
		}
		return dec, nil
	}
	if d.lookup != nil {
		target, ok, err := d.lookup(ctx, address)
		if err != nil {
			return decision{}, &Error{Address: address, RuleText: "Lookup", Err: fmt.Errorf("the Lookup function failed: %w", err)}
		}
		if ok {
			target, err = completeTarget(target, address)
			if err != nil {
				return decision{}, &Error{Address: address, RuleText: "Lookup", Err: err}
			}
			return decision{target: target, ruleText: "Lookup", routes: d.defaultRoutes}, nil
		}
	}
	if d.strict {
		return decision{}, &Error{Address: address, RuleText: noRule, Err: fmt.Errorf("%w: no rule matches and the dialer is strict; add a rule for %s", ErrNoRoute, address)}
	}
	return decision{target: address, ruleText: noRule, routes: d.defaultRoutes}, nil
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

// attempt dials target over one route, bounded by the dial timeout.
func (d *Dialer) attempt(ctx context.Context, network, address, target string, r *route) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return r.d.DialContext(ctx, network, target)
}

// handshake runs TLS over c, verifying the advertised host.
func (d *Dialer) handshake(ctx context.Context, c net.Conn, address string) (net.Conn, error) {
	cfg := d.tls
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			c.Close()
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", cfg.ServerName, err)
	}
	return tc, nil
}

func (d *Dialer) logFailure(ctx context.Context, e *Error, start time.Time) {
	if !d.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	d.log.LogAttrs(ctx, slog.LevelWarn, "kafkanat: dial failed",
		slog.String("address", e.Address), slog.String("target", e.Target),
		slog.Int("rule", e.Rule), slog.String("rule_text", e.RuleText),
		slog.String("route", e.Route), slog.Duration("duration", time.Since(start)),
		slog.String("error", e.Error()))
}

// hintFor suggests a rule when an address no rule matched does not resolve.
func hintFor(address string, err error) string {
	var dns *net.DNSError
	if !errors.As(err, &dns) || !dns.IsNotFound {
		return ""
	}
	host, port, splitErr := net.SplitHostPort(address)
	if splitErr != nil {
		return ""
	}
	hint := fmt.Sprintf("%s does not resolve here and no rule matched it: add a rule such as %q", host, address+" => HOST:"+port)
	if i := strings.IndexByte(host, '.'); i > 0 && i < len(host)-1 {
		hint += fmt.Sprintf(" or %q", "*"+host[i:]+" via socks5://GATEWAY:1080")
	}
	return hint
}

// routeError is one route's failure among several.
type routeError struct {
	route string
	err   error
}

func (e *routeError) Error() string { return e.route + ": " + reason(e.err, e.route) }
func (e *routeError) Unwrap() error { return e.err }

// routeErrors are the failures of every route a rule tried, in order.
type routeErrors []error

func (es routeErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es routeErrors) Unwrap() []error { return es }

package dialer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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

	// NoProxy lists targets that bypass the default routes and are dialed
	// directly, in the NO_PROXY syntax: comma-separated host names
	// (matching the host and its subdomains), ".zone" or "*.zone" (the
	// same), IP addresses, CIDR blocks, or "*", each optionally with
	// ":port". It applies only where the default routes would carry a
	// connection, never to a rule's own "via".
	NoProxy string

	// Hook, if not nil, is called after every route attempt and when every
	// connection closes.
	Hook Hook
}

// Dialer rewrites each address by rule and dials it over its route. It
// is safe for concurrent use. Nothing is cached between dials: every dial
// evaluates the rules again, so a table replaced with SetRules takes
// effect at the next dial.
type Dialer struct {
	rules atomic.Pointer[ruleState]

	mu     sync.Mutex // serialises rule replacement and route building
	routes *routeSet

	defaultRoutes []*route
	noProxy       *noProxy
	lookup        func(ctx context.Context, address string) (string, bool, error)
	strict        bool
	tls           *tls.Config
	timeout       time.Duration
	log           *slog.Logger
	hook          Hook
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
	np, err := parseNoProxy(cfg.NoProxy)
	if err != nil {
		return nil, err
	}
	direct := cfg.Direct
	if direct == nil {
		direct = directDialer()
	}
	d := &Dialer{
		routes:  newRouteSet(direct, cfg.Routes),
		noProxy: np,
		lookup:  cfg.Lookup,
		strict:  cfg.Strict,
		timeout: cfg.DialTimeout,
		log:     cfg.Logger,
		hook:    cfg.Hook,
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
		r, err := d.routes.resolve(strings.TrimSpace(ref))
		if err != nil {
			d.routes.close()
			return nil, fmt.Errorf("Via(%q): %w", rewrite.RouteRef{Name: ref}.String(), err)
		}
		d.defaultRoutes = append(d.defaultRoutes, r)
	}
	if len(d.defaultRoutes) == 0 {
		d.defaultRoutes = []*route{d.routes.direct}
	}
	if err := d.setRules(cfg.Rules); err != nil {
		d.routes.close()
		return nil, err
	}
	return d, nil
}

// Close releases what the Dialer's route URLs hold open (the SSH
// connection of an ssh:// route). Connections already made stay open; a
// later dial over a closed route fails. Routes the application gave in
// Config.Routes are the application's to close.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.routes.close()
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
		info := Info{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText, Route: r.name}
		c, err := d.attempt(ctx, network, info, r)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
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

// attempt dials info.Target over one route and runs TLS if configured,
// bounded by the dial timeout, and accounts for it in the route's stats
// and the hook.
func (d *Dialer) attempt(ctx context.Context, network string, info Info, r *route) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start := time.Now()
	raw, err := r.d.DialContext(ctx, network, info.Target)
	var c net.Conn
	if err == nil {
		kc := newConn(raw, info, &r.stats, d.hook)
		c = kc
		if d.tls != nil {
			if c, err = d.handshake(ctx, kc, info.Address); err != nil {
				kc.abort()
			}
		}
	}
	elapsed := time.Since(start)
	r.stats.dialed(elapsed, err)
	if d.hook != nil {
		d.hook.DialDone(DialEvent{Info: info, Duration: elapsed, Err: err})
	}
	return c, err
}

// handshake runs TLS over c, verifying the advertised host.
func (d *Dialer) handshake(ctx context.Context, c net.Conn, address string) (net.Conn, error) {
	cfg := d.tls
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
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

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

// DefaultDialTimeout bounds a whole dial when Config.DialTimeout is zero.
const DefaultDialTimeout = 10 * time.Second

// DefaultFallbackDelay is how long a route attempt runs alone before the
// next route of the rule starts beside it, when Config.FallbackDelay is
// zero. It is net.Dialer's delay between IPv6 and IPv4 attempts.
const DefaultFallbackDelay = 300 * time.Millisecond

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
	// (socks5://, socks5h://, http://, https://, ssh://) or a name from
	// Routes. Empty means direct.
	Via []string

	// Routes are routes the application provides, by name, usable in
	// rules ("via NAME") and in Via. A name is valid exactly when a rule
	// can use it (see CheckRouteName): a word of the rule language, not a
	// keyword, not a URL and not "direct".
	Routes map[string]proxy.ContextDialer

	// Strict refuses addresses that no rule (and no Lookup) matched with
	// ErrNoRoute instead of dialing them directly.
	Strict bool

	// TLS, if not nil, makes the Dialer run TLS over the route. When
	// TLS.ServerName is empty, the advertised host (the address the client
	// dialed, not the rewritten target) is verified and sent as SNI.
	TLS *tls.Config

	// DialTimeout bounds a whole dial: Lookup, every route attempt, proxy
	// handshakes and TLS, also when Dial is called without a context. A
	// context deadline that comes sooner wins. Zero means
	// DefaultDialTimeout; negative is invalid.
	DialTimeout time.Duration

	// FallbackDelay is how long one route attempt runs alone before the
	// next route of the rule starts beside it (the first to connect wins;
	// the others are cancelled, or closed if they connected too), so that
	// a route that hangs does not use up the dial's time. It is shortened
	// so that every route starts within the dial's time. Zero means
	// DefaultFallbackDelay; negative means each route starts only when the
	// one before it has failed.
	FallbackDelay time.Duration

	// Logger receives a Debug record per dial decision and a Warn record
	// per failed dial. Nil means silent.
	Logger *slog.Logger

	// Direct dials the direct route and every proxy the route URLs name.
	// Nil means a net.Dialer with TCP keep-alive and, on Linux,
	// TCP_USER_TIMEOUT of 30s (a connection whose peer silently vanished
	// fails within 30s even with data unacknowledged).
	Direct proxy.ContextDialer

	// NoProxy lists targets that bypass the default routes and are dialed
	// directly, in the NO_PROXY syntax: comma-separated host names
	// (matching the host and its subdomains), ".zone" or "*.zone" (the
	// same), IP addresses, CIDR blocks, or "*", each optionally with
	// ":port". It applies only where the default routes would carry a
	// connection, never to a rule's own "via".
	NoProxy string

	// Hook, if not nil, is called after every route attempt and when every
	// connection closes. Hooks combines several.
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
	fallback      time.Duration // < 0: no staggered start
	log           *slog.Logger
	hook          Hook
	closed        atomic.Bool
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
		if err := CheckRouteName(name); err != nil {
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
		routes:   newRouteSet(direct, cfg.Routes),
		noProxy:  np,
		lookup:   cfg.Lookup,
		strict:   cfg.Strict,
		timeout:  cfg.DialTimeout,
		fallback: cfg.FallbackDelay,
		log:      cfg.Logger,
		hook:     cfg.Hook,
	}
	if d.timeout == 0 {
		d.timeout = DefaultDialTimeout
	}
	if d.fallback == 0 {
		d.fallback = DefaultFallbackDelay
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if cfg.TLS != nil {
		d.tls = cfg.TLS.Clone()
	}
	rs := d.routes.resolver()
	for _, ref := range cfg.Via {
		r, err := rs.resolve(strings.TrimSpace(ref))
		if err != nil {
			rs.abort()
			return nil, fmt.Errorf("Via(%q): %w", rewrite.RouteRef{Name: ref}.String(), err)
		}
		d.defaultRoutes = append(d.defaultRoutes, r)
	}
	if len(d.defaultRoutes) == 0 {
		d.defaultRoutes = d.routes.directOnly
	}
	rs.commit(d.defaultRoutes)
	if err := d.setRules(cfg.Rules); err != nil {
		d.routes.releaseAll()
		return nil, err
	}
	return d, nil
}

// errClosed is the error of dials and SetRules after Close.
var errClosed = fmt.Errorf("the dialer is closed: %w", net.ErrClosed)

// Close ends the Dialer for good: later dials fail with an error matching
// net.ErrClosed. Connections already made stay open, over every route; an
// ssh:// route's SSH connection closes once the last connection made
// through it has closed. Routes the application gave in Config.Routes are
// the application's to close. Close is safe to call more than once.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	d.routes.releaseAll()
	return nil
}

// Dial dials address over its route, bounded by the dial timeout. It is
// DialContext with context.Background(), the form sarama calls.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext rewrites address by the rules and dials the result over
// the rule's routes until one connects. If the context expires before the
// connection is complete, an error is returned. Once successfully
// connected, any expiration of the context will not affect the
// connection.
//
// The dial timeout bounds the whole dial, Lookup included; a context
// deadline that comes sooner wins. The routes share that time: each route
// attempt runs alone for the fallback delay (300ms by default, less when
// the time left is short), then the next route starts beside it, and a
// route that fails makes the next start at once; the first to connect
// wins. So with "via a, b" and a caller deadline of 5s, a route a that
// hangs costs b only the fallback delay. A route whose last attempt failed
// is tried after the healthy ones; once its backoff (1s, doubling to 30s)
// expires, a dial probes it in the background (one attempt, closed at once
// if it connects) while going on over the healthy route, and a route whose
// probe connects is first again. A rule whose routes are all failing still
// tries them all. Dialer.Stats shows which routes are failing.
//
// Every error is an *Error naming each route attempt and why it failed; a
// refused address matches ErrNoRoute.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	start := time.Now()
	if d.closed.Load() {
		return nil, d.failed(ctx, &Error{Address: address, Err: errClosed}, start)
	}
	ctx, cancel := context.WithDeadline(ctx, start.Add(d.timeout)) // WithTimeout, without reading the clock again
	defer cancel()
	for {
		dec, err := d.decide(ctx, network, address)
		if err != nil {
			return nil, d.failed(ctx, err.(*Error), start)
		}
		if d.log.Enabled(ctx, slog.LevelDebug) {
			d.log.LogAttrs(ctx, slog.LevelDebug, "kafkanat: dial",
				slog.String("address", address), slog.String("target", dec.target),
				slog.Int("rule", dec.rule), slog.String("rule_text", dec.ruleText),
				slog.String("route", names(dec.routes)))
		}
		base := Info{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText}
		routes, probe := plan(dec.routes)
		for _, r := range probe {
			d.probe(network, base, r)
		}
		c, tried, stale := d.race(ctx, network, base, routes)
		if c != nil {
			return c, nil
		}
		if stale && ctx.Err() == nil && !d.closed.Load() {
			continue // a new table released a route of the old one: decide again
		}
		e := &Error{Address: address, Target: dec.target, Rule: dec.rule, RuleText: dec.ruleText, Route: names(dec.routes)}
		if len(tried) == 1 {
			e.Err = tried[0].err
		} else {
			errs := make([]error, len(tried))
			for i := range tried {
				errs[i] = &tried[i]
			}
			e.Err = routeErrors(errs)
		}
		if dec.rule == 0 && dec.ruleText == noRule {
			e.hint = hintFor(address, e.Err)
		}
		return nil, d.failed(ctx, e, start)
	}
}

var (
	// errAbandoned cancels the attempts still running when another route
	// has connected.
	errAbandoned = errors.New("another route connected first")
	// errNotTried stands for a route the dial had no time left to start.
	errNotTried = errors.New("not tried: the dial's time ran out")
	// errReleased stands for a route a new rule table (or Close) released
	// during the dial.
	errReleased = errors.New("the route was released by a new rule table or Close")
)

// race dials over routes (in the order given) until one connects, with
// staggered starts (see DialContext). It returns the connection, or the
// failure of every route in the order they started; stale reports that a
// route was released before it could start.
func (d *Dialer) race(ctx context.Context, network string, base Info, routes []*route) (c net.Conn, tried []routeError, stale bool) {
	if len(routes) == 1 {
		// One route, the common case: no goroutine.
		r := routes[0]
		if !r.acquire() {
			return nil, []routeError{{route: r.name, err: errReleased}}, true
		}
		c, _, err := d.attempt(ctx, network, base.via(r), r)
		r.done()
		if err != nil {
			return nil, []routeError{{route: r.name, err: err}}, false
		}
		return c, nil, false
	}

	actx, abandon := context.WithCancelCause(ctx)
	defer abandon(errAbandoned)
	type result struct {
		i  int
		c  net.Conn
		kc *Conn
		e  error
	}
	results := make(chan result, len(routes))
	errs := make([]error, len(routes))
	next, pending := 0, 0
	launch := func() {
		i := next
		next++
		r := routes[i]
		if ctx.Err() != nil {
			errs[i] = errNotTried
			return
		}
		if !r.acquire() {
			errs[i], stale = errReleased, true
			return
		}
		pending++
		go func() {
			c, kc, err := d.attempt(actx, network, base.via(r), r)
			r.done()
			results <- result{i, c, kc, err}
		}()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for pending == 0 && next < len(routes) {
			launch()
		}
		if pending == 0 {
			break
		}
		var tick <-chan time.Time
		if next < len(routes) && d.fallback > 0 {
			timer.Reset(d.stagger(ctx, len(routes)-next))
			tick = timer.C
		}
		select {
		case res := <-results:
			pending--
			if res.e == nil {
				abandon(errAbandoned)
				// Attempts still running end at once; one that connects
				// anyway is closed.
				go func(pending int) {
					for range pending {
						if l := <-results; l.kc != nil {
							l.kc.abort()
						}
					}
				}(pending)
				return res.c, nil, false
			}
			errs[res.i] = res.e
			if next < len(routes) {
				launch()
			}
		case <-tick:
			launch()
		}
	}
	for i, err := range errs {
		tried = append(tried, routeError{route: routes[i].name, err: err})
	}
	return nil, tried, stale
}

// via is info for an attempt over r.
func (info Info) via(r *route) Info {
	info.Route = r.name
	return info
}

// stagger is the fallback delay, shortened so that the routes not yet
// started (left) all start before the dial's deadline.
func (d *Dialer) stagger(ctx context.Context, left int) time.Duration {
	delay := d.fallback
	if deadline, ok := ctx.Deadline(); ok {
		delay = min(delay, time.Until(deadline)/time.Duration(left+1))
	}
	return max(delay, 0)
}

// attempt dials info.Target over one route and runs TLS if configured,
// bounded by ctx, and accounts for it in the route's stats, its health and
// the hook. kc is the connection before TLS, to abort it.
func (d *Dialer) attempt(ctx context.Context, network string, info Info, r *route) (c net.Conn, kc *Conn, err error) {
	start := time.Now()
	raw, err := r.d.DialContext(ctx, network, info.Target)
	if err == nil && raw == nil {
		err = errors.New("the route returned neither a connection nor an error")
	}
	end := time.Now()
	if err == nil {
		kc = newConn(raw, info, &r.stats, d.hook, end)
		c = kc
		if d.tls != nil {
			if c, err = d.handshake(ctx, kc, info.Address); err != nil {
				kc.abort()
				kc = nil
			}
			end = time.Now()
		}
	}
	elapsed := end.Sub(start)
	if err == nil {
		r.health.ok()
	} else {
		d.judge(ctx, r, elapsed)
	}
	r.stats.dialed(elapsed, err)
	if d.hook != nil {
		d.hook.DialDone(DialEvent{Info: info, Duration: elapsed, Err: err})
	}
	return c, kc, err
}

// judge records a failed attempt of elapsed in r's health, unless the
// route is not to blame.
func (d *Dialer) judge(ctx context.Context, r *route, elapsed time.Duration) {
	switch cause := context.Cause(ctx); {
	case cause == errAbandoned && d.fallback > 0 && elapsed >= d.fallback:
		// Another route connected while this one had not within the
		// fallback delay: it is too slow to be tried first next time.
		r.health.failed(time.Now())
	case cause == errAbandoned, errors.Is(cause, context.Canceled):
		// Not the route's failure: another route won at once, or the
		// caller gave up.
	default:
		r.health.failed(time.Now())
	}
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
		return nil, &tlsError{server: cfg.ServerName, err: err}
	}
	return tc, nil
}

// failed logs a failed dial and returns its error.
func (d *Dialer) failed(ctx context.Context, e *Error, start time.Time) error {
	if !d.log.Enabled(ctx, slog.LevelWarn) {
		return e
	}
	d.log.LogAttrs(ctx, slog.LevelWarn, "kafkanat: dial failed",
		slog.String("address", e.Address), slog.String("target", e.Target),
		slog.Int("rule", e.Rule), slog.String("rule_text", e.RuleText),
		slog.String("route", e.Route), slog.Duration("duration", time.Since(start)),
		slog.String("error", e.Error()))
	return e
}

// tlsError is a failed TLS handshake with the broker (Config.TLS).
type tlsError struct {
	server string // the name verified
	err    error
}

func (e *tlsError) Error() string { return "TLS handshake with " + e.server + ": " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

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

package kafkanat

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/rewrite"
)

// Option configures New and NewDialer. Options apply in the order given:
// Map and Rules append rules, so their rules are matched in that order.
type Option interface{ apply(*config) }

type config struct {
	cfg   dialer.Config
	rules int // how many Rules options so far, to name each source
	err   error
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

var errNilOption = errors.New("option is nil")

// Map adds one rule sending advertised to target. Either side is
// "host:port" or "host": an advertised host alone matches any port, and a
// target host alone keeps the advertised port. Patterns and templates of
// the rule language work as in Rules.
//
//	kafkanat.Map("kafka:9092", "109.109.109.109:9092")
func Map(advertised, target string) Option {
	return optionFunc(func(c *config) {
		r, err := rewrite.ParseMap(advertised, target)
		if err != nil {
			c.err = err
			return
		}
		c.cfg.Rules = append(c.cfg.Rules, r)
	})
}

// Rules adds rules written in the rule language, one per line or separated
// by ";", "#" starting a comment:
//
//	<pattern> => <target> [via <route>[, <route>...]]
//	<pattern> via <route>[, <route>...]
//	<pattern> deny
//
// The first rule that matches wins, in the order written. A rule that does
// not parse makes NewDialer fail with an error naming its line and column.
// See package rewrite for the patterns and targets.
//
//	kafkanat.Rules(`
//	    *.abc.us-west1.example.com => 10.128.0.5
//	    kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
//	`)
func Rules(text string) Option {
	return optionFunc(func(c *config) {
		c.rules++
		source := "rules"
		if c.rules > 1 {
			source = fmt.Sprintf("rules (Rules option %d)", c.rules)
		}
		rs, err := rewrite.Parse(source, text)
		if err != nil {
			c.err = err
			return
		}
		c.cfg.Rules = append(c.cfg.Rules, rs...)
	})
}

// Via sets the default route, overriding the default of "direct" (and the
// route and NO_PROXY of an earlier FromEnvironment): the route of rules
// without "via" and of addresses no rule matched. route is
// "direct", a URL (socks5://[user:pass@]host:port, socks5h://...,
// http://[user:pass@]host:port, https://..., ssh://user[:pass]@host:22?key=PATH)
// or a name given with Route. Several routes, comma-separated, are tried in
// order. See package socks and tunnel (NewHTTP, NewSSH) for each URL's form.
//
//	kafkanat.Via("socks5://gateway:1080")
func Via(route string) Option {
	return optionFunc(func(c *config) {
		refs := rewrite.SplitRouteList(route)
		for _, ref := range refs {
			if ref == "" {
				c.err = fmt.Errorf("Via(%q): empty route", rewrite.RedactRouteList(route))
				return
			}
		}
		c.cfg.Via = refs
		// The environment's NO_PROXY belongs to its ALL_PROXY: a route
		// given later replaces both.
		c.cfg.NoProxy = ""
	})
}

// Route names a route the application already has (a tailnet, a
// Kubernetes port-forward, a test network, another proxy) so that rules
// and Via can use it by name. A name is valid exactly when a rule can use
// it: a word of the rule language (no white space, ",", ";", "#" or "=>"),
// not "via", "deny" or "direct", and not a URL (see dialer.CheckRouteName).
//
//	kafkanat.Route("portforward", pf), kafkanat.Rules("*.svc.cluster.local via portforward")
func Route(name string, d proxy.ContextDialer) Option {
	return optionFunc(func(c *config) {
		if err := dialer.CheckRouteName(name); err != nil {
			c.err = fmt.Errorf("Route(%q): %w", name, err)
			return
		}
		if _, dup := c.cfg.Routes[name]; dup {
			c.err = fmt.Errorf("Route(%q): the name is given twice", name)
			return
		}
		if d == nil {
			c.err = fmt.Errorf("Route(%q): dialer is nil", name)
			return
		}
		if c.cfg.Routes == nil {
			c.cfg.Routes = map[string]proxy.ContextDialer{}
		}
		c.cfg.Routes[name] = d
	})
}

// Lookup adds a function consulted at every dial whose address no static
// rule matched, for tables that live elsewhere and change at run time (a
// registry, a service catalog). It returns the target ("host:port", or
// "host" to keep the port) and ok true, or ok false when it has no entry;
// the target is dialed over the default route. An error fails the dial.
// Nothing is cached: every dial asks again.
func Lookup(fn func(ctx context.Context, address string) (target string, ok bool, err error)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.err = errors.New("Lookup: function is nil")
			return
		}
		c.cfg.Lookup = fn
	})
}

// Strict refuses, with ErrNoRoute, every address that no rule (and no
// Lookup) matched, overriding the default of dialing it directly. Use it
// when kafkanat must never dial where the operator did not say it may.
func Strict() Option {
	return optionFunc(func(c *config) { c.cfg.Strict = true })
}

// TLS runs TLS with cfg over the route after it connects. When
// cfg.ServerName is empty, the certificate is verified against the
// ADVERTISED host (the address the client dialed, not where a rule sent
// it), which is also sent as SNI. Use it with franz-go's kgo.Dialer instead
// of kgo.DialTLSConfig (the two are exclusive). sarama does its own TLS
// after the dial (Net.TLS), with the advertised name: do not use both.
func TLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) {
		if cfg == nil {
			c.err = errors.New("TLS: config is nil")
			return
		}
		c.cfg.TLS = cfg.Clone()
	})
}

// DialTimeout bounds a whole dial (Lookup, every route attempt with its
// connect, proxy handshake and TLS), overriding the default of 10s; a
// context deadline that comes sooner wins. The routes of a rule share the
// time: a route that hangs delays the next by at most 300ms (see
// dialer.Dialer.DialContext). It also bounds Dial, which has no context
// (sarama does not apply its Net.DialTimeout to a proxy dialer).
func DialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.err = fmt.Errorf("DialTimeout(%v): must be positive", d)
			return
		}
		c.cfg.DialTimeout = d
	})
}

// Logger sends a Debug record for each dial decision and a Warn record for
// each failed dial to l, overriding the default of logging nothing.
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.cfg.Logger = l })
}

// Hook sends an event to h after every route attempt and when every
// connection closes, for metrics (Prometheus, OpenTelemetry, expvar)
// without kafkanat depending on them. dialer.HookFuncs builds one from
// functions. Several Hook options add up: each hook gets every event, in
// the order given. The Dialer's Stats method keeps the same counters per
// route.
func Hook(h dialer.Hook) Option {
	return optionFunc(func(c *config) {
		if h == nil {
			c.err = errors.New("Hook: hook is nil")
			return
		}
		switch prev := c.cfg.Hook.(type) {
		case nil:
			c.cfg.Hook = h
		case dialer.Hooks:
			c.cfg.Hook = append(prev[:len(prev):len(prev)], h)
		default:
			c.cfg.Hook = dialer.Hooks{prev, h}
		}
	})
}

// RulesFile adds the rules in the file at path (the rule language), read
// once when the options are applied; errors name the file, line and
// column. To follow later changes of the file, use the Dialer's
// WatchRulesFile or LoadRulesFile, which replace the whole table with the
// file's rules.
func RulesFile(path string) Option {
	return optionFunc(func(c *config) {
		text, err := os.ReadFile(path)
		if err != nil {
			c.err = fmt.Errorf("RulesFile: %w", err)
			return
		}
		rs, err := rewrite.Parse(path, string(text))
		if err != nil {
			c.err = err
			return
		}
		c.cfg.Rules = append(c.cfg.Rules, rs...)
	})
}

// FromEnvironment takes the default route from the environment, as curl
// and golang.org/x/net/proxy do: ALL_PROXY (or all_proxy) names a socks5://,
// socks5h:// or http:// proxy for every address no rule routes itself, and
// NO_PROXY (or no_proxy) lists targets dialed directly instead:
// comma-separated host names (each matching itself and its subdomains,
// as in net/http), ".zone" or "*.zone", IP addresses, CIDR blocks, or "*",
// each optionally with ":port". With ALL_PROXY unset it changes nothing.
// The variables are read when the options are applied; a later Via
// replaces both the route and the NO_PROXY list.
func FromEnvironment() Option {
	return optionFunc(func(c *config) {
		name, raw := lookupEnv("ALL_PROXY", "all_proxy")
		if raw == "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			c.err = fmt.Errorf("FromEnvironment: %s is not a proxy URL (want socks5://, socks5h:// or http://host:port)", name)
			return
		}
		switch strings.ToLower(u.Scheme) {
		case "socks5", "socks5h", "http":
		default:
			c.err = fmt.Errorf("FromEnvironment: %s=%s: scheme %q is not socks5, socks5h or http", name, u.Redacted(), u.Scheme)
			return
		}
		c.cfg.Via = []string{raw}
		_, c.cfg.NoProxy = lookupEnv("NO_PROXY", "no_proxy")
	})
}

// lookupEnv returns the first of names that is set and not empty.
func lookupEnv(names ...string) (name, value string) {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return n, v
		}
	}
	return names[0], ""
}

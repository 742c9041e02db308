package dialer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/proxy"

	iroute "github.com/kafkanat/kafkanat/internal/route"
	"github.com/kafkanat/kafkanat/rewrite"
	"github.com/kafkanat/kafkanat/socks"
	"github.com/kafkanat/kafkanat/tunnel"
)

// route is one way to carry a connection: direct, a proxy URL, or a route
// the application named.
type route struct {
	key    string // "direct", the Route name, or the URL's canonical form (credentials kept: never shown)
	name   string // as shown in errors, logs and Info: credentials redacted
	d      proxy.ContextDialer
	owned  bool // built from a URL: the Dialer shuts it down when no table names it
	stats  routeStats
	health health

	// ctx ends (gone is called) when the route is released, to stop its
	// probes.
	ctx  context.Context
	gone context.CancelFunc

	// uses counts the dials using the route; releasedBit marks it named
	// by no table any more (or the Dialer closed). One atomic word, so that
	// a dial marks its use without a lock.
	uses atomic.Int64
	shut sync.Once
}

const releasedBit = 1 << 62

func newRoute(key, name string, d proxy.ContextDialer, owned bool) *route {
	r := &route{key: key, name: name, d: d, owned: owned}
	r.ctx, r.gone = context.WithCancel(context.Background())
	return r
}

// releasedCtx ends when the route is released.
func (r *route) releasedCtx() context.Context { return r.ctx }

// acquire marks a dial as using r; it fails once r is released, so that
// the dial decides again with the table in use.
func (r *route) acquire() bool {
	if r.uses.Add(1)&releasedBit != 0 {
		r.done()
		return false
	}
	return true
}

// done ends a dial's use of r, shutting r down if it was the last user of
// a released route.
func (r *route) done() {
	if r.uses.Add(-1) == releasedBit {
		r.shut.Do(r.shutdown)
	}
}

// release marks r as named by no table; it is shut down once no dial
// uses it. Connections already made over it stay open.
func (r *route) release() {
	r.gone()
	if r.uses.Or(releasedBit) == 0 {
		r.shut.Do(r.shutdown)
	}
}

// shutdown stops a route built from a URL: an ssh:// route closes its SSH
// connection once the connections made through it have closed. Proxy
// routes hold nothing open between dials; routes the application named
// are the application's.
func (r *route) shutdown() {
	if s, ok := r.d.(interface{ Shutdown() error }); ok && r.owned {
		s.Shutdown()
	}
}

// routeSet resolves route references ("direct", URLs, names) to routes.
// Routes are keyed by their canonical form, so one proxy written two ways
// is one route (and one SSH connection).
type routeSet struct {
	direct     *route
	directOnly []*route // the direct route as a route list
	named      map[string]proxy.ContextDialer
	live       map[string]*route // by key: the routes the Dialer's tables and defaults name
}

func newRouteSet(direct proxy.ContextDialer, named map[string]proxy.ContextDialer) *routeSet {
	s := &routeSet{
		direct: newRoute("direct", "direct", direct, false),
		named:  named,
		live:   map[string]*route{},
	}
	s.live["direct"] = s.direct
	s.directOnly = []*route{s.direct}
	return s
}

// all returns the live routes.
func (s *routeSet) all() []*route {
	out := make([]*route, 0, len(s.live))
	for _, r := range s.live {
		out = append(out, r)
	}
	return out
}

// resolver resolves references for one new table: routes it builds stay
// out of the set until commit, so that a table that fails leaves nothing
// behind.
type resolver struct {
	s     *routeSet
	fresh map[string]*route
	used  map[*route]bool
}

func (s *routeSet) resolver() *resolver {
	return &resolver{s: s, fresh: map[string]*route{}, used: map[*route]bool{}}
}

// resolve returns the route ref names, or an error that says what is
// wrong with it (the caller adds where it was written).
func (rs *resolver) resolve(ref string) (*route, error) {
	key, u, err := rs.s.key(ref)
	if err != nil {
		return nil, err
	}
	r, ok := rs.s.live[key]
	if !ok {
		r, ok = rs.fresh[key]
	}
	if !ok {
		if r, err = rs.s.build(key, ref, u); err != nil {
			return nil, err
		}
		rs.fresh[key] = r
	}
	rs.used[r] = true
	return r, nil
}

// commit adds the routes built for the new table to the set and releases
// those that neither it nor keep uses.
func (rs *resolver) commit(keep ...[]*route) {
	for _, rl := range keep {
		for _, r := range rl {
			rs.used[r] = true
		}
	}
	for k, r := range rs.fresh {
		rs.s.live[k] = r
	}
	for k, r := range rs.s.live {
		if !rs.used[r] && r != rs.s.direct {
			delete(rs.s.live, k)
			r.release()
		}
	}
}

// abort shuts down the routes built for a table that failed.
func (rs *resolver) abort() {
	for _, r := range rs.fresh {
		r.release()
	}
}

// releaseAll releases every route, for Close.
func (s *routeSet) releaseAll() {
	for k, r := range s.live {
		delete(s.live, k)
		r.release()
	}
}

// key returns the key of ref and, for a route URL, the parsed URL.
func (s *routeSet) key(ref string) (string, *url.URL, error) {
	if ref == "direct" {
		return "direct", nil, nil
	}
	if _, ok := s.named[ref]; ok {
		return ref, nil, nil
	}
	if !strings.Contains(ref, "://") {
		return "", nil, fmt.Errorf("unknown route %q: not \"direct\", a route URL, or a name given with Route", rewrite.RouteRef{Name: ref}.String())
	}
	u, err := url.Parse(ref)
	if err != nil {
		// url.Parse quotes the input, password included: say only what kind of URL failed.
		return "", nil, fmt.Errorf("route URL %q does not parse", rewrite.RouteRef{Name: ref}.String())
	}
	return iroute.Key(u), u, nil
}

func (s *routeSet) build(key, ref string, u *url.URL) (*route, error) {
	if u == nil {
		return newRoute(key, ref, s.named[ref], false), nil
	}
	var d interface {
		proxy.ContextDialer
		String() string
	}
	var err error
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		d, err = socks.New(u, s.direct.d)
	case "http", "https":
		d, err = tunnel.NewHTTP(u, s.direct.d, nil)
	case "ssh":
		d, err = tunnel.NewSSH(u, s.direct.d)
	default:
		return nil, fmt.Errorf("route %s: unsupported scheme %q (use socks5, socks5h, http, https or ssh)", u.Redacted(), u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newRoute(key, d.String(), d, true), nil
}

// CheckRouteName reports whether name can name a route the application
// provides (Config.Routes, kafkanat.Route): a word the rule language reads
// as a route name (see rewrite.CheckRouteName), other than "direct".
func CheckRouteName(name string) error {
	if name == "direct" {
		return errors.New(`route name "direct" is reserved for the direct route`)
	}
	return rewrite.CheckRouteName(name)
}

// names returns the display names of rs, comma-separated.
func names(rs []*route) string {
	if len(rs) == 1 {
		return rs[0].name
	}
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.name)
	}
	return b.String()
}

// directDialer is the direct route, which also dials every proxy and
// bastion: a net.Dialer with TCP keep-alive and, on Linux,
// TCP_USER_TIMEOUT, so that a connection whose peer silently vanished
// fails within 30s even with data unacknowledged. The Dialer bounds each
// dial with its context.
func directDialer() proxy.ContextDialer {
	return iroute.NewDialer()
}

package dialer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/rewrite"
	"github.com/kafkanat/kafkanat/socks"
	"github.com/kafkanat/kafkanat/tunnel"
)

// route is one way to carry a connection: direct, a proxy URL, or a route
// the application named.
type route struct {
	name  string // as shown in errors, logs and Info: credentials redacted
	d     proxy.ContextDialer
	stats routeStats
}

// routeSet resolves route references ("direct", URLs, names) to routes,
// building each distinct URL's route once.
type routeSet struct {
	direct     *route
	directOnly []*route // the direct route as a route list
	named      map[string]proxy.ContextDialer
	built      map[string]*route // by reference as written
}

func newRouteSet(direct proxy.ContextDialer, named map[string]proxy.ContextDialer) *routeSet {
	s := &routeSet{
		direct: &route{name: "direct", d: direct},
		named:  named,
		built:  map[string]*route{},
	}
	s.directOnly = []*route{s.direct}
	return s
}

// all returns every distinct route: direct and those built so far.
func (s *routeSet) all() []*route {
	seen := map[*route]bool{s.direct: true}
	out := []*route{s.direct}
	for _, r := range s.built {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// close closes the routes built from URLs that hold resources.
func (s *routeSet) close() error {
	var errs []error
	for ref, r := range s.built {
		if _, named := s.named[ref]; named {
			continue
		}
		if c, ok := r.d.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("route %s: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// resolve returns the route ref names, or an error that says what is
// wrong with it (the caller adds where it was written).
func (s *routeSet) resolve(ref string) (*route, error) {
	if r, ok := s.built[ref]; ok {
		return r, nil
	}
	r, err := s.build(ref)
	if err != nil {
		return nil, err
	}
	s.built[ref] = r
	return r, nil
}

func (s *routeSet) build(ref string) (*route, error) {
	if ref == "direct" {
		return s.direct, nil
	}
	if d, ok := s.named[ref]; ok {
		return &route{name: ref, d: d}, nil
	}
	if !strings.Contains(ref, "://") {
		return nil, fmt.Errorf("unknown route %q: not \"direct\", a route URL, or a name given with Route", ref)
	}
	u, err := url.Parse(ref)
	if err != nil {
		// url.Parse quotes the input, password included: say only what kind of URL failed.
		return nil, fmt.Errorf("route URL %q does not parse", rewrite.RouteRef{Name: ref}.String())
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		d, err := socks.New(u, s.direct.d)
		if err != nil {
			return nil, err
		}
		return &route{name: d.String(), d: d}, nil
	case "http", "https":
		d, err := tunnel.NewHTTP(u, s.direct.d, nil)
		if err != nil {
			return nil, err
		}
		return &route{name: d.String(), d: d}, nil
	case "ssh":
		d, err := tunnel.NewSSH(u, s.direct.d)
		if err != nil {
			return nil, err
		}
		return &route{name: d.String(), d: d}, nil
	default:
		return nil, fmt.Errorf("route %s: unsupported scheme %q (use socks5, socks5h, http, https or ssh)", u.Redacted(), u.Scheme)
	}
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

// directDialer is the direct route: a net.Dialer; the Dialer bounds each
// dial with its context.
func directDialer() proxy.ContextDialer {
	return &net.Dialer{}
}

package route

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// defaultPorts is the proxy port of each route scheme when a URL names
// none: 1080 for SOCKS5 (as golang.org/x/net/proxy.FromURL), 80 and 443 as
// in net/http, 22 for SSH.
var defaultPorts = map[string]string{
	"socks5":  "1080",
	"socks5h": "1080",
	"http":    "80",
	"https":   "443",
	"ssh":     "22",
}

// Spec says which route URLs a route constructor accepts.
type Spec struct {
	Kind    string   // what the URL is, for messages: "SOCKS5 route"
	Schemes []string // the schemes accepted, in lower case
	// Query allows a query, which the caller then validates; without it a
	// query is an error.
	Query bool
	// UserRequired makes a URL without a user name an error; without it,
	// only an empty user name before "@" is.
	UserRequired bool
}

// Parse validates u as a route URL of spec: a scheme of spec (in any
// case), a host, a port in 1..65535 (the scheme's default when omitted),
// no path other than "/", no fragment, a query only if spec allows one, and
// no empty user name. It returns u in canonical form: the scheme in lower
// case, the port explicit, u's user information and (when allowed) query
// kept, nothing else.
//
// Errors are *URLError, naming u with its password redacted.
func (s Spec) Parse(u *url.URL) (*url.URL, error) {
	if u == nil {
		return nil, errors.New("nil route URL")
	}
	scheme := strings.ToLower(u.Scheme)
	port, ok := defaultPorts[scheme]
	if !ok || !slices.Contains(s.Schemes, scheme) {
		return nil, s.Errorf(u, "scheme %q is not %s", u.Scheme, strings.Join(s.Schemes, " or "))
	}
	if u.Opaque != "" {
		return nil, s.Errorf(u, "no host (write %s://%shost:port)", scheme, s.userForm())
	}
	addr, err := HostPort(u.Host, port)
	if err != nil {
		return nil, s.Errorf(u, "%w", err)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, s.Errorf(u, "unexpected path %q", u.Path)
	}
	if !s.Query && (u.RawQuery != "" || u.ForceQuery) {
		return nil, s.Errorf(u, "unexpected query %q", u.RawQuery)
	}
	if u.Fragment != "" {
		return nil, s.Errorf(u, "unexpected fragment %q", u.Fragment)
	}
	switch {
	case s.UserRequired && (u.User == nil || u.User.Username() == ""):
		return nil, s.Errorf(u, "no user (write %s://user@%s)", scheme, addr)
	case u.User != nil && u.User.Username() == "":
		return nil, s.Errorf(u, "empty user name")
	}
	c := &url.URL{Scheme: scheme, User: u.User, Host: addr}
	if s.Query {
		c.RawQuery = u.RawQuery
	}
	return c, nil
}

func (s Spec) userForm() string {
	if s.UserRequired {
		return "user@"
	}
	return ""
}

// Errorf returns a *URLError for u: format and args say what is wrong
// (%w wraps a cause).
func (s Spec) Errorf(u *url.URL, format string, args ...any) error {
	return &URLError{Kind: s.Kind, URL: redact(u), Err: fmt.Errorf(format, args...)}
}

// URLError is a route URL that a route constructor rejects. Its message
// reads "invalid SOCKS5 route socks5://alice:xxxxx@gw:1080: <reason>".
type URLError struct {
	Kind string // what the URL is: "SOCKS5 route"
	URL  string // the URL without password and query
	Err  error  // what is wrong
}

func (e *URLError) Error() string { return "invalid " + e.Kind + " " + e.URL + ": " + e.Err.Error() }

func (e *URLError) Unwrap() error { return e.Err }

// redact is u without password and query (a query may hold anything; the
// reason quotes the part at fault).
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.ForceQuery = false
	return c.Redacted()
}

// HostPort validates the host[:port] of a URL and returns host:port, with
// defaultPort when none is given ("" requires one).
func HostPort(hostport, defaultPort string) (string, error) {
	u := url.URL{Host: hostport}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", errors.New("no host")
	}
	if HasControl(host) || strings.ContainsAny(host, " /?#@\\") {
		return "", errors.New("host contains a character not allowed in a host name")
	}
	if port == "" {
		if strings.HasSuffix(hostport, ":") || defaultPort == "" {
			return "", errors.New("empty port")
		}
		port = defaultPort
	}
	if !validPort(port) {
		return "", fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// Key returns the canonical form of a route URL, for telling routes
// apart: the scheme and host in lower case, the port explicit (the scheme's
// default when omitted), no trailing "/", and the query parameters sorted
// by name (the values of one name keep their order). Credentials are kept:
// routes with different credentials differ, and a key must never be shown.
// "SOCKS5://GW" and "socks5://gw:1080/" have the same key.
func Key(u *url.URL) string {
	c := url.URL{Scheme: strings.ToLower(u.Scheme), Opaque: u.Opaque, User: u.User,
		Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, ForceQuery: u.ForceQuery, Fragment: u.Fragment}
	if c.Opaque == "" {
		host, port := strings.ToLower(u.Hostname()), u.Port()
		if port == "" && !strings.HasSuffix(u.Host, ":") {
			port = defaultPorts[c.Scheme]
		}
		if port == "" {
			c.Host = u.Host
		} else {
			c.Host = net.JoinHostPort(host, port)
		}
	}
	if c.Path == "/" {
		c.Path, c.RawPath = "", ""
	}
	if q, err := url.ParseQuery(c.RawQuery); err == nil && c.RawQuery != "" {
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// HasControl reports whether s holds an ASCII control character.
func HasControl(s string) bool { return strings.ContainsFunc(s, IsControl) }

// IsControl reports whether r is an ASCII control character.
func IsControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validPort(port string) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}

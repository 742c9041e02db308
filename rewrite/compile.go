package rewrite

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// errWhere says which part of a rule an error is about; off is a byte offset
// within that part.
type errWhere uint8

const (
	inRule errWhere = iota
	inPattern
	inTarget
	inRoute
)

type ruleErr struct {
	where errWhere
	off   int
	route int // index into Routes when where == inRoute
	msg   string
}

func patErr(off int, format string, args ...any) *ruleErr {
	return &ruleErr{where: inPattern, off: off, msg: fmt.Sprintf(format, args...)}
}

func tgtErr(off int, format string, args ...any) *ruleErr {
	return &ruleErr{where: inTarget, off: off, msg: fmt.Sprintf(format, args...)}
}

// crule is a compiled rule: what Table.Match needs of it.
type crule struct {
	pat pattern
	tgt *target // nil for via-only and deny rules
}

// compiled is a rule Parse or ParseMap compiled. It keeps the text it was
// compiled from, so that Compile can tell whether a Rule still holds that
// text: a copy may have been changed since, or its Routes edited in place.
type compiled struct {
	crule
	pattern, target string
	deny            bool
	routes          []string // route names, copied
}

// compile compiles r and keeps the result in it, for Compile to reuse.
func (r *Rule) compile() *ruleErr {
	c := new(compiled)
	if e := compileRule(r, &c.crule); e != nil {
		return e
	}
	c.pattern, c.target, c.deny = r.Pattern, r.Target, r.Deny
	if len(r.Routes) > 0 {
		c.routes = make([]string, len(r.Routes))
		for i, rt := range r.Routes {
			c.routes[i] = rt.Name
		}
	}
	r.c = c
	return nil
}

// compiledFrom reports whether c was compiled from r's current text.
func (c *compiled) compiledFrom(r *Rule) bool {
	if c.pattern != r.Pattern || c.target != r.Target || c.deny != r.Deny || len(c.routes) != len(r.Routes) {
		return false
	}
	for i, name := range c.routes {
		if r.Routes[i].Name != name {
			return false
		}
	}
	return true
}

// compileRule compiles r into c, which must be zero.
func compileRule(r *Rule, c *crule) *ruleErr {
	if r.Deny && r.Target != "" {
		return &ruleErr{where: inRule, msg: `"deny" cannot be combined with a target`}
	}
	if r.Deny && len(r.Routes) > 0 {
		return &ruleErr{where: inRule, msg: `"deny" cannot be combined with "via"`}
	}
	if !r.Deny && r.Target == "" && len(r.Routes) == 0 {
		return &ruleErr{where: inRule, msg: `rule has no target, route or "deny"`}
	}
	if e := compilePattern(r.Pattern, &c.pat); e != nil {
		return e
	}
	if r.Target != "" {
		t, e := compileTarget(r.Target, &c.pat)
		if e != nil {
			return e
		}
		c.tgt = t
	}
	for i, rt := range r.Routes {
		if off, msg := checkRoute(rt.Name); msg != "" {
			return &ruleErr{where: inRoute, route: i, off: off, msg: msg}
		}
		for _, prev := range r.Routes[:i] {
			if prev.Name == rt.Name {
				return &ruleErr{where: inRoute, route: i, msg: fmt.Sprintf("route %s listed twice", quoteWord(rt.Name))}
			}
		}
	}
	return nil
}

// checkWord rejects a pattern, target or route that the lexer would not read
// back as exactly one word, so that Rule.String always parses again.
// what names the word in messages.
func checkWord(s string, mode wordMode, what string) (int, string) {
	if s == "" {
		return 0, "empty " + what
	}
	if isKeyword(s) {
		return 0, fmt.Sprintf("%s cannot be the keyword %q", what, s)
	}
	end, ok := scanWord(s, 0, mode)
	switch {
	case !ok:
		return end, fmt.Sprintf(`unterminated "{" in %s`, what)
	case end < len(s) && strings.HasPrefix(s[end:], "=>"):
		return end, fmt.Sprintf(`unexpected "=>" in %s`, what)
	case end < len(s):
		return end, fmt.Sprintf("unexpected %q in %s", s[end:end+1], what)
	}
	return 0, ""
}

// CheckRouteName reports whether name can be written as a route name in a
// rule ("via NAME"): a word of the rule language that is not a keyword
// ("via", "deny") and not a route URL. Package dialer and kafkanat.Route
// accept exactly these names for the routes an application provides.
func CheckRouteName(name string) error {
	if strings.Contains(name, "://") {
		return fmt.Errorf("route name %q looks like a URL; names may not contain \"://\"", redactRoute(name))
	}
	if off, msg := checkWord(name, modeRoute, "route name"); msg != "" {
		if off > 0 {
			return fmt.Errorf("route name %q: %s (at byte %d)", name, msg, off+1)
		}
		return fmt.Errorf("route name %q: %s", name, msg)
	}
	return nil
}

// checkRoute validates a route name; off locates the problem in it. No
// message shows more of a URL than redactRoute does.
func checkRoute(name string) (int, string) {
	if off, msg := checkWord(name, modeRoute, "route"); msg != "" {
		return off, msg
	}
	i := strings.Index(name, "://")
	if i < 0 {
		return 0, ""
	}
	shown := redactRoute(name)
	rest := name[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at >= 0 {
		// The lexer read everything up to the last "@" as user information;
		// the url package (and so the dialer) ends it at "/", "?" or "#"
		// and would dial another host.
		if j := strings.IndexAny(rest[:at], "/?#"); j >= 0 {
			return i + 3 + j, fmt.Sprintf(`invalid route URL %q: percent-encode "/", "?" and "#" in a password (%%2F, %%3F, %%23) and any "@" after the host (%%40)`, shown)
		}
	}
	u, err := url.Parse(name)
	switch {
	case err != nil && shown == name:
		// Nothing is hidden, so the url package's reason quotes no password.
		if ue, ok := err.(*url.Error); ok {
			return 0, fmt.Sprintf("invalid route URL %q: %v", name, ue.Err)
		}
		return 0, fmt.Sprintf("invalid route URL %q", name)
	case err != nil && at < 0:
		return 0, fmt.Sprintf("invalid route URL %q: the port is not a number, or a password holds white space, which must be percent-encoded (%%20)", shown)
	case err != nil:
		return 0, fmt.Sprintf("invalid route URL %q", shown)
	case u.Scheme == "" || u.Host == "":
		return 0, fmt.Sprintf("invalid route URL %q: want scheme://[user:password@]host:port", shown)
	}
	return 0, ""
}

func isHostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isNameChar(c byte) bool { return isNameStart(c) || '0' <= c && c <= '9' }

func validName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// lower lower-cases the ASCII letters of s (host names are ASCII; other
// bytes are kept as they are), allocating only when there are upper-case
// letters.
func lower(s string) string {
	if !hasUpper(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		b[i] = c | lowerBit(c)
	}
	return string(b)
}

// splitHostPort splits a pattern or target at the ':' before its port,
// skipping {…} groups and a bracketed IPv6 host. colon is -1 without a port.
func splitHostPort(s string, errf func(int, string, ...any) *ruleErr) (host string, colon int, e *ruleErr) {
	if s[0] == '[' {
		end := indexOutside(s, ']')
		if end < 0 {
			return "", 0, errf(0, `missing "]" after IPv6 address`)
		}
		switch {
		case end == len(s)-1:
			return s, -1, nil
		case s[end+1] != ':':
			return "", 0, errf(end+1, `unexpected %q after "]"; expected ":port"`, s[end+1:end+2])
		}
		return s[:end+1], end + 1, nil
	}
	colon = -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if j := strings.IndexByte(s[i:], '}'); j > 0 {
				i += j
			} else {
				return "", 0, errf(i, `unterminated "{"`)
			}
		case ':':
			if colon >= 0 {
				return "", 0, errf(i, "an IPv6 address must be written in brackets, as in [fd00::1]:9092")
			}
			colon = i
		}
	}
	if colon < 0 {
		return s, -1, nil
	}
	return s[:colon], colon, nil
}

// indexOutside returns the index of the first c in s outside {…} groups, or
// -1.
func indexOutside(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return -1
			}
			i += j
		case c:
			return i
		}
	}
	return -1
}

// parseIPv6 validates "[addr]" and returns its canonical lowercase form.
func parseIPv6(s string) (string, bool) {
	a, err := netip.ParseAddr(lower(s[1 : len(s)-1]))
	if err != nil || !a.Is6() {
		return "", false
	}
	return "[" + a.String() + "]", true
}

// parsePort validates a literal port and returns it in canonical decimal.
func parsePort(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
		if n = n*10 + int(s[i]-'0'); n > 65535 {
			return "", false
		}
	}
	if n == 0 {
		return "", false
	}
	if s[0] == '0' {
		return strconv.Itoa(n), true
	}
	return s, true
}

// lowerBit is the bit that lowercases an ASCII upper-case letter.
func lowerBit(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return 0x20
	}
	return 0
}

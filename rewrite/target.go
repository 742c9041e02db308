package rewrite

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// target is a compiled target: a host template (brackets included as
// literals) and a port template, or keepPort for a target without a port.
type target struct {
	keepPort bool
	bracket  bool    // the host is an IPv6 literal in brackets
	host     []tpart // nil when hostLit is set
	port     []tpart
	hostLit  string // the host when it has no substitutions
	portLit  string // the port when it has no substitutions
	lit      string // the whole "host:port" when it is constant
}

// tpart is a literal or a {…} expression of a target.
type tpart struct {
	lit string
	e   *expr
}

// expr is the content of one {…} of a target: a sum of terms. A single name
// (or regex group number) is substituted as text; a sum is integer arithmetic.
type expr struct {
	src   string // as written, with braces, for errors
	arith bool
	terms []term
}

type refKind uint8

const (
	refConst refKind = iota // an integer constant
	refPort                 // {port}: the advertised port
	refCap                  // a placeholder slot or a regex group
)

type term struct {
	neg  bool
	ref  refKind
	k    int64
	idx  int    // refCap: slot or group number
	name string // as written, for errors
}

func compileTarget(s string, p *pattern) (*target, *ruleErr) {
	if off, msg := checkWord(s, modeTarget, "target"); msg != "" {
		return nil, tgtErr(off, "%s", msg)
	}
	if strings.Contains(s, "://") {
		return nil, tgtErr(0, `a target cannot be a URL (routes go after "via")`)
	}
	switch {
	case s[0] == '~':
		return nil, tgtErr(0, "a target cannot be a regex")
	case strings.HasPrefix(s, "*"):
		return nil, tgtErr(0, `"*" is not allowed in a target`)
	}
	host, colon, e := splitHostPort(s, tgtErr)
	if e != nil {
		return nil, e
	}
	t := &target{keepPort: colon < 0}
	if host == "" {
		return nil, tgtErr(0, "empty host before %q", s[colon:colon+1])
	}
	if t.host, e = compileTemplate(host, 0, p, tmplHost); e != nil {
		return nil, e
	}
	if t.bracket = host[0] == '['; t.bracket && len(t.host) == 1 {
		if _, ok := parseIPv6(host); !ok {
			return nil, tgtErr(1, "invalid IPv6 address %q", host[1:len(host)-1])
		}
	}
	if len(t.host) == 1 && t.host[0].e == nil {
		t.hostLit, t.host = t.host[0].lit, nil
		if !t.bracket {
			if i := emptyLabel(t.hostLit); i >= 0 {
				return nil, tgtErr(i, "empty label in host %q", t.hostLit)
			}
		}
	}
	if t.keepPort {
		if t.hostLit != "" && p.re == nil && p.port == portLit {
			// An exact pattern fixes the port, so the target is constant.
			t.lit = t.hostLit + ":" + p.portLit
		}
		return t, nil
	}
	port := s[colon+1:]
	if port == "" {
		return nil, tgtErr(colon+1, `missing port after ":"`)
	}
	if t.port, e = compileTemplate(port, colon+1, p, tmplPort); e != nil {
		return nil, e
	}
	if len(t.port) == 1 && t.port[0].e == nil {
		canon, ok := parsePort(port)
		if !ok {
			return nil, tgtErr(colon+1, "port %q is not a number in 1..65535", port)
		}
		t.portLit, t.port = canon, nil
		if t.hostLit != "" {
			t.lit = t.hostLit + ":" + canon
		}
	}
	return t, nil
}

// emptyLabel returns the offset of an empty label in host, or -1.
func emptyLabel(host string) int {
	start := 0
	for i := 0; i <= len(host); i++ {
		if i == len(host) || host[i] == '.' {
			if i == start {
				return start
			}
			start = i + 1
		}
	}
	return -1
}

type tmplKind uint8

const (
	tmplHost tmplKind = iota
	tmplPort
)

// compileTemplate splits a target host or port into literals and {…}
// expressions; off is its offset in the target.
func compileTemplate(s string, off int, p *pattern, kind tmplKind) ([]tpart, *ruleErr) {
	var parts []tpart
	start := 0
	flush := func(end int) {
		if end > start {
			parts = append(parts, tpart{lit: s[start:end]})
		}
	}
	bracket := kind == tmplHost && s[0] == '['
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return nil, tgtErr(off+i, `unterminated "{"`)
			}
			e, re := compileExpr(s[i:i+j+1], off+i, p)
			if re != nil {
				return nil, re
			}
			flush(i)
			parts = append(parts, tpart{e: e})
			i += j
			start = i + 1
		case kind == tmplPort:
			if c < '0' || c > '9' {
				return nil, tgtErr(off+i, "invalid character %q in port", c)
			}
		case bracket && (i == 0 || i == len(s)-1):
			// The brackets themselves.
		case bracket:
			if !isHostChar(c) && c != ':' && c != '%' {
				return nil, tgtErr(off+i, "invalid character %q in IPv6 address", c)
			}
		case !isHostChar(c):
			return nil, tgtErr(off+i, "invalid character %q in host%s", c, routeHint(c))
		}
	}
	flush(len(s))
	return parts, nil
}

// routeHint helps with a route URL written as a target.
func routeHint(c byte) string {
	if c == '/' || c == '@' {
		return ` (routes go after "via")`
	}
	return ""
}

// compileExpr compiles one "{…}" of a target; off is its offset in the target.
func compileExpr(src string, off int, p *pattern) (*expr, *ruleErr) {
	e := &expr{src: src}
	body := src[1 : len(src)-1]
	i := 0
	skip := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t') {
			i++
		}
	}
	numbers := 0
	for {
		skip()
		var t term
		if len(e.terms) > 0 {
			if i == len(body) {
				break
			}
			switch body[i] {
			case '+':
			case '-':
				t.neg = true
			default:
				return nil, tgtErr(off+1+i, `expected "+" or "-" in %s, found %q`, src, body[i:i+1])
			}
			i++
			skip()
		}
		start := i
		switch {
		case i < len(body) && '0' <= body[i] && body[i] <= '9':
			for i < len(body) && '0' <= body[i] && body[i] <= '9' {
				i++
			}
			k, err := strconv.ParseInt(body[start:i], 10, 64)
			if err != nil {
				return nil, tgtErr(off+1+start, "integer %s out of range in %s", body[start:i], src)
			}
			t.ref, t.k, t.name = refConst, k, body[start:i]
			numbers++
		case i < len(body) && isNameStart(body[i]):
			for i < len(body) && isNameChar(body[i]) {
				i++
			}
			t.name = body[start:i]
			if e := resolve(&t, p, off+1+start); e != nil {
				return nil, e
			}
		case i == len(body) && len(e.terms) == 0:
			return nil, tgtErr(off, "empty {}")
		case i == len(body):
			return nil, tgtErr(off+1+i, "missing placeholder name or integer at the end of %s", src)
		default:
			return nil, tgtErr(off+1+i, "expected a placeholder name or integer in %s, found %q", src, body[i:i+1])
		}
		e.terms = append(e.terms, t)
	}
	e.arith = len(e.terms) > 1
	switch {
	case !e.arith && e.terms[0].ref == refConst:
		// {1}: a regex group by number.
		t := &e.terms[0]
		if p.re == nil {
			return nil, tgtErr(off, "%s refers to a regex group, but the pattern is not a ~regex", src)
		}
		if n := p.re.NumSubexp(); t.k > int64(n) {
			return nil, tgtErr(off, "%s: the regex has no group %d (it has %d)", src, t.k, n)
		}
		t.ref, t.idx = refCap, int(t.k)
	case numbers == len(e.terms):
		return nil, tgtErr(off, "%s uses no placeholder; to compute with a regex group, name it: (?P<n>...) and {n+1}", src)
	}
	return e, nil
}

// resolve binds a name of a target expression to what the pattern defines.
func resolve(t *term, p *pattern, off int) *ruleErr {
	if t.name == "port" {
		t.ref = refPort
		return nil
	}
	t.ref = refCap
	if p.re != nil {
		if t.idx = p.re.SubexpIndex(t.name); t.idx > 0 {
			return nil
		}
	} else {
		for i, n := range p.slots {
			if n == t.name {
				t.idx = i
				return nil
			}
		}
	}
	return tgtErr(off, "undefined placeholder {%s}; %s", t.name, defined(p))
}

// defined lists what a target may refer to, for "undefined placeholder".
func defined(p *pattern) string {
	var names []string
	if p.re != nil {
		for i, n := range p.re.SubexpNames()[1:] {
			if n == "" {
				n = strconv.Itoa(i + 1)
			}
			names = append(names, "{"+n+"}")
		}
	} else {
		for _, n := range p.slots {
			names = append(names, "{"+n+"}")
		}
	}
	if len(names) == 0 {
		return "the pattern defines none (only {port} is always defined)"
	}
	return "the pattern defines " + strings.Join(names, ", ") + " (and {port} is always defined)"
}

// targetError reports a target a rule could not build for an address.
func targetError(r *Rule, format string, args ...any) error {
	return fmt.Errorf("rule %d (%s): %s", r.Index, r.where(), fmt.Sprintf(format, args...))
}

// build computes a target with substitutions and validates it.
func (tg *target) build(r *Rule, key string, hostLen int, sp []int) (string, error) {
	var buf [128]byte
	b := buf[:0]
	var err error
	if tg.hostLit != "" {
		b = append(b, tg.hostLit...)
	} else {
		for i := range tg.host {
			if b, err = tg.host[i].appendTo(b, r, key, hostLen, sp); err != nil {
				return "", err
			}
		}
		if err := checkHost(b, tg.bracket); err != "" {
			return "", targetError(r, "computed target host %q %s", string(b), err)
		}
	}
	hostEnd := len(b)
	b = append(b, ':')
	switch {
	case tg.keepPort:
		b = append(b, key[hostLen+1:]...)
	case tg.portLit != "":
		b = append(b, tg.portLit...)
	default:
		for i := range tg.port {
			if b, err = tg.port[i].appendTo(b, r, key, hostLen, sp); err != nil {
				return "", err
			}
		}
		port := b[hostEnd+1:]
		n, ok := portValue(port)
		if !ok {
			return "", targetError(r, "computed target port %q is not a number in 1..65535", string(port))
		}
		b = strconv.AppendInt(b[:hostEnd+1], int64(n), 10)
	}
	return string(b), nil
}

func portValue(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return 0, false
		}
	}
	return n, n > 0
}

// checkHost validates a computed host and says what is wrong with it.
func checkHost(b []byte, bracket bool) string {
	if bracket {
		if len(b) < 2 {
			return "is not an IPv6 address"
		}
		if a, err := netip.ParseAddr(string(b[1 : len(b)-1])); err != nil || !a.Is6() {
			return "is not an IPv6 address"
		}
		return ""
	}
	if len(b) == 0 {
		return "is empty"
	}
	start := 0
	for i, c := range b {
		switch {
		case c == '.':
			if i == start {
				return "has an empty label"
			}
			start = i + 1
		case !isHostChar(c):
			return fmt.Sprintf("has invalid character %q", c)
		}
	}
	if start == len(b) {
		return "has an empty label"
	}
	return ""
}

func (p *tpart) appendTo(b []byte, r *Rule, key string, hostLen int, sp []int) ([]byte, error) {
	if p.e == nil {
		return append(b, p.lit...), nil
	}
	e := p.e
	if !e.arith {
		return append(b, e.terms[0].text(key, hostLen, sp)...), nil
	}
	var sum int64
	for _, t := range e.terms {
		v := t.k
		if t.ref != refConst {
			s := t.text(key, hostLen, sp)
			var err error
			if v, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, targetError(r, "%s: %s = %q is not an integer", e.src, t.name, s)
			}
		}
		if t.neg {
			if v == math.MinInt64 {
				return nil, targetError(r, "%s: integer overflow", e.src)
			}
			v = -v
		}
		if v > 0 && sum > math.MaxInt64-v || v < 0 && sum < math.MinInt64-v {
			return nil, targetError(r, "%s: integer overflow", e.src)
		}
		sum += v
	}
	return strconv.AppendInt(b, sum, 10), nil
}

// text returns the value of a placeholder, regex group or {port}. A regex
// group that took no part in the match is "".
func (t *term) text(key string, hostLen int, sp []int) string {
	switch t.ref {
	case refPort:
		return key[hostLen+1:]
	case refCap:
		if i := 2 * t.idx; i+1 < len(sp) && sp[i] >= 0 {
			return key[sp[i]:sp[i+1]]
		}
	}
	return ""
}

package rewrite

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
)

// maxPlaceholders bounds the placeholders of one pattern so that Match can
// keep their positions in a fixed array on its stack.
const maxPlaceholders = 16

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

// hostKind and portKind classify the two halves of a non-regex pattern.
type hostKind uint8

const (
	hostAny  hostKind = iota // "*" alone, or "*" before ":port"
	hostLit                  // a literal host, normalized
	hostWild                 // "*.suffix": one or more labels, then ".suffix"
	hostTmpl                 // labels with placeholders, maybe after "*."
)

type portKind uint8

const (
	portAny  portKind = iota // no port, or "{port}"
	portLit                  // a literal port, canonical decimal
	portTmpl                 // a port with placeholders
)

// pattern is a compiled pattern. A regex pattern has re set; otherwise host
// and port say how each half matches.
type pattern struct {
	re       *regexp.Regexp
	rePrefix string // literal prefix of every match, checked before running re

	host    hostKind
	hostLit string // hostLit: the host; hostWild: the suffix without its dot
	wild    bool   // hostTmpl: the labels follow a leading "*."
	labels  []labelTmpl
	// hostSuffix is literal text every host a hostTmpl matches ends with
	// (".example.com" for "b{id}.example.com"): comparing it first makes a
	// miss cheap.
	hostSuffix string
	port       portKind
	portLit    string
	portT      labelTmpl

	slots []string // placeholder names by slot, in written order
}

// indexed reports a pattern that lives in one of the Table's maps.
func (p *pattern) indexed() bool {
	return p.re == nil && (p.host == hostLit || p.host == hostWild) && p.port != portTmpl
}

// labelTmpl matches one label or a port: pre, then placeholders separated by
// the literals mids, then suf. Without placeholders it matches lit exactly.
type labelTmpl struct {
	lit      string
	pre, suf string
	slots    []int
	mids     []string
}

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

// crule is a compiled rule.
type crule struct {
	pat pattern
	tgt *target // nil for via-only and deny rules
}

// checkRule validates a rule as Compile would.
func checkRule(r *Rule) *ruleErr {
	_, e := compileRule(r)
	return e
}

func compileRule(r *Rule) (crule, *ruleErr) {
	var c crule
	if r.Deny && r.Target != "" {
		return c, &ruleErr{where: inRule, msg: `"deny" cannot be combined with a target`}
	}
	if r.Deny && len(r.Routes) > 0 {
		return c, &ruleErr{where: inRule, msg: `"deny" cannot be combined with "via"`}
	}
	if !r.Deny && r.Target == "" && len(r.Routes) == 0 {
		return c, &ruleErr{where: inRule, msg: `rule has no target, route or "deny"`}
	}
	if e := compilePattern(r.Pattern, &c.pat); e != nil {
		return c, e
	}
	if r.Target != "" {
		t, e := compileTarget(r.Target, &c.pat)
		if e != nil {
			return c, e
		}
		c.tgt = t
	}
	for i, rt := range r.Routes {
		if off, msg := checkRoute(rt.Name); msg != "" {
			return c, &ruleErr{where: inRoute, route: i, off: off, msg: msg}
		}
		for _, prev := range r.Routes[:i] {
			if prev.Name == rt.Name {
				return c, &ruleErr{where: inRoute, route: i, msg: fmt.Sprintf("route %s listed twice", quoteWord(rt.Name))}
			}
		}
	}
	return c, nil
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

// checkRoute validates a route name; off locates the problem in it.
func checkRoute(name string) (int, string) {
	if off, msg := checkWord(name, modeRoute, "route"); msg != "" {
		return off, msg
	}
	if !strings.Contains(name, "://") {
		return 0, ""
	}
	u, err := url.Parse(name)
	if err != nil {
		// The url package's reason can quote part of a password; give it only
		// when the URL has no userinfo.
		if ue, ok := err.(*url.Error); ok && !strings.Contains(name, "@") {
			return 0, fmt.Sprintf("invalid route URL %q: %v", name, ue.Err)
		}
		return 0, fmt.Sprintf("invalid route URL %q", redactRaw(name))
	}
	if u.Scheme == "" || u.Host == "" {
		return 0, fmt.Sprintf("invalid route URL %q: want scheme://[user:password@]host:port", redactRaw(name))
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

func compilePattern(s string, p *pattern) *ruleErr {
	if off, msg := checkWord(s, modePattern, "pattern"); msg != "" {
		return patErr(off, "%s", msg)
	}
	if s == "*" {
		p.host, p.port = hostAny, portAny
		return nil
	}
	if s[0] == '~' {
		return compileRegex(s[1:], p)
	}
	host, colon, e := splitHostPort(s, patErr)
	if e != nil {
		return e
	}
	if host == "" {
		return patErr(0, "empty host before %q", s[colon:colon+1])
	}
	if host[0] == '[' {
		if strings.ContainsAny(host, "{}*") {
			return patErr(0, "placeholders and wildcards are not allowed in an IPv6 address")
		}
		canon, ok := parseIPv6(host)
		if !ok {
			return patErr(1, "invalid IPv6 address %q", host[1:len(host)-1])
		}
		p.host, p.hostLit = hostLit, canon
	} else if e := p.compileHost(host); e != nil {
		return e
	}
	if colon < 0 {
		return nil
	}
	return p.compilePort(s[colon+1:], colon+1)
}

// checkLiteralHost validates host[from:], a host without placeholders or
// wildcards, and returns it in lower case.
func checkLiteralHost(host string, from int) (string, *ruleErr) {
	start := from
	for i := from; i <= len(host); i++ {
		switch {
		case i == len(host) || host[i] == '.':
			if i == start {
				return "", patErr(start, "empty label in host %q", host)
			}
			start = i + 1
		case !isHostChar(host[i]):
			return "", patErr(i, "invalid character %q in host", host[i])
		}
	}
	return lower(host[from:]), nil
}

func (p *pattern) compileHost(host string) *ruleErr {
	// Fast paths for the indexed kinds, which a big table is made of.
	var e *ruleErr
	switch {
	case !strings.ContainsAny(host, "{*"):
		p.host = hostLit
		p.hostLit, e = checkLiteralHost(host, 0)
		return e
	case strings.HasPrefix(host, "*.") && !strings.ContainsAny(host[2:], "{*"):
		p.host = hostWild
		p.hostLit, e = checkLiteralHost(host, 2)
		return e
	}
	var labels []labelTmpl
	placeholders := false
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] == '{' {
			j := strings.IndexByte(host[i:], '}')
			if j < 0 {
				return patErr(i, `unterminated "{"`)
			}
			i += j
			continue
		}
		if i < len(host) && host[i] != '.' {
			continue
		}
		label := host[start:i]
		switch {
		case label == "":
			return patErr(start, "empty label in host %q", host)
		case label == "*" && start == 0:
			p.wild = true
		default:
			lt, e := p.compileLabel(label, start, false)
			if e != nil {
				return e
			}
			placeholders = placeholders || len(lt.slots) > 0
			labels = append(labels, lt)
		}
		start = i + 1
	}
	switch {
	case p.wild && len(labels) == 0:
		p.host = hostAny
	case placeholders:
		p.host, p.labels = hostTmpl, labels
		i := len(labels)
		for i > 0 && len(labels[i-1].slots) == 0 {
			i--
		}
		for _, l := range labels[i:] {
			p.hostSuffix += "." + l.lit
		}
		if p.hostSuffix == "" {
			p.hostSuffix = labels[len(labels)-1].suf
		}
	default:
		lits := make([]string, len(labels))
		for i, l := range labels {
			lits[i] = l.lit
		}
		p.host, p.hostLit = hostLit, strings.Join(lits, ".")
		if p.wild {
			p.host = hostWild
		}
	}
	return nil
}

func (p *pattern) compilePort(port string, off int) *ruleErr {
	if port == "" {
		return patErr(off, `missing port after ":"`)
	}
	if strings.HasPrefix(port, "{") && strings.HasSuffix(port, "}") && strings.Trim(port[1:len(port)-1], " \t") == "port" {
		// "host:{port}" is "host": {port} is always the advertised port.
		p.port = portAny
		return nil
	}
	if !strings.Contains(port, "{") {
		canon, ok := parsePort(port)
		if !ok {
			return patErr(off, "port %q is not a number in 1..65535", port)
		}
		p.port, p.portLit = portLit, canon
		return nil
	}
	lt, e := p.compileLabel(port, off, true)
	if e != nil {
		return e
	}
	p.port, p.portT = portTmpl, lt
	return nil
}

// compileLabel compiles one host label or the port of a pattern; off is its
// offset in the pattern.
func (p *pattern) compileLabel(s string, off int, isPort bool) (labelTmpl, *ruleErr) {
	var lt labelTmpl
	var lits []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return lt, patErr(off+i, `unterminated "{"`)
			}
			raw := s[i+1 : i+j]
			name := strings.Trim(raw, " \t")
			switch {
			case name == "":
				return lt, patErr(off+i, "empty placeholder {}")
			case name == "port":
				return lt, patErr(off+i, "{port} is the advertised port: in a pattern it may only be the whole port")
			case strings.ContainsAny(name, "+-"):
				return lt, patErr(off+i, "arithmetic such as {%s} is only allowed in targets", name)
			case !validName(name):
				return lt, patErr(off+i, "invalid placeholder name %q: use letters, digits and _, not starting with a digit", name)
			case i > 0 && s[i-1] == '}':
				return lt, patErr(off+i, "placeholders must be separated by literal text")
			}
			for _, n := range p.slots {
				if n == name {
					return lt, patErr(off+i, "placeholder {%s} appears twice", name)
				}
			}
			if len(p.slots) == maxPlaceholders {
				return lt, patErr(off+i, "too many placeholders (at most %d)", maxPlaceholders)
			}
			lits = append(lits, cur.String())
			cur.Reset()
			lt.slots = append(lt.slots, len(p.slots))
			p.slots = append(p.slots, name)
			i += j
		case c == '*':
			return lt, patErr(off+i, `"*" must be the whole pattern or the whole first label, as in *.example.com`)
		case isPort && (c < '0' || c > '9'):
			return lt, patErr(off+i, "invalid character %q in port", c)
		case !isPort && (!isHostChar(c) || c == '.'):
			return lt, patErr(off+i, "invalid character %q in host", c)
		default:
			cur.WriteByte(c | lowerBit(c))
		}
	}
	lits = append(lits, cur.String())
	if len(lt.slots) == 0 {
		lt.lit = lits[0]
		return lt, nil
	}
	lt.pre, lt.suf, lt.mids = lits[0], lits[len(lits)-1], lits[1:len(lits)-1]
	return lt, nil
}

// lowerBit is the bit that lowercases an ASCII upper-case letter.
func lowerBit(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return 0x20
	}
	return 0
}

func compileRegex(src string, p *pattern) *ruleErr {
	if src == "" {
		return patErr(0, "empty regex after \"~\"")
	}
	// Parsing src alone first rejects "a)|(b", which would escape the
	// anchoring group below, and gives errors that show the regex as written.
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return patErr(1, "invalid regex: %v", err)
	}
	if hasUpper(src) {
		if lit := upperLiteral(tree); lit != "" {
			return patErr(1, "regex literal %q has upper-case letters, but hosts are matched in lower case: write it in lower case or add (?i)", lit)
		}
	}
	// Anchored: a rule about "kafka:9092" must not also match
	// "kafka:90921" or "evil-kafka:9092".
	re, err := regexp.Compile(`^(?:` + src + `)$`)
	if err != nil {
		// Only a \Q quote without \E gets here: it swallows the ")$".
		return patErr(1, `invalid regex: \Q needs a closing \E`)
	}
	seen := map[string]bool{}
	for _, name := range re.SubexpNames()[1:] {
		switch {
		case name == "":
		case name == "port":
			return patErr(1, "regex group name \"port\" is reserved: {port} is always the advertised port")
		case !validName(name):
			return patErr(1, "invalid regex group name %q: use letters, digits and _, not starting with a digit", name)
		case seen[name]:
			return patErr(1, "regex group name %q appears twice", name)
		}
		seen[name] = true
	}
	p.re = re
	p.rePrefix, _ = re.LiteralPrefix()
	return nil
}

// upperLiteral returns a case-sensitive literal of the regex that holds an
// upper-case letter: it could never match a lower-cased host.
func upperLiteral(re *syntax.Regexp) string {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		for _, r := range re.Rune {
			if unicode.IsUpper(r) {
				return string(re.Rune)
			}
		}
	}
	for _, sub := range re.Sub {
		if s := upperLiteral(sub); s != "" {
			return s
		}
	}
	return ""
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

// Table is a compiled rule table. It is immutable and safe for concurrent
// use.
//
// Exact ("host:port"), host-only ("host") and wildcard ("*.suffix",
// "*.suffix:port") rules live in maps that keep the lowest rule index per
// key, so a hit costs the same in a 100k-rule table as in a 10-rule one.
// Placeholder, regex and "*" rules are scanned in order, but only those
// written before the best map hit.
type Table struct {
	rules    []Rule
	cr       []crule
	exact    map[string]int32 // "host:port"
	host     map[string]int32 // "host"
	wild     map[string]int32 // "suffix" of "*.suffix"
	wildPort map[string]int32 // "suffix:port" of "*.suffix:port"
	linear   []int32          // positions of the other rules, ascending
}

// Compile compiles rules into a Table, in order: the first rule that matches
// an address wins. It copies the rules and numbers them from 1 (Index).
// Errors are *SyntaxError naming the rule's source and position; Parse has
// already reported any error in rules it returned, so Compile only fails on
// rules built or changed by hand.
func Compile(rules []Rule) (*Table, error) {
	if len(rules) > math.MaxInt32-1 {
		return nil, &SyntaxError{Msg: fmt.Sprintf("too many rules (%d)", len(rules))}
	}
	t := &Table{
		rules:    make([]Rule, len(rules)),
		cr:       make([]crule, len(rules)),
		exact:    map[string]int32{},
		host:     map[string]int32{},
		wild:     map[string]int32{},
		wildPort: map[string]int32{},
	}
	for i := range rules {
		r := &t.rules[i]
		*r = rules[i]
		r.Index = i + 1
		r.Routes = append([]RouteRef(nil), r.Routes...)
		c, e := compileRule(r)
		if e != nil {
			return nil, compileError(r, e)
		}
		t.cr[i] = c
		pos := int32(i)
		p := &c.pat
		switch {
		case !p.indexed():
			t.linear = append(t.linear, pos)
		case p.host == hostLit && p.port == portLit:
			setLowest(t.exact, joinKey(r.Pattern, p.hostLit, p.portLit), pos)
		case p.host == hostLit:
			setLowest(t.host, p.hostLit, pos)
		case p.port == portLit:
			setLowest(t.wildPort, joinKey(r.Pattern, p.hostLit, p.portLit), pos)
		default:
			setLowest(t.wild, p.hostLit, pos)
		}
	}
	return t, nil
}

// joinKey returns host+":"+port, reusing the end of the pattern when it
// already reads so (the common case: no upper case, no leading zeros).
func joinKey(pattern, host, port string) string {
	if n := len(host) + 1 + len(port); len(pattern) >= n {
		if tail := pattern[len(pattern)-n:]; tail[:len(host)] == host && tail[len(host)] == ':' && tail[len(host)+1:] == port {
			return tail
		}
	}
	return host + ":" + port
}

// setLowest records pos for key unless an earlier rule already has the key:
// that rule shadows this one.
func setLowest(m map[string]int32, key string, pos int32) {
	if _, ok := m[key]; !ok {
		m[key] = pos
	}
}

// compileError positions a compile error of a rule. A target's column is not
// recorded in Rule, so target errors point at the rule.
func compileError(r *Rule, e *ruleErr) *SyntaxError {
	se := &SyntaxError{Source: r.Source, Msg: e.msg}
	if r.Line == 0 {
		if r.Source == "" {
			se.Msg = fmt.Sprintf("rule %d (%s): %s", r.Index, r.String(), e.msg)
		}
		return se
	}
	se.Line, se.Col = r.Line, r.Col
	switch e.where {
	case inPattern:
		se.Col += e.off
	case inTarget:
		se.Msg = fmt.Sprintf("target %q: %s", r.Target, e.msg)
	case inRoute:
		if rt := r.Routes[e.route]; rt.Line > 0 {
			se.Line, se.Col = rt.Line, rt.Col+e.off
		}
	}
	return se
}

// Rules returns a copy of the table's rules, in order.
func (t *Table) Rules() []Rule {
	if t == nil {
		return nil
	}
	out := make([]Rule, len(t.rules))
	for i, r := range t.rules {
		r.Routes = append([]RouteRef(nil), r.Routes...)
		out[i] = r
	}
	return out
}

// Len returns the number of rules.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rules)
}

package rewrite

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// maxPlaceholders bounds the placeholders of one pattern so that Match can
// keep their positions in a fixed array on its stack.
const maxPlaceholders = 16

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

// match reports whether the normalized key matches a linear (placeholder,
// regex or "*") pattern. It records the placeholders' positions in key in
// sp, or returns the regex's submatch positions.
func (p *pattern) match(key string, hostLen int, sp []int) ([]int, bool) {
	if p.re != nil {
		if !strings.HasPrefix(key, p.rePrefix) {
			return nil, false
		}
		loc := p.re.FindStringSubmatchIndex(key)
		return loc, loc != nil
	}
	// Cheap literal comparisons first: most rules fail on them.
	host := key[:hostLen]
	switch p.host {
	case hostLit:
		if host != p.hostLit {
			return nil, false
		}
	case hostWild:
		if n := len(host) - len(p.hostLit); n < 2 || host[n-1] != '.' || host[n:] != p.hostLit {
			return nil, false
		}
	case hostTmpl:
		if host[0] == '[' || !strings.HasSuffix(host, p.hostSuffix) {
			return nil, false
		}
	}
	port := key[hostLen+1:]
	switch p.port {
	case portLit:
		if port != p.portLit {
			return nil, false
		}
	case portTmpl:
		if !p.portT.match(port, hostLen+1, sp) {
			return nil, false
		}
	}
	if p.host == hostTmpl && !p.matchLabels(host, sp) {
		return nil, false
	}
	return sp, true
}

// matchLabels matches a host label by label from the right. Placeholders
// never match across a dot, so each label of the pattern faces exactly one
// label of the host.
func (p *pattern) matchLabels(host string, sp []int) bool {
	end := len(host)
	for i := len(p.labels) - 1; i >= 0; i-- {
		if end < 0 {
			return false
		}
		dot := strings.LastIndexByte(host[:end], '.')
		if !p.labels[i].match(host[dot+1:end], dot+1, sp) {
			return false
		}
		end = dot
	}
	if p.wild {
		return end > 0 // "*." needs a non-empty label before the rest
	}
	return end < 0
}

// match matches one label (or port) s found at offset base of the key and
// records its placeholders' spans. Each placeholder takes at least one
// character; each but the last takes as few as it can.
func (l *labelTmpl) match(s string, base int, sp []int) bool {
	if len(l.slots) == 0 {
		return s == l.lit
	}
	if len(s) < len(l.pre)+len(l.suf)+len(l.slots) || !strings.HasPrefix(s, l.pre) || !strings.HasSuffix(s, l.suf) {
		return false
	}
	mid := s[len(l.pre) : len(s)-len(l.suf)]
	off := base + len(l.pre)
	for k, lit := range l.mids {
		if len(mid) < 2 {
			return false
		}
		j := strings.Index(mid[1:], lit)
		if j < 0 {
			return false
		}
		j++
		sp[2*l.slots[k]], sp[2*l.slots[k]+1] = off, off+j
		mid = mid[j+len(lit):]
		off += j + len(lit)
	}
	if mid == "" {
		return false
	}
	last := l.slots[len(l.slots)-1]
	sp[2*last], sp[2*last+1] = off, off+len(mid)
	return true
}

package rewrite

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Match is the outcome of a successful Table.Match.
type Match struct {
	// Rule is the matched rule. It points into the table: do not modify it.
	Rule *Rule
	// Target is the rewritten "host:port" (IPv6 in brackets). For a rule
	// without "=>" (via-only or deny) it is the address itself, as given.
	Target string
}

// Match finds the first rule, in written order, that matches address
// ("host:port", an IPv6 host in brackets) and builds its target.
//
// Hosts are compared in lower case and IPv6 addresses in canonical form
// (RFC 5952); ports in canonical decimal. ok is false when no rule matches.
// err reports a malformed address, or a target the matched rule cannot
// build: an arithmetic operand that is not an integer, a computed port
// outside 1..65535, a computed host that is empty or not a host name. On
// such a target error m.Rule is the rule at fault (and ok is false).
//
// For an address already in normal form (a lower-case host), a match by an
// exact, host-only or wildcard rule with a constant target does not allocate,
// and one whose target keeps the advertised port allocates once.
func (t *Table) Match(address string) (m Match, ok bool, err error) {
	key, hostLen, err := normalize(address)
	if err != nil {
		return Match{}, false, err
	}
	if t == nil || len(t.rules) == 0 {
		return Match{}, false, nil
	}
	none := int32(len(t.rules))
	best := none
	if i, ok := t.exact[key]; ok {
		best = i
	}
	host := key[:hostLen]
	if i, ok := t.host[host]; ok && i < best {
		best = i
	}
	if host[0] != '[' && (len(t.wild) > 0 || len(t.wildPort) > 0) {
		// Every suffix after a dot, keeping at least one leading character:
		// "*.example.com" needs one or more labels before "example.com".
		for j := 1; j < hostLen; j++ {
			if key[j] != '.' {
				continue
			}
			if i, ok := t.wildPort[key[j+1:]]; ok && i < best {
				best = i
			}
			if i, ok := t.wild[key[j+1:hostLen]]; ok && i < best {
				best = i
			}
		}
	}
	var spans [2 * maxPlaceholders]int
	for _, pos := range t.linear {
		if pos >= best {
			break
		}
		if sp, ok := t.cr[pos].pat.match(key, hostLen, spans[:]); ok {
			return t.result(pos, address, key, hostLen, sp)
		}
	}
	if best != none {
		return t.result(best, address, key, hostLen, nil)
	}
	return Match{}, false, nil
}

func (t *Table) result(pos int32, address, key string, hostLen int, sp []int) (Match, bool, error) {
	r := &t.rules[pos]
	tg := t.cr[pos].tgt
	switch {
	case tg == nil:
		return Match{Rule: r, Target: address}, true, nil
	case tg.lit != "":
		return Match{Rule: r, Target: tg.lit}, true, nil
	case tg.keepPort && tg.hostLit != "":
		return Match{Rule: r, Target: tg.hostLit + ":" + key[hostLen+1:]}, true, nil
	}
	s, err := tg.build(r, key, hostLen, sp)
	if err != nil {
		return Match{Rule: r}, false, err
	}
	return Match{Rule: r, Target: s}, true, nil
}

func addrError(address, format string, args ...any) error {
	return fmt.Errorf("kafkanat: malformed address %q: %s", address, fmt.Sprintf(format, args...))
}

// normalize returns the address as the rules see it: "host:port" with the
// host in lower case (an IPv6 host in brackets, canonical) and the port in
// canonical decimal; hostLen is the length of its host. It returns address
// itself, without allocating, when that is already normal.
func normalize(address string) (key string, hostLen int, err error) {
	var host, port string
	if strings.HasPrefix(address, "[") {
		end := strings.IndexByte(address, ']')
		if end < 0 {
			return "", 0, addrError(address, `missing "]"`)
		}
		host, port = address[:end+1], address[end+1:]
		if port == "" {
			return "", 0, addrError(address, "missing port")
		}
		if port[0] != ':' {
			return "", 0, addrError(address, `unexpected %q after "]"`, port[:1])
		}
		port = port[1:]
	} else {
		i := strings.LastIndexByte(address, ':')
		if i < 0 {
			return "", 0, addrError(address, "missing port")
		}
		host, port = address[:i], address[i+1:]
		if strings.IndexByte(host, ':') >= 0 {
			return "", 0, addrError(address, "an IPv6 host must be in brackets")
		}
	}
	if host == "" || host == "[]" {
		return "", 0, addrError(address, "empty host")
	}
	canonPort, ok := parsePort(port)
	if !ok {
		return "", 0, addrError(address, "port %q is not a number in 1..65535", port)
	}
	normal := len(canonPort) == len(port)
	var ipv6 []byte
	if host[0] == '[' {
		inner := host[1 : len(host)-1]
		a, err := netip.ParseAddr(lower(inner))
		if err != nil || !a.Is6() {
			return "", 0, addrError(address, "invalid IPv6 address %q", inner)
		}
		var buf [64]byte
		if ipv6 = a.AppendTo(buf[:0]); string(ipv6) != inner {
			normal = false
		}
	} else if hasUpper(host) {
		normal = false
	}
	if normal {
		return address, len(host), nil
	}
	// One allocation for the whole key.
	var b strings.Builder
	if ipv6 != nil {
		b.Grow(len(ipv6) + 3 + len(canonPort))
		b.WriteByte('[')
		b.Write(ipv6)
		b.WriteByte(']')
	} else {
		b.Grow(len(host) + 1 + len(canonPort))
		for i := 0; i < len(host); i++ {
			b.WriteByte(host[i] | lowerBit(host[i]))
		}
	}
	hostLen = b.Len()
	b.WriteByte(':')
	b.WriteString(canonPort)
	return b.String(), hostLen, nil
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

// targetError reports a target a rule could not build for an address.
func targetError(r *Rule, format string, args ...any) error {
	return fmt.Errorf("kafkanat: rule %d (%s): %s", r.Index, r.where(), fmt.Sprintf(format, args...))
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

package rewrite

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
)

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
// Rules from Parse and ParseMap carry their compiled form, which Compile
// reuses; it compiles rules built by hand, rules changed since, and those of
// Table.Rules, which do not carry it.
// Errors are *SyntaxError naming the rule's source and position; Parse has
// already reported any error in rules it returned, so Compile only fails on
// rules built or changed by hand.
func Compile(rules []Rule) (*Table, error) {
	if len(rules) > math.MaxInt32-1 {
		return nil, errorAt("", 0, 0, 0, "too many rules (%d)", len(rules))
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
		c := &t.cr[i]
		if r.c != nil && r.c.compiledFrom(r) {
			*c = r.c.crule
		} else if e := compileRule(r, c); e != nil {
			return nil, r.syntaxError(e, 0)
		}
		// The table keeps only what matching needs, in cr; keeping the
		// compiled form in its rules too would keep a second copy alive.
		r.c = nil
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
	return fmt.Errorf("malformed address %q: %s", address, fmt.Sprintf(format, args...))
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

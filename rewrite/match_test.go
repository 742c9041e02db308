package rewrite_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

// matchCase: want "" means no rule matches; index is the rule expected.
type matchCase struct {
	name, rules, addr string
	want              string
	index             int
}

func runMatch(t *testing.T, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := table(t, tt.rules)
			m, ok, err := tab.Match(tt.addr)
			noError(t, err, tt.addr)
			if tt.want == "" {
				if ok {
					t.Fatalf("Match(%q) = %q by rule %d (%s), want no match", tt.addr, m.Target, m.Rule.Index, m.Rule)
				}
				return
			}
			if !ok {
				t.Fatalf("Match(%q): no match, want %q", tt.addr, tt.want)
			}
			equal(t, m.Target, tt.want, tt.addr)
			index := tt.index
			if index == 0 {
				index = 1
			}
			equal(t, m.Rule.Index, index, tt.addr)
		})
	}
}

func TestMatchForms(t *testing.T) {
	const k8s = "kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}"
	runMatch(t, []matchCase{
		// Exact host:port.
		{"exact", "kafka:9092 => 109.109.109.109:9092", "kafka:9092", "109.109.109.109:9092", 1},
		{"exact other port", "kafka:9092 => x:1", "kafka:9093", "", 0},
		{"exact other host", "kafka:9092 => x:1", "kafka2:9092", "", 0},
		{"exact keeps port", "kafka:9092 => gw", "kafka:9092", "gw:9092", 1},
		{"exact port with leading zeros", "kafka:09092 => gw", "kafka:9092", "gw:9092", 1},
		{"address port with leading zeros", "kafka:9092 => gw", "kafka:009092", "gw:9092", 1},
		{"IPv4", "10.0.0.1:9092 => 127.0.0.1:1", "10.0.0.1:9092", "127.0.0.1:1", 1},

		// Host only.
		{"host any port", "kafka => gw:1", "kafka:1234", "gw:1", 1},
		{"host keeps port", "kafka => gw", "kafka:1234", "gw:1234", 1},
		{"host {port}", "kafka:{port} => gw:{port}", "kafka:7", "gw:7", 1},
		{"host is not a suffix", "kafka => gw", "xkafka:1", "", 0},

		// Case.
		{"pattern upper case", "KAFKA.Example.COM:9092 => x:1", "kafka.example.com:9092", "x:1", 1},
		{"address upper case", "kafka.example.com => x", "Kafka.EXAMPLE.com:9092", "x:9092", 1},
		{"wildcard upper case", "*.Example.com => x", "B1.EXAMPLE.COM:9092", "x:9092", 1},
		{"placeholder sees lower case", "b{id}.x => {id}.y", "B1A.X:1", "1a.y:1", 1},
		{"regex sees lower case", `~kafka-(\d+):9092 => gw{1}`, "KAFKA-3:9092", "gw3:9092", 1},
		{"regex (?i)", `~(?i)KAFKA-(\d+):9092 => gw{1}`, "kafka-3:9092", "gw3:9092", 1},
		{"target keeps its case", "a => GW.Example", "a:1", "GW.Example:1", 1},

		// Wildcards.
		{"wildcard", "*.abc.us-west1.example.com => 10.128.0.5", "b1.abc.us-west1.example.com:9093", "10.128.0.5:9093", 1},
		{"wildcard several labels", "*.example.com => gw", "a.b.c.example.com:1", "gw:1", 1},
		{"wildcard needs a label", "*.example.com => gw", "example.com:1", "", 0},
		{"wildcard needs a non-empty label", "*.example.com => gw", ".example.com:1", "", 0},
		{"wildcard label boundary", "*.example.com => gw", "b1.xexample.com:1", "", 0},
		{"wildcard with port", "*.example.com:9093 => gw", "a.example.com:9093", "gw:9093", 1},
		{"wildcard with other port", "*.example.com:9093 => gw", "a.example.com:9094", "", 0},
		{"wildcard literal target", "*.example.com:9093 => gw:1", "a.example.com:9093", "gw:1", 1},

		// Placeholders.
		{"placeholder k8s", k8s, "kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9092", "203.0.113.10:31092", 1},
		{"placeholder k8s other port", k8s, "kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9093", "", 0},
		{"placeholder label and port", "b{id}.x.com:{p} => 10.0.0.{id}:{p}", "b7.x.com:9097", "10.0.0.7:9097", 1},
		{"placeholder takes one or more", "b{id}.x.com => gw", "b.x.com:1", "", 0},
		{"placeholder stops at dots", "b{id}.x.com => gw", "b1.y.x.com:1", "", 0},
		{"placeholder whole label", "{h}.x => {h}.y", "abc.x:5", "abc.y:5", 1},
		{"placeholder whole host", "{h}:9092 => {h}.svc", "kafka:9092", "kafka.svc:9092", 1},
		{"placeholder host has no dots", "{h}:9092 => {h}.svc", "a.b:9092", "", 0},
		{"placeholder not in IPv6", "{h}:9092 => x", "[::1]:9092", "", 0},
		{"two placeholders in a label", "{a}-{b}.x => {b}.{a}", "p-q-r.x:1", "q-r.p:1", 1},
		{"placeholders prefix and suffix", "n{a}x{b}y.z => {a}.{b}", "n1x2y.z:1", "1.2:1", 1},
		{"placeholder in port", "k:90{n} => gw:{n}", "k:9093", "gw:93", 1},
		{"placeholder port mismatch", "k:90{n} => gw:{n}", "k:8093", "", 0},
		{"wildcard and placeholders", "*.{env}.example.com:{p} => {env}-gw:{p}", "a.b.prod.example.com:9092", "prod-gw:9092", 1},
		{"wildcard and placeholders need a label", "*.{env}.example.com => gw", "prod.example.com:9092", "", 0},
		{"any host on a port", "*:9092 via direct", "anything:9092", "anything:9092", 1},
		{"any host on a port, IPv6", "*:9092 via direct", "[::1]:9092", "[::1]:9092", 1},
		{"any host on another port", "*:9092 via direct", "anything:9093", "", 0},

		// Regexes.
		{"regex", `~b(\d+)\.x\.com:(?P<p>\d+) => lb{1}:{p+1000}`, "b12.x.com:9092", "lb12:10092", 1},
		{"regex is anchored at the start", `~b\d\.x:9092 => gw`, "ab1.x:9092", "", 0},
		{"regex is anchored at the end", `~b\d\.x:909 => gw`, "b1.x:9092", "", 0},
		{"regex alternation stays anchored", `~a:1|b:2 => gw`, "xa:1", "", 0},
		{"regex keeps ;", `~a;b:1 => gw`, "a;b:1", "gw:1", 1},
		{"regex keeps #", "~a#b:1 => gw # comment", "a#b:1", "gw:1", 1},
		{"regex optional group is empty", `~a(x)?:1 => h{1}y`, "a:1", "hy:1", 1},
		{"regex {port}", `~[a-z]+:\d+ => gw:{port}`, "abc:77", "gw:77", 1},

		// IPv6.
		{"IPv6 exact", "[::1]:9092 => 127.0.0.1:9092", "[::1]:9092", "127.0.0.1:9092", 1},
		{"IPv6 canonical address", "[fd00::1]:9092 => gw", "[FD00:0:0::1]:9092", "gw:9092", 1},
		{"IPv6 canonical pattern", "[FD00:0::1]:9092 => gw", "[fd00::1]:9092", "gw:9092", 1},
		{"IPv6 host only", "[fd00::1] => [::1]", "[fd00::1]:9093", "[::1]:9093", 1},
		{"IPv6 target with port", "a => [::1]:1", "a:5", "[::1]:1", 1},
		{"IPv6 target template", "x{n}.y => [fd00::{n}]", "x5.y:1", "[fd00::5]:1", 1},
		{"IPv6 is not IPv4", "[::ffff:10.0.0.1]:1 => gw", "10.0.0.1:1", "", 0},
		{"IPv6 regex sees canonical form", `~\[fd00::(\d+)\]:9092 => 10.0.0.{1}`, "[FD00:0::7]:9092", "10.0.0.7:9092", 1},

		// Via, deny, star.
		{"via keeps the address", "*.svc via socks5://gw:1080", "a.SVC:09092", "a.SVC:09092", 1},
		{"deny", "*.corp deny", "x.corp:1", "x.corp:1", 1},
		{"star", "* => gw", "x:1", "gw:1", 1},
		{"star matches IPv6", "* => gw", "[::1]:2", "gw:2", 1},

		// Arithmetic.
		{"port plus", "kafka => gw:{port+1000}", "kafka:9092", "gw:10092", 1},
		{"plus port", "kafka => gw:{1000+port}", "kafka:9092", "gw:10092", 1},
		{"minus", "b{n}.x => gw:{n-1}", "b2.x:9092", "gw:1", 1},
		{"sum with spaces", "b{n}.x => gw:{ 31090 + n - 1 }", "b2.x:9092", "gw:31091", 1},
		{"two names", "b{n}.x:{p} => gw:{p+n}", "b2.x:9092", "gw:9094", 1},
		{"arithmetic in host", "b{n}.x => 10.0.0.{n+10}", "b2.x:1", "10.0.0.12:1", 1},
		{"arithmetic with leading zeros", "b{n}.x => gw:{31090+n}", "b007.x:1", "gw:31097", 1},
		{"substitution keeps text", "b{n}.x => gw{n}", "b007.x:1", "gw007:1", 1},
		{"arithmetic negative intermediate", "b{n}.x => gw:{n-100+200}", "b2.x:1", "gw:102", 1},
		{"computed port is canonical", "p{n}.x => gw:{n}", "p0080.x:1", "gw:80", 1},
	})
}

func TestMatchFirstRuleWins(t *testing.T) {
	runMatch(t, []matchCase{
		{"regex before exact", "~kafka:\\d+ => a; kafka:9092 => b", "kafka:9092", "a:9092", 1},
		{"exact before regex", "kafka:9092 => b; ~kafka:\\d+ => a", "kafka:9092", "b:9092", 1},
		{"exact before wildcard", "b1.x.com:9092 => a; *.x.com => b", "b1.x.com:9092", "a:9092", 1},
		{"wildcard before exact", "*.x.com => b; b1.x.com:9092 => a", "b1.x.com:9092", "b:9092", 1},
		{"host before exact", "b1.x.com => h; b1.x.com:9092 => e", "b1.x.com:9092", "h:9092", 1},
		{"exact before host", "b1.x.com:9092 => e; b1.x.com => h", "b1.x.com:9092", "e:9092", 1},
		{"host after exact other port", "b1.x.com:9093 => e; b1.x.com => h", "b1.x.com:9092", "h:9092", 2},
		{"shorter suffix first", "*.c => 1; *.b.c => 2", "a.b.c:9", "1:9", 1},
		{"longer suffix first", "*.b.c => 2; *.c => 1", "a.b.c:9", "2:9", 1},
		{"wildcard port after wildcard", "*.b.c => w; *.a.b.c:1 => wp", "z.a.b.c:1", "w:1", 1},
		{"wildcard port before wildcard", "*.a.b.c:1 => wp; *.b.c => w", "z.a.b.c:1", "wp:1", 1},
		{"duplicate exact", "k:1 => a; k:1 => b", "k:1", "a:1", 1},
		{"duplicate wildcard", "*.k => a; *.k => b", "x.k:1", "a:1", 1},
		{"placeholder after exact", "x:1 => n; k:1 => e; k{n}:1 => p", "k:1", "e:1", 2},
		{"placeholder before exact", "x:1 => n; {h}:1 => p; k:1 => e", "k:1", "p:1", 2},
		{"placeholder between", "k{n} => p; k1:1 => e", "k1:1", "p:1", 1},
		{"star last", "a => x; * deny", "b:1", "b:1", 2},
		{"star first", "* deny; a => x", "a:1", "a:1", 1},
		{"linear miss then indexed", "~q.*:1 => r; k:1 => e", "k:1", "e:1", 2},
		{"only later linear", "k:2 => e; ~k:\\d => r", "k:1", "r:1", 2},
		{"regex before exact on other key", "~[a-z]+:9092 => r; zz:1 => e", "zz:9092", "r:9092", 1},
	})
}

func TestMatchErrors(t *testing.T) {
	tab := table(t, "kafka => gw")
	for _, tt := range []struct{ addr, want string }{
		{"", `malformed address "": missing port`},
		{"kafka", `malformed address "kafka": missing port`},
		{"kafka:", `malformed address "kafka:": port "" is not a number in 1..65535`},
		{"kafka:0", `malformed address "kafka:0": port "0" is not a number in 1..65535`},
		{"kafka:65536", `malformed address "kafka:65536": port "65536" is not a number in 1..65535`},
		{"kafka:x", `malformed address "kafka:x": port "x" is not a number in 1..65535`},
		{"kafka:+1", `malformed address "kafka:+1": port "+1" is not a number in 1..65535`},
		{":9092", `malformed address ":9092": empty host`},
		{"::1:9092", `malformed address "::1:9092": an IPv6 host must be in brackets`},
		{"[::1", `malformed address "[::1": missing "]"`},
		{"[::1]", `malformed address "[::1]": missing port`},
		{"[::1]x", `malformed address "[::1]x": unexpected "x" after "]"`},
		{"[]:1", `malformed address "[]:1": empty host`},
		{"[zz]:1", `malformed address "[zz]:1": invalid IPv6 address "zz"`},
		{"[10.0.0.1]:1", `malformed address "[10.0.0.1]:1": invalid IPv6 address "10.0.0.1"`},
	} {
		_, ok, err := tab.Match(tt.addr)
		if err == nil || ok {
			t.Errorf("Match(%q): ok=%v err=%v, want an error", tt.addr, ok, err)
			continue
		}
		equal(t, err.Error(), tt.want)
	}

	// Targets that cannot be built name the rule and the value.
	for _, tt := range []struct{ rules, addr, want string }{
		{"x => y\n~(?P<n>[a-z]+):1 => gw:{n+1}", "abc:1", `rule 2 (rules line 2, column 1): {n+1}: n = "abc" is not an integer`},
		{"k => gw:{port+60000}", "k:9092", `rule 1 (rules line 1, column 1): computed target port "69092" is not a number in 1..65535`},
		{"k => gw:{port-10000}", "k:9092", `rule 1 (rules line 1, column 1): computed target port "-908" is not a number in 1..65535`},
		{"  k:{p} => gw:{p-9092}", "k:9092", `rule 1 (rules line 1, column 3): computed target port "0" is not a number in 1..65535`},
		{"b{n}.x => gw:{n+1}", "b9223372036854775807.x:1", `rule 1 (rules line 1, column 1): {n+1}: integer overflow`},
		{"b{n}.x => gw:{n-1}", "b-9223372036854775808.x:1", `rule 1 (rules line 1, column 1): {n-1}: integer overflow`},
		{"b{n}.x => gw:{0-n}", "b-9223372036854775808.x:1", `rule 1 (rules line 1, column 1): {0-n}: integer overflow`},
		{"b{n}.x => gw:{n+1}", "b99999999999999999999.x:1", `rule 1 (rules line 1, column 1): {n+1}: n = "99999999999999999999" is not an integer`},
		{"b{n}.x => gw:{n}", "bq.x:1", `rule 1 (rules line 1, column 1): computed target port "q" is not a number in 1..65535`},
		{`~(.*)(x):1 => {1}.y`, "x:1", `rule 1 (rules line 1, column 1): computed target host ".y" has an empty label`},
		{`~(.*):1 => {1}`, "a!b:1", `rule 1 (rules line 1, column 1): computed target host "a!b" has invalid character '!'`},
		{`~.*:9092 => gw-{0}`, "a:9092", `rule 1 (rules line 1, column 1): computed target host "gw-a:9092" has invalid character ':'`},
		{`~(.*):1 => {1}`, "[::1]:1", `rule 1 (rules line 1, column 1): computed target host "[::1]" has invalid character '['`},
		{"x{n}.y => [fd00::{n}]", "xq.y:1", `rule 1 (rules line 1, column 1): computed target host "[fd00::q]" is not an IPv6 address`},
	} {
		tab := table(t, tt.rules)
		m, ok, err := tab.Match(tt.addr)
		if err == nil || ok {
			t.Errorf("%q: Match(%q) = %q, %v, %v; want an error", tt.rules, tt.addr, m.Target, ok, err)
			continue
		}
		equal(t, err.Error(), tt.want)
		if m.Rule == nil {
			t.Errorf("%q: Match(%q): Rule is nil with a target error", tt.rules, tt.addr)
		}
	}

	// A Map rule's error names the call.
	r, err := rewrite.ParseMap("k", "gw:{port+60000}")
	noError(t, err)
	mt, err := rewrite.Compile([]rewrite.Rule{r})
	noError(t, err)
	_, _, err = mt.Match("k:9092")
	equal(t, fmt.Sprint(err), `rule 1 (Map("k", "gw:{port+60000}")): computed target port "69092" is not a number in 1..65535`)
}

func TestCompile(t *testing.T) {
	rules, err := rewrite.Parse("rules", "a => b via x\nc deny")
	noError(t, err)
	tab, err := rewrite.Compile(rules)
	noError(t, err)
	equal(t, tab.Len(), 2)
	got := tab.Rules()
	equal(t, got[0].Index, 1)
	equal(t, got[1].Index, 2)
	equal(t, rules[0].Index, 0, "Compile must not modify its argument")

	// The table keeps its own copy: changing the input or the output of
	// Rules does not change it.
	rules[0].Routes[0].Name = "changed"
	got[0].Routes[0].Name = "changed"
	m, ok, err := tab.Match("a:1")
	noError(t, err)
	if !ok || m.Rule.Routes[0].Name != "x" || tab.Rules()[0].Routes[0].Name != "x" {
		t.Errorf("table changed with its input: %v", m.Rule)
	}

	var empty *rewrite.Table
	equal(t, empty.Len(), 0)
	equal(t, len(empty.Rules()), 0)
	if _, ok, err := empty.Match("a:1"); ok || err != nil {
		t.Errorf("nil table: ok=%v err=%v", ok, err)
	}
	if _, _, err := empty.Match("a"); err == nil {
		t.Errorf("nil table accepts a malformed address")
	}
	none, err := rewrite.Compile(nil)
	noError(t, err)
	if _, ok, err := none.Match("a:1"); ok || err != nil {
		t.Errorf("empty table: ok=%v err=%v", ok, err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		rule rewrite.Rule
		want string
	}{
		{rewrite.Rule{Source: "rules", Line: 2, Col: 3, Pattern: "a:99999", Target: "b"}, `rules line 2, column 5: port "99999" is not a number in 1..65535`},
		{rewrite.Rule{Source: "rules", Line: 2, Col: 3, Pattern: "a", Target: "b:0"}, `rules line 2, column 3: target "b:0": port "0" is not a number in 1..65535`},
		{rewrite.Rule{Source: "rules", Line: 2, Col: 3, Pattern: "a"}, `rules line 2, column 3: rule has no target, route or "deny"`},
		{rewrite.Rule{Source: "rules", Line: 2, Col: 3, Pattern: "a", Target: "b", Deny: true}, `rules line 2, column 3: "deny" cannot be combined with a target`},
		{rewrite.Rule{Source: "rules", Line: 2, Col: 3, Pattern: "a", Routes: []rewrite.RouteRef{{Name: "x"}}, Deny: true}, `rules line 2, column 3: "deny" cannot be combined with "via"`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "a b", Deny: true}, `rules line 1, column 2: unexpected " " in pattern`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "~a b", Deny: true}, `rules line 1, column 3: unexpected " " in pattern`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "", Deny: true}, `rules line 1, column 1: empty pattern`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "via", Deny: true}, `rules line 1, column 1: pattern cannot be the keyword "via"`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "a", Target: "deny"}, `rules line 1, column 1: target "deny": target cannot be the keyword "deny"`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "a", Routes: []rewrite.RouteRef{{Name: "x y", Line: 1, Col: 7}}}, `rules line 1, column 8: unexpected " " in route`},
		{rewrite.Rule{Source: "rules", Line: 1, Col: 1, Pattern: "a", Routes: []rewrite.RouteRef{{Name: ""}}}, `rules line 1, column 1: empty route`},
		{rewrite.Rule{Source: `Map("a b", "c")`, Pattern: "a b", Target: "c"}, `Map("a b", "c"): unexpected " " in pattern`},
		{rewrite.Rule{Pattern: "a b", Target: "c"}, `rule 1 (a b => c): unexpected " " in pattern`},
		{rewrite.Rule{Pattern: "a", Target: "b", Routes: []rewrite.RouteRef{{Name: "socks5://u:secret@[x"}}}, `rule 1 (a => b via socks5://u:xxxxx@[x): invalid route URL "socks5://u:xxxxx@[x"`},
	} {
		_, err := rewrite.Compile([]rewrite.Rule{tt.rule})
		var se *rewrite.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%+v) = %v, want a *SyntaxError", tt.rule, err)
			continue
		}
		equal(t, err.Error(), tt.want)
	}
}

// TestIndexedLookups proves that exact, host-only and wildcard hits are map
// lookups: on a 100k-rule table they allocate nothing (or once, to append
// the advertised port), and rules after the hit are never evaluated.
func TestIndexedLookups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-rule table")
	}
	const n = 100_000
	var b strings.Builder
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "b%d.c%d.example.com:9092 => 10.%d.%d.1:9092\n", i, i, i/256%256, i%256)
		case 1:
			fmt.Fprintf(&b, "*.w%d.example.com => 10.0.%d.1:9093\n", i, i%256)
		case 2:
			fmt.Fprintf(&b, "h%d.example.com => 10.1.%d.1\n", i, i%256)
		case 3:
			fmt.Fprintf(&b, "*.p%d.example.com:9094 => 10.2.%d.1:9094\n", i, i%256)
		}
	}
	// Rules that would match everything, after all the others: a table that
	// scanned them would run a regex (which allocates) on every Match.
	for range 100 {
		b.WriteString("~.*:\\d+ => never:1\n")
	}
	tab := table(t, b.String())

	for _, tt := range []struct {
		addr, want string
		allocs     float64
	}{
		{"b99996.c99996.example.com:9092", "10.134.156.1:9092", 0},
		{"B99996.C99996.example.com:9092", "10.134.156.1:9092", 1}, // lower-casing costs one
		{"x.y.w99997.example.com:9999", "10.0.157.1:9093", 0},
		{"x.p99999.example.com:9094", "10.2.159.1:9094", 0},
		{"h99998.example.com:9095", "10.1.158.1:9095", 1}, // appending the port
	} {
		m, ok, err := tab.Match(tt.addr)
		noError(t, err)
		if !ok || m.Target != tt.want {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.addr, m.Target, ok, tt.want)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok, _ := tab.Match(tt.addr); !ok {
				t.Fatal("no match")
			}
		})
		if allocs > tt.allocs {
			t.Errorf("Match(%q) allocates %v times, want at most %v", tt.addr, allocs, tt.allocs)
		}
	}
}

// TestMatchConcurrent runs Match from several goroutines (under -race).
func TestMatchConcurrent(t *testing.T) {
	tab := table(t, "kafka-{n}.svc:9092 => gw:{31090+n}; *.x => y; ~q(\\d):1 => r{1}")
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				addr := fmt.Sprintf("kafka-%d.svc:9092", (g*200+i)%50)
				m, ok, err := tab.Match(addr)
				if err != nil || !ok || m.Target != fmt.Sprintf("gw:%d", 31090+(g*200+i)%50) {
					t.Errorf("Match(%q) = %q, %v, %v", addr, m.Target, ok, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

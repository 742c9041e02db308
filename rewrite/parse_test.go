package rewrite_test

import (
	"errors"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

func routes(refs ...rewrite.RouteRef) []rewrite.RouteRef { return refs }

func TestParseForms(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []rewrite.Rule
	}{
		{"empty", "", nil},
		{"only comments and separators", "# nothing\n;;\n  \t# more\n", nil},
		{"rewrite", "kafka:9092 => 109.109.109.109:9092", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "kafka:9092", Target: "109.109.109.109:9092"},
		}},
		{"rewrite via", "  *.svc => gw via socks5://gw:1080", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 3, Pattern: "*.svc", Target: "gw", Routes: routes(rewrite.RouteRef{Name: "socks5://gw:1080", Line: 1, Col: 19})},
		}},
		{"via list", "a via x, y,z", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "a", Routes: routes(
				rewrite.RouteRef{Name: "x", Line: 1, Col: 7},
				rewrite.RouteRef{Name: "y", Line: 1, Col: 10},
				rewrite.RouteRef{Name: "z", Line: 1, Col: 12})},
		}},
		{"deny", "*.corp deny # refuse", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "*.corp", Deny: true},
		}},
		{"no spaces around => and ,", "a:1=>b:2 via x,y", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "a:1", Target: "b:2", Routes: routes(
				rewrite.RouteRef{Name: "x", Line: 1, Col: 14},
				rewrite.RouteRef{Name: "y", Line: 1, Col: 16})},
		}},
		{"comment without space", "a => b#c\n", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "a", Target: "b"},
		}},
		{"semicolons and lines", "a => b; c => d\n\n\te deny;", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "a", Target: "b"},
			{Source: "rules", Line: 1, Col: 9, Pattern: "c", Target: "d"},
			{Source: "rules", Line: 3, Col: 2, Pattern: "e", Deny: true},
		}},
		{"CRLF", "a => b\r\nc => d\r\n", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "a", Target: "b"},
			{Source: "rules", Line: 2, Col: 1, Pattern: "c", Target: "d"},
		}},
		{"regex keeps ; # , and =>", `~a;b#c,d=>e:1 => x # comment`, []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: `~a;b#c,d=>e:1`, Target: "x"},
		}},
		{"spaces inside braces", "b{ id }.x => gw:{ 31090 + id }", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "b{ id }.x", Target: "gw:{ 31090 + id }"},
		}},
		{"IPv6", "[::1]:9092 => [fd00::1]; [FD00::2] => 127.0.0.1", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "[::1]:9092", Target: "[fd00::1]"},
			{Source: "rules", Line: 1, Col: 26, Pattern: "[FD00::2]", Target: "127.0.0.1"},
		}},
		{"star", "* via direct", []rewrite.Rule{
			{Source: "rules", Line: 1, Col: 1, Pattern: "*", Routes: routes(rewrite.RouteRef{Name: "direct", Line: 1, Col: 7})},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewrite.Parse("rules", tt.text)
			noError(t, err)
			equal(t, rewrite.Uncompiled(got...), tt.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		// Grammar.
		{"kafka:9092", `rules line 1, column 11: missing "=>", "via" or "deny" after pattern "kafka:9092"`},
		{"a => ", `rules line 1, column 6: missing target after "=>", found end of input`},
		{"a =>\nb => c", `rules line 1, column 5: missing target after "=>", found end of line`},
		{"a => ;", `rules line 1, column 6: missing target after "=>", found ";"`},
		{"a => via x", `rules line 1, column 6: missing target after "=>", found "via"`},
		{"a => deny", `rules line 1, column 6: missing target after "=>", found "deny"`},
		{"=> b", `rules line 1, column 1: missing pattern before "=>"`},
		{"deny", `rules line 1, column 1: missing pattern before "deny"`},
		{"x; via y", `rules line 1, column 2: missing "=>", "via" or "deny" after pattern "x"`},
		{", a => b", `rules line 1, column 1: missing pattern before ","`},
		{"a b", `rules line 1, column 3: unexpected "b" after pattern "a"; expected "=>", "via" or "deny"`},
		{"a , b", `rules line 1, column 3: unexpected "," after pattern "a"; expected "=>", "via" or "deny"`},
		{"a => b c", `rules line 1, column 8: unexpected "c" after target; expected "via", ";" or end of line`},
		{"a => b, c", `rules line 1, column 7: unexpected "," after target; expected "via", ";" or end of line`},
		{"a => b => c", `rules line 1, column 8: unexpected "=>": a rule has one target`},
		{"a => b deny", `rules line 1, column 8: "deny" cannot follow a target: a rule either rewrites or denies`},
		{"a deny via x", `rules line 1, column 8: "deny" cannot be combined with "via"`},
		{"a via x deny", `rules line 1, column 9: "deny" cannot be combined with "via"`},
		{"a deny => b", `rules line 1, column 8: "deny" cannot be combined with a target`},
		{"a deny b", `rules line 1, column 8: unexpected "b" after "deny"`},
		{"a via x => b", `rules line 1, column 9: "=>" must come before "via"`},
		{"a via", `rules line 1, column 6: missing route after "via", found end of input`},
		{"a via\n", `rules line 1, column 6: missing route after "via", found end of line`},
		{"a via x,", `rules line 1, column 9: missing route after ",", found end of input`},
		{"a via x,,y", `rules line 1, column 9: missing route after ",", found ","`},
		{"a via x y", `rules line 1, column 9: unexpected "y" after route; separate routes with ","`},
		{"a => b via x via y", `rules line 1, column 14: duplicate "via": list all routes after one "via", separated by ","`},
		{"a => b via x, x", `rules line 1, column 15: route "x" listed twice`},
		{"~a;b", `rules line 1, column 5: missing "=>", "via" or "deny" after pattern "~a;b" (a regex runs to the next space: ";", "#", "," and "=>" inside it are part of it)`},
		{"~a#x=>b", `rules line 1, column 8: missing "=>", "via" or "deny" after pattern "~a#x=>b" (a regex runs to the next space: ";", "#", "," and "=>" inside it are part of it)`},
		{"b{id.x => c", `rules line 1, column 2: unterminated "{": a placeholder needs its "}" on the same line`},
		{"a => b:{port\n+1}", `rules line 1, column 8: unterminated "{": a placeholder needs its "}" on the same line`},
		{"ok => fine\n  x => y z", `rules line 2, column 10: unexpected "z" after target; expected "via", ";" or end of line`},
		{"a => b # c\n d", `rules line 2, column 3: missing "=>", "via" or "deny" after pattern "d"`},
		{"a => b\r\nc", `rules line 2, column 2: missing "=>", "via" or "deny" after pattern "c"`},
		{"a\t=>\tb\tc", `rules line 1, column 8: unexpected "c" after target; expected "via", ";" or end of line`},

		// Patterns.
		{"a:99999 => b", `rules line 1, column 3: port "99999" is not a number in 1..65535`},
		{"a:0 => b", `rules line 1, column 3: port "0" is not a number in 1..65535`},
		{"a:x => b", `rules line 1, column 3: port "x" is not a number in 1..65535`},
		{"a: => b", `rules line 1, column 3: missing port after ":"`},
		{":1 => b", `rules line 1, column 1: empty host before ":"`},
		{"a..b => c", `rules line 1, column 3: empty label in host "a..b"`},
		{".a => c", `rules line 1, column 1: empty label in host ".a"`},
		{"a. => c", `rules line 1, column 3: empty label in host "a."`},
		{"a@b => c", `rules line 1, column 2: invalid character '@' in host`},
		{"a.*.b => c", `rules line 1, column 3: "*" must be the whole pattern or the whole first label, as in *.example.com`},
		{"*x.b => c", `rules line 1, column 1: "*" must be the whole pattern or the whole first label, as in *.example.com`},
		{"a:9*2 => c", `rules line 1, column 3: port "9*2" is not a number in 1..65535`},
		{"b{1x}.c => d", `rules line 1, column 2: invalid placeholder name "1x": use letters, digits and _, not starting with a digit`},
		{"b{}.c => d", `rules line 1, column 2: empty placeholder {}`},
		{"{a}{b}.c => d", `rules line 1, column 4: placeholders must be separated by literal text`},
		{"{a}.{a} => d", `rules line 1, column 5: placeholder {a} appears twice`},
		{"b{n+1}.c => d", `rules line 1, column 2: arithmetic such as {n+1} is only allowed in targets`},
		{"{port}.x => d", `rules line 1, column 1: {port} is the advertised port: in a pattern it may only be the whole port`},
		{"a:9{port} => d", `rules line 1, column 4: {port} is the advertised port: in a pattern it may only be the whole port`},
		{"a:{p}x => d", `rules line 1, column 6: invalid character 'x' in port`},
		{"::1 => x", `rules line 1, column 2: an IPv6 address must be written in brackets, as in [fd00::1]:9092`},
		{"a:1:2 => x", `rules line 1, column 4: an IPv6 address must be written in brackets, as in [fd00::1]:9092`},
		{"[::1 => x", `rules line 1, column 1: missing "]" after IPv6 address`},
		{"[zz] => x", `rules line 1, column 2: invalid IPv6 address "zz"`},
		{"[10.0.0.1] => x", `rules line 1, column 2: invalid IPv6 address "10.0.0.1"`},
		{"[::1]x => y", `rules line 1, column 6: unexpected "x" after "]"; expected ":port"`},
		{"[::1]:0 => y", `rules line 1, column 7: port "0" is not a number in 1..65535`},
		{"[fd00::{n}] => y", `rules line 1, column 1: placeholders and wildcards are not allowed in an IPv6 address`},
		{"~ => x", `rules line 1, column 1: empty regex after "~"`},
		{"~(x => y", "rules line 1, column 2: invalid regex: error parsing regexp: missing closing ): `(x`"},
		{"~Kafka:1 => x", `rules line 1, column 2: regex literal "Kafka:1" has upper-case letters, but hosts are matched in lower case: write it in lower case or add (?i)`},
		{`~(?P<port>\d+) => x`, `rules line 1, column 2: regex group name "port" is reserved: {port} is always the advertised port`},
		{`~(?P<a>x)(?P<a>y):1 => z`, `rules line 1, column 2: regex group name "a" appears twice`},
		{`~a)|(b => z`, "rules line 1, column 2: invalid regex: error parsing regexp: unexpected ): `a)|(b`"},
		{`~\Qa => z`, `rules line 1, column 2: invalid regex: \Q needs a closing \E`},
		{`~(?P<1>x):1 => z`, `rules line 1, column 2: invalid regex group name "1": use letters, digits and _, not starting with a digit`},

		// Targets.
		{"a => b:70000", `rules line 1, column 8: port "70000" is not a number in 1..65535`},
		{"a => b:", `rules line 1, column 8: missing port after ":"`},
		{"a => :1", `rules line 1, column 6: empty host before ":"`},
		{"a => b:x1", `rules line 1, column 8: invalid character 'x' in port`},
		{"a => b{x}", `rules line 1, column 8: undefined placeholder {x}; the pattern defines none (only {port} is always defined)`},
		{"b{id}.x:{p} => {n}", `rules line 1, column 17: undefined placeholder {n}; the pattern defines {id}, {p} (and {port} is always defined)`},
		{"b{id}.x => gw:{31090 + n}", `rules line 1, column 24: undefined placeholder {n}; the pattern defines {id} (and {port} is always defined)`},
		{`~b(\d)(?P<z>x):1 => {q}`, `rules line 1, column 22: undefined placeholder {q}; the pattern defines {1}, {z} (and {port} is always defined)`},
		{`~b(\d):1 => x{2}`, `rules line 1, column 14: {2}: the regex has no group 2 (it has 1)`},
		{"a => x{1}", `rules line 1, column 7: {1} refers to a regex group, but the pattern is not a ~regex`},
		{"a => x:{1+2}", `rules line 1, column 8: {1+2} uses no placeholder; to compute with a regex group, name it: (?P<n>...) and {n+1}`},
		{`~(\d+):1 => x:{1+2}`, `rules line 1, column 15: {1+2} uses no placeholder; to compute with a regex group, name it: (?P<n>...) and {n+1}`},
		{"a => b{ }", `rules line 1, column 7: empty {}`},
		{"a => b:{port+}", `rules line 1, column 14: missing placeholder name or integer at the end of {port+}`},
		{"a => b:{port*2}", `rules line 1, column 13: expected "+" or "-" in {port*2}, found "*"`},
		{"a => b:{-1+port}", `rules line 1, column 9: expected a placeholder name or integer in {-1+port}, found "-"`},
		{"a => b:{port 2}", `rules line 1, column 14: expected "+" or "-" in {port 2}, found "2"`},
		{"a => b:{99999999999999999999+port}", `rules line 1, column 9: integer 99999999999999999999 out of range in {99999999999999999999+port}`},
		{"a => ~x", `rules line 1, column 6: a target cannot be a regex`},
		{"a => *", `rules line 1, column 6: "*" is not allowed in a target`},
		{"a => *.b", `rules line 1, column 6: "*" is not allowed in a target`},
		{"a => b@c", `rules line 1, column 7: invalid character '@' in host (routes go after "via")`},
		{"a => socks5://gw:1080", `rules line 1, column 6: a target cannot be a URL (routes go after "via")`},
		{"a => 10.0.0..1", `rules line 1, column 13: empty label in host "10.0.0..1"`},
		{"a => x:1:2", `rules line 1, column 9: an IPv6 address must be written in brackets, as in [fd00::1]:9092`},
		{"a => [::1", `rules line 1, column 6: missing "]" after IPv6 address`},
		{"a => [::g]", `rules line 1, column 7: invalid IPv6 address "::g"`},
		{"a => [::1]:99999", `rules line 1, column 12: port "99999" is not a number in 1..65535`},
		{"a => [::1]x", `rules line 1, column 11: unexpected "x" after "]"; expected ":port"`},
		{"a => [::1/x]", `rules line 1, column 10: invalid character '/' in IPv6 address`},

		// Routes: errors name them with the password redacted.
		{"a => b via socks5://", `rules line 1, column 12: invalid route URL "socks5://": want scheme://[user:password@]host:port`},
		{"a => b via socks5://u:secret@[gw:1080", `rules line 1, column 12: invalid route URL "socks5://u:xxxxx@[gw:1080"`},
		{"a => b via http://u:se%zzcret@gw:3128", `rules line 1, column 12: invalid route URL "http://u:xxxxx@gw:3128"`},
		// Without "@", what follows ":" may be a password cut short.
		{"a => b via http://gw:x", `rules line 1, column 12: invalid route URL "http://gw:xxxxx": the port is not a number, or a password holds white space, which must be percent-encoded (%20)`},
		{"a => b via http://gw%zz", `rules line 1, column 12: invalid route URL "http://gw%zz": invalid URL escape "%zz"`},
		{"a via socks5://u:p#ss@gw:1080", `rules line 1, column 19: invalid route URL "socks5://u:xxxxx@gw:1080": percent-encode "/", "?" and "#" in a password (%2F, %3F, %23) and any "@" after the host (%40)`},
		{"a via ssh://u@gw:22?key=/home/u@corp/id", `rules line 1, column 20: invalid route URL "ssh://u@gw:xxxxx@corp/id": percent-encode "/", "?" and "#" in a password (%2F, %3F, %23) and any "@" after the host (%40)`},
		{"a via socks5://u:p ss@gw:1080", `rules line 1, column 20: unexpected "xxxxx@gw:1080" after route; separate routes with ","`},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			rules, err := rewrite.Parse("rules", tt.text)
			if err == nil {
				t.Fatalf("no error; rules: %v", rules)
			}
			var se *rewrite.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			equal(t, err.Error(), ""+tt.want)
			equal(t, se.Source, "rules")
			if rules != nil {
				t.Errorf("rules returned with an error: %v", rules)
			}
		})
	}
}

func TestSyntaxErrorFormat(t *testing.T) {
	equal(t, (&rewrite.SyntaxError{Source: "rules", Line: 3, Col: 12, Msg: "bad"}).Error(), "rules line 3, column 12: bad")
	equal(t, (&rewrite.SyntaxError{Line: 3, Col: 12, Msg: "bad"}).Error(), "line 3, column 12: bad")
	equal(t, (&rewrite.SyntaxError{Source: `Map("a", "b")`, Msg: "bad"}).Error(), `Map("a", "b"): bad`)
	equal(t, (&rewrite.SyntaxError{Msg: "bad"}).Error(), "bad")
}

func TestParseMap(t *testing.T) {
	r, err := rewrite.ParseMap("kafka:9092", "109.109.109.109:9092")
	noError(t, err)
	equal(t, rewrite.Uncompiled(r)[0], rewrite.Rule{Source: `Map("kafka:9092", "109.109.109.109:9092")`, Pattern: "kafka:9092", Target: "109.109.109.109:9092"})

	for _, tt := range []struct{ advertised, target, want string }{
		{"", "x", `Map("", "x"): empty advertised address`},
		{"a", "", `Map("a", ""): empty target`},
		{"a:99999", "b", `Map("a:99999", "b"): advertised address: port "99999" is not a number in 1..65535`},
		{"a b", "c", `Map("a b", "c"): advertised address: unexpected " " in pattern`},
		{"a;b", "c", `Map("a;b", "c"): advertised address: unexpected ";" in pattern`},
		{"a=>b", "c", `Map("a=>b", "c"): advertised address: unexpected "=>" in pattern`},
		{"deny", "c", `Map("deny", "c"): advertised address: pattern cannot be the keyword "deny"`},
		{"a", "b{x}", `Map("a", "b{x}"): target: undefined placeholder {x}; the pattern defines none (only {port} is always defined)`},
		{"a", "b#c", `Map("a", "b#c"): target: unexpected "#" in target`},
		{"a", "b{x", `Map("a", "b{x"): target: unterminated "{" in target`},
		{"a", "b:0", `Map("a", "b:0"): target: port "0" is not a number in 1..65535`},
	} {
		_, err := rewrite.ParseMap(tt.advertised, tt.target)
		var se *rewrite.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Map(%q, %q): %v is not a *SyntaxError", tt.advertised, tt.target, err)
			continue
		}
		equal(t, err.Error(), tt.want)
		equal(t, se.Line, 0)
	}

	// Every pattern and target form works through Map.
	for _, tt := range []struct{ advertised, target, addr, want string }{
		{"kafka", "gw", "KAFKA:9093", "gw:9093"},
		{"*.abc.example.com", "10.128.0.5", "b1.abc.example.com:9094", "10.128.0.5:9094"},
		{"b{n}.x:9092", "gw:{31090+n}", "b2.x:9092", "gw:31092"},
		{`~b(\d+)\.x:9092`, "10.0.0.{1}", "b7.x:9092", "10.0.0.7:9092"},
		{"[::1]:9092", "[fd00::1]", "[::1]:9092", "[fd00::1]:9092"},
	} {
		r, err := rewrite.ParseMap(tt.advertised, tt.target)
		noError(t, err)
		tab, err := rewrite.Compile([]rewrite.Rule{r})
		noError(t, err)
		m, ok, err := tab.Match(tt.addr)
		noError(t, err)
		if !ok {
			t.Errorf("Map(%q, %q) does not match %s", tt.advertised, tt.target, tt.addr)
			continue
		}
		equal(t, m.Target, tt.want)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ text, want string }{
		{"b{id}.x.com:{p}   =>   10.0.0.5:{p}   via   socks5://u:secret@gw:1080", "b{id}.x.com:{p} => 10.0.0.5:{p} via socks5://u:xxxxx@gw:1080"},
		{"a=>b via direct,http://u:secret@proxy:3128,mytunnel", "a => b via direct, http://u:xxxxx@proxy:3128, mytunnel"},
		{"*.svc via socks5h://user@gw:1080 # no password", "*.svc via socks5h://user@gw:1080"},
		{"* deny", "* deny"},
		{"~a;b:1 => x", "~a;b:1 => x"},
		{"b{ n }.x => gw:{ 31090 + n }", "b{ n }.x => gw:{ 31090 + n }"},
	}
	for _, tt := range tests {
		rules, err := rewrite.Parse("rules", tt.text)
		noError(t, err)
		if len(rules) != 1 {
			t.Fatalf("Parse(%q) = %d rules", tt.text, len(rules))
		}
		got := rules[0].String()
		equal(t, got, tt.want)
		// The canonical text parses back to the same rule.
		again, err := rewrite.Parse("rules", got)
		noError(t, err)
		if len(again) != 1 || again[0].String() != got {
			t.Errorf("Parse(%q) = %v", got, again)
		}
	}
	equal(t, rewrite.RouteRef{Name: "socks5://u:secret@gw:1080"}.String(), "socks5://u:xxxxx@gw:1080")
	equal(t, rewrite.RouteRef{Name: "direct"}.String(), "direct")
	// An unparsable URL is still redacted.
	equal(t, rewrite.RouteRef{Name: "socks5://u:se/cret@[gw"}.String(), "socks5://u:xxxxx@[gw")
	var nilRule *rewrite.Rule
	equal(t, nilRule.String(), "<nil>")

	m, err := rewrite.ParseMap("kafka:9092", "proxy:7092")
	noError(t, err)
	equal(t, m.String(), "kafka:9092 => proxy:7092")
}

package rewrite_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

// FuzzParse checks that no text makes Parse, Compile or Match panic, that
// every error is a positioned *SyntaxError, that Parse accepts only what
// Compile accepts, that every target Match builds is a valid "host:port",
// that each rule's String parses back to the same rule, and that no route
// password made of the text shows in errors or String.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		// One of each form.
		"kafka:9092 => 109.109.109.109:9092",
		"kafka => gw",
		"*.abc.us-west1.example.com => 10.128.0.5",
		"*.example.com:9093 => gw:1 via direct",
		"kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}",
		"b{id}.x.com:{p} => 10.0.0.{id}:{p} via socks5://u:p@gw:1080, http://proxy:3128",
		"*.{env}.example.com:{p} => {env}-gw:{ p + 1000 - 1 }",
		"*:9092 via direct",
		"* deny",
		`~b(\d+)\.x\.com:(?P<p>\d+) => lb{1}:{p+1000}`,
		// Separators, comments, positions.
		"a => b; c => d # comment\r\n\te deny;;",
		// A regex swallows ; # , and =>.
		"~a;b#c,d=>e:1 => x",
		"~a;b",
		// IPv6 on both sides.
		"[::1]:9092 => [fd00::1]; [FD00:0::2] => [::1]:1",
		"x{n}.y => [fd00::{n}]",
		// Near misses.
		"a => b{x}", "b{id.x => c", "a => b:{port*2}", "a:99999 => b", "{a}{b}.c => d",
		"a via socks5://u:secret@[gw", "a => b via x, x", "a deny via x",
		"~(?P<port>x) => y", "~Kafka:1 => x", "a => b:{9223372036854775807+port}",
		// Passwords with separators, raw and percent-encoded: the user
		// information is one word; "/", "?", "#" and white space are refused.
		"a via socks5://u:p#ss@gw:1080", "a via socks5://u:p;ss@gw:1080; b deny",
		"a via socks5://u:p,ss@gw:1080,direct", "a via socks5://u:p@ss@gw:1080",
		"a via socks5://u:p/ss@gw:1080", "a via socks5://u:p?ss@gw:1080",
		"a via socks5://u:p ss@gw:1080", "a via socks5://u:p%23%3B%2C%40%2F%3F%20ss@gw:1080",
		"a via socks5://gw:1080,http://u:p@proxy:3128 # ops@example.com",
		"a via ssh://u@gw:22?key=/home/u@corp/id",
	} {
		f.Add(seed)
	}
	f.Fuzz(fuzzRules)
}

func fuzzRules(t *testing.T, text string) {
	fuzzPassword(t, text)
	rules, err := rewrite.Parse("fuzz", text)
	if err != nil {
		var se *rewrite.SyntaxError
		if !errors.As(err, &se) || se.Source != "fuzz" || se.Line < 1 || se.Col < 1 || se.Msg == "" {
			t.Fatalf("Parse(%q): bad error %#v", text, err)
		}
		return
	}
	tab, err := rewrite.Compile(rules)
	if err != nil {
		t.Fatalf("Parse(%q) accepted rules Compile rejects: %v", text, err)
	}
	addrs := []string{"b1.example.com:9092", "[::1]:9092", "KAFKA:1", "x", "a.b.c:65535", "b-1.x:0009"}
	for _, r := range tab.Rules() {
		addrs = append(addrs, r.Pattern, r.Pattern+":9092", r.Target, r.Target+":1")
	}
	for _, a := range addrs {
		m, ok, err := tab.Match(a)
		if !ok {
			continue
		}
		if err != nil {
			t.Fatalf("Match(%q): ok with error %v", a, err)
		}
		host, port, err := net.SplitHostPort(m.Target)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			t.Fatalf("rules %q: Match(%q) built invalid target %q", text, a, m.Target)
		}
	}
	for _, r := range tab.Rules() {
		s := r.String()
		again, err := rewrite.Parse("again", s)
		if err != nil || len(again) != 1 {
			t.Fatalf("String() of %q = %q, which parses to %v, %v", text, s, again, err)
		}
		g := again[0]
		if g.Pattern != r.Pattern || g.Target != r.Target || g.Deny != r.Deny || len(g.Routes) != len(r.Routes) {
			t.Fatalf("String() of %q = %q, which parses to %+v", text, s, g)
		}
		for i := range g.Routes {
			if g.Routes[i].String() != r.Routes[i].String() {
				t.Fatalf("String() of %q = %q: route %q became %q", text, s, r.Routes[i], g.Routes[i])
			}
		}
		if g.String() != s {
			t.Fatalf("String() is not stable: %q, then %q", s, g.String())
		}
	}
}

// fuzzPassword puts text, less white space and "://" (which a password must
// percent-encode), between two markers into the password of route URLs,
// and checks that no marker shows in what Parse, Rule.String,
// RouteRef.String and the route list functions return.
func fuzzPassword(t *testing.T, text string) {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			b.WriteByte(c)
		}
	}
	p := b.String()
	for strings.Contains(p, "://") {
		p = strings.ReplaceAll(p, "://", "")
	}
	password := "s3cr3t" + p + "pa55wd"
	leaks := func(s string) bool { return strings.Contains(s, "s3cr3t") || strings.Contains(s, "pa55wd") }
	for _, format := range []string{
		"a via socks5://user:%s@gw:1080",
		"a => b via direct,http://user:%s@gw:3128 # c",
		"a via ssh://user:%s@gw:22?key=/k;b deny",
	} {
		rules, err := rewrite.Parse("fuzz", fmt.Sprintf(format, password))
		if err != nil && leaks(err.Error()) {
			t.Fatalf("password %q: error shows it: %v", password, err)
		}
		for i := range rules {
			if s := rules[i].String(); leaks(s) {
				t.Fatalf("password %q: String shows it: %s", password, s)
			}
		}
	}
	list := "direct, socks5://user:" + password + "@gw:1080"
	for _, s := range append(rewrite.SplitRouteList(list), rewrite.RedactRouteList(list)) {
		if s = (rewrite.RouteRef{Name: s}).String(); leaks(s) {
			t.Fatalf("password %q: route list shows it: %s", password, s)
		}
	}
}

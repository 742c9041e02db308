package rewrite_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

func TestErrorsNeverPrintPasswords(t *testing.T) {
	for _, text := range []string{
		"a via socks5://u:secret@gw:1080 socks5://u:secret@gw2:1080",
		"a => b socks5://u:secret@gw:1080",
		"a deny socks5://u:secret@gw:1080",
		"a via socks5://u:secret@gw:1080 => b",
		"a via socks5://u:secret@gw:1080, socks5://u:secret@gw:1080",
		"a via socks5://u:secret@gw:1080 x",
		"a socks5://u:secret@gw:1080",
		"a via socks5://u:sec%ret@gw:1080",
		"a via socks5://u:secret@gw:1080/x#frag\nb via socks5://u:secret@gw:1080/x y",
	} {
		_, err := rewrite.Parse("rules", text)
		if err == nil {
			t.Errorf("Parse(%q): no error", text)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "sec%ret") || !strings.HasPrefix(msg, "rules line ") {
			t.Errorf("Parse(%q): %s", text, msg)
		}
	}
}

// TestRouteUserinfo checks that a route URL's user information is one
// word, whatever separators it holds, and no more than that.
func TestRouteUserinfo(t *testing.T) {
	for _, tt := range []struct {
		text   string
		routes []string
	}{
		{"a via socks5://u:p;ss@gw:1080", []string{"socks5://u:p;ss@gw:1080"}},
		{"a via socks5://u:p,ss@gw:1080,direct", []string{"socks5://u:p,ss@gw:1080", "direct"}},
		{"a via socks5://u:p@ss@gw:1080", []string{"socks5://u:p@ss@gw:1080"}},
		{"a via socks5://u:p%23%20ss@gw:1080", []string{"socks5://u:p%23%20ss@gw:1080"}},
		// Not beyond white space, nor into the next URL of a list.
		{"a via socks5://gw:1080 # ops@example.com", []string{"socks5://gw:1080"}},
		{"a via socks5://gw:1080,http://u:p@proxy:3128", []string{"socks5://gw:1080", "http://u:p@proxy:3128"}},
		{"a via socks5://gw:1080;b via http://u:p@proxy:3128", []string{"socks5://gw:1080"}},
		// Only the part before the host: a comment after it still ends it.
		{"a via socks5://u:p;ss@gw:1080#comment", []string{"socks5://u:p;ss@gw:1080"}},
	} {
		rules, err := rewrite.Parse("rules", tt.text)
		noError(t, err, tt.text)
		var got []string
		for _, rt := range rules[0].Routes {
			got = append(got, rt.Name)
		}
		equal(t, got, tt.routes, tt.text)
		for _, r := range rules {
			again, err := rewrite.Parse("again", r.String())
			noError(t, err, r.String())
			equal(t, again[0].String(), r.String())
		}
	}
}

// passwordSpecials are the characters that once cut a password short or
// that the url package misreads; each is tried raw and percent-encoded.
var passwordSpecials = []string{"#", ";", ",", "@", "/", "?", " ", "=>", "%23", "%3B", "%2C", "%40", "%2F", "%3F", "%20"}

// leaks reports whether s shows part of a password made of the markers
// "s3cr3t" and "pa55wd" around a special character.
func leaks(s string) bool { return strings.Contains(s, "s3cr3t") || strings.Contains(s, "pa55wd") }

func TestPasswordsNeverPrinted(t *testing.T) {
	texts := []string{
		"a via socks5://user:%[1]s@gw:1080",
		"a => b via direct, http://user:%[1]s@gw:3128 # comment",
		"a via socks5://user:%[1]s@gw:1080,direct; b deny",
		"a via socks5://user:%[1]s@gw:1080 x",
		"a via socks5://user:%[1]s@gw:1080, socks5://user:%[1]s@gw:1080",
		"a via socks5://user:%[1]s@[gw",
		"a via socks5://user:%[1]s@gw:1080 => b",
		"a socks5://user:%[1]s@gw:1080",
		"a => b socks5://user:%[1]s@gw:1080",
		"a deny socks5://user:%[1]s@gw:1080",
		"a => socks5://user:%[1]s@gw:1080",
		"socks5://user:%[1]s@gw:1080 => b",
		"a via ssh://user:%[1]s@bastion:22?key=/k",
	}
	for _, special := range passwordSpecials {
		password := "s3cr3t" + special + "pa55wd"
		for _, format := range texts {
			text := fmt.Sprintf(format, password)
			var shown []string
			rules, err := rewrite.Parse("rules", text)
			if err != nil {
				shown = append(shown, err.Error())
			}
			for i := range rules {
				shown = append(shown, rules[i].String(), fmt.Sprint(rules[i].Routes))
				// Built by hand with each route twice, so that Compile's
				// error quotes a route.
				r := rewrite.Rule{Pattern: rules[i].Pattern, Target: rules[i].Target, Deny: rules[i].Deny}
				for _, rt := range rules[i].Routes {
					r.Routes = append(r.Routes, rewrite.RouteRef{Name: rt.Name}, rewrite.RouteRef{Name: rt.Name})
				}
				if _, err := rewrite.Compile([]rewrite.Rule{r}); err != nil {
					shown = append(shown, err.Error())
				}
			}
			for _, s := range shown {
				if leaks(s) {
					t.Errorf("%q shows the password: %s", text, s)
				}
			}
		}
		list := fmt.Sprintf("socks5://user:%s@gw:1080, direct", password)
		for _, s := range append(rewrite.SplitRouteList(list), rewrite.RedactRouteList(list)) {
			if s = (rewrite.RouteRef{Name: s}).String(); leaks(s) {
				t.Errorf("route list %q shows the password: %s", list, s)
			}
		}
		// By hand: a password in a target or pattern is hidden too, and so
		// is one cut short (unless at an "@": that is a whole URL).
		hand := []rewrite.Rule{
			{Pattern: "a", Target: "socks5://user:" + password + "@gw:1080"},
			{Pattern: "socks5://user:" + password + "@gw:1080", Target: "b"},
		}
		if special != "@" {
			hand = append(hand, rewrite.Rule{Pattern: "a", Routes: []rewrite.RouteRef{{Name: "socks5://user:" + password}}})
		}
		for _, r := range hand {
			_, err := rewrite.Compile([]rewrite.Rule{r})
			if err == nil || leaks(err.Error()) || leaks(r.String()) {
				t.Errorf("%q: %v; %s", password, err, r.String())
			}
		}
	}
}

func TestRouteLists(t *testing.T) {
	for _, tt := range []struct {
		list     string
		split    []string
		redacted string
	}{
		{"direct", []string{"direct"}, "direct"},
		{"", []string{""}, ""},
		{"a, b,", []string{"a", "b", ""}, "a, b,"},
		{" socks5://u:p,ss@h:1080 , direct", []string{"socks5://u:p,ss@h:1080", "direct"}, " socks5://u:xxxxx@h:1080 , direct"},
		{"socks5://gw:1080,http://u:p@proxy:3128", []string{"socks5://gw:1080", "http://u:p@proxy:3128"}, "socks5://gw:1080,http://u:xxxxx@proxy:3128"},
		// Split naively, the first half does not parse: all after ":" is hidden.
		{"socks5://u:p", []string{"socks5://u:p"}, "socks5://u:xxxxx"},
	} {
		equal(t, rewrite.SplitRouteList(tt.list), tt.split, tt.list)
		equal(t, rewrite.RedactRouteList(tt.list), tt.redacted, tt.list)
	}
}

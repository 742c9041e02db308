package rewrite_test

import (
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

func TestCheckRouteName(t *testing.T) {
	for _, name := range []string{"k8s", "tail-net_1", "port.forward", "gw:1080", "Ω"} {
		if err := rewrite.CheckRouteName(name); err != nil {
			t.Errorf("CheckRouteName(%q) = %v, want nil", name, err)
		}
	}
	for name, want := range map[string]string{
		"":               "empty route name",
		"via":            `keyword "via"`,
		"deny":           `keyword "deny"`,
		"a b":            `unexpected " "`,
		"a,b":            `unexpected ","`,
		"a;b":            `unexpected ";"`,
		"a#b":            `unexpected "#"`,
		"a=>b":           `unexpected "=>"`,
		"a\nb":           `unexpected "\n"`,
		"socks5://u:p@h": `looks like a URL`,
	} {
		err := rewrite.CheckRouteName(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckRouteName(%q) = %v, want an error containing %q", name, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p") {
			t.Errorf("CheckRouteName(%q) shows the password: %v", name, err)
		}
	}
}

// A name is accepted exactly when a rule can use it: "x via NAME" parses
// to one route named NAME.
func FuzzCheckRouteName(f *testing.F) {
	for _, s := range []string{"k8s", "a b", "via", "a=>b", "a{b}", "a}", "x#", "gw:1080", "socks5://h:1", "é", "a\tb", "{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := rewrite.CheckRouteName(name)
		rules, perr := rewrite.Parse("rules", "x via "+name)
		usable := perr == nil && len(rules) == 1 && len(rules[0].Routes) == 1 && rules[0].Routes[0].Name == name && !strings.Contains(name, "://")
		if (err == nil) != usable {
			t.Fatalf("CheckRouteName(%q) = %v, but a rule using it: %v, %+v", name, err, perr, rules)
		}
	})
}

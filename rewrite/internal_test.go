package rewrite

import (
	"reflect"
	"testing"
)

// TestIndexKeepsLowestRule checks what the maps hold: the first rule per
// key, with every other kind of rule in the ordered linear list.
func TestIndexKeepsLowestRule(t *testing.T) {
	rules, err := Parse("rules", `
		a:1 => x        # 0
		a:1 => y        # 1: shadowed by 0
		A:1 => z        # 2: same key in lower case
		*.b => w        # 3
		*.B => v        # 4: shadowed by 3
		*.b:2 => u      # 5
		c => t          # 6
		[::1]:3 => s    # 7
		[0::1]:3 => r   # 8: same address
		~d:1 => q       # 9
		e{n}:1 => p     # 10
		* deny          # 11
		[fd00::1] => o  # 12
	`)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		got, want any
	}{
		{tab.exact, map[string]int32{"a:1": 0, "[::1]:3": 7}},
		{tab.host, map[string]int32{"c": 6, "[fd00::1]": 12}},
		{tab.wild, map[string]int32{"b": 3}},
		{tab.wildPort, map[string]int32{"b:2": 5}},
		{tab.linear, []int32{9, 10, 11}},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("got %v, want %v", tt.got, tt.want)
		}
	}
}

func TestLabelMatch(t *testing.T) {
	var p pattern
	for _, tt := range []struct {
		label, s string
		want     []int // spans of slots 0.., nil for no match
	}{
		{"{a}", "xyz", []int{0, 3}},
		{"{a}", "", nil},
		{"p{a}", "p", nil},
		{"p{a}", "pq", []int{1, 2}},
		{"{a}s", "qs", []int{0, 1}},
		{"{a}s", "s", nil},
		{"p{a}-{b}s", "px-y-zs", []int{1, 2, 3, 6}},
		{"p{a}-{b}s", "p-ys", nil},
		{"p{a}-{b}s", "px-s", nil},
		{"p{a}-{b}s", "px--s", []int{1, 2, 3, 4}},
		{"{a}ab{b}", "xabab", []int{0, 1, 3, 5}},
		{"{a}ab{b}", "abab", nil},
		{"{a}ab{b}", "aabab", []int{0, 1, 3, 5}},
		{"{a}-{b}-{c}", "1-2-3-4", []int{0, 1, 2, 3, 4, 7}},
		{"{a}-{b}-{c}", "1--3", nil},
	} {
		p.slots = nil
		lt, e := p.compileLabel(tt.label, 0, false)
		if e != nil {
			t.Fatalf("%s: %s", tt.label, e.msg)
		}
		sp := make([]int, 2*maxPlaceholders)
		ok := lt.match(tt.s, 0, sp)
		if ok != (tt.want != nil) || ok && !reflect.DeepEqual(sp[:len(tt.want)], tt.want) {
			t.Errorf("%s on %q: ok=%v spans=%v, want %v", tt.label, tt.s, ok, sp[:2*len(lt.slots)], tt.want)
		}
	}
}

func TestRedactRoute(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"direct", "direct"},
		{"socks5://gw:1080", "socks5://gw:1080"},
		{"socks5://u@gw:1080", "socks5://u@gw:1080"},
		{"socks5://u:p@gw:1080", "socks5://u:xxxxx@gw:1080"},
		{"socks5://u:p/a?b#c@gw", "socks5://u:xxxxx@gw"},
		{"socks5://u:p@q@gw", "socks5://u:xxxxx@gw"},
		{"SOCKS5://u:p@gw:1080/x?y", "SOCKS5://u:xxxxx@gw:1080/x?y"},
		{"socks5://u:1/ss@gw:1080", "socks5://u:xxxxx@gw:1080"},
		// Cut short inside the password: hide all after the ":".
		{"socks5://u:p", "socks5://u:xxxxx"},
		{"socks5://gw:1080", "socks5://gw:1080"},
		{"socks5://[::1]:1080", "socks5://[::1]:1080"},
		{"ssh://bastion:22?key=/a@b", "ssh://bastion:xxxxx@b"},
	} {
		if got := redactRoute(tt.in); got != tt.want {
			t.Errorf("redactRoute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCompileOnce checks that Compile reuses what Parse compiled, and
// compiles again a copy whose text changed.
func TestCompileOnce(t *testing.T) {
	rules, err := Parse("rules", `~b(\d+)\.x:1 => gw:{1}
		a via socks5://gw:1080`)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if tab.cr[0].pat.re != rules[0].c.pat.re || tab.cr[0].tgt != rules[0].c.tgt {
		t.Errorf("Compile compiled a parsed rule again")
	}
	// The table's rules do not keep the compiled form, which the table
	// holds for matching; changing one of Rules changes no table.
	again := tab.Rules()
	if again[0].c != nil || tab.rules[0].c != nil {
		t.Errorf("a table's rules keep their compiled form")
	}
	tab2, err := Compile(again)
	if err != nil {
		t.Fatal(err)
	}
	again[0].Pattern = "~c:1"
	if m, ok, _ := tab2.Match("b7.x:1"); !ok || m.Target != "gw:7" || tab2.Rules()[0].Pattern != `~b(\d+)\.x:1` {
		t.Errorf("changing a rule of Rules changed the table: %v %v", m, ok)
	}

	// A changed copy is compiled from its new text.
	changed := rules[0]
	changed.Pattern = `~c(\d+)\.x:1`
	tab3, err := Compile([]Rule{changed})
	if err != nil {
		t.Fatal(err)
	}
	if tab3.cr[0].pat.re == rules[0].c.pat.re {
		t.Errorf("Compile reused the compiled form of a changed rule")
	}
	if m, ok, _ := tab3.Match("c7.x:1"); !ok || m.Target != "gw:7" {
		t.Errorf("changed rule: Match = %v, %v", m, ok)
	}
	changed.Target = "gw:{2}"
	if _, err := Compile([]Rule{changed}); err == nil {
		t.Errorf("Compile accepted a changed target that refers to no group")
	}
	// So is one whose Routes were edited in place, which copies share.
	rules[1].Routes[0].Name = "socks5://[gw"
	if _, err := Compile(rules); err == nil {
		t.Errorf("Compile accepted a route edited in place")
	}
	rules[1].Routes = nil
	if _, err := Compile(rules); err == nil {
		t.Errorf("Compile accepted a rule whose routes were removed")
	}
	rules[1].Deny = true
	if _, err := Compile(rules); err != nil {
		t.Errorf("Compile rejected a rule changed into a deny rule: %v", err)
	}
}

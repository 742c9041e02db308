package rewrite_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

// benchRule returns rule i of a table of the given kind, and an address
// that rule (and no earlier one) matches.
func benchRule(kind string, i int) (rule, addr string) {
	switch kind {
	case "exact":
		return fmt.Sprintf("b%d.c%d.example.com:9092 => 10.0.%d.%d:9092", i, i, i/256%256, i%256),
			fmt.Sprintf("b%d.c%d.example.com:9092", i, i)
	case "wildcard":
		return fmt.Sprintf("*.c%d.example.com => 10.0.%d.%d:9093", i, i/256%256, i%256),
			fmt.Sprintf("b1.c%d.example.com:9092", i)
	case "placeholder":
		return fmt.Sprintf("b{id}.c%d.example.com:{p} => 10.0.%d.{id}:{p}", i, i%256),
			fmt.Sprintf("b7.c%d.example.com:9092", i)
	case "regex":
		// Distinct literal prefixes, as real regex rules have: Match skips a
		// regex whose literal prefix the address lacks without running it.
		return fmt.Sprintf(`~c%d\.b(\d+)\.example\.com:(\d+) => 10.0.%d.{1}:{2}`, i, i%256),
			fmt.Sprintf("c%d.b7.example.com:9092", i)
	}
	panic("unknown kind " + kind)
}

var kinds = []string{"exact", "wildcard", "placeholder", "regex"}

// benchTable builds n rules of kind ("mix" cycles through all kinds) and
// returns the address the last rule matches.
func benchTable(b *testing.B, kind string, n int) (*rewrite.Table, string) {
	b.Helper()
	var sb strings.Builder
	var last string
	for i := range n {
		k := kind
		if kind == "mix" {
			k = kinds[i%len(kinds)]
		}
		rule, addr := benchRule(k, i)
		sb.WriteString(rule)
		sb.WriteByte('\n')
		last = addr
	}
	return table(b, sb.String()), last
}

// BenchmarkMatch reports Match on tables of 10, 1k and 100k rules of each
// kind; "hit" matches the last rule (the worst case for rules scanned in
// order) and "miss" matches none. Exact and wildcard hits should not depend
// on the table size.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		for _, kind := range append(kinds[:len(kinds):len(kinds)], "mix") {
			b.Run(fmt.Sprintf("%d/%s", n, kind), func(b *testing.B) {
				tab, hit := benchTable(b, kind, n)
				for _, c := range []struct{ name, addr string }{
					{"hit", hit},
					{"miss", "nothing.example.org:9092"},
				} {
					b.Run(c.name, func(b *testing.B) {
						want := c.name == "hit"
						b.ReportAllocs()
						for b.Loop() {
							if _, ok, err := tab.Match(c.addr); ok != want || err != nil {
								b.Fatalf("Match(%q) = %v, %v", c.addr, ok, err)
							}
						}
					})
				}
			})
		}
	}
}

// BenchmarkCompile100k reports Compile of 100k mixed rules (Parse excluded).
func BenchmarkCompile100k(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		rule, _ := benchRule(kinds[i%len(kinds)], i)
		sb.WriteString(rule)
		sb.WriteByte('\n')
	}
	rules, err := rewrite.Parse("rules", sb.String())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rewrite.Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

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

// maxCompiles bounds b.N for the benchmarks that compile 100k parsed rules.
// One op takes tens of milliseconds, so a fixed iteration count meant for
// BenchmarkMatch (-benchtime 2000x) would run for minutes: above it they
// skip, asking for an explicit small count.
const maxCompiles = 200

// BenchmarkCompile100k reports Compile of 100k mixed rules (Parse excluded,
// and with it the compiling of each rule, which Parse does once for both).
// It skips above maxCompiles iterations.
func BenchmarkCompile100k(b *testing.B) {
	if b.N > maxCompiles {
		b.Skipf("%d compiles of 100k rules would take minutes; run -bench Compile100k -benchtime 5x", b.N)
	}
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
	b.ResetTimer()
	// A b.N loop rather than b.Loop, so that b.N is known before the work.
	for range b.N {
		if _, err := rewrite.Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndCompile100k reports Parse then Compile of 100k mixed
// rules, what loading a rules file costs. One op takes about a second: it
// skips above 50 iterations.
func BenchmarkParseAndCompile100k(b *testing.B) {
	if b.N > 50 {
		b.Skipf("%d parses of 100k rules would take minutes; run -bench ParseAndCompile100k -benchtime 5x", b.N)
	}
	var sb strings.Builder
	for i := range 100_000 {
		rule, _ := benchRule(kinds[i%len(kinds)], i)
		sb.WriteString(rule)
		sb.WriteByte('\n')
	}
	text := sb.String()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rules, err := rewrite.Parse("rules", text)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rewrite.Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileByKind reports Compile of 100k rules of a single kind
// (Parse excluded), to show which kind dominates BenchmarkCompile100k. Like
// it, it skips above maxCompiles iterations.
func BenchmarkCompileByKind(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			if b.N > maxCompiles {
				b.Skipf("%d compiles of 100k rules would take minutes; run -bench CompileByKind -benchtime 5x", b.N)
			}
			var sb strings.Builder
			for i := range 100_000 {
				rule, _ := benchRule(kind, i)
				sb.WriteString(rule)
				sb.WriteByte('\n')
			}
			rules, err := rewrite.Parse("rules", sb.String())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := rewrite.Compile(rules); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchRealistic reports Match on a table shaped like a large
// deployment: 100k exact rules (one per broker of many clusters), then 1k
// wildcard rules, then a few placeholder and regex rules and a catch-all
// route. Specific rules come first, as first-match order requires, so an
// exact hit never scans the patterns below it.
func BenchmarkMatchRealistic(b *testing.B) {
	var sb strings.Builder
	add := func(kind string, from, to int) {
		for i := from; i < to; i++ {
			rule, _ := benchRule(kind, i)
			sb.WriteString(rule)
			sb.WriteByte('\n')
		}
	}
	// Distinct numbers per kind, so that each address below matches only
	// the rule of its kind (and the catch-all).
	add("exact", 0, 100_000)
	add("wildcard", 100_000, 101_000)
	add("placeholder", 200_000, 200_010)
	add("regex", 300_000, 300_010)
	sb.WriteString("* via socks5://127.0.0.1:1080\n")
	tab := table(b, sb.String())
	for _, c := range []struct{ name, addr string }{
		{"exact", "b50000.c50000.example.com:9092"},
		{"wildcard", "b1.c100500.example.com:9092"},
		{"placeholder", "b7.c200005.example.com:9092"},
		{"regex", "c300005.b7.example.com:9092"},
		{"catch-all", "nothing.example.org:9092"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := tab.Match(c.addr); !ok || err != nil {
					b.Fatalf("Match(%q) = %v, %v", c.addr, ok, err)
				}
			}
		})
	}
}

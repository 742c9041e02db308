package netns

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is an iptables rule added to a namespace, removable with Delete.
type Rule struct {
	ns, table, chain string
	spec             []string
}

// Insert puts a rule at the top of chain (iptables -I) in namespace ns.
func Insert(ns, table, chain string, spec ...string) (*Rule, error) {
	r := &Rule{ns: ns, table: table, chain: chain, spec: spec}
	if _, err := InNS(ns, "iptables", append([]string{"-w", "-t", table, "-I", chain}, spec...)...); err != nil {
		return nil, err
	}
	return r, nil
}

// Append adds a rule at the end of chain (iptables -A) in namespace ns.
func Append(ns, table, chain string, spec ...string) (*Rule, error) {
	r := &Rule{ns: ns, table: table, chain: chain, spec: spec}
	if _, err := InNS(ns, "iptables", append([]string{"-w", "-t", table, "-A", chain}, spec...)...); err != nil {
		return nil, err
	}
	return r, nil
}

// Delete removes the rule.
func (r *Rule) Delete() error {
	_, err := InNS(r.ns, "iptables", append([]string{"-w", "-t", r.table, "-D", r.chain}, r.spec...)...)
	return err
}

// String is the rule as iptables would be told to add it.
func (r *Rule) String() string {
	return fmt.Sprintf("-t %s -A %s %s (in %s)", r.table, r.chain, strings.Join(r.spec, " "), r.ns)
}

// Counted is the spec fragment that tags a rule with name, so that
// Counters can find its packet count.
func Counted(name string) []string { return []string{"-m", "comment", "--comment", name} }

// Counters returns the packet count of every rule of table in namespace
// ns that Counted tagged, by tag (rules sharing a tag add up).
func Counters(ns, table string) (map[string]uint64, error) {
	out, err := InNS(ns, "iptables-save", "-c", "-t", table)
	if err != nil {
		return nil, err
	}
	return ParseCounters(out)
}

// ParseCounters reads the output of "iptables-save -c": rule lines start
// with "[packets:bytes]", and a tag is the word after "--comment"
// (iptables-save quotes it only when it holds spaces, which Counted tags
// need not).
func ParseCounters(text string) (map[string]uint64, error) {
	counts := map[string]uint64{}
	for i, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return nil, fmt.Errorf("line %d: %q: no closing ]", i+1, line)
		}
		pkts, _, ok := strings.Cut(line[1:end], ":")
		n, err := strconv.ParseUint(pkts, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("line %d: %q: counters are not [packets:bytes]", i+1, line)
		}
		f := strings.Fields(line[end+1:])
		for j := 0; j+1 < len(f); j++ {
			if f[j] == "--comment" {
				counts[strings.Trim(f[j+1], `"`)] += n
				break
			}
		}
	}
	return counts, nil
}

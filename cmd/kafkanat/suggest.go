package main

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// suggestion is one alternative way to cover addresses with rules.
type suggestion struct {
	Comment string   // what the rules assume, for a "#" line
	Rules   []string // rule lines; upper-case words are to be replaced
}

// suggestRules proposes rules for addrs, the addresses no rule matched:
// always one line per address, and for addresses sharing a domain the
// wildcard forms that fit them.
func suggestRules(addrs []string) []suggestion {
	if len(addrs) == 0 {
		return nil
	}
	perAddr := suggestion{Comment: "One rule per broker (a tunnel or load-balancer port each):"}
	type group struct {
		domain string
		labels []string // first labels, lowercased
		ports  []string
	}
	var groups []*group
	byDomain := map[string]*group{}
	for _, a := range addrs {
		perAddr.Rules = append(perAddr.Rules, a+" => HOST:PORT")
		host, port, err := net.SplitHostPort(a)
		if err != nil || net.ParseIP(host) != nil {
			continue
		}
		label, domain, ok := strings.Cut(strings.ToLower(host), ".")
		if !ok || label == "" || domain == "" || strings.HasSuffix(domain, ".") {
			continue
		}
		g := byDomain[domain]
		if g == nil {
			g = &group{domain: domain}
			byDomain[domain] = g
			groups = append(groups, g)
		}
		g.labels = append(g.labels, label)
		g.ports = append(g.ports, port)
	}

	out := []suggestion{perAddr}
	for _, g := range groups {
		if len(g.labels) > 1 && distinct(g.ports) {
			out = append(out, suggestion{
				Comment: fmt.Sprintf("Or one endpoint for *.%s that keeps each broker's port (their ports differ):", g.domain),
				Rules:   []string{"*." + g.domain + " => HOST"},
			})
		}
		if prefix, ok := numbered(g.labels); ok && len(g.labels) > 1 && same(g.ports) {
			out = append(out, suggestion{
				Comment: "Or one port per broker computed from its number (consecutive ports such as NodePorts BASE, BASE+1, ...):",
				Rules:   []string{fmt.Sprintf("%s{n}.%s:%s => HOST:{BASE+n}", prefix, g.domain, g.ports[0])},
			})
		}
		out = append(out, suggestion{
			Comment: fmt.Sprintf("Or a SOCKS5 gateway inside the brokers' network that resolves *.%s:", g.domain),
			Rules:   []string{"*." + g.domain + " via socks5://GATEWAY:1080"},
		})
	}
	return out
}

// numbered reports whether every label is one prefix followed by a
// decimal number, and returns the prefix.
func numbered(labels []string) (string, bool) {
	prefix := ""
	for i, l := range labels {
		p := strings.TrimRight(l, "0123456789")
		if p == "" || p == l || (i > 0 && p != prefix) {
			return "", false
		}
		prefix = p
	}
	return prefix, true
}

func distinct(ss []string) bool {
	seen := map[string]bool{}
	for _, s := range ss {
		if seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

func same(ss []string) bool {
	for _, s := range ss {
		if s != ss[0] {
			return false
		}
	}
	return true
}

// writeSuggestions prints sugg as rule text that can be pasted into a
// rules file.
func writeSuggestions(w io.Writer, sugg []suggestion) {
	if len(sugg) == 0 {
		fmt.Fprintln(w, "# Every address matched a rule: nothing to suggest.")
		return
	}
	n := len(sugg[0].Rules)
	fmt.Fprintf(w, "# Rules for the %d %s no rule matched. Pick one alternative and replace\n# the upper-case words with what this machine can reach.\n",
		n, plural(n, "address", "addresses"))
	for _, s := range sugg {
		fmt.Fprintf(w, "# %s\n", s.Comment)
		for _, r := range s.Rules {
			fmt.Fprintln(w, r)
		}
	}
}

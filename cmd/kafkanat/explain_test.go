package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExplain(t *testing.T) {
	rules := `
b{n}.abc.us-west1.example.com:{p} => 10.128.0.5:{p}
kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
*.svc.cluster.local via socks5://app:hunter2@gateway.invalid:1080
node1:9092 => proxy.invalid:7092
*.blocked.invalid deny
`
	status, out, errOut := kn(t, "explain",
		"b2.abc.us-west1.example.com:9094",
		"kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9092",
		"other.ns.svc.cluster.local:9092",
		"--rules", rules, // flags may follow addresses
		"node1:9092",
		"x.blocked.invalid:9092",
		"elsewhere.invalid:9092",
		"[::1]:9092",
	)
	require.Equal(t, exitOK, status)
	require.Empty(t, errOut)
	require.Equal(t, []string{
		"b2.abc.us-west1.example.com:9094 => 10.128.0.5:9094 via direct (rule 1: b{n}.abc.us-west1.example.com:{p} => 10.128.0.5:{p})",
		"kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:31092 via direct (rule 2: kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n})",
		"other.ns.svc.cluster.local:9092 via socks5://app:xxxxx@gateway.invalid:1080 (rule 3: *.svc.cluster.local via socks5://app:xxxxx@gateway.invalid:1080)",
		"node1:9092 => proxy.invalid:7092 via direct (rule 4: node1:9092 => proxy.invalid:7092)",
		"x.blocked.invalid:9092: refused by rule 5 (*.blocked.invalid deny)",
		"elsewhere.invalid:9092: no rule: dialed directly",
		"[::1]:9092: no rule: dialed directly",
	}, lines(out))
	require.NotContains(t, out, "hunter2")
}

func TestExplainViaAndStrict(t *testing.T) {
	status, out, _ := kn(t, "explain", "--via", "socks5://gw.invalid:1080, direct", "a.invalid:9092")
	require.Equal(t, exitOK, status)
	require.Equal(t, "a.invalid:9092: no rule: dialed via socks5://gw.invalid:1080, direct\n", out)

	status, out, _ = kn(t, "explain", "--strict", "--rules", "a.invalid:9092 => 127.0.0.1:9092", "a.invalid:9092", "b.invalid:9092")
	require.Equal(t, exitOK, status)
	require.Equal(t, "a.invalid:9092 => 127.0.0.1:9092 via direct (rule 1: a.invalid:9092 => 127.0.0.1:9092)\nb.invalid:9092: no rule: refused (strict)\n", out)

	// Everything after "--" is an address.
	status, out, _ = kn(t, "explain", "--rules", "a.invalid => 127.0.0.1", "--", "a.invalid:1")
	require.Equal(t, exitOK, status)
	require.Equal(t, "a.invalid:1 => 127.0.0.1:1 via direct (rule 1: a.invalid => 127.0.0.1)\n", out)
}

func TestExplainErrors(t *testing.T) {
	status, out, errOut := kn(t, "explain", "a:1", "--rules", "a:1 => b:2\n  ~(unclosed => x")
	require.Equal(t, exitUsage, status)
	require.Empty(t, out)
	require.True(t, strings.HasPrefix(errOut, "kafkanat explain: rules line 2, column 4: invalid regex"), errOut)

	status, out, errOut = kn(t, "explain", "--rules", "a => b")
	require.Equal(t, exitUsage, status)
	require.Empty(t, out)
	require.Equal(t, "kafkanat explain: no address given\nrun 'kafkanat explain -h' for usage\n", errOut)

	// A malformed address: the others are still explained.
	status, out, errOut = kn(t, "explain", "no-port", "ok.invalid:9092")
	require.Equal(t, exitUsage, status)
	require.Equal(t, "ok.invalid:9092: no rule: dialed directly\n", out)
	require.True(t, strings.HasPrefix(errOut, "kafkanat explain: no-port: "), errOut)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		status, out, errOut := kn(t, args...)
		require.Equal(t, exitOK, status)
		require.Equal(t, usage, out)
		require.Empty(t, errOut)
	}
	for _, args := range [][]string{{"probe", "-h"}, {"help", "probe"}} {
		status, out, _ := kn(t, args...)
		require.Equal(t, exitOK, status)
		require.True(t, strings.HasPrefix(out, probeUsage))
		require.Contains(t, out, "-sasl-password-env VARIABLE")
	}
	status, out, _ := kn(t, "help", "explain")
	require.Equal(t, exitOK, status)
	require.True(t, strings.HasPrefix(out, explainUsage))

	status, out, errOut := kn(t)
	require.Equal(t, exitUsage, status)
	require.Empty(t, out)
	require.Equal(t, usage, errOut)

	status, out, errOut = kn(t, "prob")
	require.Equal(t, exitUsage, status)
	require.Empty(t, out)
	require.Equal(t, "kafkanat: unknown command \"prob\"\n\n"+usage, errOut)

	status, _, errOut = kn(t, "help", "nope")
	require.Equal(t, exitUsage, status)
	require.True(t, strings.HasPrefix(errOut, `kafkanat help: unknown command "nope"`))
}

// The example in explain's usage text is what explain prints.
func TestExplainUsageExample(t *testing.T) {
	status, out, _ := kn(t, "explain", "b1.abc.example.com:9093", "other:9092", "--rules", "*.abc.example.com => 10.0.0.5")
	require.Equal(t, exitOK, status)
	for _, l := range lines(out) {
		require.Contains(t, explainUsage, "\n    "+l+"\n")
	}
}

func TestExplainJSON(t *testing.T) {
	rules := "b{n}.abc.invalid:{p} => 10.128.0.5:{p}\n*.gw.invalid via socks5://app:hunter2@gateway.invalid:1080, ssh://app:pw@bastion.invalid:22?insecure_ignore_host_key=true\n*.blocked.invalid deny"
	status, out, errOut := kn(t, "explain", "--json", "--rules", rules,
		"b2.abc.invalid:9094", "x.gw.invalid:9092", "x.blocked.invalid:9092", "other.invalid:9092")
	require.Equal(t, exitOK, status)
	require.Empty(t, errOut)
	require.NotContains(t, out, "hunter2")
	var rep ExplainReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, ExplainReport{OK: true, Addresses: []AddressDecision{
		{Address: "b2.abc.invalid:9094", RuleDecision: RuleDecision{
			Decision: "b2.abc.invalid:9094 => 10.128.0.5:9094 via direct (rule 1: b{n}.abc.invalid:{p} => 10.128.0.5:{p})",
			Rule:     1, RuleText: "b{n}.abc.invalid:{p} => 10.128.0.5:{p}", Target: "10.128.0.5:9094", Routes: []string{"direct"}}},
		{Address: "x.gw.invalid:9092", RuleDecision: RuleDecision{
			Decision: "x.gw.invalid:9092 via socks5://app:xxxxx@gateway.invalid:1080, ssh://app:xxxxx@bastion.invalid:22 (rule 2: *.gw.invalid via socks5://app:xxxxx@gateway.invalid:1080, ssh://app:xxxxx@bastion.invalid:22?insecure_ignore_host_key=true)",
			Rule:     2, RuleText: "*.gw.invalid via socks5://app:xxxxx@gateway.invalid:1080, ssh://app:xxxxx@bastion.invalid:22?insecure_ignore_host_key=true",
			Target: "x.gw.invalid:9092", Routes: []string{"socks5://app:xxxxx@gateway.invalid:1080", "ssh://app:xxxxx@bastion.invalid:22"}}},
		{Address: "x.blocked.invalid:9092", RuleDecision: RuleDecision{
			Decision: "x.blocked.invalid:9092: refused by rule 3 (*.blocked.invalid deny)",
			Rule:     3, RuleText: "*.blocked.invalid deny", Routes: []string{}, Refused: true}},
		{Address: "other.invalid:9092", RuleDecision: RuleDecision{
			Decision: "other.invalid:9092: no rule: dialed directly", RuleText: "no rule matched", Target: "other.invalid:9092", Routes: []string{"direct"}}},
	}}, rep)

	// The field names are probe's.
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	keys := func(v any) []string { return slices.Sorted(maps.Keys(v.(map[string]any))) }
	require.Equal(t, []string{"addresses", "ok"}, keys(doc))
	require.Equal(t, []string{"address", "decision", "error", "refused", "routes", "rule", "rule_text", "target"}, keys(doc["addresses"].([]any)[0]))
	require.Contains(t, out, `"routes": []`, "a refused address has no route: an empty list, not null")

	// A malformed address: the others are still explained, and the document says why.
	status, out, errOut = kn(t, "explain", "--json", "no-port", "ok.invalid:9092")
	require.Equal(t, exitUsage, status)
	require.True(t, strings.HasPrefix(errOut, "kafkanat explain: no-port: "), errOut)
	rep = ExplainReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.OK)
	require.Len(t, rep.Addresses, 2)
	require.NotEmpty(t, rep.Addresses[0].Error)
	require.Equal(t, "ok.invalid:9092: no rule: dialed directly", rep.Addresses[1].Decision)
}

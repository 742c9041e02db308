package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

func TestProbeReachable(t *testing.T) {
	c := cluster(t)
	seed := c.Addrs()[0]
	status, out, errOut := kn(t, "probe", "--bootstrap", seed, "--rules", c.Rules())
	require.Equal(t, exitOK, status)
	require.Empty(t, errOut)
	got := lines(out)
	require.Equal(t, "bootstrap "+seed+": no rule: dialed directly", got[0])
	require.Regexp(t, `^  ok via direct: dial \S+, metadata \S+; cluster "kfake", controller \d, 3 brokers$`, got[1])
	requireStages(t, bootstrapStages(t, out), "tcp", "kafka")
	rows := table(t, out)
	require.Len(t, rows, 3)
	for i, r := range rows {
		adv, real := c.Advertised()[i], c.Addrs()[i]
		require.Equal(t, row{node: fmt.Sprint(i), advertised: adv, rule: fmt.Sprintf("%d: %s => %s", i+1, adv, real),
			target: real, route: "direct", status: "ok", dial: r.dial, rtt: r.rtt, stages: r.stages}, r)
		requireOK(t, r, "direct", "tcp", "kafka")
	}
	require.Equal(t, "3 of 3 brokers reachable", got[len(got)-1])
}

func TestProbePartiallyReachable(t *testing.T) {
	c := cluster(t)
	adv, real := c.Advertised(), c.Addrs()
	// Only broker 0 has a rule; the others advertise .invalid names that
	// no rule matches and that do not resolve.
	rules := adv[0] + " => " + real[0]
	status, out, errOut := kn(t, "probe", "--bootstrap", adv[0], "--rules", rules)
	require.Equal(t, exitUnreachable, status)
	require.Empty(t, errOut)

	rows := table(t, out)
	require.Len(t, rows, 3)
	requireOK(t, rows[0], "direct", "tcp", "kafka")
	require.Equal(t, "1: "+rules, rows[0].rule)
	for i := 1; i < 3; i++ {
		require.Equal(t, row{node: fmt.Sprint(i), advertised: adv[i], rule: "no rule", target: adv[i], route: "direct",
			status: "unreachable", dial: rows[i].dial, rtt: "-", stages: rows[i].stages}, rows[i])
		requireStages(t, rows[i].stages, "dns!")
	}
	got := lines(out)
	for i := 1; i < 3; i++ {
		host := strings.TrimSuffix(adv[i], ":9092")
		want := regexp.MustCompile("^" + regexp.QuoteMeta(fmt.Sprintf("node %d unreachable (name resolution): kafkanat: dial %s via direct (no rule matched): lookup %s", i, adv[i], host)) +
			".*" + regexp.QuoteMeta(fmt.Sprintf(`: no such host; %s could not be resolved here and no rule matched it: add a rule such as "%s => HOST:PORT" or "*.kafka.internal.invalid via socks5://GATEWAY:1080"`, host, adv[i])) + "$")
		require.True(t, slices.ContainsFunc(got, want.MatchString), "no line matching %s", want)
	}
	require.Equal(t, []string{"1 of 3 brokers reachable", "--suggest prints rules for the 2 addresses no rule matched"}, got[len(got)-2:])

	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--suggest")
	require.Equal(t, exitUnreachable, status)
	_, suggestions, ok := strings.Cut(out, "1 of 3 brokers reachable\n\n")
	require.True(t, ok)
	require.Equal(t, `# Rules for the 2 addresses no rule matched. Pick one alternative and replace
# the upper-case words with what this machine can reach.
# One rule per broker (a tunnel or load-balancer port each):
b1.kafka.internal.invalid:9092 => HOST:PORT
b2.kafka.internal.invalid:9092 => HOST:PORT
# Or one port per broker computed from its number (consecutive ports such as NodePorts BASE, BASE+1, ...):
b{n}.kafka.internal.invalid:9092 => HOST:{BASE+n}
# Or a SOCKS5 gateway inside the brokers' network that resolves *.kafka.internal.invalid:
*.kafka.internal.invalid via socks5://GATEWAY:1080
`, suggestions)

	// The suggestion, filled in, makes every broker reachable.
	gw, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer gw.Close()
	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", rules+"\n*.kafka.internal.invalid via "+gw.URL(), "--suggest")
	require.Equal(t, exitOK, status)
	require.True(t, strings.HasSuffix(out, "3 of 3 brokers reachable\n\n# Every address matched a rule: nothing to suggest.\n"), "output ends with %q", out[max(0, len(out)-120):])
	for _, r := range table(t, out)[1:] {
		requireOK(t, r, gw.URL(), "tcp", "proxy", "kafka")
	}
}

func TestProbeUnreachableBootstrap(t *testing.T) {
	seed := closedPort(t)
	status, out, errOut := kn(t, "probe", "--bootstrap", seed)
	require.Equal(t, exitUnreachable, status)
	require.Empty(t, errOut)
	got := lines(out)
	require.Len(t, got, 4)
	require.Equal(t, "bootstrap "+seed+": no rule: dialed directly", got[0])
	require.Equal(t, "  unreachable (TCP connect): kafkanat: dial "+seed+" via direct (no rule matched): connect: connection refused", got[1])
	requireStages(t, bootstrapStages(t, out), "tcp!")
	require.Equal(t, "--suggest prints rules for the 1 address no rule matched", got[3])

	// Refused by --strict: never dialed, so no stage.
	status, out, _ = kn(t, "probe", "--bootstrap", seed, "--strict", "--rules", "other.invalid:9092 => "+seed)
	require.Equal(t, exitUnreachable, status)
	require.Equal(t, []string{
		"bootstrap " + seed + ": no rule: refused (strict)",
		"  refused: kafkanat: dial " + seed + " (no rule matched): no route: no rule matches and the dialer is strict; add a rule for " + seed,
		"--suggest prints rules for the 1 address no rule matched",
	}, lines(out))
}

func TestProbeStrictRefusesUnmatchedBroker(t *testing.T) {
	c := cluster(t)
	adv, real := c.Advertised(), c.Addrs()
	rules := fmt.Sprintf("%s => %s; %s => %s", adv[0], real[0], adv[1], real[1])
	status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--strict")
	require.Equal(t, exitUnreachable, status)
	rows := table(t, out)
	requireOK(t, rows[0], "direct", "tcp", "kafka")
	requireOK(t, rows[1], "direct", "tcp", "kafka")
	require.Equal(t, row{"2", adv[2], "no rule", "-", "-", "refused", "-", "-", "-"}, rows[2])
	require.Contains(t, lines(out), "node 2 refused: kafkanat: dial "+adv[2]+" (no rule matched): no route: no rule matches and the dialer is strict; add a rule for "+adv[2])
}

func TestProbeBrokerTimesOut(t *testing.T) {
	c := cluster(t, kafkanattest.Brokers(2))
	// A listener that accepts connections (the kernel does) but never
	// answers: the dial succeeds, Kafka does not.
	blackhole, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer blackhole.Close()
	adv := c.Advertised()
	rules := fmt.Sprintf("%s => %s; %s => %s", adv[0], c.Addrs()[0], adv[1], blackhole.Addr())
	status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--timeout", "1s")
	require.Equal(t, exitUnreachable, status)
	rows := table(t, out)
	requireOK(t, rows[0], "direct", "tcp", "kafka")
	require.Equal(t, "failed", rows[1].status)
	require.Regexp(t, duration, rows[1].dial)
	requireStages(t, rows[1].stages, "tcp", "kafka!")
	require.Contains(t, lines(out), fmt.Sprintf("node 1 failed (Kafka request): connected to %s via direct, but the Kafka exchange failed: no answer within 1s (--timeout)", blackhole.Addr()))
}

func TestProbeConfigErrors(t *testing.T) {
	badFile := filepath.Join(t.TempDir(), "bad.rules")
	require.NoError(t, os.WriteFile(badFile, []byte("# ok so far\nkafka:9092 => {x}:9092\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string // stderr's first line
	}{
		{"bad rules", []string{"--bootstrap", "kafka:9092", "--rules", "a:1 => b:2\nfoo => {x}"},
			"kafkanat probe: rules line 2, column 9: "},
		{"bad rules file", []string{"--bootstrap", "kafka:9092", "--rules-file", badFile},
			"kafkanat probe: " + badFile + " line 2, column "},
		{"missing rules file", []string{"--bootstrap", "kafka:9092", "--rules-file", badFile + ".missing"},
			"kafkanat probe: --rules-file: open " + badFile + ".missing: no such file or directory"},
		{"rules and file", []string{"--bootstrap", "kafka:9092", "--rules", "a => b", "--rules-file", badFile},
			"kafkanat probe: give --rules or --rules-file, not both"},
		{"bad via", []string{"--bootstrap", "kafka:9092", "--via", "ftp://127.0.0.1:21"}, "kafkanat probe: Via("},
		{"empty via", []string{"--bootstrap", "kafka:9092", "--via", "direct,"}, `kafkanat probe: --via "direct,": empty route`},
		{"no bootstrap", nil, "kafkanat probe: --bootstrap HOST:PORT is required"},
		{"bad bootstrap", []string{"--bootstrap", "kafka"}, `kafkanat probe: --bootstrap "kafka": want HOST:PORT`},
		{"positional", []string{"--bootstrap", "kafka:9092", "extra"}, `kafkanat probe: unexpected argument "extra" (give the bootstrap address with --bootstrap)`},
		{"unknown flag", []string{"--bootstrap", "kafka:9092", "--nope"}, "flag provided but not defined: -nope"},
		{"bad timeout", []string{"--bootstrap", "kafka:9092", "--timeout", "0s"}, "kafkanat probe: --timeout 0s: must be positive"},
		{"bad ca", []string{"--bootstrap", "kafka:9092", "--tls-ca", badFile}, "kafkanat probe: --tls-ca " + badFile + ": no PEM certificate found"},
		{"sasl without user", []string{"--bootstrap", "kafka:9092", "--sasl-mechanism", "PLAIN"}, "kafkanat probe: --sasl-mechanism needs --sasl-user"},
		{"sasl without env", []string{"--bootstrap", "kafka:9092", "--sasl-mechanism", "PLAIN", "--sasl-user", "u"},
			"kafkanat probe: --sasl-mechanism needs --sasl-password-env (the password is read from the environment only)"},
		{"sasl unset env", []string{"--bootstrap", "kafka:9092", "--sasl-mechanism", "PLAIN", "--sasl-user", "u", "--sasl-password-env", "KAFKANAT_TEST_UNSET"},
			"kafkanat probe: --sasl-password-env KAFKANAT_TEST_UNSET: the variable is not set or empty"},
		{"sasl user alone", []string{"--bootstrap", "kafka:9092", "--sasl-user", "u"}, "kafkanat probe: --sasl-user and --sasl-password-env need --sasl-mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, errOut := kn(t, append([]string{"probe"}, tc.args...)...)
			require.Equal(t, exitUsage, status)
			require.Empty(t, out)
			require.True(t, strings.HasPrefix(errOut, tc.want), "stderr %q does not start with %q", errOut, tc.want)
			require.NotContains(t, errOut, "kafkanat: ", "the command names itself once")
		})
	}
}

func TestProbeSASLMechanism(t *testing.T) {
	t.Setenv("KAFKANAT_TEST_PASSWORD", "pw")
	status, _, errOut := kn(t, "probe", "--bootstrap", "kafka:9092", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u", "--sasl-password-env", "KAFKANAT_TEST_PASSWORD")
	require.Equal(t, exitUsage, status)
	require.Equal(t, "kafkanat probe: --sasl-mechanism \"GSSAPI\": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512\n", errOut)
}

func TestProbeJSON(t *testing.T) {
	c := cluster(t)
	adv, real := c.Advertised(), c.Addrs()
	rules := adv[0] + " => " + real[0]
	status, out, errOut := kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--json", "--suggest")
	require.Equal(t, exitUnreachable, status)
	require.Empty(t, errOut)

	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.OK)
	require.Equal(t, 1, rep.Reachable)
	b := rep.Bootstrap
	require.Equal(t, adv[0], b.Address)
	require.Equal(t, fmt.Sprintf("%s => %s via direct (rule 1: %s)", adv[0], real[0], rules), b.Decision)
	require.Equal(t, RuleDecision{Decision: b.Decision, Rule: 1, RuleText: rules, Target: real[0], Routes: []string{"direct"}}, b.RuleDecision)
	require.Equal(t, "ok", b.Status)
	require.Equal(t, "direct", b.Route)
	require.Equal(t, "kfake", b.ClusterID)
	require.Positive(t, b.DialMS)
	require.Positive(t, b.MetadataMS)
	require.Len(t, rep.Brokers, 3)
	require.Empty(t, b.FailedStage)
	require.Equal(t, []string{"TCP connect", "Kafka request"}, stageNames(b.Stages))
	require.Equal(t, Stage{Stage: "TCP connect", Route: "direct", Address: real[0], MS: b.Stages[0].MS}, b.Stages[0])
	require.Equal(t, int32(0), rep.Brokers[0].NodeID)
	require.Equal(t, "ok", rep.Brokers[0].Status)
	require.Positive(t, rep.Brokers[0].RTTMS)
	require.Equal(t, Identity{Status: "verified", AnsweredAs: 0, Method: "DescribeConfigs"}, rep.Brokers[0].Identity)
	for i, br := range rep.Brokers[1:] {
		require.Equal(t, int32(i+1), br.NodeID)
		require.Equal(t, adv[i+1], br.Advertised)
		require.Equal(t, "unreachable", br.Status)
		require.Equal(t, "name resolution", br.FailedStage)
		require.Equal(t, "no rule matched", br.RuleText)
		require.Contains(t, br.Error, "could not be resolved here and no rule matched it")
		require.Len(t, br.Stages, 1)
		require.Equal(t, adv[i+1], br.Stages[0].Address)
		require.Equal(t, "direct", br.Stages[0].Route)
		require.Contains(t, br.Stages[0].Error, "no such host")
		require.Zero(t, br.RTTMS)
		require.Equal(t, Identity{Status: "unchecked", AnsweredAs: -1}, br.Identity)
	}
	require.Equal(t, []string{
		"b1.kafka.internal.invalid:9092 => HOST:PORT",
		"b2.kafka.internal.invalid:9092 => HOST:PORT",
		"b{n}.kafka.internal.invalid:9092 => HOST:{BASE+n}",
		"*.kafka.internal.invalid via socks5://GATEWAY:1080",
	}, rep.SuggestedRules)
	require.Contains(t, out, `"rule_text": "`+rules+`"`, "rules are not HTML-escaped")

	// The field names are the documented, stable ones.
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	keys := func(v any) []string { return slices.Sorted(maps.Keys(v.(map[string]any))) }
	require.Equal(t, []string{"bootstrap", "brokers", "ok", "reachable", "suggested_rules"}, keys(doc))
	decision := []string{"decision", "rule", "rule_text", "target", "routes", "refused", "route", "status", "error", "failed_stage", "dial_ms", "stages"}
	require.ElementsMatch(t, append(decision, "address", "metadata_ms", "cluster_id", "controller_id"), keys(doc["bootstrap"]))
	broker := doc["brokers"].([]any)[0]
	require.ElementsMatch(t, append(decision, "node_id", "rack", "advertised", "rtt_ms", "identity"), keys(broker))
	require.Equal(t, []string{"answered_as", "method", "status"}, keys(broker.(map[string]any)["identity"]))
	stage := broker.(map[string]any)["stages"].([]any)
	require.Equal(t, []string{"address", "ms", "route", "stage"}, keys(stage[0]), "a dial stage")
	require.Equal(t, []string{"ms", "stage"}, keys(stage[len(stage)-1]), "the Kafka stage")
	failed := doc["brokers"].([]any)[1].(map[string]any)["stages"].([]any)
	require.Equal(t, []string{"address", "error", "ms", "route", "stage"}, keys(failed[0]), "a failed stage")

	// suggested_rules is an array, with --suggest or without, empty when
	// there is nothing to suggest: never null.
	for _, args := range [][]string{{"--json"}, {"--json", "--suggest"}} {
		status, out, _ = kn(t, append([]string{"probe", "--bootstrap", real[0], "--rules", c.Rules()}, args...)...)
		require.Equal(t, exitOK, status)
		require.Contains(t, out, `"suggested_rules": []`)
		require.Contains(t, out, `"ok": true`)
	}
	_, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--json")
	rep = Report{}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.SuggestedRules, 4, "suggestions without --suggest too")

	// An unreachable bootstrap: no brokers, an empty list.
	seed := closedPort(t)
	status, out, _ = kn(t, "probe", "--bootstrap", seed, "--json")
	require.Equal(t, exitUnreachable, status)
	rep = Report{}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "unreachable", rep.Bootstrap.Status)
	require.Equal(t, "kafkanat: dial "+seed+" via direct (no rule matched): connect: connection refused", rep.Bootstrap.Error)
	require.Equal(t, "TCP connect", rep.Bootstrap.FailedStage)
	require.Equal(t, int32(-1), rep.Bootstrap.ControllerID)
	require.NotNil(t, rep.Brokers)
	require.Empty(t, rep.Brokers)

	// Refused: never dialed, no stage, an empty list.
	_, out, _ = kn(t, "probe", "--bootstrap", seed, "--strict", "--json")
	require.Contains(t, out, `"stages": []`)
	require.Contains(t, out, `"routes": []`)
}

// stageNames returns the names of stages, in order.
func stageNames(stages []Stage) []string {
	var out []string
	for _, s := range stages {
		out = append(out, s.Stage)
	}
	return out
}

func TestProbeSOCKS5Gateway(t *testing.T) {
	c := cluster(t)
	gw, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer gw.Close()
	adv := c.Advertised()

	t.Run("rule", func(t *testing.T) {
		rule := "*.kafka.internal.invalid via " + gw.URL()
		status, out, _ := kn(t, "probe", "--bootstrap", adv[1], "--rules", rule)
		require.Equal(t, exitOK, status)
		require.Equal(t, fmt.Sprintf("bootstrap %s via %s (rule 1: %s)", adv[1], gw.URL(), rule), lines(out)[0])
		for i, r := range table(t, out) {
			require.Equal(t, adv[i], r.advertised)
			require.Equal(t, "1: "+rule, r.rule)
			require.Equal(t, adv[i], r.target, "the name travels to the gateway unresolved")
			requireOK(t, r, gw.URL(), "tcp", "proxy", "kafka")
		}
		for _, a := range adv {
			require.Contains(t, gw.Targets(), a)
		}
	})
	t.Run("via with failover", func(t *testing.T) {
		dead := "socks5://" + closedPort(t)
		status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--via", dead+", "+gw.URL())
		require.Equal(t, exitOK, status)
		require.Equal(t, fmt.Sprintf("bootstrap %s: no rule: dialed via %s, %s", adv[0], dead, gw.URL()), lines(out)[0])
		require.True(t, strings.HasPrefix(lines(out)[1], "  ok via "+gw.URL()+": "), "the second route carried the bootstrap")
		// The first route's attempt failed to connect, the second's did.
		requireStages(t, bootstrapStages(t, out), "tcp!", "|", "tcp", "proxy", "kafka")
		for _, r := range table(t, out) {
			require.Equal(t, "no rule", r.rule)
			requireOK(t, r, gw.URL(), "tcp!", "|", "tcp", "proxy", "kafka")
		}
	})
	t.Run("credentials redacted", func(t *testing.T) {
		authGW, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised), kafkanattest.WithCredentials("app", "hunter2"))
		require.NoError(t, err)
		defer authGW.Close()
		redacted := "socks5://app:xxxxx@" + authGW.Addr()
		for _, args := range [][]string{{}, {"--json", "--suggest"}} {
			status, out, errOut := kn(t, append([]string{"probe", "--bootstrap", adv[0], "--via", authGW.URL()}, args...)...)
			require.Equal(t, exitOK, status)
			require.NotContains(t, out+errOut, "hunter2")
			require.Contains(t, out, redacted)
		}
		// A wrong password: the route names the user, never the password.
		wrong := "socks5://app:letmein@" + authGW.Addr()
		status, out, errOut := kn(t, "probe", "--bootstrap", adv[0], "--via", wrong)
		require.Equal(t, exitUnreachable, status)
		require.NotContains(t, out+errOut, "letmein")
		require.Contains(t, lines(out)[1], "  unreachable (proxy handshake): kafkanat: dial "+adv[0]+" via "+redacted+" (no rule matched): ")
		require.Contains(t, lines(out)[1], `"app"`)
		require.NotContains(t, out, "--suggest", "a rule would not fix a rejected password")
	})
}

func TestProbeTLS(t *testing.T) {
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	// The certificate names the advertised hosts only, never the
	// loopback address the rules send the connections to.
	cert, err := ca.Issue("b0.kafka.internal.invalid", "b1.kafka.internal.invalid", "b2.kafka.internal.invalid")
	require.NoError(t, err)
	caFile := writeCA(t, cert)
	c := cluster(t, kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	adv := c.Advertised()

	status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--rules", c.Rules(), "--tls", "--tls-ca", caFile)
	require.Equal(t, exitOK, status)
	for i, r := range table(t, out) {
		require.Equal(t, c.Addrs()[i], r.target)
		requireOK(t, r, "direct", "tcp", "tls", "kafka")
	}

	// The system's roots do not know the test CA.
	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", c.Rules(), "--tls")
	require.Equal(t, exitUnreachable, status)
	requireStages(t, bootstrapStages(t, out), "tcp", "tls!")
	require.Equal(t, fmt.Sprintf("  unreachable (TLS): kafkanat: dial %s => %s via direct (rule 1): TLS handshake with b0.kafka.internal.invalid: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		adv[0], c.Addrs()[0]), lines(out)[1])

	// A server name the certificate does not hold.
	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", c.Rules(), "--tls-ca", caFile, "--tls-server-name", "other.invalid")
	require.Equal(t, exitUnreachable, status)
	require.True(t, strings.HasPrefix(lines(out)[1], "  unreachable (TLS): "), lines(out)[1])
	require.Contains(t, lines(out)[1], "TLS handshake with other.invalid: tls: failed to verify certificate: x509: certificate is valid for b0.kafka.internal.invalid")

	// Without TLS the broker hangs up; kgo says why that usually is.
	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", c.Rules())
	require.Equal(t, exitUnreachable, status)
	require.Equal(t, fmt.Sprintf("  failed (Kafka request): connected to %s via direct, but the Kafka exchange failed: broker closed the connection immediately during api versions negotiation, which often happens when the broker requires TLS but the client is using plaintext: is TLS missing?",
		c.Addrs()[0]), lines(out)[1])

	status, _, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", c.Rules(), "--tls-insecure-skip-verify")
	require.Equal(t, exitOK, status)
}

func TestProbeSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := cluster(t, kafkanattest.SASL(mech, "admin", "s3cret-pw"))
			t.Setenv("KAFKANAT_TEST_PASSWORD", "s3cret-pw")
			status, out, errOut := kn(t, "probe", "--bootstrap", c.Advertised()[0], "--rules", c.Rules(),
				"--sasl-mechanism", mech, "--sasl-user", "admin", "--sasl-password-env", "KAFKANAT_TEST_PASSWORD")
			require.Equal(t, exitOK, status)
			require.NotContains(t, out+errOut, "s3cret-pw")
			for _, r := range table(t, out) {
				requireOK(t, r, "direct", "tcp", "sasl", "kafka")
			}

			t.Setenv("KAFKANAT_TEST_PASSWORD", "wrong-pw")
			status, out, errOut = kn(t, "probe", "--bootstrap", c.Advertised()[0], "--rules", c.Rules(),
				"--sasl-mechanism", strings.ToLower(mech), "--sasl-user", "admin", "--sasl-password-env", "KAFKANAT_TEST_PASSWORD")
			require.Equal(t, exitUnreachable, status)
			assert.NotContains(t, out+errOut, "wrong-pw")
			require.True(t, strings.HasPrefix(lines(out)[1], "  failed (SASL): connected to "+c.Addrs()[0]+" via direct, but the Kafka exchange failed: "), lines(out)[1])
			requireStages(t, bootstrapStages(t, out), "tcp", "sasl!")
		})
	}
}

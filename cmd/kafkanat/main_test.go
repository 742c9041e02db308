package main

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

func TestMain(m *testing.M) {
	// Hidden names fail in-process instead of asking the machine's DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m)
}

// kn runs the command line in-process and returns its exit status and
// outputs.
func kn(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(args, &out, &errOut)
	t.Logf("kafkanat %q\nexit %d\n--- stdout\n%s--- stderr\n%s", args, status, out.String(), errOut.String())
	return status, out.String(), errOut.String()
}

// cluster starts a hidden cluster (brokers advertising
// b<id>.kafka.internal.invalid:9092 unless opts say otherwise).
func cluster(t *testing.T, opts ...kafkanattest.ClusterOption) *kafkanattest.Cluster {
	t.Helper()
	c, err := kafkanattest.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// row is one broker row of probe's table.
type row struct {
	node, advertised, rule, target, route, status, dial, rtt, stages string
}

var (
	cellSep  = regexp.MustCompile(`\s{2,}`)
	duration = regexp.MustCompile(`^(\d+(\.\d+)?(µs|ms|s)|<1µs)$`)
)

// table parses the broker table of probe's output, checking its header.
func table(t *testing.T, out string) []row {
	t.Helper()
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "NODE ") {
			start = i
			break
		}
	}
	require.NotEqual(t, -1, start, "no table in the output")
	require.Equal(t, []string{"NODE", "ADVERTISED", "RULE", "TARGET", "ROUTE", "STATUS", "DIAL", "RTT", "STAGES"}, cellSep.Split(lines[start], -1))
	var rows []row
	for _, l := range lines[start+1:] {
		if l == "" {
			break
		}
		c := cellSep.Split(strings.TrimRight(l, " "), -1)
		require.Len(t, c, 9, "row %q", l)
		rows = append(rows, row{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]})
	}
	return rows
}

// requireOK checks that r is a reachable broker's row whose stages are
// the given ones, each with a time.
func requireOK(t *testing.T, r row, route string, stages ...string) {
	t.Helper()
	require.Equal(t, "ok", r.status, "node %s", r.node)
	require.Equal(t, route, r.route, "node %s", r.node)
	require.Regexp(t, duration, r.dial, "node %s dial time", r.node)
	require.Regexp(t, duration, r.rtt, "node %s round-trip time", r.node)
	requireStages(t, r.stages, stages...)
}

// requireStages checks that a STAGES cell (or a bootstrap "stages:" line)
// lists the given stages, in order, each with a time. A stage ending in
// "!" failed; "|" separates route attempts.
func requireStages(t *testing.T, cell string, stages ...string) {
	t.Helper()
	var got []string
	for _, attempt := range strings.Split(cell, " | ") {
		if len(got) > 0 {
			got = append(got, "|")
		}
		for _, s := range strings.Split(attempt, ", ") {
			name, took, ok := strings.Cut(s, " ")
			require.True(t, ok, "stage %q in %q has no time", s, cell)
			require.Regexp(t, duration, took, "stage %q in %q", s, cell)
			got = append(got, name)
		}
	}
	require.Equal(t, stages, got, "stages %q", cell)
}

// bootstrapStages returns the stages line of the bootstrap.
func bootstrapStages(t *testing.T, out string) string {
	t.Helper()
	for _, l := range lines(out) {
		if s, ok := strings.CutPrefix(l, "  stages: "); ok {
			return s
		}
	}
	require.Fail(t, "no stages line for the bootstrap")
	return ""
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimRight(l, "\n"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// writeCA writes the CA certificate of cert's chain to a PEM file.
func writeCA(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[len(cert.Certificate)-1]}), 0o600))
	return f
}

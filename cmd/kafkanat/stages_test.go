package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// refuse is a proxy's or bastion's dialer that cannot reach anything.
func refuse(context.Context, string, string) (net.Conn, error) { return nil, syscall.ECONNREFUSED }

// sshRoute starts an SSH bastion with opts and returns its route URL, its
// host key trusted through a known_hosts file.
func sshRoute(t *testing.T, password string, opts ...kafkanattest.SSHOption) string {
	t.Helper()
	s, err := kafkanattest.NewSSHServer(append(opts, kafkanattest.WithSSHPassword("app", "pw"))...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	kh := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(kh, []byte(s.KnownHosts()+"\n"), 0o600))
	return "ssh://app:" + password + "@" + s.Addr() + "?known_hosts=" + kh
}

// blackhole returns a loopback address that accepts connections (the
// kernel does) and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Every route kind times its own stages.
func TestProbeStagesPerRoute(t *testing.T) {
	c := cluster(t)
	adv := c.Advertised()
	socks, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer socks.Close()
	httpProxy, err := kafkanattest.NewHTTPProxy(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer httpProxy.Close()
	ssh := sshRoute(t, "pw", kafkanattest.WithSSHDialer(c.DialAdvertised))
	sshName := strings.Split(ssh, "?")[0]
	sshName = strings.Replace(sshName, ":pw@", ":xxxxx@", 1)

	for _, tc := range []struct {
		name, via, route string
		stages           []string
	}{
		{"SOCKS5", socks.URL(), socks.URL(), []string{"tcp", "proxy", "kafka"}},
		{"HTTP CONNECT", httpProxy.URL(), httpProxy.URL(), []string{"tcp", "proxy", "kafka"}},
		{"SSH", ssh, sshName, []string{"tcp", "proxy", "ssh", "kafka"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--via", tc.via)
			require.Equal(t, exitOK, status)
			requireStages(t, bootstrapStages(t, out), tc.stages...)
			for _, r := range table(t, out) {
				requireOK(t, r, tc.route, tc.stages...)
			}
		})
	}

	t.Run("JSON", func(t *testing.T) {
		status, out, _ := kn(t, "probe", "--bootstrap", adv[0], "--via", ssh, "--json")
		require.Equal(t, exitOK, status)
		var rep Report
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		st := rep.Brokers[1].Stages
		require.Equal(t, []string{"TCP connect", "proxy handshake", "SSH channel", "Kafka request"}, stageNames(st))
		bastion := strings.TrimPrefix(sshName, "ssh://app:xxxxx@")
		require.Equal(t, Stage{Stage: "TCP connect", Route: sshName, Address: bastion, MS: st[0].MS}, st[0])
		require.Equal(t, Stage{Stage: "SSH channel", Route: sshName, MS: st[2].MS}, st[2])
		for _, s := range st {
			require.Positive(t, s.MS, "stage %s", s.Stage)
		}
	})
}

// TLS over each kind of route: its own stage, after the route's.
func TestProbeTLSStage(t *testing.T) {
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	cert, err := ca.Issue("b0.kafka.internal.invalid", "b1.kafka.internal.invalid", "b2.kafka.internal.invalid")
	require.NoError(t, err)
	caFile := writeCA(t, cert)
	c := cluster(t, kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	socks, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer socks.Close()
	ssh := sshRoute(t, "pw", kafkanattest.WithSSHDialer(c.DialAdvertised))
	for _, tc := range []struct {
		name, via string
		stages    []string
	}{
		{"SOCKS5", socks.URL(), []string{"tcp", "proxy", "tls", "kafka"}},
		{"SSH", ssh, []string{"tcp", "proxy", "ssh", "tls", "kafka"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := kn(t, "probe", "--bootstrap", c.Advertised()[0], "--via", tc.via, "--tls-ca", caFile)
			require.Equal(t, exitOK, status)
			requireStages(t, bootstrapStages(t, out), tc.stages...)
		})
	}
}

// Each stage that can fail is named, in the text and in the JSON.
func TestProbeFailedStages(t *testing.T) {
	c := cluster(t)
	seed := c.Advertised()[0]
	refusing, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(refuse))
	require.NoError(t, err)
	defer refusing.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		stages []string
		stage  string // the failed stage
		reason string // in the bootstrap's error
	}{
		{"name resolution of a proxy", []string{"--via", "socks5://gw.invalid:1080"},
			[]string{"dns!"}, "name resolution", "cannot reach the proxy: dial tcp: lookup gw.invalid"},
		{"TCP connect", []string{"--rules", seed + " => " + closedPort(t)},
			[]string{"tcp!"}, "TCP connect", "connect: connection refused"},
		{"proxy handshake", []string{"--via", refusing.URL()},
			[]string{"tcp", "proxy!"}, "proxy handshake", "the proxy could not connect to " + seed + ": connection refused"},
		{"SSH handshake", []string{"--via", sshRoute(t, "wrong", kafkanattest.WithSSHDialer(c.DialAdvertised))},
			[]string{"tcp", "proxy!"}, "proxy handshake", `authenticate: bastion 127.0.0.1:`},
		{"SSH channel", []string{"--via", sshRoute(t, "pw", kafkanattest.WithSSHDialer(refuse))},
			[]string{"tcp", "proxy", "ssh!"}, "SSH channel", "open a channel to " + seed + ": bastion refused to connect to " + seed},
		{"Kafka request", []string{"--rules", seed + " => " + blackhole(t), "--timeout", "500ms"},
			[]string{"tcp", "kafka!"}, "Kafka request", "but the Kafka exchange failed: no answer within 500ms (--timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := kn(t, append([]string{"probe", "--bootstrap", seed}, tc.args...)...)
			require.Equal(t, exitUnreachable, status)
			requireStages(t, bootstrapStages(t, out), tc.stages...)
			require.True(t, strings.HasPrefix(lines(out)[1], "  "), lines(out)[1])
			require.Contains(t, lines(out)[1], " ("+tc.stage+"): ")
			require.Contains(t, lines(out)[1], tc.reason)

			_, out, _ = kn(t, append([]string{"probe", "--bootstrap", seed, "--json"}, tc.args...)...)
			var rep Report
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			b := rep.Bootstrap
			require.Equal(t, tc.stage, b.FailedStage)
			last := b.Stages[len(b.Stages)-1]
			require.Equal(t, tc.stage, last.Stage)
			require.Contains(t, last.Error, strings.Split(tc.reason, ": ")[0])
		})
	}
}

// A port that answers, but not with Kafka, is said to be something else.
func TestProbeNotKafka(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	ssh, err := kafkanattest.NewSSHServer(kafkanattest.WithSSHPassword("app", "pw"))
	require.NoError(t, err)
	defer ssh.Close()
	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
			c.Close()
		}
	}()
	for _, tc := range []struct{ name, addr, want string }{
		// An HTTP server waits for the end of a request line that Kafka's
		// request never sends; probe then asks it with an HTTP request.
		{"HTTP", strings.TrimPrefix(web.URL, "http://"), `it is not a Kafka broker (it answered HTTP: "HTTP/1.0 404 Not Found")`},
		{"SSH", ssh.Addr(), `it is not a Kafka broker (it answered with an SSH banner: "SSH-2.0-Go")`},
		{"garbage", garbage.Addr().String(), `it is not a Kafka broker (it answered de ad be ef 00 01 02 03 04 05 06 07 08 09 0a 0b ...)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := kn(t, "probe", "--bootstrap", "kafka.invalid:9092", "--rules", "kafka.invalid:9092 => "+tc.addr, "--timeout", "500ms")
			require.Equal(t, exitUnreachable, status)
			require.Equal(t, fmt.Sprintf("  failed (Kafka request): connected to %s via direct, but %s", tc.addr, tc.want), lines(out)[1])
			requireStages(t, bootstrapStages(t, out), "tcp", "kafka!")
		})
	}
}

// A route that hangs does not hide the next one: the dial's time is shared,
// and the next route starts after kafkanat's fallback delay.
func TestProbeDeadFirstRoute(t *testing.T) {
	c := cluster(t)
	gw, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer gw.Close()
	dead := "socks5://" + blackhole(t)
	status, out, _ := kn(t, "probe", "--bootstrap", c.Advertised()[0], "--via", dead+", "+gw.URL(), "--timeout", "2s")
	require.Equal(t, exitOK, status)
	require.True(t, strings.HasPrefix(lines(out)[1], "  ok via "+gw.URL()+": "), lines(out)[1])
	// The hung route's handshake was abandoned once the second connected.
	requireStages(t, bootstrapStages(t, out), "tcp", "proxy!", "|", "tcp", "proxy", "kafka")
	for _, r := range table(t, out) {
		requireOK(t, r, gw.URL(), "tcp", "proxy!", "|", "tcp", "proxy", "kafka")
	}

	_, out, _ = kn(t, "probe", "--bootstrap", c.Advertised()[0], "--via", dead+", "+gw.URL(), "--timeout", "2s", "--json")
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	b := rep.Bootstrap
	require.Empty(t, b.FailedStage)
	require.Equal(t, []string{"TCP connect", "proxy handshake", "TCP connect", "proxy handshake", "Kafka request"}, stageNames(b.Stages))
	require.Equal(t, strings.TrimPrefix(dead, "socks5://"), b.Stages[0].Address)
	require.True(t, strings.HasPrefix(b.Stages[1].Error, "abandoned when another route connected: "+dead+": "), b.Stages[1].Error)
	require.Equal(t, gw.URL(), b.Stages[3].Route)
	require.Empty(t, b.Stages[3].Error)
}

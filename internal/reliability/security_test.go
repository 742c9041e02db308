package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/socks"
	"github.com/kafkanat/kafkanat/tunnel"
)

// recordingRoute is a named route that records every address kafkanat
// asks it to connect to. It connects only to loopback IP addresses and
// refuses anything else without dialing.
type recordingRoute struct {
	mu    sync.Mutex
	asked []string
}

func (r *recordingRoute) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.asked = append(r.asked, address)
	r.mu.Unlock()
	host, _, err := net.SplitHostPort(address)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("recording route: %q is not a loopback address; not dialed", address)}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func (r *recordingRoute) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.asked)
}

const rogueBroker = "rogue.elsewhere.invalid:9092"

// TestStrictAndDenyRefuseUnexpectedBrokers runs a cluster whose metadata
// advertises a broker the rules do not cover (node 2, leader of
// partitions 2 and 5). With Strict or a deny rule, kafkanat refuses it
// with ErrNoRoute and never hands it to a route: the recording route
// proves it. Without either (the control), the same address does reach
// the default route, which shows the recording would catch a dial.
func TestStrictAndDenyRefuseUnexpectedBrokers(t *testing.T) {
	for _, mode := range []string{"strict", "deny", "control"} {
		t.Run(mode, func(t *testing.T) {
			clients := map[string]func(t *testing.T, seed string, dial *dialLog) map[int32]error{
				"franz-go": franzProduceEachPartition,
				"sarama":   saramaProduceEachPartition,
			}
			for cname, produce := range clients {
				t.Run(cname, func(t *testing.T) {
					c := hiddenCluster(t, kafkanattest.Advertise("b0.kafka.internal.invalid:9092", "b1.kafka.internal.invalid:9092", rogueBroker))
					rec := new(recordingRoute)
					addrs := c.Addrs()
					rules := fmt.Sprintf("b0.kafka.internal.invalid:9092 => %s via rec\nb1.kafka.internal.invalid:9092 => %s via rec\n", addrs[0], addrs[1])
					opts := []kafkanat.Option{kafkanat.Route("rec", rec), kafkanat.Via("rec")}
					switch mode {
					case "strict":
						opts = append(opts, kafkanat.Rules(rules), kafkanat.Strict())
					case "deny":
						opts = append(opts, kafkanat.Rules(rules+"* deny\n"))
					default:
						opts = append(opts, kafkanat.Rules(rules))
					}
					dial := newDialLog(kafkanat.New(opts...))
					results := produce(t, "b0.kafka.internal.invalid:9092", dial)

					for p := range int32(partitions) {
						if p%3 == 2 { // led by the rogue broker
							assert.Error(t, results[p], "partition %d, led by %s", p, rogueBroker)
						} else {
							assert.NoError(t, results[p], "partition %d", p)
						}
					}
					var rogueDials int
					for _, e := range dial.all() {
						if e.address != rogueBroker {
							continue
						}
						rogueDials++
						require.Error(t, e.err)
						var de *kafkanat.DialError
						require.ErrorAs(t, e.err, &de)
						if mode == "control" {
							assert.NotErrorIs(t, e.err, kafkanat.ErrNoRoute)
						} else {
							assert.ErrorIs(t, e.err, kafkanat.ErrNoRoute)
						}
					}
					require.Positive(t, rogueDials, "the client never tried the rogue broker; dials:\n%s", dial.summary())
					if mode == "control" {
						assert.Contains(t, rec.seen(), rogueBroker, "without Strict or deny the default route is asked")
					} else {
						assert.NotContains(t, rec.seen(), rogueBroker, "kafkanat handed the rogue broker to a route")
					}
					for _, a := range rec.seen() {
						if a != rogueBroker {
							assert.Contains(t, addrs[:2], a, "the route was asked for %s", a)
						}
					}
				})
			}
		})
	}
}

// franzProduceEachPartition produces one record to each partition and
// returns each partition's outcome.
func franzProduceEachPartition(t *testing.T, seed string, dial *dialLog) map[int32]error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial.DialContext),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(3*time.Second))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rs []*kgo.Record
	for p := range int32(partitions) {
		rs = append(rs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "to partition %d", p)})
	}
	out := map[int32]error{}
	for _, r := range cl.ProduceSync(ctx, rs...) {
		out[r.Record.Partition] = r.Err
	}
	return out
}

// saramaProduceEachPartition is franzProduceEachPartition with sarama.
func saramaProduceEachPartition(t *testing.T, seed string, dial *dialLog) map[int32]error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = dial
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max = 2
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Metadata.Retry.Max = 1
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{seed}, cfg)
	require.NoError(t, err)
	defer p.Close()
	out := map[int32]error{}
	for part := range int32(partitions) {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder("x")})
		out[part] = err
	}
	return out
}

// secrets are the credentials TestSecretsNeverPrinted gives kafkanat.
var secrets = struct {
	socksUser, socksPass, httpUser, httpPass, wrongPass string
}{"alice", "s0cks-Pa55-SECRET-1", "bob", "http-Pa55-SECRET-2", "wr0ng-SECRET-3"}

// secretForms returns every way a secret could show up in text.
func secretForms(user, pass string) []string {
	return []string{
		pass,
		url.QueryEscape(pass),
		url.UserPassword(user, pass).String(),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)),
		base64.StdEncoding.EncodeToString([]byte(pass)),
	}
}

// capture collects every text kafkanat produces.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// add records each of v with %v and %+v. (Not %#v: Go syntax prints
// unexported fields as they are, which is what it is for.)
func (c *capture) add(label string, v ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.buf, "--- %s\n", label)
	for _, x := range v {
		fmt.Fprintf(&c.buf, "%v\n%+v\n", x, x)
	}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// addErr records err's message at every level of its tree, also with
// %#v: an error's fields are what a client may log.
func (c *capture) addErr(label string, err error) {
	if err == nil {
		return
	}
	c.add(label, err)
	c.mu.Lock()
	fmt.Fprintf(&c.buf, "%#v\n", err)
	c.mu.Unlock()
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		c.addErr(label+" (unwrapped)", u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			c.addErr(label+" (unwrapped)", e)
		}
	}
	var op *net.OpError
	if errors.As(err, &op) {
		c.add(label+" (as OpError)", op)
	}
}

// TestSecretsNeverPrinted drives a dialer that holds proxy and SSH
// passwords and an SSH key through succeeding and failing dials, a real client, rule reloads and
// configuration errors, captures everything it prints (errors at every
// level, logs at Debug as text and JSON, Explain, Stats, rules, conn info,
// hook events, routes' String) and searches it for the secrets.
func TestSecretsNeverPrinted(t *testing.T) {
	c := hiddenCluster(t)
	socksProxy, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithCredentials(secrets.socksUser, secrets.socksPass), kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer socksProxy.Close()
	httpProxy, err := kafkanattest.NewHTTPProxy(kafkanattest.WithCredentials(secrets.httpUser, secrets.httpPass), kafkanattest.WithDialer(c.DialAdvertised))
	require.NoError(t, err)
	defer httpProxy.Close()
	closed := closedPort(t)

	socksURL := socksProxy.URL()
	httpURL := httpProxy.URL()
	wrongSocks := "socks5://" + secrets.socksUser + ":" + secrets.wrongPass + "@" + socksProxy.Addr()
	wrongHTTP := "http://" + secrets.httpUser + ":" + secrets.wrongPass + "@" + httpProxy.Addr()
	closedSocks := "socks5://" + secrets.socksUser + ":" + secrets.socksPass + "@" + closed
	closedHTTP := "http://" + secrets.httpUser + ":" + secrets.httpPass + "@" + closed
	rules := strings.Join([]string{
		"b0.kafka.internal.invalid:9092 via " + socksURL,
		"b1.kafka.internal.invalid:9092 via " + httpURL,
		"b2.kafka.internal.invalid:9092 via " + wrongSocks + ", " + wrongHTTP + ", " + socksURL, // two refusals, then in
		"wrong-socks.invalid:9092 via " + wrongSocks,
		"wrong-http.invalid:9092 via " + wrongHTTP,
		"down.invalid:9092 via " + closedSocks + ", " + closedHTTP,
		"denied.invalid deny",
	}, "\n")
	addresses := []string{
		"b0.kafka.internal.invalid:9092", "b1.kafka.internal.invalid:9092", "b2.kafka.internal.invalid:9092",
		"wrong-socks.invalid:9092", "wrong-http.invalid:9092", "down.invalid:9092", "denied.invalid:9092",
		"unmatched.invalid:9092", "b0.kafka.internal.invalid",
	}

	out := new(capture)
	sshOpts, sshRules, sshAddresses, sshForms := sshSecrets(t, c, out)
	addresses = append(addresses, sshAddresses...)
	logger := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))
	hook := dialer.HookFuncs{
		Dial:  func(e dialer.DialEvent) { out.add("hook dial", e); out.addErr("hook dial error", e.Err) },
		Close: func(e dialer.CloseEvent) { out.add("hook close", e) },
	}
	opts := append([]kafkanat.Option{kafkanat.Rules(rules), kafkanat.Rules(sshRules), kafkanat.Via(socksURL),
		kafkanat.Logger(logger), kafkanat.Hook(hook), kafkanat.DialTimeout(2 * time.Second)}, sshOpts...)
	d, err := kafkanat.NewDialer(opts...)
	require.NoError(t, err)
	defer d.Close()
	ctx := context.Background()

	// Dials that succeed and fail, and what kafkanat says about them.
	mustConnect := map[string]bool{
		"b0.kafka.internal.invalid:9092": true, "b1.kafka.internal.invalid:9092": true, "b2.kafka.internal.invalid:9092": true,
		"sshpass.ssh.invalid:9092": true, "sshkey.ssh.invalid:9092": true,
		"sshpass.named.invalid:9092": true, "sshkey.named.invalid:9092": true,
	}
	for _, addr := range addresses {
		conn, err := d.DialContext(ctx, "tcp", addr)
		out.addErr("dial "+addr, err)
		if mustConnect[addr] != (err == nil) {
			t.Errorf("dial %s: %v; want it to connect: %v", addr, err, mustConnect[addr])
		}
		if conn != nil {
			info, _ := kafkanat.InfoOf(conn)
			out.add("conn info "+addr, info, conn.RemoteAddr())
			conn.Close()
		}
		dec, err := d.Explain(ctx, addr)
		out.add("Explain "+addr, dec, dec.String())
		out.addErr("Explain error "+addr, err)
		dec, err = kafkanat.Explain(addr, opts...)
		out.add("kafkanat.Explain "+addr, dec)
		out.addErr("kafkanat.Explain error "+addr, err)
	}
	// A real client through the routes with passwords.
	for p, err := range franzProduceEachPartition(t, c.Advertised()[0], newDialLog(d.DialContext)) {
		require.NoError(t, err, "produce to partition %d", p)
	}
	out.add("Stats", d.Stats())
	for _, r := range d.Rules() {
		out.add("rule", r, r.String())
	}

	// Routes on their own.
	for _, raw := range []string{socksURL, wrongSocks, closedSocks} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		sd, err := socks.New(u, nil)
		require.NoError(t, err)
		out.add("socks route", sd, sd.String())
	}
	for _, raw := range []string{httpURL, wrongHTTP, closedHTTP} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		hd, err := tunnel.NewHTTP(u, nil, nil)
		require.NoError(t, err)
		out.add("http route", hd, hd.String())
	}

	// Rules that do not load: from options, from a file, from a watched file.
	for _, bad := range []string{
		"x => y via " + strings.Replace(socksURL, "socks5://", "socks5h://", 1) + ":99999", // bad port
		"x => y via " + strings.Replace(httpURL, "http://", "ftp://", 1),                   // bad scheme
		"x => y via " + socksURL + "/path",
		"x => y via " + socksURL + " junk",
	} {
		_, err := kafkanat.NewDialer(kafkanat.Rules(bad))
		require.Error(t, err, bad)
		out.addErr("config error", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rules")
	require.NoError(t, os.WriteFile(path, []byte("x => y via "+socksURL+":0\n"), 0o600))
	out.addErr("LoadRulesFile", d.LoadRulesFile(path))
	_, err = kafkanat.NewDialer(kafkanat.RulesFile(path))
	out.addErr("RulesFile", err)
	const marker = "watch-marker.invalid:1"
	require.NoError(t, writeAtomically(path, rules+"\n"+marker+" deny\n"))
	wctx, cancel := context.WithCancel(ctx)
	watchErrs := make(chan error, 10)
	watched := make(chan error, 1)
	go func() {
		watched <- d.WatchRulesFile(wctx, path, 20*time.Millisecond, func(err error) { watchErrs <- err })
	}()
	eventually(t, "the watcher loads the file", func() bool {
		dec, err := d.Explain(ctx, marker)
		return err == nil && dec.Refused
	})
	require.NoError(t, writeAtomically(path, rules+"\nx => y via "+httpURL+"/x\n"))
	select {
	case err := <-watchErrs:
		out.addErr("WatchRulesFile onError", err)
	case <-time.After(hangGuard):
		t.Error("WatchRulesFile reported no error for a bad edit")
	}
	cancel()
	<-watched
	out.add("Stats after", d.Stats())

	text := out.String()
	// The capture holds what it should, so searching it means something.
	for _, want := range []string{
		"alice:xxxxx@", "bob:xxxxx@", "authentication as user \"alice\" failed", "the proxy did not accept user \"bob\"",
		"level=DEBUG", `"level":"DEBUG"`, "level=WARN", "denied by rule", "unexpected path", "Dials:",
		"ssh://kafka:xxxxx@", `rejected user "kafka"`, "does not match known_hosts",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the capture lacks %q", want)
		}
	}
	for _, forms := range [][]string{
		secretForms(secrets.socksUser, secrets.socksPass),
		secretForms(secrets.httpUser, secrets.httpPass),
		secretForms(secrets.socksUser, secrets.wrongPass),
		secretForms(secrets.httpUser, secrets.wrongPass),
		sshForms,
	} {
		for _, s := range forms {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("secret %q printed: %q", s, text[max(0, i-300):min(len(text), i+len(s)+50)])
			}
		}
	}
	t.Logf("searched %d bytes of errors, logs, Explain, Stats, rules, conn info, hook events and route names", len(text))
}

// TestSecretsNotInViaErrors gives Via a route URL with a password that
// does not build a route. The error must not print the password, as the
// same URL in a rule does not. Found by this package: see RELIABILITY.md.
func TestSecretsNotInViaErrors(t *testing.T) {
	const pass = "v1a-SECRET-pw"
	for _, route := range []string{
		"socks5://alice:" + pass + "@127.0.0.1:99999", // port out of range
		"socks5://alice:" + pass + "@127.0.0.1:1080/path",
		"ftp://alice:" + pass + "@127.0.0.1:21",        // scheme
		"socks5://alice:" + pass + "@[127.0.0.1:1080",  // does not parse
		"socks5://alice:" + pass + "@127.0.0.1:1080, ", // an empty second route
		"ssh://alice:" + pass + "@127.0.0.1:22?known_hosts=" + url.QueryEscape(filepath.Join(t.TempDir(), "missing")),
	} {
		_, err := kafkanat.NewDialer(kafkanat.Via(route))
		require.Error(t, err, route)
		assert.NotContains(t, err.Error(), pass, "Via(%q)", strings.ReplaceAll(route, pass, "PASSWORD"))
		// The same URL in a rule, for comparison, is redacted.
		_, err = kafkanat.NewDialer(kafkanat.Rules("x:1 => y:1 via " + route))
		if err != nil {
			assert.NotContains(t, err.Error(), pass, "Rules with %q", strings.ReplaceAll(route, pass, "PASSWORD"))
		}
	}
	// ALL_PROXY becomes the default route the same way.
	t.Setenv("ALL_PROXY", "socks5://alice:"+pass+"@127.0.0.1:99999")
	_, err := kafkanat.NewDialer(kafkanat.FromEnvironment())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pass, "FromEnvironment with ALL_PROXY=socks5://alice:PASSWORD@127.0.0.1:99999")
}

// TestTLSRefusesCertificateForOtherName runs a TLS cluster whose
// certificate names 127.0.0.1 (where the rules send the connection) and
// another host, but not the broker's advertised name: kafkanat.TLS
// verifies the advertised name and refuses, for a raw dial and for
// franz-go. The control cluster's certificate names the advertised
// hosts, and the same client works.
func TestTLSRefusesCertificateForOtherName(t *testing.T) {
	ca, err := kafkanattest.NewCA()
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		names []string
		ok    bool
	}{
		{"wrong names", []string{"127.0.0.1", "kafka.other.invalid"}, false},
		{"control", []string{"b0.kafka.internal.invalid", "b1.kafka.internal.invalid", "b2.kafka.internal.invalid"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := ca.Issue(tc.names...)
			require.NoError(t, err)
			c := hiddenCluster(t, kafkanattest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
			dial := newDialLog(kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Strict(),
				kafkanat.TLS(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}), kafkanat.DialTimeout(2*time.Second)))

			conn, err := dial.Dial("tcp", c.Advertised()[0])
			if tc.ok {
				require.NoError(t, err)
				conn.Close()
			} else {
				require.Error(t, err)
				var de *kafkanat.DialError
				require.ErrorAs(t, err, &de)
				var herr x509.HostnameError
				require.ErrorAs(t, err, &herr)
				msg := err.Error()
				assert.Contains(t, msg, "TLS handshake with b0.kafka.internal.invalid")
				assert.Contains(t, msg, "not b0.kafka.internal.invalid")
				t.Logf("%v", err)
			}

			results := franzProduceEachPartition(t, c.Advertised()[0], dial)
			for p := range int32(partitions) {
				if tc.ok {
					assert.NoError(t, results[p], "partition %d", p)
				} else {
					assert.Error(t, results[p], "partition %d", p)
				}
			}
			if !tc.ok {
				for _, e := range dial.all() {
					assert.Error(t, e.err, "a TLS connection to %s was accepted", e.address)
				}
			}
		})
	}
}

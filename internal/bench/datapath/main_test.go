package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

func TestMain(m *testing.M) {
	runBrokerdIfAsked()
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m,
		// sarama's metrics library starts one meter-ticking goroutine per
		// process and never stops it.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// TestSmoke runs the harness with tiny bursts over every variant, so that
// it keeps working: every variant must produce numbers and the report must
// show them. A variant whose peer is missing is left out, except under
// CI=true, where the peers must be installed.
func TestSmoke(t *testing.T) {
	smoke(t, false, variantNames())
}

// TestSmokeBrokerProcess runs the harness with its clusters in broker
// processes (this test binary again), the way the SSH comparisons run.
func TestSmokeBrokerProcess(t *testing.T) {
	smoke(t, true, []string{"direct", "kafkanat", "ssh-go"})
}

// smoke runs variants with tiny bursts and checks that each produced
// numbers and the report shows them.
func smoke(t *testing.T, brokerProcess bool, variants []string) {
	cfg := defaultConfig()
	cfg.rounds = 2
	cfg.duration = 20 * time.Millisecond
	cfg.latencyFor = 10 * time.Millisecond
	cfg.brokerProcess = brokerProcess
	cfg.connCost = 10
	needs := map[string][]string{"socks5-microsocks": {"microsocks"}, "socks5-dante": {"danted"}, "socat": {"socat"}, "socat-nodelay": {"socat"},
		"ssh": {"sshd"}, "ssh-no-quickack": {"sshd"}, "ssh-L": {"sshd", "ssh"}, "ssh-L-gcm": {"sshd", "ssh"}}
	var run1 []string
variants:
	for _, v := range variants {
		for _, bin := range needs[v] {
			if findBinary(bin) == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not installed; CI must install it for variant %s", bin, v)
				}
				t.Logf("%s is not installed: leaving out variant %s", bin, v)
				continue variants
			}
		}
		run1 = append(run1, v)
	}
	cfg.variants = run1

	var progress, log bytes.Buffer
	tb := newPeerTB(&log)
	defer tb.close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg, tb, &progress)
	t.Logf("progress:\n%s", &progress)
	if log.Len() > 0 {
		t.Logf("peers:\n%s", &log)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.failures {
		t.Errorf("failed: %s", f)
	}
	for v, why := range res.skipped {
		t.Errorf("variant %s skipped: %s", v, why)
	}
	for _, v := range cfg.variants {
		for round, s := range res.samples[v] {
			switch {
			case s == nil:
				t.Errorf("%s, round %d: no sample", v, round+1)
			case s.franz.mbps <= 0 || s.sarama.mbps <= 0 || s.consume.mbps <= 0:
				t.Errorf("%s, round %d: throughput franz-go %v MB/s, sarama %v MB/s, consume %v MB/s; want all positive", v, round+1, s.franz.mbps, s.sarama.mbps, s.consume.mbps)
			case s.franz.n < 1 || s.sarama.n < 1 || s.franz.p50 <= 0 || s.sarama.p50 <= 0 || s.franz.p99 < s.franz.p50:
				t.Errorf("%s, round %d: latency franz-go p50 %v p99 %v (%d samples), sarama p50 %v (%d samples)",
					v, round+1, s.franz.p50, s.franz.p99, s.franz.n, s.sarama.p50, s.sarama.n)
			}
		}
	}

	var out bytes.Buffer
	report(&out, cfg, res, time.Second)
	t.Logf("report:\n%s", &out)
	want := append([]string{"franz-go produce throughput", "sarama SendMessage latency p99", "franz-go consume throughput", "throughput >= 0.98x direct"}, cfg.variants...)
	if slices.Contains(cfg.variants, "ssh") {
		want = append(want, "ssh vs direct: franz-go p99", "what an open conn costs", "kafkanat ssh://", "channel open")
	}
	for _, want := range want {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Outside Linux the CPU time is not measured and shows as no data.
	if runtime.GOOS == "linux" && strings.Contains(out.String(), "no data") {
		t.Error("the report has a variant with no data")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)) // descending: percentile sorts
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.50, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(d, tc.q); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("percentile of one sample = %v, want it", got)
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("median(3, 1, 2, 10) = %v, want 2.5", got)
	}
	if lo, hi := quantile([]float64{5, 1, 4, 2, 3}, 0.25), quantile([]float64{5, 1, 4, 2, 3}, 0.75); lo != 2 || hi != 4 {
		t.Errorf("quartiles of 1..5 = %v, %v; want 2, 4", lo, hi)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		change func(*config)
		want   string
	}{
		{func(c *config) { c.rounds = 0 }, "-rounds 0"},
		{func(c *config) { c.duration = 0 }, "-duration 0s"},
		{func(c *config) { c.size = 0 }, "-size 0"},
		{func(c *config) { c.variants = []string{"kafkanat"} }, "direct, the reference of every ratio, is missing"},
		{func(c *config) { c.variants = []string{"direct", "haproxy"} }, `unknown variant "haproxy"`},
		{func(c *config) { c.variants = []string{"direct", "direct"} }, `"direct" given twice`},
	} {
		cfg := defaultConfig()
		tc.change(&cfg)
		err := cfg.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate() = %v, want an error containing %q", err, tc.want)
		}
	}
	if err := defaultConfig().validate(); err != nil {
		t.Errorf("the default configuration is invalid: %v", err)
	}
}

// TestStartPeer checks the testing.TB adapter: Skip becomes errSkip, Fatal
// an error, a testing method the adapter lacks an error, and cleanups run
// at close, last first.
func TestStartPeer(t *testing.T) {
	var log bytes.Buffer
	tb := newPeerTB(&log)
	var order []int
	tb.Cleanup(func() { order = append(order, 1) })

	if _, err := startPeer(tb, func(tb testing.TB) string { tb.Skip("microsocks not installed"); return "" }); !errors.Is(err, errSkip) {
		t.Errorf("Skip: err = %v, want errSkip", err)
	}
	if _, err := startPeer(tb, func(tb testing.TB) string { tb.Fatalf("port %d busy", 80); return "" }); err == nil || errors.Is(err, errSkip) || err.Error() != "port 80 busy" {
		t.Errorf("Fatalf: err = %v, want \"port 80 busy\"", err)
	}
	if !tb.Failed() {
		t.Error("Failed() = false after Fatalf")
	}
	if _, err := startPeer(tb, func(tb testing.TB) string { tb.Setenv("A", "B"); return "" }); err == nil {
		t.Error("a method the adapter lacks: no error")
	}
	dir := ""
	url, err := startPeer(tb, func(tb testing.TB) string {
		dir = tb.TempDir()
		tb.Cleanup(func() { order = append(order, 2) })
		return "socks5://127.0.0.1:1080"
	})
	if err != nil || url != "socks5://127.0.0.1:1080" {
		t.Errorf("startPeer = %q, %v", url, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("TempDir %q: %v", dir, err)
	}
	tb.close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TempDir %q still there after close: %v", dir, err)
	}
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran in order %v, want [2 1]", order)
	}
}

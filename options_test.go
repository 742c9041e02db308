package kafkanat_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// explain is kafkanat.Explain for a test that expects a decision.
func explain(t *testing.T, address string, opts ...kafkanat.Option) kafkanat.Decision {
	t.Helper()
	dec, err := kafkanat.Explain(address, opts...)
	if err != nil {
		t.Fatalf("Explain(%q): %v", address, err)
	}
	return dec
}

// configError checks that NewDialer refuses opts with ErrConfig and
// returns the error.
func configError(t *testing.T, opts ...kafkanat.Option) error {
	t.Helper()
	_, err := kafkanat.NewDialer(opts...)
	if !errors.Is(err, kafkanat.ErrConfig) {
		t.Fatalf("NewDialer: %v, want an error matching ErrConfig", err)
	}
	return err
}

func TestFromEnvironment(t *testing.T) {
	t.Setenv("ALL_PROXY", "socks5://alice:s3cret@127.0.0.1:1080")
	t.Setenv("NO_PROXY", "localhost,127.0.0.0/8,.corp.invalid")
	for _, tc := range []struct{ addr, want string }{
		{"b1.kafka.invalid:9092", "b1.kafka.invalid:9092: no rule: dialed via socks5://alice:xxxxx@127.0.0.1:1080"},
		{"db.corp.invalid:5432", "db.corp.invalid:5432: no rule: dialed directly"},
		{"127.0.0.1:9092", "127.0.0.1:9092: no rule: dialed directly"},
		{"localhost:9092", "localhost:9092: no rule: dialed directly"},
	} {
		if got := explain(t, tc.addr, kafkanat.FromEnvironment()).String(); got != tc.want {
			t.Errorf("Explain(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}

	// The lower-case names work too; the upper-case ones win.
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "http://127.0.0.1:3128")
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	if got := explain(t, "b1.kafka.invalid:9092", kafkanat.FromEnvironment()).Routes; !slices.Equal(got, []string{"http://127.0.0.1:3128"}) {
		t.Errorf("routes %q, want the all_proxy one", got)
	}

	// A later Via overrides the environment.
	if got := explain(t, "b1.kafka.invalid:9092", kafkanat.FromEnvironment(), kafkanat.Via("direct")).Routes; !slices.Equal(got, []string{"direct"}) {
		t.Errorf("routes %q after Via(direct), want direct", got)
	}

	t.Setenv("all_proxy", "ftp://u:s3cret@127.0.0.1:21")
	const ftp = `kafkanat: FromEnvironment: all_proxy=ftp://u:xxxxx@127.0.0.1:21: scheme "ftp" is not socks5, socks5h or http`
	if err := configError(t, kafkanat.FromEnvironment()); err.Error() != ftp {
		t.Errorf("error %q, want %q", err, ftp)
	}

	t.Setenv("all_proxy", "127.0.0.1:1080")
	configError(t, kafkanat.FromEnvironment())

	t.Setenv("all_proxy", "socks5://127.0.0.1:1080")
	t.Setenv("no_proxy", "10.0.0.0/99")
	if err := configError(t, kafkanat.FromEnvironment()); !strings.Contains(err.Error(), `NO_PROXY entry 1 "10.0.0.0/99"`) {
		t.Errorf("error %q does not name the bad NO_PROXY entry", err)
	}

	t.Setenv("all_proxy", "")
	if got, want := explain(t, "b1.kafka.invalid:9092", kafkanat.FromEnvironment()).String(), "b1.kafka.invalid:9092: no rule: dialed directly"; got != want {
		t.Errorf("with ALL_PROXY unset: %q, want %q", got, want)
	}
}

func TestRulesFileOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.rules")
	if err := os.WriteFile(path, []byte("# office\nkafka:9092 => 127.0.0.1:19092\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dec := explain(t, "kafka:9092", kafkanat.Map("other:1", "127.0.0.1:1"), kafkanat.RulesFile(path))
	if dec.Rule != 2 || dec.Target != "127.0.0.1:19092" {
		t.Errorf("rule %d, target %s; want rule 2, target 127.0.0.1:19092", dec.Rule, dec.Target)
	}

	if err := os.WriteFile(path, []byte("kafka:9092 =>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := configError(t, kafkanat.RulesFile(path)); !strings.Contains(err.Error(), path+" line 1") {
		t.Errorf("error %q does not name %s line 1", err, path)
	}

	if err := configError(t, kafkanat.RulesFile(filepath.Join(t.TempDir(), "missing"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %q does not match os.ErrNotExist", err)
	}
}

func TestHookOption(t *testing.T) {
	a := testnet.Echo(t)
	var dials, closes int
	dial := kafkanat.New(kafkanat.Map("x.invalid:1", a), kafkanat.Hook(dialer.HookFuncs{
		Dial:  func(dialer.DialEvent) { dials++ },
		Close: func(dialer.CloseEvent) { closes++ },
	}))
	c, err := dial.Dial("tcp", "x.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if dials != 1 || closes != 1 {
		t.Errorf("hook saw %d dials and %d closes, want 1 and 1", dials, closes)
	}
	configError(t, kafkanat.Hook(nil))
}

// A Via after FromEnvironment replaces the environment's route and its
// NO_PROXY list together.
func TestViaAfterFromEnvironmentDropsNoProxy(t *testing.T) {
	t.Setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
	t.Setenv("NO_PROXY", ".corp.invalid")
	if got, want := explain(t, "db.corp.invalid:5432", kafkanat.FromEnvironment()).String(), "db.corp.invalid:5432: no rule: dialed directly"; got != want {
		t.Errorf("with the environment: %q, want %q", got, want)
	}
	if got, want := explain(t, "db.corp.invalid:5432", kafkanat.FromEnvironment(), kafkanat.Via("http://127.0.0.1:3128")).String(), "db.corp.invalid:5432: no rule: dialed via http://127.0.0.1:3128"; got != want {
		t.Errorf("after a later Via: %q, want %q", got, want)
	}
}

// A name is accepted by Route exactly when a rule can use it.
func TestRouteNameUsableInRules(t *testing.T) {
	a := testnet.Echo(t)
	for _, name := range []string{"a=>b", "via", "deny", "direct", "a b", "a,b", "gw://x", ""} {
		err := configError(t, kafkanat.Route(name, testnet.DialFunc(nil)))
		if !strings.Contains(err.Error(), "Route(") {
			t.Errorf("Route(%q): %v, want an error naming the option", name, err)
		}
	}
	dial := kafkanat.New(kafkanat.Route("k8s.port-forward", &countingRoute{}), kafkanat.Rules("x.invalid:1 => "+a+" via k8s.port-forward"))
	if got := info(t, dial, "x.invalid:1").Route; got != "k8s.port-forward" {
		t.Errorf("route %q, want k8s.port-forward", got)
	}
}

// Hook options add up.
func TestHooksCombine(t *testing.T) {
	a := testnet.Echo(t)
	var first, second, third int
	dial := kafkanat.New(kafkanat.Map("x.invalid:1", a),
		kafkanat.Hook(dialer.HookFuncs{Dial: func(dialer.DialEvent) { first++ }}),
		kafkanat.Hook(dialer.HookFuncs{Dial: func(dialer.DialEvent) { second++ }}),
		kafkanat.Hook(dialer.HookFuncs{Dial: func(dialer.DialEvent) { third++ }}))
	c, err := dial.Dial("tcp", "x.invalid:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if first != 1 || second != 1 || third != 1 {
		t.Errorf("hooks saw %d, %d and %d dials, want 1 each", first, second, third)
	}
}

// A password holding "," in a Via list is neither split nor shown.
func TestViaPasswordWithComma(t *testing.T) {
	dec := explain(t, "b.invalid:9092", kafkanat.Via("socks5://u:s3c,r3t@127.0.0.1:1080, direct"))
	if got, want := strings.Join(dec.Routes, " | "), "socks5://u:xxxxx@127.0.0.1:1080 | direct"; got != want {
		t.Errorf("routes %q, want %q", got, want)
	}
	err := configError(t, kafkanat.Via("socks5://u:s3c,r3t@127.0.0.1:1080,"))
	if strings.Contains(err.Error(), "s3c") || strings.Contains(err.Error(), "r3t") {
		t.Errorf("error shows the password: %v", err)
	}
}

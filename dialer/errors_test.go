package dialer_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// A proxy route's failure reads once, with the route named by the Error
// and the step and cause by the route's error.
func TestRouteErrorMessage(t *testing.T) {
	srv, err := testkit.NewSOCKS5Server()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	target := testnet.ClosedPort(t)
	closed := testnet.ClosedPort(t)
	for _, tc := range []struct{ rule, want string }{
		{"a.invalid:9092 => " + target + " via " + srv.URL(),
			fmt.Sprintf("kafkanat: dial a.invalid:9092 => %s via %s (rule 1): the proxy could not connect to %s: connection refused", target, srv.URL(), target)},
		{"a.invalid:9092 => " + target + " via socks5://" + closed + ", " + srv.URL(),
			fmt.Sprintf("kafkanat: dial a.invalid:9092 => %s via socks5://%s, %s (rule 1): socks5://%s: cannot reach the proxy: dial tcp %s: connect: connection refused; %s: the proxy could not connect to %s: connection refused",
				target, closed, srv.URL(), closed, closed, srv.URL(), target)},
	} {
		d := newDialer(t, dialer.Config{Rules: rules(t, tc.rule)})
		_, err := d.Dial("tcp", "a.invalid:9092")
		if err == nil || err.Error() != tc.want {
			t.Errorf("error\n %v\nwant\n %s", err, tc.want)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Errorf("errors.As(%v, *net.OpError) = false", err)
		}
	}
}

// Messages from package rewrite and malformed addresses read once too.
func TestErrorMessagesFromRules(t *testing.T) {
	d := newDialer(t, dialer.Config{Rules: rules(t, "a.invalid:{p} => b.invalid:{p+70000}")})
	for _, tc := range []struct{ address, want string }{
		{"a.invalid:9092", "kafkanat: dial a.invalid:9092 (rule 1): rule 1 (rules line 1, column 1): "},
		{":9092", `kafkanat: dial :9092: malformed address ":9092": no host`},
		{"a b:9092", `kafkanat: dial a b:9092: malformed address "a b:9092": a character not allowed in host:port`},
		{"a\n:9092", `kafkanat: dial a\n:9092: malformed address "a\n:9092": a control character in host:port`},
		{"a.invalid:0", `kafkanat: dial a.invalid:0: malformed address "a.invalid:0": port "0" is not a number in 1..65535`},
	} {
		_, err := d.Dial("tcp", tc.address)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Dial(%q) = %v, want a message starting %q", tc.address, err, tc.want)

		}
	}
}

func TestConfigErrorMessages(t *testing.T) {
	_, err := dialer.New(dialer.Config{Rules: rules(t, "a.invalid via nowhere")})
	if want := `kafkanat: rules line 1, column 15: unknown route "nowhere": not "direct", a route URL, or a name given with Route`; err == nil || err.Error() != want {
		t.Errorf("New = %v, want %q", err, want)
	}
	err = dialer.ConfigError(errors.New("option is nil"))
	if want := "kafkanat: option is nil"; err.Error() != want || !errors.Is(err, dialer.ErrConfig) {
		t.Errorf("ConfigError = %v, want %q matching ErrConfig", err, want)
	}
}

// A host longer than any DNS name is malformed, and a message shows only
// the start of an address and its length, however long the address is.
func TestLongAddressesAreRefusedAndClipped(t *testing.T) {
	d := newDialer(t, dialer.Config{Rules: rules(t, "* deny")})
	longest := strings.Repeat("a", 253) + ":9092"
	_, err := d.Dial("tcp", longest)
	if !errors.Is(err, dialer.ErrNoRoute) || !strings.Contains(err.Error(), longest) {
		t.Errorf("a 253-byte host: got %v, want it denied by the rule, the address in full", err)
	}
	for _, host := range []string{strings.Repeat("a", 254), strings.Repeat("é", 40000)} {
		addr := host + ":9092"
		_, err := d.Dial("tcp", addr)
		if err == nil || errors.Is(err, dialer.ErrNoRoute) {
			t.Fatalf("a %d-byte host: got %v, want it refused as malformed", len(host), err)
		}
		msg := err.Error()
		if want := "host longer than 253 bytes, the DNS name limit"; !strings.Contains(msg, want) {
			t.Errorf("a %d-byte host: message %.200q does not say %q", len(host), msg, want)
		}
		if want := fmt.Sprintf("... (%d bytes)", len(addr)); len(addr) > 300 && !strings.Contains(msg, want) {
			t.Errorf("a %d-byte host: message %.200q does not give the length %q", len(host), msg, want)
		}
		if len(msg) > 1000 {
			t.Errorf("a %d-byte address gives a %d-byte message, want the address clipped", len(addr), len(msg))
		}
		if !utf8.ValidString(msg) {
			t.Errorf("a %d-byte host: clipping cut a character: %.200q", len(host), msg)
		}
	}
}

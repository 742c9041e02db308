package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/rewrite"
)

// refuser is a Dialer's direct route that records every address it is
// asked for and connects to none: what the fuzzer builds must never touch
// the network.
type refuser struct {
	mu    sync.Mutex
	asked []string
}

func (r *refuser) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.asked = append(r.asked, address)
	r.mu.Unlock()
	return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("fuzz: not dialed")}
}

// routedViaDirect reports whether every route the rules name dials
// through Config.Direct (direct, SOCKS5 and HTTP CONNECT do); any other
// (a name, ssh://) would dial on its own, so the input is skipped.
func routedViaDirect(rules []rewrite.Rule) bool {
	for _, r := range rules {
		for _, ref := range r.Routes {
			if ref.Name == "direct" {
				continue
			}
			scheme, _, ok := strings.Cut(ref.Name, "://")
			switch strings.ToLower(scheme) {
			case "socks5", "socks5h", "http", "https":
				if ok {
					continue
				}
			}
			return false
		}
	}
	return true
}

// FuzzDial dials arbitrary addresses through arbitrary rule tables. The
// Dialer must never panic or connect (nothing can: every attempt goes to
// a refuser), every error must be a *dialer.Error for the address that
// franz-go would treat as a dial error, Explain must agree with the dial
// about refusals, a malformed address must reach no route, and no route
// password may appear in an error or an Explain.
func FuzzDial(f *testing.F) {
	for _, seed := range []struct{ rules, address string }{
		{"b0.kafka.internal.invalid:9092 => 127.0.0.1:9092", "b0.kafka.internal.invalid:9092"},
		{"*.kafka.internal.invalid => 127.0.0.1", "b1.kafka.internal.invalid:9093"},
		{"b{n}.kafka.internal.invalid:{p} => 127.0.0.1:{31090+n}", "b7.kafka.internal.invalid:9092"},
		{"b{n}.x:{p} => 127.0.0.1:{p+60000}", "b1.x:9092"},
		{`~^b(\d+)\.x:(\d+)$ => 127.0.0.1:{2}`, "b12.x:1"},
		{"* via socks5://alice:s3cret-pass@127.0.0.1:1080", "anything.invalid:9092"},
		{"x:1 => y:2 via http://bob:an0ther-pass@127.0.0.1:3128, direct", "x:1"},
		{"[::1]:9092 => [::1]:19092", "[::1]:9092"},
		{"a deny; * => 127.0.0.1:1", "a:1"},
		{"* => 127.0.0.1:1", "::1:9092"},
		{"* => 127.0.0.1:1", ""},
		{"* => 127.0.0.1:1", "host:99999"},
		{"{h}:{p} => {h}:{p}", "b0\r\nx:1"},
		{"", "b0.kafka.internal.invalid:9092"},
	} {
		f.Add(seed.rules, seed.address)
	}
	f.Fuzz(func(t *testing.T, rulesText, address string) {
		rules, err := rewrite.Parse("fuzz", rulesText)
		if err != nil || !routedViaDirect(rules) {
			return
		}
		rec := new(refuser)
		d, err := dialer.New(dialer.Config{Rules: rules, Direct: rec, DialTimeout: time.Second})
		if err != nil {
			if !errors.Is(err, dialer.ErrConfig) {
				t.Fatalf("dialer.New: %v does not match ErrConfig", err)
			}
			return
		}
		defer d.Close()
		ctx := context.Background()

		c, err := d.DialContext(ctx, "tcp", address)
		if c != nil {
			c.Close()
			t.Fatalf("connected to %q, though nothing can connect", address)
		}
		var de *dialer.Error
		if !errors.As(err, &de) || de.Address != address {
			t.Fatalf("DialContext(%q) = %v (%T), want a *dialer.Error for the address", address, err, err)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("DialContext(%q) = %v: no *net.OpError with Op dial", address, err)
		}
		dec, xerr := d.Explain(ctx, address)
		if errors.Is(err, dialer.ErrNoRoute) != dec.Refused {
			t.Fatalf("dial error %v, but Explain says refused=%v", err, dec.Refused)
		}
		rec.mu.Lock()
		asked := append([]string(nil), rec.asked...)
		rec.mu.Unlock()
		switch {
		case xerr != nil || dec.Refused:
			if len(asked) > 0 {
				t.Fatalf("address %q (%v) reached a route: %q", address, err, asked)
			}
		case len(asked) == 0:
			t.Fatalf("dial of %q failed (%v) without trying a route; Explain: %s", address, err, dec)
		case len(dec.Routes) == 1 && dec.Routes[0] == "direct" && asked[0] != dec.Target:
			t.Fatalf("direct dial of %q asked for %q, Explain says %q", address, asked[0], dec.Target)
		}
		printed := err.Error() + "\n" + dec.String() + fmt.Sprintf("\n%+v", dec)
		if xerr != nil {
			printed += "\n" + xerr.Error()
		}
		for _, r := range rules {
			for _, ref := range r.Routes {
				u, perr := url.Parse(ref.Name)
				if perr != nil || u.User == nil {
					continue
				}
				if pass, ok := u.User.Password(); ok && len(pass) >= 6 && strings.Contains(printed, ":"+pass+"@") {
					t.Fatalf("password of %s printed: %s", u.Redacted(), printed)
				}
			}
		}
	})
}

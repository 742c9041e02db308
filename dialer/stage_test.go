package dialer_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// stageHook records the stage of every failed route attempt.
type stageHook struct {
	mu     sync.Mutex
	stages []dialer.Stage
}

func (h *stageHook) DialDone(e dialer.DialEvent) {
	if e.Err != nil {
		h.mu.Lock()
		h.stages = append(h.stages, dialer.StageOf(e.Err))
		h.mu.Unlock()
	}
}

func (h *stageHook) ConnClosed(dialer.CloseEvent) {}

// Each way a dial can fail is classified by the stage it failed at, from
// the dial's error and from the hook's event alike.
func TestStageOf(t *testing.T) {
	closed := testnet.ClosedPort(t)
	echo := testnet.Echo(t)
	refuse := func(context.Context, string, string) (net.Conn, error) { return nil, syscall.ECONNREFUSED }
	socks, err := testkit.NewSOCKS5Server(testkit.WithDialer(refuse))
	if err != nil {
		t.Fatal(err)
	}
	defer socks.Close()
	authHTTP, err := testkit.NewHTTPProxy(testkit.WithCredentials("alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer authHTTP.Close()
	bastion, err := testkit.NewSSHServer(testkit.WithSSHPassword("alice", "pw"), testkit.WithSSHDialer(refuse))
	if err != nil {
		t.Fatal(err)
	}
	defer bastion.Close()
	ssh := func(password string) string {
		return "ssh://alice:" + password + "@" + bastion.Addr() + "?insecure_ignore_host_key=true"
	}
	ca, err := testkit.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("other.invalid")
	if err != nil {
		t.Fatal(err)
	}
	tlsServer := testnet.ServeListener(t, tlsListener(t, cert), func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	hangUp := testnet.Serve(t, func(c net.Conn) { c.Close() })
	httpPeer := testnet.Serve(t, func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") })

	for _, tc := range []struct {
		name  string
		rules string
		tls   bool
		want  dialer.Stage
	}{
		{"unresolvable target", "a.invalid:1 via direct", false, dialer.StageResolve},
		{"closed target", "a.invalid:1 => " + closed, false, dialer.StageConnect},
		{"unresolvable proxy", "a.invalid:1 => " + echo + " via socks5://gw.invalid:1080", false, dialer.StageResolve},
		{"closed proxy", "a.invalid:1 => " + echo + " via socks5://" + closed, false, dialer.StageConnect},
		{"SOCKS5 proxy refuses the target", "a.invalid:1 => " + echo + " via " + socks.URL(), false, dialer.StageHandshake},
		{"HTTP proxy wants credentials", "a.invalid:1 => " + echo + " via http://" + authHTTP.Addr(), false, dialer.StageHandshake},
		{"closed bastion", "a.invalid:1 => " + echo + " via ssh://alice:pw@" + closed + "?insecure_ignore_host_key=true", false, dialer.StageConnect},
		{"bastion rejects the password", "a.invalid:1 => " + echo + " via " + ssh("wrong"), false, dialer.StageHandshake},
		{"bastion refuses the channel", "a.invalid:1 => " + echo + " via " + ssh("pw"), false, dialer.StageChannel},
		{"certificate for another name", "a.invalid:1 => " + tlsServer.Addr(), true, dialer.StageTLS},
		{"plaintext peer", "a.invalid:1 => " + httpPeer.Addr(), true, dialer.StageTLS},
		// A peer that hangs up or echoes the client's hello fails TLS too.
		{"peer hangs up during TLS", "a.invalid:1 => " + hangUp.Addr(), true, dialer.StageTLS},
		{"peer echoes during TLS", "a.invalid:1 => " + echo, true, dialer.StageTLS},
		{"denied", "a.invalid:1 deny", false, ""},
		{"furthest of several routes", "a.invalid:1 => " + echo + " via socks5://" + closed + ", " + ssh("pw"), false, dialer.StageChannel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := &stageHook{}
			cfg := dialer.Config{Rules: rules(t, tc.rules), Hook: hook}
			if tc.tls {
				cfg.TLS = &tls.Config{RootCAs: ca.Pool()}
			}
			d := newDialer(t, cfg)
			defer d.Close()
			c, err := d.DialContext(context.Background(), "tcp", "a.invalid:1")
			if err == nil {
				c.Close()
				t.Fatal("the dial succeeded")
			}
			if got := dialer.StageOf(err); got != tc.want {
				t.Errorf("StageOf(%v) = %q, want %q", err, got, tc.want)
			}
			hook.mu.Lock()
			defer hook.mu.Unlock()
			if tc.want != "" && (len(hook.stages) == 0 || hook.stages[len(hook.stages)-1] != tc.want) {
				t.Errorf("the hook's events classify as %q, want the last to be %q", hook.stages, tc.want)
			}
		})
	}
	if got := dialer.StageOf(nil); got != "" {
		t.Errorf("StageOf(nil) = %q", got)
	}
	if got := dialer.StageOf(fmt.Errorf("wrapped: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})); got != dialer.StageConnect {
		t.Errorf("StageOf(a named route's dial error) = %q, want %q", got, dialer.StageConnect)
	}
	if got := dialer.StageOf(errors.New("a named route's own error")); got != "" {
		t.Errorf("StageOf(an unknown error) = %q, want \"\"", got)
	}
}

// tlsListener listens on loopback with cert.
func tlsListener(t *testing.T, cert tls.Certificate) net.Listener {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

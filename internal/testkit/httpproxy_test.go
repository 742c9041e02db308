package testkit_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/internal/testkit"
)

func proxyHTTP(t *testing.T, opts ...testkit.ProxyOption) *testkit.HTTPProxy {
	t.Helper()
	p, err := testkit.NewHTTPProxy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// httpExchange writes request on a new conn to addr and reads the reply.
// The returned reader holds what follows the reply.
func httpExchange(t *testing.T, addr, request string) (*net.TCPConn, *bufio.Reader, *http.Response) {
	t.Helper()
	c := proxyDial(t, addr)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading the reply to %q: %v", request, err)
	}
	return c, br, resp
}

func connectRequest(target, extraHeader string) string {
	return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + extraHeader + "\r\n"
}

func TestHTTPProxyConnect(t *testing.T) {
	echo := proxyEcho(t)
	p := proxyHTTP(t)
	// Bytes right behind the request, in the same write, reach the target.
	c, br, resp := httpExchange(t, p.Addr(), connectRequest(echo, "")+"early")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %q, want 200", resp.Status)
	}
	io.WriteString(c, " and late")
	want := "early and late"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
		t.Fatalf("echo %q, %v; want %q", got, err, want)
	}
	if got := p.Targets(); !slices.Equal(got, []string{echo}) {
		t.Errorf("Targets() = %q, want [%s]", got, echo)
	}
}

func TestHTTPProxyTargetsAsSent(t *testing.T) {
	echo := proxyEcho(t)
	p := proxyHTTP(t, testkit.WithDialer(proxyDialTo(echo)))
	targets := []string{"b1.kafka.internal.invalid:9092", "[::1]:9093", "10.0.0.5:31090"}
	for _, target := range targets {
		if _, _, resp := httpExchange(t, p.Addr(), connectRequest(target, "")); resp.StatusCode != http.StatusOK {
			t.Errorf("CONNECT %s: %s", target, resp.Status)
		}
	}
	if got := p.Targets(); !slices.Equal(got, targets) {
		t.Errorf("Targets() = %q, want %q", got, targets)
	}
}

func TestHTTPProxyRefusals(t *testing.T) {
	refused := proxyClosedPort(t)
	p := proxyHTTP(t, testkit.WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		switch address {
		case "refused.invalid:9092":
			var d net.Dialer
			return d.DialContext(ctx, network, refused)
		case "slow.invalid:9092":
			return nil, fmt.Errorf("dial: %w", os.ErrDeadlineExceeded)
		}
		return nil, errors.New("unexpected target " + address)
	}))
	for _, tc := range []struct {
		name, request string
		status        int
		header        string // a header the reply must have, "Name: value"
	}{
		{"GET", "GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "Allow: CONNECT"},
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 405, "Allow: CONNECT"},
		{"NoPort", connectRequest("b1.kafka.internal.invalid", ""), 400, ""},
		{"NotHTTP", "\x16\x03\x01\x00\x05hello\r\n\r\n", 400, ""},
		{"HugeHeader", "CONNECT x.invalid:1 HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", 70000) + "\r\n\r\n", 431, ""},
		{"Refused", connectRequest("refused.invalid:9092", ""), 502, ""},
		{"Timeout", connectRequest("slow.invalid:9092", ""), 504, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br, resp := httpExchange(t, p.Addr(), tc.request)
			if resp.StatusCode != tc.status {
				t.Errorf("status %q, want %d", resp.Status, tc.status)
			}
			if name, value, ok := strings.Cut(tc.header, ": "); ok && resp.Header.Get(name) != value {
				t.Errorf("%s: %q, want %q", name, resp.Header.Get(name), value)
			}
			io.Copy(io.Discard, resp.Body)
			if n, err := br.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isReset(err)) {
				t.Errorf("after the reply read %d bytes, %v; want the conn closed", n, err)
			}
			c.Close()
		})
	}
	want := []string{"refused.invalid:9092", "slow.invalid:9092"}
	if got := p.Targets(); !slices.Equal(got, want) {
		t.Errorf("Targets() = %q, want only the well-formed CONNECTs %q", got, want)
	}
}

func isReset(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestHTTPProxyAuth(t *testing.T) {
	echo := proxyEcho(t)
	p := proxyHTTP(t, testkit.WithCredentials("alice", "s3cret"))
	basic := func(userPass string) string {
		return "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(userPass)) + "\r\n"
	}
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"None", "", 407},
		{"WrongPassword", basic("alice:guess"), 407},
		{"WrongUser", basic("bob:s3cret"), 407},
		{"NoColon", basic("alices3cret"), 407},
		{"NotBase64", "Proxy-Authorization: Basic !!!\r\n", 407},
		{"Bearer", "Proxy-Authorization: Bearer s3cret\r\n", 407},
		{"Right", basic("alice:s3cret"), 200},
		{"RightLowercaseScheme", "Proxy-Authorization: basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + "\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, resp := httpExchange(t, p.Addr(), connectRequest(echo, tc.header))
			if resp.StatusCode != tc.status {
				t.Errorf("status %q, want %d", resp.Status, tc.status)
			}
			if got := resp.Header.Get("Proxy-Authenticate"); tc.status == 407 && !strings.HasPrefix(got, "Basic ") {
				t.Errorf("Proxy-Authenticate: %q, want a Basic challenge", got)
			}
		})
	}
	if got := p.Targets(); !slices.Equal(got, []string{echo, echo}) {
		t.Errorf("Targets() = %q, want only the two authenticated requests", got)
	}
}

func TestHTTPProxyHalfClose(t *testing.T) {
	counter := proxyCounter(t)
	p := proxyHTTP(t)
	c, br, resp := httpExchange(t, p.Addr(), connectRequest(counter, ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %q", resp.Status)
	}
	proxyHalfClose(t, c, br)
}

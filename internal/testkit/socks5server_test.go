package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/testkit"
)

func proxySOCKS5(t *testing.T, opts ...testkit.ProxyOption) *testkit.SOCKS5Server {
	t.Helper()
	s, err := testkit.NewSOCKS5Server(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// socksRequest is a SOCKS5 request (VER CMD RSV ATYP DST.ADDR DST.PORT)
// for target, with the address type its host calls for.
func socksRequest(t *testing.T, cmd byte, target string) []byte {
	t.Helper()
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{5, cmd, 0}
	if ip := net.ParseIP(host); ip == nil {
		b = append(b, 3, byte(len(host)))
		b = append(b, host...)
	} else if ip4 := ip.To4(); ip4 != nil {
		b = append(b, 1)
		b = append(b, ip4...)
	} else {
		b = append(b, 4)
		b = append(b, ip...)
	}
	return append(b, byte(port>>8), byte(port))
}

// socksSession negotiates on a new conn to the server (user/password when
// user is not empty), sends request and returns the conn and the reply
// code, or -1 when the server hung up before replying.
func socksSession(t *testing.T, addr, user, password string, request []byte) (*net.TCPConn, int) {
	t.Helper()
	c := proxyDial(t, addr)
	method := byte(0)
	if user != "" {
		method = 2
	}
	c.Write([]byte{5, 1, method})
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	if b != [2]byte{5, method} {
		t.Fatalf("method selection %v, want [5 %d]", b, method)
	}
	if user != "" {
		auth := []byte{1, byte(len(user))}
		auth = append(auth, user...)
		auth = append(auth, byte(len(password)))
		auth = append(auth, password...)
		c.Write(auth)
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatal(err)
		}
		if b != [2]byte{1, 0} {
			t.Fatalf("authentication reply %v, want [1 0]", b)
		}
	}
	c.Write(request)
	return c, socksReadReply(t, c)
}

// socksReadReply reads a reply and returns its code, or -1 at EOF.
func socksReadReply(t *testing.T, c net.Conn) int {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return -1
	}
	n := map[byte]int{1: 4, 4: 16}[hdr[3]]
	if n == 0 {
		t.Fatalf("reply %v has bound address type %d, want IPv4 or IPv6", hdr, hdr[3])
	}
	if _, err := io.ReadFull(c, make([]byte, n+2)); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 5 || hdr[2] != 0 {
		t.Fatalf("reply header %v", hdr)
	}
	return int(hdr[1])
}

// TestSOCKS5ServerWithXNetClient uses golang.org/x/net/proxy as the client.
func TestSOCKS5ServerWithXNetClient(t *testing.T) {
	echo := proxyEcho(t)
	for _, tc := range []struct {
		name string
		opts []testkit.ProxyOption
		auth *proxy.Auth
	}{
		{"NoAuth", nil, nil},
		{"UserPassword", []testkit.ProxyOption{testkit.WithCredentials("alice", "s3cret")}, &proxy.Auth{User: "alice", Password: "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := proxySOCKS5(t, tc.opts...)
			d, err := proxy.SOCKS5("tcp", s.Addr(), tc.auth, &net.Dialer{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Dial("tcp", echo)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "ping")
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo %q, %v", buf, err)
			}
			if got := s.Targets(); !slices.Equal(got, []string{echo}) {
				t.Errorf("Targets() = %q, want [%s]", got, echo)
			}
		})
	}
}

func TestSOCKS5ServerAddressTypes(t *testing.T) {
	echo4 := proxyEcho(t)
	_, port4, _ := net.SplitHostPort(echo4)
	targets := []string{echo4, "echo.kafkanat.invalid:" + port4}
	var echo6 string
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		echo6 = proxyServe6(t)
		targets = append(targets, echo6)
	} else {
		t.Logf("no IPv6 loopback (%v): IPv6 target not tested", err)
	}
	s := proxySOCKS5(t, testkit.WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == targets[1] {
			address = echo4
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}))
	for _, target := range targets {
		c, code := socksSession(t, s.Addr(), "", "", socksRequest(t, 1, target))
		if code != 0 {
			t.Fatalf("CONNECT %s: reply %d", target, code)
		}
		io.WriteString(c, target)
		buf := make([]byte, len(target))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != target {
			t.Errorf("CONNECT %s: echo %q, %v", target, buf, err)
		}
	}
	if got := s.Targets(); !slices.Equal(got, targets) {
		t.Errorf("Targets() = %q, want %q", got, targets)
	}
}

// proxyServe6 is an echo server on [::1].
func proxyServe6(t *testing.T) string {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c) // one conn at a time is all this test needs
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestSOCKS5ServerAuth(t *testing.T) {
	echo := proxyEcho(t)
	s := proxySOCKS5(t, testkit.WithCredentials("alice", "s3cret"))

	t.Run("NoAuthOffered", func(t *testing.T) {
		c := proxyDial(t, s.Addr())
		c.Write([]byte{5, 1, 0})
		if got, _ := io.ReadAll(c); string(got) != "\x05\xff" {
			t.Errorf("reply %v, want [5 255] and EOF", got)
		}
	})
	for _, tc := range []struct{ name, user, password string }{
		{"WrongPassword", "alice", "guess"},
		{"WrongUser", "bob", "s3cret"},
		{"Empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := proxyDial(t, s.Addr())
			req := []byte{5, 1, 2, 1, byte(len(tc.user))}
			req = append(req, tc.user...)
			req = append(req, byte(len(tc.password)))
			req = append(req, tc.password...)
			c.Write(req)
			if got, _ := io.ReadAll(c); string(got) != "\x05\x02\x01\x01" {
				t.Errorf("replies %v, want [5 2] [1 1] and EOF", got)
			}
		})
	}
	t.Run("Right", func(t *testing.T) {
		if _, code := socksSession(t, s.Addr(), "alice", "s3cret", socksRequest(t, 1, echo)); code != 0 {
			t.Errorf("reply %d, want 0", code)
		}
	})
	if got := s.Targets(); !slices.Equal(got, []string{echo}) {
		t.Errorf("Targets() = %q, want only the authenticated [%s]", got, echo)
	}
}

func TestSOCKS5ServerReplyCodes(t *testing.T) {
	refused := proxyClosedPort(t)
	s := proxySOCKS5(t, testkit.WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(address)
		switch host {
		case "refused.invalid":
			var d net.Dialer
			return d.DialContext(ctx, network, refused)
		case "hostunreach.invalid":
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}
		case "netunreach.invalid":
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ENETUNREACH}
		case "nxdomain.invalid":
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		case "timeout.invalid":
			return nil, fmt.Errorf("dial: %w", context.DeadlineExceeded)
		}
		return nil, errors.New("no route to " + address)
	}))
	for _, tc := range []struct {
		name    string
		request []byte
		want    int
	}{
		{"ConnectionRefused", socksRequest(t, 1, "refused.invalid:9092"), 5},
		{"HostUnreachable", socksRequest(t, 1, "hostunreach.invalid:9092"), 4},
		{"NetworkUnreachable", socksRequest(t, 1, "netunreach.invalid:9092"), 3},
		{"UnknownName", socksRequest(t, 1, "nxdomain.invalid:9092"), 4},
		{"Timeout", socksRequest(t, 1, "timeout.invalid:9092"), 4},
		{"GeneralFailure", socksRequest(t, 1, "other.invalid:9092"), 1},
		{"EmptyName", []byte{5, 1, 0, 3, 0, 0x23, 0x84}, 1},
		{"Bind", socksRequest(t, 2, "127.0.0.1:9092"), 7},
		{"UDPAssociate", socksRequest(t, 3, "127.0.0.1:9092"), 7},
		{"UnknownAddressType", []byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, code := socksSession(t, s.Addr(), "", "", tc.request)
			if code != tc.want {
				t.Errorf("reply %d, want %d", code, tc.want)
			}
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Errorf("after the reply: %q, %v; want EOF", rest, err)
			}
		})
	}
	want := []string{"refused.invalid:9092", "hostunreach.invalid:9092", "netunreach.invalid:9092",
		"nxdomain.invalid:9092", "timeout.invalid:9092", "other.invalid:9092", ":9092"}
	if got := s.Targets(); !slices.Equal(got, want) {
		t.Errorf("Targets() = %q, want the CONNECT targets %q", got, want)
	}
}

func TestSOCKS5ServerHalfClose(t *testing.T) {
	counter := proxyCounter(t)
	s := proxySOCKS5(t)
	c, code := socksSession(t, s.Addr(), "", "", socksRequest(t, 1, counter))
	if code != 0 {
		t.Fatalf("reply %d", code)
	}
	proxyHalfClose(t, c, c)
}

func TestSOCKS5ServerRejectsOtherProtocols(t *testing.T) {
	s := proxySOCKS5(t)
	for _, hello := range []string{"GET / HTTP/1.1\r\n\r\n", "\x04\x01\x00\x50\x7f\x00\x00\x01\x00"} {
		c := proxyDial(t, s.Addr())
		io.WriteString(c, hello)
		if got, err := io.ReadAll(c); len(got) != 0 {
			t.Errorf("answer to %q: %q, %v; want a silent close", hello, got, err)
		}
	}
	if got := s.Targets(); len(got) != 0 {
		t.Errorf("Targets() = %q, want none", got)
	}
	if u, _ := url.Parse(s.URL()); u.User != nil {
		t.Errorf("URL() = %s has credentials; none were configured", s.URL())
	}
}

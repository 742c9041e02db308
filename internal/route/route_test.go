package route_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"github.com/kafkanat/kafkanat/internal/route"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var socksSpec = route.Spec{Kind: "SOCKS5 route", Schemes: []string{"socks5", "socks5h"}}

func TestParse(t *testing.T) {
	sshSpec := route.Spec{Kind: "SSH route", Schemes: []string{"ssh"}, Query: true, UserRequired: true}
	for _, tc := range []struct {
		spec      route.Spec
		url, want string
	}{
		{socksSpec, "socks5://gw", "socks5://gw:1080"},
		{socksSpec, "SOCKS5H://alice:s3cret@GW:1081/", "socks5h://alice:s3cret@GW:1081"},
		{socksSpec, "socks5://[::1]", "socks5://[::1]:1080"},
		{route.Spec{Kind: "HTTP proxy route", Schemes: []string{"http", "https"}}, "https://proxy", "https://proxy:443"},
		{sshSpec, "ssh://alice@bastion?key=/k", "ssh://alice@bastion:22?key=/k"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if tc.url[:6] == "SOCKS5" {
			u.Scheme = "SOCKS5H" // url.Parse lowercases; a hand-made URL may not
		}
		got, err := tc.spec.Parse(u)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.url, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("Parse(%s) = %s, want %s", tc.url, got, tc.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	sshSpec := route.Spec{Kind: "SSH route", Schemes: []string{"ssh"}, Query: true, UserRequired: true}
	for _, tc := range []struct {
		spec      route.Spec
		url, want string
	}{
		{socksSpec, "http://gw:1080", `invalid SOCKS5 route http://gw:1080: scheme "http" is not socks5 or socks5h`},
		{sshSpec, "socks5://a@gw", `invalid SSH route socks5://a@gw: scheme "socks5" is not ssh`},
		{socksSpec, "socks5:gw:1080", "invalid SOCKS5 route socks5:gw:1080: no host (write socks5://host:port)"},
		{sshSpec, "ssh:alice@gw", "invalid SSH route ssh:alice@gw: no host (write ssh://user@host:port)"},
		{socksSpec, "socks5://:1080", "invalid SOCKS5 route socks5://:1080: no host"},
		{socksSpec, "socks5://gw:", "invalid SOCKS5 route socks5://gw:: empty port"},
		{socksSpec, "socks5://gw:0", `invalid SOCKS5 route socks5://gw:0: port "0" is not a number in 1..65535`},
		{socksSpec, "socks5://gw/x", `invalid SOCKS5 route socks5://gw/x: unexpected path "/x"`},
		{socksSpec, "socks5://gw?a=b", `invalid SOCKS5 route socks5://gw: unexpected query "a=b"`},
		{socksSpec, "socks5://gw?", `invalid SOCKS5 route socks5://gw: unexpected query ""`},
		{socksSpec, "socks5://gw#f", `invalid SOCKS5 route socks5://gw#f: unexpected fragment "f"`},
		{socksSpec, "socks5://:s3cret@gw", "invalid SOCKS5 route socks5://:xxxxx@gw: empty user name"},
		{sshSpec, "ssh://gw", "invalid SSH route ssh://gw: no user (write ssh://user@gw:22)"},
		{sshSpec, "ssh://:s3cret@gw?key=x", "invalid SSH route ssh://:xxxxx@gw: no user (write ssh://user@gw:22)"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tc.spec.Parse(u)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%s) = %v, want %q", tc.url, err, tc.want)
		}
		var ue *route.URLError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%s) error is %T, want *URLError", tc.url, err)
		}
	}
	// A hand-made URL may hold what url.Parse refuses.
	if _, err := socksSpec.Parse(&url.URL{Scheme: "socks5", Host: "g w\n:1080"}); err == nil ||
		!strings.Contains(err.Error(), "host contains a character not allowed in a host name") {
		t.Errorf("Parse of a host with a space = %v", err)
	}
	if _, err := socksSpec.Parse(nil); err == nil {
		t.Error("Parse(nil) succeeded")
	}
}

func TestErrorfWraps(t *testing.T) {
	_, err := os.Open("/nonexistent/key")
	e := socksSpec.Errorf(&url.URL{Scheme: "socks5", Host: "gw"}, "reading key: %w", err)
	if !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", e)
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct{ in, def, want, err string }{
		{"gw", "22", "gw:22", ""},
		{"[::1]", "22", "[::1]:22", ""},
		{"gw:2222", "", "gw:2222", ""},
		{"gw", "", "", "empty port"},
		{"gw:", "22", "", "empty port"},
		{":22", "22", "", "no host"},
		{"gw:99999", "22", "", `port "99999" is not a number in 1..65535`},
	} {
		got, err := route.HostPort(tc.in, tc.def)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("HostPort(%q, %q) = %q, %v; want %q, %q", tc.in, tc.def, got, err, tc.want, tc.err)
		}
	}
}

func TestKey(t *testing.T) {
	same := [][]string{
		{"socks5://gw", "SOCKS5://GW:1080", "socks5://gw:1080/"},
		{"socks5://alice:s3cret@gw", "socks5://alice:s3cret@gw:1080"},
		{"http://proxy", "http://proxy:80", "HTTP://Proxy:80/"},
		{"https://proxy", "https://proxy:443"},
		{"ssh://alice@b?key=/k&known_hosts=/h", "ssh://alice@b:22?known_hosts=/h&key=/k"},
		{"socks5://[::1]", "socks5://[::1]:1080"},
	}
	differ := []string{
		"socks5://gw", "socks5h://gw", "socks5://gw:1081", "socks5://alice@gw",
		"socks5://alice:other@gw", "socks5://alice:s3cret@gw", "http://proxy", "https://proxy:80",
		"ssh://alice@b?key=/k&known_hosts=/h", "ssh://alice@b?key=/k2&key=/k", "ssh://alice@b?key=/k&key=/k2",
	}
	key := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return route.Key(u)
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if key(s) != key(group[0]) {
				t.Errorf("Key(%s) = %q, Key(%s) = %q; want them equal", s, key(s), group[0], key(group[0]))
			}
		}
	}
	seen := map[string]string{}
	for _, s := range differ {
		if other, ok := seen[key(s)]; ok {
			t.Errorf("Key(%s) = Key(%s) = %q; want them different", s, other, key(s))
		}
		seen[key(s)] = s
	}
	if got := key("SOCKS5://alice:s3cret@GW"); got != "socks5://alice:s3cret@gw:1080" {
		t.Errorf("Key = %q, want the credentials kept", got)
	}
}

func TestTargetsCheck(t *testing.T) {
	socks := route.Targets{Protocol: "SOCKS5", MaxHost: 255}
	connect := route.Targets{Protocol: "HTTP CONNECT", Forbidden: " /?#@\\"}
	for _, tc := range []struct {
		t                route.Targets
		address, want, e string
	}{
		{socks, "b1.invalid:9092", "b1.invalid:9092", ""},
		{socks, "[::1]:9092", "[::1]:9092", ""},
		{connect, "[b1.invalid]:80", "b1.invalid:80", ""},
		{socks, "b1.invalid", "", "missing port in address"},
		{socks, ":9092", "", "no host"},
		{socks, "b1.invalid:0", "", `port "0" is not a number in 1..65535`},
		{socks, "b1.invalid:http", "", `port "http" is not a number in 1..65535`},
		{socks, "b1\r\n:9092", "", "a control character in host:port"},
		{socks, strings.Repeat("a", 256) + ":1", "", "host longer than 255 bytes, the SOCKS5 limit"},
		{connect, strings.Repeat("a", 256) + ":1", strings.Repeat("a", 256) + ":1", ""},
		{socks, "a b:1", "a b:1", ""},
		{connect, "a b:1", "", "a character not allowed in host:port"},
		{connect, "b1\r\nX: 1:80", "", "a character not allowed in host:port"},
		{connect, "b1\n:80", "", "a control character in host:port"},
	} {
		got, err := tc.t.Check(tc.address)
		if got != tc.want || (err == nil) != (tc.e == "") || (err != nil && err.Error() != tc.e) {
			t.Errorf("%s Check(%q) = %q, %v; want %q, %q", tc.t.Protocol, tc.address, got, err, tc.want, tc.e)
		}
	}
}

func TestCheckDial(t *testing.T) {
	ts := route.Targets{Protocol: "SSH"}
	//lint:ignore SA1012 a nil context must be an error, not a panic
	_, err := ts.CheckDial(nil, "ssh://gw:22", "tcp", "a:1")
	if err == nil || err.Error() != `ssh://gw:22: dial "a:1": nil context` {
		t.Errorf("nil context: %v", err)
	}
	_, err = ts.CheckDial(context.Background(), "ssh://gw:22", "udp", "a:1")
	if err == nil || err.Error() != `ssh://gw:22: dial "a:1": network "udp" not supported (SSH routes carry tcp, tcp4 or tcp6)` {
		t.Errorf("udp: %v", err)
	}
	_, err = ts.CheckDial(context.Background(), "ssh://gw:22", "tcp", "a")
	if err == nil || err.Error() != `ssh://gw:22: dial "a": missing port in address` {
		t.Errorf("no port: %v", err)
	}
	var re *route.Error
	if !errors.As(err, &re) || re.Reason() != `dial "a": missing port in address` {
		t.Errorf("errors.As(*Error) = %v", re)
	}
	if got, err := ts.CheckDial(context.Background(), "ssh://gw:22", "tcp6", "a:1"); got != "a:1" || err != nil {
		t.Errorf("CheckDial = %q, %v", got, err)
	}
}

func TestError(t *testing.T) {
	cause := errors.New("i/o timeout")
	e := &route.Error{Route: "socks5://gw:1080", Step: "CONNECT a:1", Err: cause}
	if got, want := e.Error(), "socks5://gw:1080: CONNECT a:1: i/o timeout"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e = route.NewError(ctx, "socks5://gw:1080", "CONNECT a:1", cause)
	if got, want := e.Error(), "socks5://gw:1080: CONNECT a:1: context canceled"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) || !errors.Is(e, context.Canceled) {
		t.Errorf("%v does not unwrap to its cause and the context's error", e)
	}
	if route.NewError(context.Background(), "r", "s", cause).Context != nil {
		t.Error("a live context is noted as ended")
	}
	if e := route.NewError(context.Background(), "r", "s", cause); e.Stage != "" || e.In(route.StageChannel) != e || e.Stage != route.StageChannel {
		t.Errorf("In(%q) left Stage %q", route.StageChannel, e.Stage)
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := route.ContextError(past); err != context.DeadlineExceeded {
		t.Errorf("ContextError(past deadline) = %v", err)
	}
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	set chan time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.set <- t
	return c.Conn.SetDeadline(t)
}

func pipe(t *testing.T) (*deadlineConn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &deadlineConn{Conn: a, set: make(chan time.Time, 10)}, b
}

func TestHandshakeCopiesDeadlineAndClears(t *testing.T) {
	c, peer := pipe(t)
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go peer.Write([]byte("hi"))
	err := route.Handshake(ctx, c, func() error {
		_, err := io.ReadFull(c, make([]byte, 2))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-c.set; !got.Equal(deadline) {
		t.Errorf("first deadline %v, want ctx's %v", got, deadline)
	}
	if got := <-c.set; !got.IsZero() {
		t.Errorf("deadline after the handshake %v, want none", got)
	}
}

func TestHandshakeCancel(t *testing.T) {
	c, _ := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := route.Handshake(ctx, c, func() error {
		_, err := c.Read(make([]byte, 1)) // the peer never writes
		return err
	})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Handshake = %v, want the interrupted read's timeout", err)
	}
	if route.ContextError(ctx) != context.Canceled {
		t.Errorf("ContextError = %v", route.ContextError(ctx))
	}
	// A deadline in the past interrupted the read; then it was cleared.
	if got := <-c.set; !got.Before(time.Now().Add(-time.Hour)) {
		t.Errorf("interrupting deadline %v, want one long past", got)
	}
	if got := <-c.set; !got.IsZero() {
		t.Errorf("deadline after the handshake %v, want none", got)
	}
}

// An exchange that succeeds although the context ended meanwhile fails
// with the context's error: the interruption may have cut it short.
func TestHandshakeCancelledDuringSuccess(t *testing.T) {
	c, _ := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := route.Handshake(ctx, c, func() error {
		cancel()
		time.Sleep(20 * time.Millisecond) // let the interruption run
		return nil
	})
	if err != context.Canceled {
		t.Errorf("Handshake = %v, want context.Canceled", err)
	}
}

// halfConn is a conn without CloseWrite and CloseRead.
type halfConn struct{ net.Conn }

func TestHalfCloseFallback(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for name, f := range map[string]func(net.Conn) error{"CloseWrite": route.CloseWrite, "CloseRead": route.CloseRead} {
		err := f(halfConn{a})
		var op *net.OpError
		if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &op) || op.Op != "close" {
			t.Errorf("%s of a conn that cannot half-close = %v, want a close OpError wrapping ErrUnsupported", name, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := route.CloseWrite(c); err != nil {
		t.Errorf("CloseWrite of a TCP conn: %v", err)
	}
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("peer read %d, %v after CloseWrite; want EOF", n, err)
	}
	if err := route.CloseRead(c); err != nil {
		t.Errorf("CloseRead of a TCP conn: %v", err)
	}
}

package reliability

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// rogueCase is one hostile proxy: serve plays the proxy's part on a
// conn; the dial must fail with an error containing every string of want
// (or succeed when want is nil) within the guard, without leaking the
// route's password.
type rogueCase struct {
	name    string
	auth    bool          // the route URL carries user:password
	timeout time.Duration // DialTimeout; zero means 5s
	serve   func(c net.Conn)
	want    []string
	notWant []string // what the message must not say (a misleading diagnosis)
	prompt  bool     // the error must come from the proxy's reply, not the dial timeout
}

const (
	rogueUser     = "alice"
	roguePassword = "r0gue-Pa55word"
)

// runRogue dials through a rogue proxy of the given scheme for each case.
func runRogue(t *testing.T, scheme string, cases []rogueCase) {
	noLeak(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.serve)
			route := scheme + "://" + s.addr()
			if tc.auth {
				route = scheme + "://" + rogueUser + ":" + roguePassword + "@" + s.addr()
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			target := closedPort(t) // never reached: the proxy is the rogue
			dial := kafkanat.New(kafkanat.Map(hiddenBroker, target), kafkanat.Via(route), kafkanat.DialTimeout(timeout))
			var (
				c   net.Conn
				err error
			)
			within(t, hangGuard, "Dial through a rogue proxy", func() { c, err = dial.Dial("tcp", hiddenBroker) })
			if tc.want == nil {
				require.NoError(t, err)
				roundTrip(t, c, []byte("through a slow proxy"))
				c.Close()
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			var de *kafkanat.DialError
			require.ErrorAs(t, err, &de)
			msg := err.Error()
			prefix := fmt.Sprintf("kafkanat: dial %s => %s via %s://", hiddenBroker, target, scheme)
			assert.True(t, strings.HasPrefix(msg, prefix), "%q does not start with %q", msg, prefix)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, msg, w, "a misleading diagnosis")
			}
			if tc.prompt {
				assert.NotErrorIs(t, err, context.DeadlineExceeded, "the dial waited for its timeout instead of failing on the reply")
			}
			assert.NotContains(t, msg, roguePassword)
			assert.NotContains(t, msg, base64.StdEncoding.EncodeToString([]byte(rogueUser+":"+roguePassword)))
			assert.Less(t, len(msg), 1000, "the message quotes too much of what the proxy sent")
			t.Logf("%s", msg)
		})
	}
}

// readGreeting reads a SOCKS5 client's method offer.
func readGreeting(c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, hdr[1]))
	return err
}

// readSOCKSRequest reads a CONNECT request (any address type).
func readSOCKSRequest(c net.Conn) error {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	n := 0
	switch hdr[3] {
	case 1:
		n = 4
	case 4:
		n = 16
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return err
		}
		n = int(l[0])
	}
	_, err := io.ReadFull(c, make([]byte, n+2))
	return err
}

// socksScript serves a SOCKS5 client: it reads the greeting, writes
// methodReply, reads the request, writes connectReply, then hangs up
// (close) or holds the conn until the client goes (hold).
func socksScript(methodReply, connectReply []byte, hold bool) func(net.Conn) {
	return func(c net.Conn) {
		if readGreeting(c) != nil {
			return
		}
		c.Write(methodReply)
		if connectReply != nil {
			if readSOCKSRequest(c) != nil {
				return
			}
			c.Write(connectReply)
		}
		if hold {
			blackhole(c)
		}
	}
}

// trickle writes b one byte every gap, until done or the conn fails.
func trickle(c net.Conn, b []byte, gap time.Duration) error {
	for i := range b {
		if i > 0 {
			time.Sleep(gap)
		}
		if _, err := c.Write(b[i : i+1]); err != nil {
			return err
		}
	}
	return nil
}

var succeeded = []byte{5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38} // bound 127.0.0.1:1080

// TestHostileSOCKS5 dials through SOCKS5 proxies that misbehave.
func TestHostileSOCKS5(t *testing.T) {
	flood := make([]byte, 1<<20)
	for i := range flood {
		flood[i] = 0xff
	}
	runRogue(t, "socks5", []rogueCase{
		{name: "hangs up without a word", serve: func(c net.Conn) { readGreeting(c) }, want: []string{"SOCKS5 handshake failed", "EOF"}},
		{name: "truncated method reply", serve: socksScript([]byte{5}, nil, false), want: []string{"SOCKS5 handshake failed", "EOF"}},
		{name: "wrong version", serve: socksScript([]byte{4, 0}, nil, true), want: []string{"unexpected protocol version 4"}},
		{name: "SOCKS4 reply to a CONNECT", serve: socksScript([]byte{5, 0}, []byte{0, 0x5a, 0, 0, 0, 0, 0, 0}, true), want: []string{"unexpected protocol version 0"}},
		// 0xff is also the "no acceptable methods" code: the message must
		// not read the second byte of a reply that is not SOCKS5 at all.
		{name: "a megabyte of garbage", serve: func(c net.Conn) { c.Write(flood) }, want: []string{"unexpected protocol version 255"},
			notWant: []string{"requires authentication"}},
		// RFC 1928: the proxy selects one of the methods the client
		// offered. One that picks another (here GSSAPI) expects a
		// subnegotiation the client cannot run: the dial must fail at once
		// and say why, not wait for the dial timeout.
		{name: "method the client did not offer", timeout: time.Second, serve: socksScript([]byte{5, 0x01}, nil, true),
			want: []string{"method"}, prompt: true},
		{name: "user-password chosen but none given", timeout: time.Second, serve: socksScript([]byte{5, 0x02}, nil, true),
			want: []string{"method"}, prompt: true},
		{name: "authentication required", serve: socksScript([]byte{5, 0xff}, nil, true),
			want: []string{"the proxy requires authentication; give user:password in the route URL"}},
		{name: "authentication refused", auth: true, serve: func(c net.Conn) {
			if readGreeting(c) != nil {
				return
			}
			c.Write([]byte{5, 2})
			var hdr [2]byte
			io.ReadFull(c, hdr[:])
			io.ReadFull(c, make([]byte, hdr[1]))
			io.ReadFull(c, hdr[:1])
			io.ReadFull(c, make([]byte, hdr[0]))
			c.Write([]byte{1, 1})
			blackhole(c)
		}, want: []string{`authentication as user "alice" failed`}},
		{name: "authentication reply cut short", auth: true, serve: func(c net.Conn) {
			if readGreeting(c) != nil {
				return
			}
			c.Write([]byte{5, 2})
			io.ReadFull(c, make([]byte, 2+len(rogueUser)+1+len(roguePassword)))
			c.Write([]byte{1})
		}, want: []string{`authentication as user "alice" failed`, "EOF"}},
		{name: "connection refused reply", serve: socksScript([]byte{5, 0}, []byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}, true),
			want: []string{"the proxy could not connect to 127.0.0.1:", "connection refused"}},
		{name: "unknown reply code", serve: socksScript([]byte{5, 0}, []byte{5, 0x42, 0, 1, 0, 0, 0, 0, 0, 0}, true),
			want: []string{"the proxy could not connect to 127.0.0.1:"}},
		{name: "truncated CONNECT reply", serve: socksScript([]byte{5, 0}, []byte{5, 0, 0, 1, 127}, false),
			want: []string{"CONNECT 127.0.0.1:", "EOF"}},
		{name: "unknown address type", serve: socksScript([]byte{5, 0}, []byte{5, 0, 0, 9, 0, 0, 0, 0}, true),
			want: []string{"unknown address type 9"}},
		{name: "oversized bound name cut short", serve: socksScript([]byte{5, 0}, append([]byte{5, 0, 0, 3, 255}, strings.Repeat("x", 40)...), false),
			want: []string{"CONNECT 127.0.0.1:", "EOF"}},
		{name: "non-zero reserved byte", serve: socksScript([]byte{5, 0}, []byte{5, 0, 1, 1, 0, 0, 0, 0, 0, 0}, true),
			want: []string{"non-zero reserved field"}},
		{name: "trickles one byte a second", timeout: 500 * time.Millisecond, serve: func(c net.Conn) {
			if readGreeting(c) == nil {
				trickle(c, append([]byte{5, 0}, succeeded...), time.Second)
			}
		}, want: []string{"context deadline exceeded"}},
		{name: "trickles fast enough (succeeds)", serve: func(c net.Conn) {
			if readGreeting(c) != nil || trickle(c, []byte{5, 0}, 10*time.Millisecond) != nil || readSOCKSRequest(c) != nil {
				return
			}
			if trickle(c, succeeded, 10*time.Millisecond) == nil {
				echo(c)
			}
		}},
	})
}

// connectScript serves a CONNECT client: it reads the request, writes
// reply, then hangs up (close) or holds the conn until the client goes.
func connectScript(reply string, hold bool) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, reply)
		if hold {
			blackhole(c)
		}
	}
}

// TestHostileHTTPConnect dials through HTTP CONNECT proxies that misbehave.
func TestHostileHTTPConnect(t *testing.T) {
	pad := strings.Repeat("X-Pad: "+strings.Repeat("a", 100)+"\r\n", 700) // 75 KiB of headers
	interim := strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 5000)
	runRogue(t, "http", []rogueCase{
		{name: "hangs up without a word", serve: connectScript("", false), want: []string{"the proxy closed the connection before replying", "EOF"}},
		{name: "truncated status line", serve: connectScript("HTTP/1.1 200", false), want: []string{"the proxy closed the connection before replying"}},
		{name: "truncated header", serve: connectScript("HTTP/1.1 200 OK\r\nX-A: b\r\n", false), want: []string{"the proxy closed the connection before replying"}},
		{name: "not HTTP", serve: connectScript("SSH-2.0-OpenSSH_9.6\r\n", true), want: []string{"malformed reply"}},
		{name: "bad status code", serve: connectScript("HTTP/1.1 2x0 OK\r\n\r\n", true), want: []string{"malformed reply"}},
		{name: "oversized header", serve: connectScript("HTTP/1.1 200 OK\r\n"+pad+"\r\n", true), want: []string{"reply header longer than 65536 bytes"}},
		{name: "oversized status line", serve: connectScript("HTTP/1.1 200 "+strings.Repeat("a", 1<<20), true), want: []string{"reply header longer than 65536 bytes"}},
		{name: "endless interim replies", serve: connectScript(interim, true), want: []string{"reply header longer than 65536 bytes"}},
		{name: "407 without credentials", serve: connectScript("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n", true),
			want: []string{`proxy replied "HTTP/1.1 407 Proxy Authentication Required"`, "the proxy requires credentials; give user:password in the route URL"}},
		{name: "407 with credentials", auth: true, serve: connectScript("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n", true),
			want: []string{`proxy replied "HTTP/1.1 407 Proxy Authentication Required"`, `the proxy did not accept user "alice"`}},
		{name: "407 with an endless body", auth: true, serve: connectScript("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 1000000000\r\n\r\nstart of a body that never ends", true),
			want: []string{`the proxy did not accept user "alice"`}},
		{name: "403 with a huge reason", serve: connectScript("HTTP/1.1 403 "+strings.Repeat("no ", 10000)+"\r\n\r\n", true),
			want: []string{`proxy replied "HTTP/1.1 403 no no`, `..."`}},
		{name: "502", serve: connectScript("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nerror", true),
			want: []string{`proxy replied "HTTP/1.1 502 Bad Gateway"`}},
		{name: "trickles one byte a second", timeout: 500 * time.Millisecond, serve: func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				trickle(c, []byte("HTTP/1.1 200 OK\r\n\r\n"), time.Second)
			}
		}, want: []string{"context deadline exceeded"}},
		{name: "trickles fast enough (succeeds)", serve: func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil && trickle(c, []byte("HTTP/1.1 200 OK\r\n\r\n"), 5*time.Millisecond) == nil {
				echo(c)
			}
		}},
	})
}

// badAddress is an address no Kafka client should send, though a broken
// or hostile metadata response could make it.
type badAddress struct {
	name, addr string
	malformed  bool // not host:port with a host of at most 253 bytes and a port in 1..65535
}

func badAddresses() []badAddress {
	long := strings.Repeat("a", 64<<10)
	return []badAddress{
		{"empty", "", true},
		{"no port", "b0.kafka.internal.invalid", true},
		{"empty port", "b0.kafka.internal.invalid:", true},
		{"port zero", "b0.kafka.internal.invalid:0", true},
		{"port too big", "b0.kafka.internal.invalid:99999", true},
		{"negative port", "b0.kafka.internal.invalid:-1", true},
		{"port not a number", "b0.kafka.internal.invalid:http", true},
		{"no host", ":9092", true},
		{"unbracketed IPv6", "::1:9092", true},
		{"unbracketed IPv6 only", "fd00::1", true},
		{"unclosed bracket", "[::1:9092", true},
		{"too many colons", "a:b:9092", true},
		{"CRLF and a colon", "b0.kafka.internal.invalid\r\nX-Injected: 1:9092", true},
		{"64 KiB, no port", long, true},
		{"64 KiB host", long + ":9092", true},
		{"NUL", "b0\x00.kafka.internal.invalid:9092", false},
		{"CRLF", "b0.kafka.internal.invalid\r\nX-Injected:9092", false},
	}
}

// badAddressConfigs are dialers of every kind, each tried with every bad
// address. The proxies and the catch-all targets are loopback.
func badAddressConfigs(t *testing.T) (map[string]kafkanat.DialFunc, *kafkanattest.SOCKS5Server, *kafkanattest.HTTPProxy) {
	socks, err := kafkanattest.NewSOCKS5Server()
	require.NoError(t, err)
	t.Cleanup(func() { socks.Close() })
	httpProxy, err := kafkanattest.NewHTTPProxy()
	require.NoError(t, err)
	t.Cleanup(func() { httpProxy.Close() })
	lookup := func(ctx context.Context, address string) (string, bool, error) { return "", false, nil }
	closed := closedPort(t)
	configs := map[string][]kafkanat.Option{
		"strict":        {kafkanat.Rules("b1.kafka.internal.invalid:9092 => " + closed), kafkanat.Strict()},
		"direct":        nil,
		"socks5":        {kafkanat.Via(socks.URL())},
		"http CONNECT":  {kafkanat.Via(httpProxy.URL())},
		"lookup":        {kafkanat.Lookup(lookup), kafkanat.Strict()},
		"catch-all":     {kafkanat.Rules("* => " + closed)},
		"placeholders":  {kafkanat.Rules("{h}.kafka.internal.invalid:{p} => " + closed)},
		"regex rewrite": {kafkanat.Rules(`~^(.*):(\d+)$ => ` + closed)},
	}
	dials := map[string]kafkanat.DialFunc{}
	for name, opts := range configs {
		dials[name] = kafkanat.New(append(opts, kafkanat.DialTimeout(2*time.Second))...)
	}
	return dials, socks, httpProxy
}

// dialBad dials addr, turning a panic into an error, within the guard.
func dialBad(t *testing.T, dial kafkanat.DialFunc, addr string) error {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	within(t, hangGuard, "a dial of a bad address", func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		c, err = dial.Dial("tcp", addr)
	})
	if c != nil {
		c.Close()
		t.Fatalf("dialed %q", addr)
	}
	return err
}

// TestBadAddresses dials bad addresses through every kind of route: each
// fails with a *DialError that says what is wrong, never a panic, and no
// proxy is asked for a malformed address.
func TestBadAddresses(t *testing.T) {
	noLeak(t)
	dials, socks, httpProxy := badAddressConfigs(t)
	for cname, dial := range dials {
		for _, ba := range badAddresses() {
			t.Run(cname+"/"+ba.name, func(t *testing.T) {
				err := dialBad(t, dial, ba.addr)
				require.Error(t, err)
				var de *kafkanat.DialError
				require.ErrorAs(t, err, &de, "%v", err)
				assert.Equal(t, ba.addr, de.Address)
				assert.True(t, strings.HasPrefix(err.Error(), "kafkanat: dial "), err.Error())
				var op *net.OpError
				if assert.ErrorAs(t, err, &op) {
					assert.Equal(t, "dial", op.Op)
				}
				if ba.malformed {
					assert.Contains(t, err.Error(), "malformed address")
				}
				// Messages end up in logs: a long address is shown clipped.
				assert.Less(t, len(err.Error()), 2048, "%.300s", err.Error())
			})
		}
	}
	// A malformed address never reached a proxy.
	assert.Empty(t, socks.Targets(), "the SOCKS5 proxy was asked for")
	assert.Empty(t, httpProxy.Targets(), "the HTTP proxy was asked for")
}

// TestDialErrorsCannotForgeLogLines dials addresses holding CR, LF and
// NUL, which a hostile broker can advertise: the error message, which
// clients log, must not carry them raw, or the address could forge log
// lines ("...\r\nlevel=INFO msg=..."). Found by this package: see
// RELIABILITY.md.
func TestDialErrorsCannotForgeLogLines(t *testing.T) {
	dials, _, _ := badAddressConfigs(t)
	for cname, dial := range dials {
		for _, ba := range badAddresses() {
			if !strings.ContainsFunc(ba.addr, isControl) {
				continue
			}
			t.Run(cname+"/"+ba.name, func(t *testing.T) {
				err := dialBad(t, dial, ba.addr)
				require.Error(t, err)
				if i := strings.IndexFunc(err.Error(), isControl); i >= 0 {
					t.Errorf("the message holds control character %q at byte %d: %q", err.Error()[i], i, err.Error())
				}
			})
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// TestBadNetwork dials networks kafkanat does not carry.
func TestBadNetwork(t *testing.T) {
	dial := kafkanat.New(kafkanat.Map(hiddenBroker, "127.0.0.1:1"))
	for _, network := range []string{"udp", "unix", "ip", "", "TCP"} {
		_, err := dial.Dial(network, hiddenBroker)
		var de *kafkanat.DialError
		require.ErrorAs(t, err, &de, "network %q", network)
		assert.Contains(t, err.Error(), fmt.Sprintf("network %q is not supported", network))
	}
}

package socks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"golang.org/x/net/nettest"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/socks"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestNewRejectsBadURLs(t *testing.T) {
	long := strings.Repeat("u", 256)
	for _, tc := range []struct {
		url, want string
	}{
		{"socks4://127.0.0.1:1080", `scheme "socks4" is not socks5 or socks5h`},
		{"http://127.0.0.1:1080", `scheme "http"`},
		{"socks5:127.0.0.1:1080", "no host"},
		{"socks5://", "no host"},
		{"socks5://:1080", "no host"},
		{"socks5://127.0.0.1:", "empty port"},
		{"socks5://127.0.0.1:0", `port "0"`},
		{"socks5://127.0.0.1:65536", `port "65536"`},
		{"socks5://127.0.0.1:1080/x", `unexpected path "/x"`},
		{"socks5://127.0.0.1:1080?timeout=1", `unexpected query "timeout=1"`},
		{"socks5://127.0.0.1:1080?", "unexpected query"},
		{"socks5://127.0.0.1:1080#frag", `unexpected fragment "frag"`},
		{"socks5://:hunter2@127.0.0.1:1080", "empty user name"},
		{"socks5://" + long + ":hunter2@127.0.0.1:1080", "user name longer than 255 bytes"},
		{"socks5://alice:" + long + "@127.0.0.1:1080", "password longer than 255 bytes"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			d, err := socks.New(u, nil)
			if err == nil {
				t.Fatalf("New = %v, want an error", d)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if !strings.HasPrefix(msg, "invalid SOCKS5 route ") {
				t.Errorf("error %q does not say what it is about", msg)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, ":"+long+"@") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
	if _, err := socks.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"socks5://127.0.0.1", "socks5://127.0.0.1:1080"},
		{"socks5://127.0.0.1:1081/", "socks5://127.0.0.1:1081"},
		{"SOCKS5H://gw.kafka.invalid:1080", "socks5h://gw.kafka.invalid:1080"},
		{"socks5://alice:s3cret@[::1]:1080", "socks5://alice:xxxxx@[::1]:1080"},
		{"socks5://alice@127.0.0.1:1080", "socks5://alice@127.0.0.1:1080"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if tc.url[:6] == "SOCKS5" {
			u.Scheme = "SOCKS5H" // url.Parse lowercases; a hand-made URL may not
		}
		d, err := socks.New(u, nil)
		if err != nil {
			t.Fatalf("New(%s): %v", tc.url, err)
		}
		if got := d.String(); got != tc.want {
			t.Errorf("New(%s).String() = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestDialThroughServer(t *testing.T) {
	echo := testnet.Echo(t)
	for _, tc := range []struct {
		name string
		opts []testkit.ProxyOption
	}{
		{"NoAuth", nil},
		{"UserPassword", []testkit.ProxyOption{testkit.WithCredentials("alice", "s3cret/:@")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSOCKS5Server(t, tc.opts...)
			d := newDialer(t, srv.URL(), nil)
			c := dial(t, d, echo)
			if _, ok := c.(*net.TCPConn); !ok {
				t.Errorf("conn is %T, want the raw *net.TCPConn to the proxy", c)
			}
			if got := c.RemoteAddr().String(); got != srv.Addr() {
				t.Errorf("RemoteAddr = %s, want the proxy %s", got, srv.Addr())
			}
			testnet.RoundTrip(t, c, "hello through socks")
			testnet.RoundTrip(t, c, "and again")
			if got := srv.Targets(); !slices.Equal(got, []string{echo}) {
				t.Errorf("proxy targets = %q, want [%s]", got, echo)
			}
		})
	}
}

func TestDialSendsNameUnresolved(t *testing.T) {
	const hidden = "b1.kafka.internal.invalid:9092"
	echo := testnet.Echo(t)
	for _, scheme := range []string{"socks5", "socks5h"} {
		t.Run(scheme, func(t *testing.T) {
			var mu sync.Mutex
			var asked []string
			srv := newSOCKS5Server(t, testkit.WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
				mu.Lock()
				asked = append(asked, address)
				mu.Unlock()
				if address != hidden {
					return nil, fmt.Errorf("unexpected target %q", address)
				}
				var d net.Dialer
				return d.DialContext(ctx, network, echo)
			}))
			u := strings.Replace(srv.URL(), "socks5://", scheme+"://", 1)
			// The forward dialer proves the client itself dials only the proxy.
			forward := func(ctx context.Context, network, address string) (net.Conn, error) {
				if address != srv.Addr() {
					return nil, fmt.Errorf("client dialed %q, not the proxy", address)
				}
				var d net.Dialer
				return d.DialContext(ctx, network, address)
			}
			c := dial(t, newDialer(t, u, forward), hidden)
			testnet.RoundTrip(t, c, "ping")
			if got := srv.Targets(); !slices.Equal(got, []string{hidden}) {
				t.Errorf("proxy received %q, want the name unresolved [%s]", got, hidden)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(asked, []string{hidden}) {
				t.Errorf("proxy dialed %q, want [%s]", asked, hidden)
			}
		})
	}
}

func TestDialWrongCredentials(t *testing.T) {
	srv := newSOCKS5Server(t, testkit.WithCredentials("alice", "right-secret"))
	u := strings.Replace(srv.URL(), "right-secret", "wrong-secret", 1)
	d := newDialer(t, u, nil)
	c, err := d.DialContext(context.Background(), "tcp", testnet.Echo(t))
	err = testnet.MustFail(t, c, err)
	msg := err.Error()
	for _, want := range []string{"socks5://alice:xxxxx@" + srv.Addr(), `user "alice"`, "authentication"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("error %q shows a password", msg)
	}
	var op *net.OpError
	if !errors.As(err, &op) || !strings.HasPrefix(op.Op, "socks") {
		t.Errorf("errors.As(%v, *net.OpError) = %v, want x/net's socks OpError", err, op)
	}
	if got := srv.Targets(); len(got) != 0 {
		t.Errorf("proxy targets = %q, want none: the client never authenticated", got)
	}
}

func TestDialMissingCredentials(t *testing.T) {
	srv := newSOCKS5Server(t, testkit.WithCredentials("alice", "s3cret"))
	d := newDialer(t, "socks5://"+srv.Addr(), nil)
	c, err := d.DialContext(context.Background(), "tcp", testnet.Echo(t))
	err = testnet.MustFail(t, c, err)
	for _, want := range []string{"socks5://" + srv.Addr(), "requires authentication"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestDialTargetRefused(t *testing.T) {
	srv := newSOCKS5Server(t)
	target := testnet.ClosedPort(t)
	c, err := newDialer(t, srv.URL(), nil).DialContext(context.Background(), "tcp", target)
	err = testnet.MustFail(t, c, err)
	want := fmt.Sprintf("%s: the proxy could not connect to %s: connection refused", srv.URL(), target)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := srv.Targets(); !slices.Equal(got, []string{target}) {
		t.Errorf("proxy targets = %q, want [%s]", got, target)
	}
}

// Each failure code in the proxy's reply to CONNECT reads as RFC 1928
// names it. The codes come from an in-process proxy, through
// golang.org/x/net/proxy's handshake: the message relies on what the dial
// saw on the wire, not on x/net's texts, and this pins that x/net still
// fails the dial on such a reply.
func TestDialReplyCodes(t *testing.T) {
	for code, text := range map[byte]string{
		0x01: "general SOCKS server failure",
		0x02: "connection not allowed by ruleset",
		0x03: "network unreachable",
		0x04: "host unreachable",
		0x05: "connection refused",
		0x06: "TTL expired",
		0x07: "command not supported",
		0x08: "address type not supported",
		0x42: "unknown code: 66",
	} {
		addr := testnet.Serve(t, func(c net.Conn) {
			greeting := make([]byte, 3) // version 5, one method: none
			if _, err := io.ReadFull(c, greeting); err != nil {
				return
			}
			c.Write([]byte{5, 0})
			request := make([]byte, 4+1+len("b1.kafka.internal.invalid")+2)
			if _, err := io.ReadFull(c, request); err != nil {
				return
			}
			c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
			io.Copy(io.Discard, c)
		}).Addr()
		d := newDialer(t, "socks5://"+addr, nil)
		c, err := d.DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
		err = testnet.MustFail(t, c, err)
		want := "socks5://" + addr + ": the proxy could not connect to b1.kafka.internal.invalid:9092: " + text
		if err.Error() != want {
			t.Errorf("reply code 0x%02x: error %q, want %q", code, err, want)
		}
		var op *net.OpError
		if !errors.As(err, &op) || !strings.HasPrefix(op.Op, "socks") {
			t.Errorf("errors.As(%v, *net.OpError) = %v, want x/net's socks OpError", err, op)
		}
	}
}

func TestDialProxyUnreachable(t *testing.T) {
	proxyAddr := testnet.ClosedPort(t)
	c, err := newDialer(t, "socks5://"+proxyAddr, nil).DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
	err = testnet.MustFail(t, c, err)
	if want := "socks5://" + proxyAddr + ": cannot reach the proxy: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED) = false", err)
	}
}

func TestDialRejectsBadInput(t *testing.T) {
	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s %s for bad input", network, address)
		return nil, errors.New("must not dial")
	}
	d := newDialer(t, "socks5://127.0.0.1:1080", forward)
	for _, tc := range []struct{ network, address, want string }{
		{"udp", "127.0.0.1:9092", `network "udp" not supported`},
		{"tcp", "b1.kafka.internal.invalid", "missing port"},
		{"tcp", ":9092", "no host"},
		{"tcp", "b1.invalid\r\n:9092", "a control character"},
		{"tcp", "b1.kafka.internal.invalid:0", "not a number in 1..65535"},
		{"tcp", "b1.kafka.internal.invalid:http", "not a number in 1..65535"},
		{"tcp", strings.Repeat("a", 256) + ":9092", "longer than 255 bytes"},
	} {
		c, err := d.DialContext(context.Background(), tc.network, tc.address)
		err = testnet.MustFail(t, c, err)
		if !strings.HasPrefix(err.Error(), "socks5://127.0.0.1:1080: dial ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DialContext(%q, %q) error %q, want the route and %q", tc.network, tc.address, err, tc.want)
		}
	}
	//lint:ignore SA1012 a nil context must be an error, not a panic
	c, err := d.DialContext(nil, "tcp", "127.0.0.1:9092")
	testnet.MustFail(t, c, err)
}

// TestCloseWrite checks that the conn half-closes: the target sees EOF
// while the reply still flows back.
func TestCloseWrite(t *testing.T) {
	counter := testnet.Serve(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	srv := newSOCKS5Server(t)
	c := dial(t, newDialer(t, srv.URL(), nil), counter.Addr())
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("conn %T has no CloseWrite", c)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "got 5 bytes" {
		t.Errorf("reply = %q, want %q", got, "got 5 bytes")
	}
}

// blackhole accepts conns and never writes; closed receives one value per
// conn once the client has closed it.
func blackhole(t *testing.T) (addr string, closed <-chan struct{}) {
	ch := make(chan struct{}, 16)
	s := testnet.Serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		ch <- struct{}{}
	})
	return s.Addr(), ch
}

func TestDialBlackholeProxy(t *testing.T) {
	addr, closed := blackhole(t)
	d := newDialer(t, "socks5://alice:s3cret@"+addr, nil)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"Deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"Cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", "b1.kafka.internal.invalid:9092")
			err = testnet.MustFail(t, c, err)
			if !errors.Is(err, tc.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.want)
			}
			if want := "socks5://alice:xxxxx@" + addr + ": SOCKS5 handshake failed: " + tc.want.Error(); err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Error("the client did not close its conn to the proxy")
			}
		})
	}
}

func TestNetConn(t *testing.T) {
	srv := newSOCKS5Server(t)
	d := newDialer(t, srv.URL(), nil)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c1, err = d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		c2, err = ln.Accept()
		if err != nil {
			c1.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

package tunnel_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"github.com/kafkanat/kafkanat/tunnel"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

const hidden = "b1.kafka.internal.invalid:9092"

func TestNewHTTPRejectsBadURLs(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"socks5://127.0.0.1:1080", `scheme "socks5" is not http or https`},
		{"ftp://127.0.0.1", `scheme "ftp"`},
		{"http:127.0.0.1:3128", "no host"},
		{"http://", "no host"},
		{"https://:3128", "no host"},
		{"http://127.0.0.1:", "empty port"},
		{"http://127.0.0.1:0", `port "0"`},
		{"http://127.0.0.1:65536", `port "65536"`},
		{"http://127.0.0.1:3128/proxy", `unexpected path "/proxy"`},
		{"http://127.0.0.1:3128?a=b", `unexpected query "a=b"`},
		{"http://127.0.0.1:3128#x", `unexpected fragment "x"`},
		{"http://:hunter2@127.0.0.1:3128", "empty user name"},
		{"http://alice:hunter2%0A@127.0.0.1:3128", "password contains a control character"},
		{"http://al%07ice:hunter2@127.0.0.1:3128", "user name contains a control character"},
		{"http://al%3Aice:hunter2@127.0.0.1:3128", "user name contains a colon"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			d, err := tunnel.NewHTTP(u, nil, nil)
			if err == nil {
				t.Fatalf("NewHTTP = %v, want an error", d)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid HTTP proxy route ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name the route and %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
	if _, err := tunnel.NewHTTP(nil, nil, nil); err == nil {
		t.Error("NewHTTP(nil) succeeded")
	}
}

func TestHTTPString(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.1", "http://127.0.0.1:80"},
		{"https://proxy.kafkanat.invalid", "https://proxy.kafkanat.invalid:443"},
		{"HTTP://127.0.0.1:3128/", "http://127.0.0.1:3128"},
		{"http://alice:s3cret@[::1]:3128", "http://alice:xxxxx@[::1]:3128"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		d, err := tunnel.NewHTTP(u, nil, nil)
		if err != nil {
			t.Fatalf("NewHTTP(%s): %v", tc.url, err)
		}
		if got := d.String(); got != tc.want {
			t.Errorf("NewHTTP(%s).String() = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestDialThroughHTTPProxy(t *testing.T) {
	echo := testnet.Echo(t)
	for _, tc := range []struct {
		name string
		opts []testkit.ProxyOption
	}{
		{"NoAuth", nil},
		{"Basic", []testkit.ProxyOption{testkit.WithCredentials("alice", "s3cret/:@")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newHTTPProxy(t, tc.opts...)
			c := dial(t, newDialer(t, p.URL(), nil, nil), echo)
			if _, ok := c.(*net.TCPConn); !ok {
				t.Errorf("conn is %T, want the raw *net.TCPConn: nothing was buffered", c)
			}
			testnet.RoundTrip(t, c, "hello through CONNECT")
			testnet.RoundTrip(t, c, "and again")
			if got := p.Targets(); !slices.Equal(got, []string{echo}) {
				t.Errorf("proxy targets = %q, want [%s]", got, echo)
			}
		})
	}
}

func TestDialHTTPProxyWrongCredentials(t *testing.T) {
	p := newHTTPProxy(t, testkit.WithCredentials("alice", "right-secret"))
	d := newDialer(t, strings.Replace(p.URL(), "right-secret", "wrong-secret", 1), nil, nil)
	echo := testnet.Echo(t)
	c, err := d.DialContext(context.Background(), "tcp", echo)
	err = testnet.MustFail(t, c, err)
	want := fmt.Sprintf(`http://alice:xxxxx@%s: CONNECT %s: proxy replied "HTTP/1.1 407 Proxy Authentication Required" (the proxy did not accept user "alice")`, p.Addr(), echo)
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	var se *tunnel.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("errors.As(%v, *StatusError) = %+v, want code 407", err, se)
	}
	if got := p.Targets(); len(got) != 0 {
		t.Errorf("proxy targets = %q, want none", got)
	}
}

func TestDialHTTPProxyMissingCredentials(t *testing.T) {
	p := newHTTPProxy(t, testkit.WithCredentials("alice", "s3cret"))
	d := newDialer(t, "http://"+p.Addr(), nil, nil)
	c, err := d.DialContext(context.Background(), "tcp", hidden)
	err = testnet.MustFail(t, c, err)
	if want := "407 Proxy Authentication Required\" (the proxy requires credentials; give user:password in the route URL)"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q does not end with %q", err, want)
	}
}

// A proxy that answers 401 instead of 407 gets the same message: which
// route, and which user it did not accept.
func TestDialHTTPProxy401(t *testing.T) {
	addr := startFakeProxy(t, nil, replyWith("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n"))
	for _, tc := range []struct{ url, want string }{
		{"http://alice:s3cret@" + addr, fmt.Sprintf(`http://alice:xxxxx@%s: CONNECT %s: proxy replied "HTTP/1.1 401 Unauthorized" (the proxy did not accept user "alice")`, addr, hidden)},
		{"http://" + addr, fmt.Sprintf(`http://%s: CONNECT %s: proxy replied "HTTP/1.1 401 Unauthorized" (the proxy requires credentials; give user:password in the route URL)`, addr, hidden)},
	} {
		c, err := newDialer(t, tc.url, nil, nil).DialContext(context.Background(), "tcp", hidden)
		err = testnet.MustFail(t, c, err)
		if err.Error() != tc.want {
			t.Errorf("error = %q\nwant    %q", err, tc.want)
		}
		var se *tunnel.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
			t.Errorf("errors.As(%v, *StatusError) = %+v, want code 401", err, se)
		}
	}
}

func TestDialHTTPProxyBadGateway(t *testing.T) {
	p := newHTTPProxy(t)
	target := testnet.ClosedPort(t)
	c, err := newDialer(t, p.URL(), nil, nil).DialContext(context.Background(), "tcp", target)
	err = testnet.MustFail(t, c, err)
	want := fmt.Sprintf(`%s: CONNECT %s: proxy replied "HTTP/1.1 502 Bad Gateway"`, p.URL(), target)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	var se *tunnel.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadGateway || se.Status != "HTTP/1.1 502 Bad Gateway" {
		t.Errorf("errors.As(%v, *StatusError) = %+v", err, se)
	}
}

func TestDialProxyUnreachable(t *testing.T) {
	addr := testnet.ClosedPort(t)
	c, err := newDialer(t, "http://"+addr, nil, nil).DialContext(context.Background(), "tcp", hidden)
	err = testnet.MustFail(t, c, err)
	if want := "http://" + addr + ": cannot reach the proxy: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED) = false", err)
	}
}

// TestRequestFormat checks the exact bytes of the CONNECT request.
func TestRequestFormat(t *testing.T) {
	heads := make(chan string, 1)
	addr := testnet.Serve(t, func(c net.Conn) {
		var head []byte
		buf := make([]byte, 1)
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			if _, err := c.Read(buf); err != nil {
				return
			}
			head = append(head, buf[0])
		}
		heads <- string(head)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
	}).Addr()
	for _, tc := range []struct{ url, address, want string }{
		{"http://alice:s3cret@" + addr, hidden,
			"CONNECT b1.kafka.internal.invalid:9092 HTTP/1.1\r\nHost: b1.kafka.internal.invalid:9092\r\n" +
				"Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"},
		{"http://" + addr, "[::1]:9092", "CONNECT [::1]:9092 HTTP/1.1\r\nHost: [::1]:9092\r\n\r\n"},
		{"http://" + addr, "10.0.0.5:31090", "CONNECT 10.0.0.5:31090 HTTP/1.1\r\nHost: 10.0.0.5:31090\r\n\r\n"},
	} {
		c := dial(t, newDialer(t, tc.url, nil, nil), tc.address)
		c.Close()
		if got := <-heads; got != tc.want {
			t.Errorf("request for %s:\n%q\nwant\n%q", tc.address, got, tc.want)
		}
	}
}

func TestDialRejectsBadInput(t *testing.T) {
	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s %s for bad input", network, address)
		return nil, errors.New("must not dial")
	}
	d := newDialer(t, "http://127.0.0.1:3128", forward, nil)
	for _, tc := range []struct{ network, address, want string }{
		{"udp", hidden, `network "udp" not supported`},
		{"tcp", "b1.kafka.internal.invalid", "missing port"},
		{"tcp", ":9092", "no host"},
		{"tcp", "b1.kafka.internal.invalid:0", "not a number in 1..65535"},
		{"tcp", "b1.kafka.internal.invalid:+80", "not a number in 1..65535"},
		{"tcp", "a b:80", "not allowed in host:port"},
		{"tcp", "b1.invalid\r\nX-Evil: 1:80", "not allowed in host:port"},
		{"tcp", "evil.invalid/x:80", "not allowed in host:port"},
	} {
		c, err := d.DialContext(context.Background(), tc.network, tc.address)
		err = testnet.MustFail(t, c, err)
		if !strings.HasPrefix(err.Error(), "http://127.0.0.1:3128: dial ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DialContext(%q, %q) error %q, want the route and %q", tc.network, tc.address, err, tc.want)
		}
	}
	//lint:ignore SA1012 a nil context must be an error, not a panic
	c, err := d.DialContext(nil, "tcp", hidden)
	testnet.MustFail(t, c, err)
}

// TestPayloadInReplyWrite has the proxy send its reply and the first
// tunnelled bytes in one write: none may be lost in the reply's buffer.
func TestPayloadInReplyWrite(t *testing.T) {
	for _, size := range []int{1, 100, 4000, 10000, 100000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			payload := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			addr := startFakeProxy(t, nil, replyWith("HTTP/1.1 200 Connection established\r\n\r\n"+string(payload)))
			c := dial(t, newDialer(t, "http://"+addr, nil, nil), hidden)
			t.Logf("conn is %T", c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload differs: got %d bytes starting %q", len(got), got[:min(len(got), 32)])
			}
			testnet.RoundTrip(t, c, "the stream goes on")
		})
	}
}

func TestRepliesRefused(t *testing.T) {
	for _, tc := range []struct {
		name, reply, want string
		code              int
	}{
		{"403", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", `proxy replied "HTTP/1.1 403 Forbidden"`, 403},
		{"502WithBody", "HTTP/1.0 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html>no</html>", `proxy replied "HTTP/1.0 502 Bad Gateway"`, 502},
		{"407", "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n", "the proxy requires credentials", 407},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", `proxy replied "HTTP/1.1 101 Switching Protocols"`, 101},
		{"301", "HTTP/1.1 301 Moved Permanently\r\nLocation: http://127.0.0.1/\r\n\r\n", "301 Moved Permanently", 301},
		{"NotHTTP", "SSH-2.0-OpenSSH_9.6\r\n", "malformed reply", 0},
		{"Silent", "", "the proxy closed the connection before replying: unexpected EOF", 0},
		{"CutShort", "HTTP/1.1 200 OK\r\nVia: 1.1 x\r\n", "the proxy closed the connection before replying: unexpected EOF", 0},
		{"HugeHeader", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("a", 70000) + "\r\n\r\n", "reply header longer than 65536 bytes", 0},
		{"HugeStatus", "HTTP/1.1 500 " + strings.Repeat("e", 1000) + "\r\n\r\n", `proxy replied "HTTP/1.1 500 eeee`, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startFakeProxy(t, nil, func(c net.Conn, _ *http.Request, _ *bufio.Reader) {
				io.WriteString(c, tc.reply)
			})
			d := newDialer(t, "http://"+addr, nil, nil)
			c, err := d.DialContext(context.Background(), "tcp", hidden)
			err = testnet.MustFail(t, c, err)
			msg := err.Error()
			if prefix := d.String() + ": CONNECT " + hidden + ": "; !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not start with %q and contain %q", msg, prefix, tc.want)
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long", len(msg))
			}
			var se *tunnel.StatusError
			if errors.As(err, &se) != (tc.code != 0) || (se != nil && se.StatusCode != tc.code) {
				t.Errorf("errors.As(*StatusError) = %+v, want code %d", se, tc.code)
			}
		})
	}
}

func TestRepliesAccepted(t *testing.T) {
	for _, tc := range []struct{ name, reply string }{
		{"HTTP10", "HTTP/1.0 200 Connection established\r\nProxy-agent: test\r\n\r\n"},
		{"Interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
		// A 2xx reply to CONNECT has no body whatever its headers say.
		{"ContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{"Chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"BareLF", "HTTP/1.1 200 OK\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startFakeProxy(t, nil, replyWith(tc.reply))
			c := dial(t, newDialer(t, "http://"+addr, nil, nil), hidden)
			testnet.RoundTrip(t, c, "hello")
		})
	}
}

type halfCloser interface {
	CloseRead() error
	CloseWrite() error
}

// halfConn is a net.Pipe end with CloseRead and CloseWrite that record
// their calls; after CloseRead, Read reports EOF.
type halfConn struct {
	net.Conn
	mu                    sync.Mutex
	closedRead, closedWrt bool
}

func (c *halfConn) CloseRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closedRead = true
	return nil
}

func (c *halfConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closedWrt = true
	return nil
}

func (c *halfConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closedRead
	c.mu.Unlock()
	if closed {
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// pipeDial dials through a CONNECT "proxy" at the far end of a net.Pipe
// that replies with reply in one write. net.Pipe hands the whole write to
// the first read, so the bytes behind the reply are certainly buffered.
func pipeDial(t *testing.T, reply string, wrap func(net.Conn) net.Conn) (net.Conn, net.Conn) {
	t.Helper()
	client, proxySide := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		br := bufio.NewReader(proxySide)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(proxySide, reply)
	}()
	t.Cleanup(func() {
		proxySide.Close()
		wg.Wait()
	})
	fwd := client
	if wrap != nil {
		fwd = wrap(client)
	}
	d := newDialer(t, "http://127.0.0.1:3128", func(context.Context, string, string) (net.Conn, error) { return fwd, nil }, nil)
	return dial(t, d, hidden), fwd
}

func TestPrefixConn(t *testing.T) {
	const reply = "HTTP/1.1 200 OK\r\n\r\nearly bytes"
	t.Run("Read", func(t *testing.T) {
		c, raw := pipeDial(t, reply, nil)
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok || c == raw {
			t.Fatalf("conn is %T, want a wrapper with NetConn", c)
		}
		if nc.NetConn() != raw {
			t.Errorf("NetConn() = %v, want the conn to the proxy", nc.NetConn())
		}
		buf := make([]byte, 5)
		for _, want := range []string{"early", " byte", "s"} {
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
			}
		}
	})
	t.Run("CloseWriteAndCloseRead", func(t *testing.T) {
		var hc *halfConn
		c, _ := pipeDial(t, reply, func(c net.Conn) net.Conn { hc = &halfConn{Conn: c}; return hc })
		h, ok := c.(halfCloser)
		if !ok {
			t.Fatalf("conn %T has no CloseWrite and CloseRead", c)
		}
		if err := h.CloseWrite(); err != nil || !hc.closedWrt {
			t.Errorf("CloseWrite = %v, reached the conn: %v", err, hc.closedWrt)
		}
		if err := h.CloseRead(); err != nil || !hc.closedRead {
			t.Errorf("CloseRead = %v, reached the conn: %v", err, hc.closedRead)
		}
		if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read after CloseRead = %d, %v; want 0, EOF (buffered bytes dropped)", n, err)
		}
	})
	t.Run("Unsupported", func(t *testing.T) {
		c, _ := pipeDial(t, reply, nil) // net.Pipe has neither
		h, ok := c.(halfCloser)
		if !ok {
			t.Fatalf("conn %T has no CloseWrite and CloseRead", c)
		}
		if err := h.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("CloseWrite = %v, want ErrUnsupported", err)
		}
		if err := h.CloseRead(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("CloseRead = %v, want ErrUnsupported", err)
		}
	})
	t.Run("Close", func(t *testing.T) {
		c, _ := pipeDial(t, reply, nil)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(make([]byte, 10)); n != 0 || err == nil {
			t.Errorf("Read after Close = %d, %v; want an error", n, err)
		}
	})
	t.Run("NothingBuffered", func(t *testing.T) {
		c, raw := pipeDial(t, "HTTP/1.1 200 OK\r\n\r\n", nil)
		if c != raw {
			t.Errorf("conn is %T, want the raw conn", c)
		}
	})
}

// TestCloseWrite checks that the conn half-closes through a proxy: the
// target sees EOF while its reply still flows back.
func TestCloseWrite(t *testing.T) {
	counter := testnet.Serve(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	p := newHTTPProxy(t)
	c := dial(t, newDialer(t, p.URL(), nil, nil), counter.Addr())
	io.WriteString(c, "hello")
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("conn %T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "got 5 bytes" {
		t.Errorf("reply = %q, %v; want %q", got, err, "got 5 bytes")
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
	for _, scheme := range []string{"http", "https"} {
		d := newDialer(t, scheme+"://alice:s3cret@"+addr, nil, nil)
		step := "CONNECT " + hidden
		if scheme == "https" {
			step = "TLS handshake with the proxy"
		}
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
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := tc.ctx()
				defer cancel()
				c, err := d.DialContext(ctx, "tcp", hidden)
				err = testnet.MustFail(t, c, err)
				if !errors.Is(err, tc.want) {
					t.Errorf("errors.Is(%v, %v) = false", err, tc.want)
				}
				if want := d.String() + ": " + step + ": " + tc.want.Error(); err.Error() != want {
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
}

func TestHTTPSProxy(t *testing.T) {
	const proxyName = "proxy.kafkanat.invalid"
	cert, pool := selfSigned(t, "127.0.0.1", proxyName)
	type seen struct{ sni, alpn, target, host string }
	seenCh := make(chan seen, 1)
	var sni sync.Map // remote addr -> SNI
	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sni.Store(hello.Conn.RemoteAddr().String(), hello.ServerName)
			return nil, nil
		},
	}
	addr := startFakeProxy(t, serverCfg, func(c net.Conn, req *http.Request, br *bufio.Reader) {
		name, _ := sni.Load(c.RemoteAddr().String())
		sniName, _ := name.(string)
		seenCh <- seen{sniName, c.(*tls.Conn).ConnectionState().NegotiatedProtocol, req.RequestURI, req.Host}
		replyWith("HTTP/1.1 200 OK\r\n\r\n")(c, req, br)
	})
	_, port, _ := net.SplitHostPort(addr)
	byName := func(ctx context.Context, network, address string) (net.Conn, error) {
		if address != net.JoinHostPort(proxyName, port) {
			return nil, fmt.Errorf("unexpected proxy address %q", address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}

	t.Run("ByIP", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}}
		c := dial(t, newDialer(t, "https://"+addr, nil, cfg), hidden)
		if _, ok := c.(*tls.Conn); !ok {
			t.Errorf("conn is %T, want *tls.Conn", c)
		}
		testnet.RoundTrip(t, c, "over TLS")
		if got, want := <-seenCh, (seen{"", "", hidden, hidden}); got != want {
			t.Errorf("proxy saw %+v, want %+v (no SNI for an IP, no ALPN)", got, want)
		}
		if cfg.ServerName != "" || !slices.Equal(cfg.NextProtos, []string{"h2"}) {
			t.Errorf("NewHTTP modified the caller's tls.Config: %q %q", cfg.ServerName, cfg.NextProtos)
		}
	})
	t.Run("ByName", func(t *testing.T) {
		c := dial(t, newDialer(t, "https://"+net.JoinHostPort(proxyName, port), byName, &tls.Config{RootCAs: pool}), hidden)
		testnet.RoundTrip(t, c, "over TLS by name")
		if got, want := <-seenCh, (seen{proxyName, "", hidden, hidden}); got != want {
			t.Errorf("proxy saw %+v, want %+v", got, want)
		}
		// tls.Conn's CloseWrite sends close_notify, which the proxy reads as EOF.
		tc, ok := c.(*tls.Conn)
		if !ok {
			t.Fatalf("conn is %T, want *tls.Conn", c)
		}
		if err := tc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Errorf("after CloseWrite read %q, %v; want EOF", b, err)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"UnknownAuthority", nil},
		{"WrongName", &tls.Config{RootCAs: pool, ServerName: "other.kafkanat.invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDialer(t, "https://"+net.JoinHostPort(proxyName, port), byName, tc.cfg)
			c, err := d.DialContext(context.Background(), "tcp", hidden)
			err = testnet.MustFail(t, c, err)
			if want := d.String() + ": TLS handshake with the proxy: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			var ve *tls.CertificateVerificationError
			if !errors.As(err, &ve) {
				t.Errorf("errors.As(%v, *tls.CertificateVerificationError) = false", err)
			}
		})
	}
}

func TestNetConn(t *testing.T) {
	t.Run("Raw", func(t *testing.T) {
		p := newHTTPProxy(t)
		d := newDialer(t, p.URL(), nil, nil)
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
			if _, ok := c1.(*net.TCPConn); !ok {
				c1.Close()
				return nil, nil, nil, fmt.Errorf("conn is %T, want *net.TCPConn", c1)
			}
			c2, err = ln.Accept()
			if err != nil {
				c1.Close()
				return nil, nil, nil, err
			}
			return c1, c2, func() { c1.Close(); c2.Close() }, nil
		})
	})
	t.Run("Prefixed", func(t *testing.T) {
		// The fake proxy hands each of its conns to the test as c2 and
		// holds it until stop.
		type handoff struct {
			c    net.Conn
			stop chan struct{}
		}
		conns := make(chan handoff, 1)
		addr := startFakeProxy(t, nil, func(c net.Conn, _ *http.Request, _ *bufio.Reader) {
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nPREFIX"); err != nil {
				return
			}
			h := handoff{c, make(chan struct{})}
			conns <- h
			<-h.stop
		})
		d := newDialer(t, "http://"+addr, nil, nil)
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c1, err = d.DialContext(ctx, "tcp", hidden)
			if err != nil {
				return nil, nil, nil, err
			}
			h := <-conns
			stop = func() { c1.Close(); h.c.Close(); close(h.stop) }
			if _, ok := c1.(interface{ NetConn() net.Conn }); !ok {
				stop()
				return nil, nil, nil, fmt.Errorf("conn is %T, want the prefix wrapper", c1)
			}
			buf := make([]byte, len("PREFIX"))
			if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "PREFIX" {
				stop()
				return nil, nil, nil, fmt.Errorf("read %q, %v; want PREFIX", buf, err)
			}
			return c1, h.c, stop, nil
		})
	})
}

package testkit_test

// Tests of the proxy servers. Helpers here are prefixed "proxy" to stay
// clear of the other servers' tests in this package; TestMain (leakcheck) is
// in main_test.go.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/leakcheck"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// proxyServe runs handle on every TCP conn a loopback listener accepts.
func proxyServe(t *testing.T, handle func(*net.TCPConn)) string {
	return testnet.Serve(t, func(c net.Conn) { handle(c.(*net.TCPConn)) }).Addr()
}

// proxyEcho echoes every conn until EOF, then half-closes it.
func proxyEcho(t *testing.T) string {
	return proxyServe(t, func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// proxyCounter reads every conn to EOF, then replies "got N bytes".
func proxyCounter(t *testing.T) string {
	return proxyServe(t, func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
}

// proxyClosedPort is a loopback address nothing listens on.
func proxyClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proxyDialTo is a WithDialer dialer that sends every target to addr.
func proxyDialTo(addr string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func proxyDial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// proxyHalfClose writes "hello", half-closes c and expects the counter's
// answer: the EOF crossed the proxy while the way back stayed open.
func proxyHalfClose(t *testing.T, c *net.TCPConn, r io.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "got 5 bytes" {
		t.Errorf("after CloseWrite read %q, %v; want %q", got, err, "got 5 bytes")
	}
}

// exitingFrame matches the top frame of a server goroutine that has
// returned from its work.
var exitingFrame = regexp.MustCompile(`^(github\.com/kafkanat/kafkanat/internal/testkit\.[^ ]*\.func[0-9.]+|sync\.\(\*WaitGroup\)\.Go\.func[0-9.]+)\(`)

// serverGoroutines returns the stacks of goroutines running the servers'
// code (package testkit's, not its tests').
func serverGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// Every goroutine of the servers is a function literal counted
		// by their WaitGroup, and none blocks in its own body: one whose
		// top frame is that literal (or WaitGroup.Go's wrapper) has
		// returned from the calls it made and is running its deferred
		// calls, the WaitGroup's Done among them. Once Close's Wait has
		// returned, it is exiting, not left behind.
		if lines := strings.SplitN(g, "\n", 3); len(lines) > 1 && exitingFrame.MatchString(lines[1]) {
			continue
		}
		if strings.Contains(g, "github.com/kafkanat/kafkanat/internal/testkit.") {
			left = append(left, g)
		}
	}
	return left
}

func TestProxyOptionErrors(t *testing.T) {
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		name string
		new  func() (io.Closer, error)
		want string
	}{
		{"SOCKS5EmptyUser", func() (io.Closer, error) {
			return testkit.NewSOCKS5Server(testkit.WithCredentials("", "pw"))
		}, "empty user"},
		{"SOCKS5LongUser", func() (io.Closer, error) {
			return testkit.NewSOCKS5Server(testkit.WithCredentials(long, "pw"))
		}, "at most 255 bytes"},
		{"SOCKS5LongPassword", func() (io.Closer, error) {
			return testkit.NewSOCKS5Server(testkit.WithCredentials("alice", long))
		}, "at most 255 bytes"},
		{"HTTPEmptyUser", func() (io.Closer, error) {
			return testkit.NewHTTPProxy(testkit.WithCredentials("", "pw"))
		}, "empty user"},
		{"HTTPColon", func() (io.Closer, error) {
			return testkit.NewHTTPProxy(testkit.WithCredentials("al:ice", "pw"))
		}, "colon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.new()
			if err == nil {
				s.Close()
				t.Fatal("constructor succeeded")
			}
			if !strings.HasPrefix(err.Error(), "kafkanattest: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestProxyURL(t *testing.T) {
	s, err := testkit.NewSOCKS5Server(nil, testkit.WithCredentials("al ice", "p@ss:w/rd"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := testkit.NewHTTPProxy()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tc := range []struct {
		addr, raw, scheme, user, password string
	}{
		{s.Addr(), s.URL(), "socks5", "al ice", "p@ss:w/rd"},
		{h.Addr(), h.URL(), "http", "", ""},
	} {
		if host, _, err := net.SplitHostPort(tc.addr); err != nil || host != "127.0.0.1" {
			t.Errorf("Addr() = %q, want 127.0.0.1:port", tc.addr)
		}
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatalf("URL() = %q: %v", tc.raw, err)
		}
		password, _ := u.User.Password()
		if u.Scheme != tc.scheme || u.Host != tc.addr || u.User.Username() != tc.user || password != tc.password {
			t.Errorf("URL() = %q, want %s://%s with user %q", tc.raw, tc.scheme, tc.addr, tc.user)
		}
	}
}

// TestProxyCloseWaits closes proxies that have a relay running, a client
// that never finished its request and a dial in flight: Close must end all
// of them and return only when every goroutine of the proxy is gone.
func TestProxyCloseWaits(t *testing.T) {
	echo := proxyEcho(t)
	for _, tc := range []struct {
		name    string
		start   func(...testkit.ProxyOption) (io.Closer, string, error)
		connect func(addr, target string) []byte
	}{
		{"SOCKS5", func(o ...testkit.ProxyOption) (io.Closer, string, error) {
			s, err := testkit.NewSOCKS5Server(o...)
			if err != nil {
				return nil, "", err
			}
			return s, s.Addr(), nil
		}, func(_, target string) []byte {
			return append([]byte{5, 1, 0}, socksRequest(t, 1, target)...)
		}},
		{"HTTP", func(o ...testkit.ProxyOption) (io.Closer, string, error) {
			s, err := testkit.NewHTTPProxy(o...)
			if err != nil {
				return nil, "", err
			}
			return s, s.Addr(), nil
		}, func(_, target string) []byte {
			return []byte("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := leakcheck.IgnoreCurrent()
			dialing := make(chan struct{})
			p, addr, err := tc.start(testkit.WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
				if address == "stuck.kafkanat.invalid:9092" {
					close(dialing)
					<-ctx.Done() // the dial ends only when Close cancels it
					// and ends slowly: Close must wait for it.
					time.Sleep(100 * time.Millisecond)
					return nil, ctx.Err()
				}
				return proxyDialTo(echo)(ctx, network, address)
			}))
			if err != nil {
				t.Fatal(err)
			}
			// An active relay.
			relayed := proxyDial(t, addr)
			relayed.Write(tc.connect(addr, "echo.kafkanat.invalid:7"))
			relayed.Write([]byte("ping"))
			buf := make([]byte, 64)
			var got []byte
			for !strings.HasSuffix(string(got), "ping") {
				n, err := relayed.Read(buf)
				if err != nil {
					t.Fatalf("relay: read %q, then %v", got, err)
				}
				got = append(got, buf[:n]...)
			}
			// A client that connected and said nothing.
			silent := proxyDial(t, addr)
			// A dial that hangs.
			stuck := proxyDial(t, addr)
			stuck.Write(tc.connect(addr, "stuck.kafkanat.invalid:9092"))
			<-dialing

			if len(serverGoroutines()) < 4 {
				t.Fatalf("before Close, found only these proxy goroutines:\n%s", strings.Join(serverGoroutines(), "\n\n"))
			}
			done := make(chan error, 1)
			go func() { done <- p.Close() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return")
			}
			// Checked at once: leakcheck below retries, so it would also
			// pass if Close returned before its goroutines ended.
			if left := serverGoroutines(); len(left) > 0 {
				t.Errorf("after Close returned, %d proxy goroutines remain:\n%s", len(left), strings.Join(left, "\n\n"))
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			for name, c := range map[string]net.Conn{"relayed": relayed, "silent": silent, "stuck": stuck} {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := io.Copy(io.Discard, c)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%s conn still open after Close", name)
				}
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Error("the listener still accepts after Close")
			}
			leakcheck.VerifyNone(t, ignore)
		})
	}
}

package peers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/peers"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer is a loopback listener that writes back whatever it reads.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := nettest.NewLocalListener("tcp4")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, _ = io.Copy(conn, conn)
			conn.Close()
		}()
	}
}

func (s *echoServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

// roundTrip sends a message over conn and checks that the echo comes back.
func roundTrip(t *testing.T, conn net.Conn) {
	t.Helper()
	roundTripBuffered(t, conn, conn)
}

// roundTripBuffered is roundTrip for a conn whose first bytes may already
// sit in r.
func roundTripBuffered(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Larger than one relay chunk of microsocks (1 KiB), to cover more
	// than a single read and write on the peer's side.
	msg := bytes.Repeat([]byte("kafkanat peers round trip\n"), 200)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo differs: got %d bytes %q..., want %q...", len(got), got[:32], msg[:32])
	}
}

// dialSOCKS connects to target through the SOCKS5 proxy at proxyURL using
// x/net/proxy, the client kafkanat's socks route builds on.
func dialSOCKS(ctx context.Context, t *testing.T, proxyURL, target string) (net.Conn, error) {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatalf("peer URL %q: %v", proxyURL, err)
	}
	checkLoopbackURL(t, u)
	d, err := proxy.FromURL(u, proxy.Direct)
	if err != nil {
		t.Fatalf("proxy.FromURL(%s): %v", u.Redacted(), err)
	}
	return d.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
}

func checkLoopbackURL(t *testing.T, u *url.URL) {
	t.Helper()
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host != "127.0.0.1" || port == "" || port == "0" {
		t.Fatalf("peer URL %s: want a 127.0.0.1:<port> host", u.Redacted())
	}
}

func testSOCKSRoundTrip(t *testing.T, proxyURL string, echo *echoServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialSOCKS(ctx, t, proxyURL, echo.addr())
	if err != nil {
		t.Fatalf("dial %s through %s: %v", echo.addr(), redact(proxyURL), err)
	}
	defer conn.Close()
	roundTrip(t, conn)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func TestMicrosocks(t *testing.T) {
	t.Parallel()
	echo := newEchoServer(t)

	t.Run("no auth", func(t *testing.T) {
		t.Parallel()
		u := peers.Microsocks(t, "", "")
		if !strings.HasPrefix(u, "socks5://127.0.0.1:") {
			t.Errorf("URL %q, want socks5://127.0.0.1:<port>", u)
		}
		testSOCKSRoundTrip(t, u, echo)
	})

	t.Run("credentials", func(t *testing.T) {
		t.Parallel()
		const user, pass = "alice", "s3cret:/@x"
		u := peers.Microsocks(t, user, pass)
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("URL %s: %v", redact(u), err)
		}
		if p, _ := parsed.User.Password(); parsed.User.Username() != user || p != pass {
			t.Fatalf("URL %s does not carry the credentials", parsed.Redacted())
		}
		testSOCKSRoundTrip(t, u, echo)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, tc := range []struct {
			name string
			user *url.Userinfo
		}{
			{"wrong password", url.UserPassword(user, "wrong")},
			{"wrong user", url.UserPassword("mallory", pass)},
			{"none", nil},
		} {
			bad := *parsed
			bad.User = tc.user
			conn, err := dialSOCKS(ctx, t, bad.String(), echo.addr())
			if err == nil {
				conn.Close()
				t.Errorf("%s: microsocks accepted the connection, want it refused", tc.name)
			}
		}
	})
}

func TestDante(t *testing.T) {
	t.Parallel()
	echo := newEchoServer(t)
	u := peers.Dante(t)
	if !strings.HasPrefix(u, "socks5://127.0.0.1:") {
		t.Errorf("URL %q, want socks5://127.0.0.1:<port>", u)
	}
	testSOCKSRoundTrip(t, u, echo)

	// Dante resolves names itself: "localhost" comes from /etc/hosts on
	// the peer's side, never from DNS.
	_, port, _ := net.SplitHostPort(echo.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialSOCKS(ctx, t, u, net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial localhost:%s through dante: %v", port, err)
	}
	defer conn.Close()
	roundTrip(t, conn)
}

func TestTinyproxy(t *testing.T) {
	t.Parallel()
	echo := newEchoServer(t)
	raw := peers.Tinyproxy(t)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		t.Fatalf("URL %q, want http://127.0.0.1:<port>", raw)
	}
	checkLoopbackURL(t, u)

	// The echo port is not 443 or 563, tinyproxy's usual CONNECT ports:
	// the config must allow every port.
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial tinyproxy %s: %v", u.Host, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	target := echo.addr()
	if _, err := fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		t.Fatalf("writing CONNECT: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading the CONNECT reply: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %s, want 200", target, resp.Status)
	}
	roundTripBuffered(t, conn, br)
}

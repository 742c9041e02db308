package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzReadConnectReply feeds arbitrary proxy replies to the CONNECT client
// over a net.Pipe. The dial must never panic or hang; it returns either an
// error naming the route without the password, or a conn from which exactly
// the bytes after the reply can still be read: none lost, none repeated.
func FuzzReadConnectReply(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 Connection established\r\n\r\n",              // the usual
		"HTTP/1.1 200 OK\r\n\r\ntunnelled bytes in the same write", // data right behind the reply
		"HTTP/1.0 200 OK\r\nProxy-agent: x\r\n\r\n",                // HTTP/1.0 proxies
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nx",    // interim reply first
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",       // a body length to ignore
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\n\nbare LF",
		"HTTP/1.1 204\r\n\r\n",
		"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
		"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nerror",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n", // status out of range
		"HTTP/9.9 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", // obsolete line folding
		"SSH-2.0-OpenSSH_9.6\r\n",
		"HTTP/1.1 200 OK\r\n", // cut short
		"",
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, reply []byte, auth bool) {
		client, proxySide := net.Pipe()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // swallow the request
			defer wg.Done()
			io.Copy(io.Discard, proxySide)
		}()
		go func() { // the rogue proxy: says its piece, then hangs up
			defer wg.Done()
			proxySide.Write(reply)
			proxySide.Close()
		}()
		defer wg.Wait()
		defer proxySide.Close()

		rawURL := "http://127.0.0.1:3128"
		if auth {
			rawURL = "http://alice:pa55word@127.0.0.1:3128"
		}
		d := newDialer(t, rawURL, func(context.Context, string, string) (net.Conn, error) { return client, nil }, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", hidden)
		if err != nil {
			if c != nil {
				t.Fatalf("got conn %T and error %v", c, err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the handshake hung until the deadline: %v", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, d.String()+": ") || strings.Contains(msg, "pa55word") {
				t.Fatalf("error %q does not start with the redacted route", msg)
			}
			return
		}
		defer c.Close()
		if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
			if nc.NetConn() != client {
				t.Fatalf("wrapper around %T, want around the conn to the proxy", nc.NetConn())
			}
		} else if c != client {
			t.Fatalf("conn is %T, want the conn to the proxy or a wrapper", c)
		}
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(reply, rest) {
			t.Fatalf("after the reply read %q, not the tail of %q", rest, reply)
		}
		// What the handshake consumed ends with the reply's blank line:
		// not a byte of the tunnel more.
		if head := reply[:len(reply)-len(rest)]; !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) {
			t.Fatalf("the handshake consumed %q, which does not end with a blank line", head)
		}
	})
}

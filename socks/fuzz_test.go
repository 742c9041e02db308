package socks_test

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

// FuzzSOCKS5Reply feeds arbitrary proxy bytes to the client handshake over
// a net.Pipe. The dial must never panic or hang; it returns either an error
// naming the route without the password, or the raw pipe conn from which
// exactly the bytes after the handshake can still be read.
func FuzzSOCKS5Reply(f *testing.F) {
	ipv4 := []byte{0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x04, 0x38} // succeeded, bound 127.0.0.1:1080
	for _, seed := range []struct {
		reply []byte
		auth  bool
	}{
		{cat([]byte{0x05, 0x00}, ipv4), false},                                                    // no auth, success
		{cat([]byte{0x05, 0x00}, ipv4, []byte("tunnelled bytes")), false},                         // success, data right behind
		{cat([]byte{0x05, 0x02, 0x01, 0x00}, ipv4), true},                                         // user/password accepted, success
		{[]byte{0x05, 0x02, 0x01, 0x01}, true},                                                    // user/password rejected
		{[]byte{0x05, 0x02, 0x02, 0x00}, true},                                                    // wrong subnegotiation version
		{[]byte{0x05, 0xff}, false},                                                               // no acceptable methods
		{[]byte{0x05, 0x02}, false},                                                               // a method the client did not offer
		{[]byte{0x04, 0x00}, false},                                                               // not SOCKS5
		{[]byte{0x05, 0x00, 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0}, false},                     // connection refused
		{[]byte{0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 4, 'g', 'w', '.', 'x', 0x04, 0x38}, false},    // bound to a name
		{cat([]byte{0x05, 0x00, 0x05, 0x00, 0x00, 0x04}, make([]byte, 16), []byte{0, 80}), false}, // bound to IPv6
		{[]byte{0x05, 0x00, 0x05, 0x00, 0x00, 0x09}, false},                                       // unknown address type
		{[]byte{0x05, 0x00, 0x05, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0}, false},                     // non-zero reserved byte
		{[]byte{0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 200, 'x'}, false},                             // name cut short
		{[]byte{0x05}, false},                                                                     // cut short
		{nil, true},                                                                               // silence, then EOF
	} {
		f.Add(seed.reply, seed.auth)
	}
	f.Fuzz(func(t *testing.T, reply []byte, auth bool) {
		client, proxySide := net.Pipe()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // swallow what the client sends
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

		rawURL := "socks5://127.0.0.1:1080"
		if auth {
			rawURL = "socks5://alice:pa55word@127.0.0.1:1080"
		}
		d := newDialer(t, rawURL, func(context.Context, string, string) (net.Conn, error) { return client, nil })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", "b1.kafka.internal.invalid:9092")
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
		if c != client {
			t.Fatalf("conn is %T, want the raw conn", c)
		}
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(reply, rest) {
			t.Fatalf("after the handshake read %q, not the tail of %q", rest, reply)
		}
	})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

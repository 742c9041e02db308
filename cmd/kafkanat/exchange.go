package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SASL request keys: SaslHandshake and SaslAuthenticate.
const (
	keySASLHandshake    = 17
	keySASLAuthenticate = 36
)

// exchange watches the Kafka requests over one connection: it is the kgo
// hook that times the SASL requests, and it keeps the first bytes the
// broker sent, to say what answered when it was not Kafka.
type exchange struct {
	mu        sync.Mutex
	saslFirst time.Time // the first SASL request was written
	saslLast  time.Time // the last SASL response was read
	saslErr   error
}

var _ kgo.HookBrokerE2E = (*exchange)(nil)

// OnBrokerE2E notes the SASL requests kgo runs when it opens the
// connection.
func (x *exchange) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != keySASLHandshake && key != keySASLAuthenticate {
		return
	}
	end := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.saslFirst.IsZero() {
		x.saslFirst = end.Add(-e.DurationE2E())
	}
	x.saslLast = end
	if err := e.Err(); err != nil && x.saslErr == nil {
		x.saslErr = err
	}
}

// stages splits the time from the dial's end to the last response into
// SASL (when it ran) and the Kafka requests, and names the one that failed
// with err.
func (x *exchange) stages(total time.Duration, err error, reason string) (stages []Stage, failed string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var sasl time.Duration
	if !x.saslFirst.IsZero() {
		sasl = x.saslLast.Sub(x.saslFirst)
		s := Stage{Stage: stageSASL, MS: ms(sasl)}
		if isSASLError(err) || x.saslErr != nil && err != nil {
			s.Error = reason
			return []Stage{s}, stageSASL
		}
		stages = append(stages, s)
	}
	s := Stage{Stage: stageKafka, MS: ms(max(total-sasl, 0))}
	if err != nil {
		s.Error, failed = reason, stageKafka
	}
	return append(stages, s), failed
}

// isSASLError reports whether the broker refused to authenticate.
func isSASLError(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism)
}

// peekSize is how many of the first bytes from the broker peekConn keeps.
const peekSize = 64

// peekConn keeps the first bytes read from a connection.
type peekConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *peekConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if room := peekSize - len(c.first); room > 0 {
			c.first = append(c.first, p[:min(n, room)]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// NetConn returns the wrapped connection.
func (c *peekConn) NetConn() net.Conn { return c.Conn }

// notKafka says what the peer sent when it is not a Kafka broker's
// answer, and returns "" when it may be one (or nothing came). kgo's first
// request on a connection is ApiVersions with correlation id 0: a Kafka
// answer starts with a sane length and that id.
func (c *peekConn) notKafka() string {
	c.mu.Lock()
	b := bytes.Clone(c.first)
	c.mu.Unlock()
	if len(b) >= 8 {
		size := binary.BigEndian.Uint32(b)
		if size >= 4 && size <= 64<<20 && binary.BigEndian.Uint32(b[4:]) == 0 {
			return ""
		}
	}
	return describeAnswer(b)
}

// describeAnswer says what a peer that is not a Kafka broker answered
// with b, its first bytes; "" when b is empty.
func describeAnswer(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	var what string
	switch {
	case len(b) >= 3 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 0x03:
		return "it answered with TLS, not plaintext Kafka: is --tls missing?"
	case bytes.HasPrefix(b, []byte("HTTP/")):
		what = "HTTP: " + strconv.Quote(string(line))
	case bytes.HasPrefix(b, []byte("SSH-")):
		what = "with an SSH banner: " + strconv.Quote(string(line))
	case len(line) > 0 && printable(line):
		what = strconv.Quote(string(line))
	default:
		what = fmt.Sprintf("% x", b[:min(len(b), 16)])
		if len(b) > 16 {
			what += " ..."
		}
	}
	return "it is not a Kafka broker (it answered " + what + ")"
}

// sniffRequest is what sniff sends: an HTTP request, which line-based
// servers (HTTP above all) answer, where they wait in silence for the end
// of a line that a Kafka request never sends. A Kafka broker reads it as
// an oversized request and closes the connection.
const sniffRequest = "HEAD / HTTP/1.0\r\n\r\n"

// sniff asks a peer that did not answer Kafka what it is, over a new
// connection dialed with dial, within timeout: what describeAnswer says of
// its answer, or "" when it answers nothing.
func sniff(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), address string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "tcp", address)
	if err != nil {
		return ""
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, sniffRequest); err != nil {
		return ""
	}
	b := make([]byte, peekSize)
	n, _ := io.ReadAtLeast(c, b, 1)
	return describeAnswer(b[:n])
}

// printable reports whether b is UTF-8 text without control characters.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

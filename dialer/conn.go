package dialer

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	iroute "github.com/kafkanat/kafkanat/internal/route"
)

// Info describes how a connection was made.
type Info struct {
	Address  string // the address the client dialed (bootstrap or advertised)
	Target   string // the address the route was asked to reach
	Rule     int    // 1-based number of the matching rule; 0 when none matched
	RuleText string // the matching rule with credentials redacted, or what decided instead ("Lookup", "no rule matched")
	Route    string // the route that carried the connection, credentials redacted
}

// String describes the connection in one line, for example
//
//	b2.abc.example.com:9094 => 10.0.0.7:9094 via socks5://bastion:1080 (rule 3: *.abc.example.com => 10.0.0.7)
//	other.invalid:9092 via direct (no rule matched)
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Address)
	if i.Target != i.Address {
		b.WriteString(" => ")
		b.WriteString(i.Target)
	}
	b.WriteString(" via ")
	b.WriteString(i.Route)
	if i.Rule > 0 {
		fmt.Fprintf(&b, " (rule %d: %s)", i.Rule, i.RuleText)
	} else {
		fmt.Fprintf(&b, " (%s)", i.RuleText)
	}
	return b.String()
}

// Conn is the connection a Dialer returns (inside a *tls.Conn when the
// Dialer does TLS). Read and Write go straight to the route's connection:
// Conn adds no copy and no goroutine, only its own byte counters (the
// route's totals add them up when asked, so conns share no counter). Deadlines,
// CloseWrite and CloseRead reach the underlying connection.
type Conn struct {
	c      net.Conn
	info   Info
	stats  *routeStats
	hook   Hook
	opened time.Time

	read, written atomic.Uint64
	closed        atomic.Bool

	prev, next *Conn // in stats' list of open conns, under stats.mu
}

func newConn(c net.Conn, info Info, stats *routeStats, hook Hook, opened time.Time) *Conn {
	kc := &Conn{c: c, info: info, stats: stats, hook: hook, opened: opened}
	stats.opened(kc)
	return kc
}

var _ net.Conn = (*Conn)(nil)

// Info returns how the connection was made.
func (c *Conn) Info() Info { return c.info }

// NetConn returns the route's connection that Conn wraps.
func (c *Conn) NetConn() net.Conn { return c.c }

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.c.Read(b)
	if n > 0 {
		c.read.Add(uint64(n))
	}
	return n, err
}

// Write implements net.Conn.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.c.Write(b)
	if n > 0 {
		c.written.Add(uint64(n))
	}
	return n, err
}

// Close implements net.Conn. The first Close reports the connection to the
// Dialer's stats and hook.
func (c *Conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.stats.closed(c)
		if c.hook != nil {
			c.hook.ConnClosed(CloseEvent{Info: c.info, Open: time.Since(c.opened), BytesRead: c.read.Load(), BytesWritten: c.written.Load()})
		}
	}
	return c.c.Close()
}

// abort closes a conn that is never handed out (its TLS handshake failed):
// it leaves the route's counters, but no CloseEvent reaches the hook, as no
// connection was made.
func (c *Conn) abort() {
	if c.closed.CompareAndSwap(false, true) {
		c.stats.closed(c)
	}
	c.c.Close()
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// RemoteAddr implements net.Conn. It is what the route's connection
// reports: the broker (the target) for a direct route; the proxy for a
// SOCKS5 or HTTP CONNECT route, whose connection is the one to the proxy;
// the target as dialed for an ssh:// route (a *net.TCPAddr when the target
// is an IP address, otherwise a net.Addr whose String is its host:port,
// unresolved); and for a named route, whatever its connection says.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }

// CloseWrite shuts down the writing side, as (*net.TCPConn).CloseWrite
// does. It fails with errors.ErrUnsupported when the route's connection
// cannot half-close.
func (c *Conn) CloseWrite() error { return iroute.CloseWrite(c.c) }

// CloseRead shuts down the reading side, as (*net.TCPConn).CloseRead
// does. It fails with errors.ErrUnsupported when the route's connection
// cannot half-close.
func (c *Conn) CloseRead() error { return iroute.CloseRead(c.c) }

// InfoOf reports how c was made when c is, or wraps, a connection from a
// Dialer. It unwraps *tls.Conn and any connection with a NetConn method.
func InfoOf(c net.Conn) (Info, bool) {
	for c != nil {
		if kc, ok := c.(*Conn); ok {
			return kc.info, true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return Info{}, false
}

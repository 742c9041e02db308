package dialer

import (
	"errors"
	"net"
	"time"
)

// Info describes how a connection was made.
type Info struct {
	Address  string // the address the client dialed (bootstrap or advertised)
	Target   string // the address the route was asked to reach
	Rule     int    // 1-based number of the matching rule; 0 when none matched
	RuleText string // the matching rule with credentials redacted, or what decided instead ("Lookup", "no rule matched")
	Route    string // the route that carried the connection, credentials redacted
}

// Conn is the connection a Dialer returns (inside a *tls.Conn when the
// Dialer does TLS). Read and Write go straight to the route's connection:
// Conn adds no copy and no goroutine. Deadlines, CloseWrite and CloseRead
// reach the underlying connection.
type Conn struct {
	c    net.Conn
	info Info
}

var _ net.Conn = (*Conn)(nil)

// Info returns how the connection was made.
func (c *Conn) Info() Info { return c.info }

// NetConn returns the route's connection that Conn wraps.
func (c *Conn) NetConn() net.Conn { return c.c }

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) { return c.c.Read(b) }

// Write implements net.Conn.
func (c *Conn) Write(b []byte) (int, error) { return c.c.Write(b) }

// Close implements net.Conn.
func (c *Conn) Close() error { return c.c.Close() }

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// RemoteAddr implements net.Conn. It is the address of the route's peer:
// the broker for a direct route, the proxy otherwise.
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
func (c *Conn) CloseWrite() error {
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return &net.OpError{Op: "close", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errors.ErrUnsupported}
}

// CloseRead shuts down the reading side, as (*net.TCPConn).CloseRead
// does. It fails with errors.ErrUnsupported when the route's connection
// cannot half-close.
func (c *Conn) CloseRead() error {
	if cr, ok := c.c.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return &net.OpError{Op: "close", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errors.ErrUnsupported}
}

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

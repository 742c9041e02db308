package tunnel

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/kafkanat/kafkanat/internal/route"
)

// prefixConn is a net.Conn whose Read first returns bytes already read from
// the connection (the tunnelled bytes a proxy sent along with its reply).
// All other methods are the wrapped conn's.
type prefixConn struct {
	net.Conn
	drained atomic.Bool // prefix is empty: Read goes straight to Conn
	mu      sync.Mutex  // guards prefix
	prefix  []byte
}

func newPrefixConn(c net.Conn, prefix []byte) *prefixConn {
	return &prefixConn{Conn: c, prefix: prefix}
}

// Read returns buffered bytes first, then reads the wrapped conn. Like a
// *tls.Conn with decrypted bytes on hand, it returns buffered bytes even
// when the read deadline has passed.
func (c *prefixConn) Read(p []byte) (int, error) {
	if !c.drained.Load() {
		c.mu.Lock()
		if len(c.prefix) > 0 {
			n := copy(p, c.prefix)
			c.prefix = c.prefix[n:]
			if len(c.prefix) == 0 {
				c.dropLocked()
			}
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
	}
	return c.Conn.Read(p)
}

// Close closes the wrapped conn and discards unread buffered bytes.
func (c *prefixConn) Close() error {
	c.drop()
	return c.Conn.Close()
}

// CloseWrite shuts down the writing side of the wrapped conn (for a
// *tls.Conn: sends close_notify).
func (c *prefixConn) CloseWrite() error { return route.CloseWrite(c.Conn) }

// CloseRead shuts down the reading side of the wrapped conn and discards
// unread buffered bytes.
func (c *prefixConn) CloseRead() error {
	err := route.CloseRead(c.Conn)
	if !errors.Is(err, errors.ErrUnsupported) {
		c.drop()
	}
	return err
}

// NetConn returns the wrapped conn, like (*tls.Conn).NetConn. Reading it
// directly skips the buffered bytes.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

func (c *prefixConn) drop() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

func (c *prefixConn) dropLocked() {
	c.prefix = nil
	c.drained.Store(true)
}

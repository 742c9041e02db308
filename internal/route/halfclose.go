package route

import (
	"errors"
	"net"
)

// CloseWrite shuts down the writing side of c, as
// (*net.TCPConn).CloseWrite does. When c cannot half-close it returns a
// *net.OpError (Op "close") wrapping errors.ErrUnsupported.
func CloseWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return unsupported(c)
}

// CloseRead shuts down the reading side of c, as
// (*net.TCPConn).CloseRead does. When c cannot half-close it returns a
// *net.OpError (Op "close") wrapping errors.ErrUnsupported.
func CloseRead(c net.Conn) error {
	if cr, ok := c.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return unsupported(c)
}

func unsupported(c net.Conn) error {
	return OpError("close", c.LocalAddr(), c.RemoteAddr(), errors.ErrUnsupported)
}

// OpError is the *net.OpError of a TCP connection from local to remote
// whose operation op failed with err.
func OpError(op string, local, remote net.Addr, err error) *net.OpError {
	return &net.OpError{Op: op, Net: "tcp", Source: local, Addr: remote, Err: err}
}

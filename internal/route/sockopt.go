package route

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

// UserTimeout is how long bytes sent on a route's TCP connection to its
// proxy or bastion may stay unacknowledged before the kernel gives up on
// the connection (TCP_USER_TIMEOUT, RFC 5482; set on Linux only). Without
// it, Linux retransmits for tcp_retries2, about 15 minutes (940 s measured
// on a link that dropped every packet), and everything the connection
// carries hangs that long. 30 s is Kafka's default request.timeout.ms: a
// link that has acknowledged nothing for that long has already failed every
// request sent over it, while shorter outages (a failover, a rerouted path)
// are ridden out. It also bounds TCP keep-alive: an idle connection whose
// probes go unanswered is dropped once UserTimeout has passed.
const UserTimeout = 30 * time.Second

// KeepAlive is the idle time before the first TCP keep-alive probe and the
// interval between probes of NewDialer's connections (net.Dialer's
// default, written out).
const KeepAlive = 15 * time.Second

// NewDialer returns the dialer of a route's connection to its proxy or
// bastion: TCP keep-alive on (KeepAlive), and on Linux TCP_USER_TIMEOUT set
// to UserTimeout, so that a connection to a peer that silently vanished
// fails within UserTimeout even while it has unacknowledged data, which
// keep-alive does not probe. Elsewhere it is a net.Dialer with keep-alive.
func NewDialer() *Dialer {
	return &Dialer{d: net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: KeepAlive, Interval: KeepAlive, Count: 9},
	}}
}

// Dialer is NewDialer's dialer. It sets TCP_USER_TIMEOUT once the
// connection is made rather than in a net.Dialer Control func, which made
// a dial on loopback about 3% slower (net formats the address and wraps the
// socket for every Control call, BenchmarkDialPaired); until then the
// dial's own deadline bounds the connection attempt.
type Dialer struct {
	d net.Dialer
}

// DialContext dials address as net.Dialer does, then sets
// TCP_USER_TIMEOUT. A socket that refuses the option is closed and its
// error returned.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil || !userTimeoutSupported {
		return c, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	if err := setUserTimeout(tc); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: fmt.Errorf("setting TCP_USER_TIMEOUT: %w", err)}
	}
	return c, nil
}

// Dial is DialContext without a context.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// QuickAck acknowledges what a TCP connection has received at once, and
// keeps doing so for a while (Linux's TCP_QUICKACK), instead of delaying the
// acknowledgement by up to 40 ms hoping to send it with data. A peer that
// sends with Nagle's algorithm on (TCP_NODELAY off, as sshd does on
// forwarding connections) holds back a small segment until everything it
// sent before is acknowledged: our delayed ACK then stalls its next message
// by the whole delay. The kernel leaves quick-ack mode by itself, so Arm is
// called again after reads. The zero QuickAck and a nil *QuickAck do
// nothing.
type QuickAck struct {
	rc syscall.RawConn
}

// NewQuickAck returns a QuickAck for c, or nil when c is not a TCP
// connection (it has no socket of its own) or the system is not Linux.
func NewQuickAck(c net.Conn) *QuickAck {
	if !quickAckSupported {
		return nil
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &QuickAck{rc: rc}
}

// Arm acknowledges what has arrived at once and enters quick-ack mode. It
// costs one setsockopt system call; errors (a closed socket) are ignored,
// since the next read reports them.
func (q *QuickAck) Arm() {
	if q == nil || q.rc == nil {
		return
	}
	q.rc.Control(setQuickAck)
}

package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/route"
)

// errSSHClosed is the cause of every dial after SSHDialer.Close or
// Shutdown.
var errSSHClosed = fmt.Errorf("the SSH route was closed: %w", net.ErrClosed)

// SSHDialer is an SSH bastion route: it connects to addresses through
// "direct-tcpip" channels (RFC 4254, section 7.2) of one SSH connection to
// the bastion, the way "ssh -J" or "ssh -W" does. It is safe for concurrent
// use.
//
// The SSH connection is established at the first dial and shared by every
// later one. When it ends (the bastion closed it, the network failed, or a
// channel could not be opened because the connection was gone), the next
// dial establishes a new one; concurrent dials wait for the same attempt
// rather than each connecting. Connections already returned end with it.
//
// Close ends the route and everything dialed through it at once; Shutdown
// ends the route but lets the connections already made finish first.
//
// A bastion that silently goes away (packets dropped, no RST) is noticed by
// SSH keepalives and by slow channel opens, as SSHKeepalive describes; the
// SSH connection is then closed, its conns fail at once, and the next dial
// establishes a new one.
type SSHDialer struct {
	addr    string // bastion host:port
	user    string
	name    string // the route for messages: ssh://user:xxxxx@host:port?...
	forward proxy.ContextDialer
	timeout time.Duration // ssh.ClientConfig.Timeout of NewSSHConfig; 0: none
	opts    sshOptions

	// config returns the client configuration for one connection attempt,
	// what it offers to authenticate (for messages), and a release func
	// (closes the agent connection) to call once the handshake is over.
	config func(ctx context.Context) (cfg *ssh.ClientConfig, offered string, release func(), err error)
	// knownHosts are the known_hosts files of a URL route, for messages;
	// nil when the caller's HostKeyCallback decides.
	knownHosts []string

	mu      sync.Mutex
	closed  bool        // Close or Shutdown was called: no more dials
	cur     *sshSession // the shared connection; nil before the first dial
	pending *sshAttempt // the connection being established, if any
}

var (
	_ proxy.ContextDialer = (*SSHDialer)(nil)
	_ proxy.Dialer        = (*SSHDialer)(nil)
)

// sshSession is one SSH connection to the bastion.
type sshSession struct {
	client *ssh.Client
	tc     *sshTransportConn
	local  net.Addr // our end of the connection to the bastion
	// ctx ends when the connection does: when reading from the bastion
	// fails (see sshTransportConn), a dial finds the connection gone, or
	// the monitor declares the bastion dead.
	ctx    context.Context
	cancel context.CancelFunc
	// cause is why the route killed the connection (set before ctx ends);
	// nil when it ended otherwise.
	cause error

	killOnce     sync.Once
	probeReq     chan struct{} // slow channel opens ask the monitor to probe; nil without a monitor
	keepaliveOut atomic.Bool   // a keepalive request waits for its answer

	// Guarded by the dialer's mu.
	users    int  // conns dialed through the connection and not closed, and dials opening one
	draining bool // Shutdown was called: close the connection once users is 0
}

func (s *sshSession) alive() bool { return s.ctx.Err() == nil }

// kill closes the connection and marks it unusable; cause, if not nil, is
// why (the first cause given sticks).
func (s *sshSession) kill(cause error) {
	s.killOnce.Do(func() { s.cause = cause })
	s.cancel()
	s.client.Close()
}

// sshTransportConn is the conn to the bastion as x/crypto/ssh sees it. It
// tells the dialer at once when the SSH connection ends, so that no dial
// picks it again and dials waiting on it give up (see DialContext):
//
//   - A failed read is the end: it cancels the session's context.
//   - A failed write ends the connection too, by closing the conn. x/crypto/ssh
//     only remembers a write error, and a channel open request that was never
//     sent would wait for its answer until the connection ends for another
//     reason; closing makes the read fail, which ends the connection and
//     fails the open.
//
// From the end on, writes fail without touching the conn.
//
// Every read notes the time for the liveness monitor, and a read that
// caught up with what had arrived re-arms quick ACKs (see route.QuickAck):
// sshd leaves Nagle's algorithm on for the connection, so when it has sent
// a small packet and holds the next one back until we acknowledge the
// first, our delayed ACK would stall that packet for 40ms. A read that
// fills p leaves more bytes waiting and the next read comes at once, so it
// is skipped.
type sshTransportConn struct {
	net.Conn
	silenceClock
	quick  *route.QuickAck // nil unless Conn is a TCP conn on Linux
	dead   atomic.Bool
	onDead func()
}

func newSSHTransportConn(raw net.Conn, onDead func()) *sshTransportConn {
	c := &sshTransportConn{Conn: raw, quick: route.NewQuickAck(raw), onDead: onDead}
	c.start = time.Now()
	return c
}

func (c *sshTransportConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.heard()
		if n < len(p) {
			c.quick.Arm()
		}
	}
	if err != nil {
		c.end()
	}
	return n, err
}

func (c *sshTransportConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, errSSHConnLost
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.end()
		c.Conn.Close()
	}
	return n, err
}

func (c *sshTransportConn) end() {
	if c.dead.CompareAndSwap(false, true) {
		c.onDead()
	}
}

// errSSHConnLost is a write to a connection that has ended.
var errSSHConnLost = fmt.Errorf("the SSH connection to the bastion has ended: %w", net.ErrClosed)

// sshAttempt is an SSH connection being established, shared by the dials
// that need it meanwhile.
type sshAttempt struct {
	done     chan struct{} // closed when sess or err is set
	sess     *sshSession
	err      error
	ctxEnded bool   // err is the context of the dial that led the attempt ending
	abort    func() // closes the conn to the bastion (Close during the handshake)
}

// Dial is DialContext with context.Background(), for users of proxy.Dialer.
func (d *SSHDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("host:port") through the bastion: it
// opens a "direct-tcpip" channel on the shared SSH connection, establishing
// that connection first if there is none. The host is sent to the bastion
// as written, so names are resolved there, never locally. network must be
// "tcp", "tcp4" or "tcp6"; the bastion decides the address family.
//
// If the context expires before the connection is complete, an error is
// returned. Once successfully connected, any expiration of the context will
// not affect the connection.
//
// The returned net.Conn supports deadlines (a Read or Write blocked past its
// deadline fails with an error for which errors.Is(err,
// os.ErrDeadlineExceeded) holds, and later deadlines let I/O resume),
// CloseWrite (sends SSH EOF: the target sees end of stream) and concurrent
// use. Its LocalAddr is our end of the SSH connection to the bastion, its
// RemoteAddr the target as dialed (a *net.TCPAddr for an IP address).
// SSH channels cannot be interrupted, so a pending Read waits on a
// goroutine that reads the channel into a buffer sized to that Read, and
// written bytes are copied and sent by a goroutine that runs while some
// are queued; an idle conn with no Read pending holds neither (one more
// goroutine per conn answers the bastion's channel requests). Like TCP,
// Write returns once its bytes are queued (at most 1 MiB are), and Close
// still sends queued bytes before closing the channel, giving up after 5s.
// When the route declares the bastion dead (see SSHKeepalive), Read and
// Write fail with an error saying so.
//
// Errors name the route and the failing step. A bastion refusing a target
// wraps *ssh.OpenChannelError; an unknown or changed host key wraps
// *knownhosts.KeyError; after Close or Shutdown, dials fail with an error
// wrapping net.ErrClosed.
func (d *SSHDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	target, err := sshTargets.CheckDial(ctx, d.name, network, address)
	if err != nil {
		return nil, err
	}
	step := "open a channel to " + target
	for retried := false; ; retried = true {
		s, fresh, err := d.session(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := s.open(ctx, target, d.opts.keepalive > 0)
		if err == nil {
			return newSSHConn(&sshChannel{Channel: ch, sess: s, release: func() { d.release(s) }}, s.local, remoteAddr(target)), nil
		}
		d.release(s)
		var refused *ssh.OpenChannelError
		switch {
		case errors.As(err, &refused):
			return nil, &route.Error{Route: d.name, Stage: route.StageChannel, Step: step, Err: &channelError{target: target, err: refused}}
		case route.ContextError(ctx) != nil:
			return nil, route.NewError(ctx, d.name, step, err).In(route.StageChannel)
		}
		// The connection is gone (the mux answers with io.EOF, or the
		// monitor declared the bastion dead). A connection that served
		// earlier dials may have died unnoticed: try once more on a new
		// one.
		s.kill(nil)
		if fresh || retried {
			return nil, &route.Error{Route: d.name, Stage: route.StageChannel, Step: step,
				Err: fmt.Errorf("the SSH connection to the bastion was lost: %w", err)}
		}
	}
}

// Close closes the shared SSH connection, which ends every connection
// dialed through it, and aborts one being established. Later dials fail
// with an error wrapping net.ErrClosed. It is safe to call more than once,
// and after Shutdown.
func (d *SSHDialer) Close() error {
	d.mu.Lock()
	d.closed = true
	s := d.cur
	d.cur = nil
	if a := d.pending; a != nil && a.abort != nil {
		a.abort()
	}
	d.mu.Unlock()
	if s != nil {
		s.kill(nil)
	}
	return nil
}

// Shutdown stops the route for good, as Close does: later dials fail with
// an error wrapping net.ErrClosed, and an SSH connection being established
// is aborted. Unlike Close, it leaves the connections already dialed
// through the route open: the shared SSH connection is closed once the
// last of them has been closed (and its queued bytes sent), at once if
// there are none. A dial that was already opening a channel may still
// succeed; its connection counts like the others. It is safe to call more
// than once; Close after Shutdown closes everything at once.
func (d *SSHDialer) Shutdown() error {
	d.mu.Lock()
	d.closed = true
	if a := d.pending; a != nil && a.abort != nil {
		a.abort()
	}
	s := d.cur
	idle := s != nil && s.users == 0
	if s != nil {
		s.draining = true
	}
	if idle {
		d.cur = nil
	}
	d.mu.Unlock()
	if idle {
		s.kill(nil)
	}
	return nil
}

// release ends one use of s that session began: a dial that opened no
// channel, or a conn whose channel has been closed. The last use of a
// connection that Shutdown drains closes it.
func (d *SSHDialer) release(s *sshSession) {
	d.mu.Lock()
	s.users--
	last := s.draining && s.users == 0
	if last && d.cur == s {
		d.cur = nil
	}
	d.mu.Unlock()
	if last {
		s.kill(nil)
	}
}

// closedError is the error of a dial after Close or Shutdown.
func (d *SSHDialer) closedError() error {
	return &route.Error{Route: d.name, Step: "dial", Err: errSSHClosed}
}

// session returns a live SSH connection, establishing one if needed, for
// one use that the caller must release; fresh reports that it was
// established during this call.
func (d *SSHDialer) session(ctx context.Context) (s *sshSession, fresh bool, err error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, false, d.closedError()
		}
		if s := d.cur; s != nil && s.alive() {
			s.users++
			d.mu.Unlock()
			return s, false, nil
		}
		if a := d.pending; a != nil {
			d.mu.Unlock()
			select {
			case <-a.done:
			case <-ctx.Done():
				return nil, false, &route.Error{Route: d.name, Stage: route.StageConnect, Step: "connect to the bastion",
					Err: ctx.Err(), Context: ctx.Err()}
			}
			if a.err == nil {
				d.mu.Lock()
				closed := d.closed
				if !closed {
					a.sess.users++
				}
				d.mu.Unlock()
				if closed {
					return nil, false, d.closedError()
				}
				return a.sess, true, nil
			}
			if a.ctxEnded && ctx.Err() == nil {
				continue // the leader gave up, not the bastion: try again
			}
			return nil, false, a.err
		}
		a := &sshAttempt{done: make(chan struct{})}
		d.pending = a
		d.mu.Unlock()

		s, err := d.establish(ctx, a)
		d.mu.Lock()
		d.pending = nil
		if d.closed {
			// Close may have cut the handshake short: say why.
			if s != nil {
				s.kill(nil)
			}
			s, err = nil, d.closedError()
		}
		if err == nil {
			d.cur = s
			s.users++
		}
		a.sess, a.err, a.ctxEnded = s, err, err != nil && route.ContextError(ctx) != nil
		d.mu.Unlock()
		close(a.done)
		return s, true, err
	}
}

// establish dials the bastion and runs the SSH handshake, bounded by ctx
// (see route.Handshake).
func (d *SSHDialer) establish(ctx context.Context, a *sshAttempt) (*sshSession, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	cfg, offered, release, err := d.config(ctx)
	if err != nil {
		return nil, route.NewError(ctx, d.name, "prepare the SSH connection", err).In(route.StageHandshake)
	}
	defer release()

	// A fresh connect every second while none has connected: after an
	// outage, the bastion is reached within a second of the link's
	// return, not at the next backed-off SYN retransmission.
	raw, err := route.DialStaggered(ctx, route.RedialEvery, func(ctx context.Context) (net.Conn, error) {
		return dialProxy(ctx, d.forward, d.addr)
	})
	if err != nil {
		return nil, route.NewError(ctx, d.name, "cannot reach the bastion", err).In(route.StageConnect)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		raw.Close()
		return nil, d.closedError()
	}
	a.abort = func() { raw.Close() }
	d.mu.Unlock()
	sctx, cancel := context.WithCancel(context.Background())
	tc := newSSHTransportConn(raw, cancel)

	keys := &hostKeySeen{check: cfg.HostKeyCallback, addr: d.addr}
	cfg.HostKeyCallback = keys.callback
	var (
		conn  ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
	)
	err = route.Handshake(ctx, raw, func() (err error) {
		conn, chans, reqs, err = ssh.NewClientConn(tc, d.addr, cfg)
		return err
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		cancel()
		raw.Close()
		key, keyOK := keys.result()
		step, cause := d.explain(err, key, keyOK, offered)
		return nil, route.NewError(ctx, d.name, step, cause).In(route.StageHandshake)
	}
	s := &sshSession{
		client: ssh.NewClient(conn, chans, reqs),
		tc:     tc,
		local:  raw.LocalAddr(),
		ctx:    sctx,
		cancel: cancel,
	}
	if d.opts.keepalive > 0 {
		s.probeReq = make(chan struct{}, 1)
		go s.monitor(d.opts, max(minProbeTimeout, 2*tc.since()))
	}
	return s, nil
}

// hostKeySeen remembers what the host key check said, to tell key
// problems from authentication problems, which x/crypto/ssh reports
// alike. The check runs again at every key re-exchange, on x/crypto's
// goroutine.
type hostKeySeen struct {
	check ssh.HostKeyCallback
	addr  string // the bastion's host:port

	mu  sync.Mutex
	key ssh.PublicKey
	ok  bool
}

func (h *hostKeySeen) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if _, _, err := net.SplitHostPort(remote.String()); err != nil {
		// knownhosts parses remote even when it checks hostname; a
		// forward dialer's conn may not have a host:port address.
		remote = targetAddr(h.addr)
	}
	err := h.check(hostname, remote, key)
	h.mu.Lock()
	h.key, h.ok = key, err == nil
	h.mu.Unlock()
	return err
}

// result is the last key checked and whether it passed.
func (h *hostKeySeen) result() (ssh.PublicKey, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.key, h.ok
}

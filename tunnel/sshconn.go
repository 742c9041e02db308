package tunnel

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/kafkanat/kafkanat/internal/route"
)

const (
	// sshChunk is how many bytes each of an sshConn's goroutines holds:
	// the reader reads the channel this far ahead, and Write queues this
	// much. It is the payload of one maximum-size SSH packet.
	sshChunk = 32 << 10
	// sshCloseLinger bounds how long Close keeps trying to send queued
	// bytes to a target that does not read before it closes the channel
	// regardless.
	sshCloseLinger = 5 * time.Second
)

// errWriteShutdown is Write's error after CloseWrite.
var errWriteShutdown = errors.New("write after CloseWrite")

// sshConn is a net.Conn over an SSH "direct-tcpip" channel, with working
// deadlines. SSH channels (x/crypto/ssh) have no deadlines and a blocked
// Read or Write can only be interrupted by closing the channel, so the
// channel is used by two goroutines only:
//
//   - the reader reads up to sshChunk bytes and hands them to Read calls
//     until they are taken, then reads again;
//   - the writer takes up to sshChunk bytes from a Write call, copying
//     them, and writes them to the channel while the next Write waits.
//
// Read and Write wait for their goroutine with a select that their deadline
// and Close also end, as net.Pipe does; a deadline never touches the
// channel, so I/O resumes when it is extended. Flow control is kept: the
// reader holds at most one chunk beyond the channel's window.
type sshConn struct {
	ch    net.Conn // the channel, as x/crypto/ssh's Client.Dial returns it
	laddr net.Addr
	raddr net.Addr

	// Reader goroutine → Read.
	rdRx  chan []byte   // unread bytes on offer
	rdTx  chan int      // how many of them Read took
	rdone chan struct{} // the reader has delivered its last byte; rerr says why
	rerr  error

	// Write → writer goroutine.
	wrTx     chan []byte   // bytes to send
	wrRx     chan int      // how many the writer took (copied)
	wdone    chan struct{} // the writer sends no more; werr says why
	werr     error
	shut     chan struct{} // CloseWrite was called
	shutOnce sync.Once

	done      chan struct{} // Close was called
	closeOnce sync.Once
	linger    *time.Timer // set before done is closed

	readDeadline  deadline
	writeDeadline deadline
}

// newSSHConn wraps ch and starts its reader and writer.
func newSSHConn(ch net.Conn, local, remote net.Addr) *sshConn {
	c := &sshConn{
		ch:            ch,
		laddr:         local,
		raddr:         remote,
		rdRx:          make(chan []byte),
		rdTx:          make(chan int),
		rdone:         make(chan struct{}),
		wrTx:          make(chan []byte),
		wrRx:          make(chan int),
		wdone:         make(chan struct{}),
		shut:          make(chan struct{}),
		done:          make(chan struct{}),
		readDeadline:  makeDeadline(),
		writeDeadline: makeDeadline(),
	}
	go c.readLoop()
	go c.writeLoop()
	return c
}

// readLoop reads the channel ahead of Read. It ends at the channel's end
// (EOF, or an error) or at Close.
func (c *sshConn) readLoop() {
	buf := make([]byte, sshChunk)
	for {
		n, err := c.ch.Read(buf)
		for b := buf[:n]; len(b) > 0; {
			select {
			case c.rdRx <- b:
				b = b[<-c.rdTx:]
			case <-c.done:
				return
			}
		}
		if err != nil {
			c.rerr = err
			close(c.rdone)
			return
		}
	}
}

// writeLoop sends what Write accepted, then, after CloseWrite, an SSH EOF.
// It closes the channel after Close, once the bytes it holds are sent.
func (c *sshConn) writeLoop() {
	buf := make([]byte, sshChunk)
	var err error
loop:
	for {
		select {
		case p := <-c.wrTx:
			if isDone(c.done) {
				c.wrRx <- 0 // Write sees done and fails
				break loop
			}
			n := copy(buf, p)
			c.wrRx <- n
			if _, err = c.ch.Write(buf[:n]); err != nil {
				break loop
			}
		case <-c.shut:
			if err = route.CloseWrite(c.ch); err == nil {
				err = errWriteShutdown
			}
			break loop
		case <-c.done:
			break loop
		}
	}
	if err != nil {
		c.werr = err
		close(c.wdone)
	}
	<-c.done
	c.ch.Close()
	c.linger.Stop()
}

// Read reads bytes the target sent. It fails with a timeout once the read
// deadline has passed, with net.ErrClosed after Close, and returns io.EOF
// once the target's stream (or the SSH connection) has ended.
func (c *sshConn) Read(p []byte) (int, error) {
	switch {
	case isDone(c.done):
		return 0, c.opError("read", net.ErrClosed)
	case isDone(c.rdone):
		return 0, c.readError()
	case isDone(c.readDeadline.wait()):
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	case len(p) == 0:
		return 0, nil
	}
	select {
	case b := <-c.rdRx:
		n := copy(p, b)
		c.rdTx <- n
		return n, nil
	case <-c.rdone:
		return 0, c.readError()
	case <-c.done:
		return 0, c.opError("read", net.ErrClosed)
	case <-c.readDeadline.wait():
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
}

func (c *sshConn) readError() error {
	if c.rerr == io.EOF {
		return io.EOF
	}
	return c.opError("read", c.rerr)
}

// Write queues p for the target. It returns once every byte is queued
// (at most sshChunk bytes wait in the queue; like a TCP send buffer),
// or with the count queued so far when the write deadline passes, Close or
// CloseWrite is called, or sending failed.
func (c *sshConn) Write(p []byte) (int, error) {
	switch {
	case isDone(c.done):
		return 0, c.opError("write", net.ErrClosed)
	case isDone(c.shut):
		return 0, c.opError("write", errWriteShutdown)
	case isDone(c.wdone):
		return 0, c.writeError()
	case isDone(c.writeDeadline.wait()):
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	n := 0
	for len(p) > 0 {
		select {
		case c.wrTx <- p:
			k := <-c.wrRx
			n += k
			p = p[k:]
		case <-c.wdone:
			return n, c.writeError()
		case <-c.shut:
			return n, c.opError("write", errWriteShutdown)
		case <-c.done:
			return n, c.opError("write", net.ErrClosed)
		case <-c.writeDeadline.wait():
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
	}
	return n, nil
}

func (c *sshConn) writeError() error {
	err := c.werr
	if err == io.EOF {
		// x/crypto/ssh's word for a channel the far side closed.
		err = errors.New("the channel was closed by the bastion")
	}
	return c.opError("write", err)
}

// CloseWrite sends an SSH EOF after the queued bytes: the target sees the
// end of the stream while reading in the other direction continues. Later
// writes fail.
func (c *sshConn) CloseWrite() error {
	if isDone(c.done) {
		return c.opError("close", net.ErrClosed)
	}
	c.shutOnce.Do(func() { close(c.shut) })
	return nil
}

// Close ends pending and later Reads and Writes at once and closes the
// channel once the queued bytes are sent (at most sshCloseLinger later).
func (c *sshConn) Close() error {
	err := c.opError("close", net.ErrClosed)
	c.closeOnce.Do(func() {
		c.linger = time.AfterFunc(sshCloseLinger, func() { c.ch.Close() })
		close(c.done)
		err = nil
	})
	return err
}

// LocalAddr is our end of the SSH connection to the bastion.
func (c *sshConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr is the target as dialed: a *net.TCPAddr for an IP address,
// otherwise the host name and port unresolved.
func (c *sshConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *sshConn) SetDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the time after which Read fails with a timeout;
// the zero time means none.
func (c *sshConn) SetReadDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets the time after which Write fails with a timeout;
// the zero time means none. Bytes already queued are still sent.
func (c *sshConn) SetWriteDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.writeDeadline.set(t)
	return nil
}

func (c *sshConn) opError(op string, err error) error {
	return route.OpError(op, c.laddr, c.raddr, err)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// deadline is a channel that is closed when a deadline passes, as in
// net.Pipe (net/pipe.go): waiters select on wait(); moving the deadline
// keeps the channel unless it was already closed, so a waiter keeps
// waiting for the new time. Timers run without a goroutine until they fire.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it has closed cancel
	}
	d.timer = nil
	closed := isDone(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// targetAddr is a dialed "host:port" as a net.Addr.
type targetAddr string

func (a targetAddr) Network() string { return "tcp" }
func (a targetAddr) String() string  { return string(a) }

// remoteAddr is target as a net.Addr: a *net.TCPAddr for an IP address.
func remoteAddr(target string) net.Addr {
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return targetAddr(target)
}

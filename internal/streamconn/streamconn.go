// Package streamconn makes a net.Conn with working deadlines out of a
// byte stream that has none: an SSH channel (package tunnel) or a
// Kubernetes port-forward stream (module kube). Such streams can only be
// interrupted by closing them, while Kafka clients cancel blocked I/O with
// deadlines and resume it after extending them.
//
// It imports the standard library and internal/route only.
package streamconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kafkanat/kafkanat/internal/route"
)

// Stream is what a Conn carries.
type Stream interface {
	io.ReadWriter
	// CloseWrite sends the end of the stream: the far side reads EOF
	// while reading in the other direction goes on.
	CloseWrite() error
	// Close releases the stream; blocked Read and Write calls return.
	Close() error
}

// Config describes a Conn's stream.
type Config struct {
	Local, Remote net.Addr // what LocalAddr and RemoteAddr return
	// Chunk is how many bytes each of the Conn's goroutines holds: the
	// reader reads the stream this far ahead, and Write queues this much.
	Chunk int
	// Linger bounds how long Close keeps trying to send queued bytes to a
	// far side that does not read before it closes the stream regardless.
	Linger time.Duration
	// WriteError, if not nil, rewords the error of a failed stream write
	// (for example an SSH channel's io.EOF).
	WriteError func(error) error
}

// ErrWriteShutdown is Write's error after CloseWrite.
var ErrWriteShutdown = errors.New("write after CloseWrite")

// Conn is a net.Conn over a Stream, with working deadlines. The stream is
// used by two goroutines only:
//
//   - the reader reads up to Chunk bytes and hands them to Read calls
//     until they are taken, then reads again;
//   - the writer takes up to Chunk bytes from a Write call, copying
//     them, and writes them to the stream while the next Write waits.
//
// Read and Write wait for their goroutine with a select that their deadline
// and Close also end, as net.Pipe does; a deadline never touches the
// stream, so I/O resumes when it is extended. Flow control is kept: the
// reader holds at most one chunk beyond the stream's own buffer.
type Conn struct {
	s   Stream
	cfg Config

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

// New wraps s and starts its reader and writer. The Conn owns s from now
// on: it closes s once Close was called and the queued bytes are sent.
func New(s Stream, cfg Config) *Conn {
	c := &Conn{
		s:             s,
		cfg:           cfg,
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

// readLoop reads the stream ahead of Read. It ends at the stream's end
// (EOF, or an error) or at Close.
func (c *Conn) readLoop() {
	buf := make([]byte, c.cfg.Chunk)
	for {
		n, err := c.s.Read(buf)
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

// writeLoop sends what Write accepted, then, after CloseWrite, the end of
// the stream. It closes the stream after Close, once the bytes it holds
// are sent.
func (c *Conn) writeLoop() {
	buf := make([]byte, c.cfg.Chunk)
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
			if _, err = c.s.Write(buf[:n]); err != nil {
				break loop
			}
		case <-c.shut:
			if err = c.s.CloseWrite(); err == nil {
				err = ErrWriteShutdown
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
	c.s.Close()
	c.linger.Stop()
}

// Read reads bytes the far side sent. It fails with a timeout once the
// read deadline has passed, with net.ErrClosed after Close, and returns
// io.EOF once the far side's stream has ended.
func (c *Conn) Read(p []byte) (int, error) {
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

func (c *Conn) readError() error {
	if c.rerr == io.EOF {
		return io.EOF
	}
	return c.opError("read", c.rerr)
}

// Write queues p for the far side. It returns once every byte is queued
// (at most Chunk bytes wait in the queue; like a TCP send buffer), or with
// the count queued so far when the write deadline passes, Close or
// CloseWrite is called, or sending failed.
func (c *Conn) Write(p []byte) (int, error) {
	switch {
	case isDone(c.done):
		return 0, c.opError("write", net.ErrClosed)
	case isDone(c.shut):
		return 0, c.opError("write", ErrWriteShutdown)
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
			return n, c.opError("write", ErrWriteShutdown)
		case <-c.done:
			return n, c.opError("write", net.ErrClosed)
		case <-c.writeDeadline.wait():
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
	}
	return n, nil
}

func (c *Conn) writeError() error {
	err := c.werr
	if c.cfg.WriteError != nil {
		err = c.cfg.WriteError(err)
	}
	return c.opError("write", err)
}

// CloseWrite sends the end of the stream after the queued bytes: the far
// side sees EOF while reading in the other direction continues. Later
// writes fail.
func (c *Conn) CloseWrite() error {
	if isDone(c.done) {
		return c.opError("close", net.ErrClosed)
	}
	c.shutOnce.Do(func() { close(c.shut) })
	return nil
}

// Close ends pending and later Reads and Writes at once and closes the
// stream once the queued bytes are sent (at most Linger later).
func (c *Conn) Close() error {
	err := c.opError("close", net.ErrClosed)
	c.closeOnce.Do(func() {
		c.linger = time.AfterFunc(c.cfg.Linger, func() { c.s.Close() })
		close(c.done)
		err = nil
	})
	return err
}

// LocalAddr returns Config.Local.
func (c *Conn) LocalAddr() net.Addr { return c.cfg.Local }

// RemoteAddr returns Config.Remote.
func (c *Conn) RemoteAddr() net.Addr { return c.cfg.Remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the time after which Read fails with a timeout;
// the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets the time after which Write fails with a timeout;
// the zero time means none. Bytes already queued are still sent.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if isDone(c.done) {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.writeDeadline.set(t)
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return route.OpError(op, c.cfg.Local, c.cfg.Remote, err)
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

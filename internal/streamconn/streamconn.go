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
	// Chunk bounds the bytes a Conn holds in each direction: a read of the
	// stream asks for at most this much, and Write queues at most this
	// much.
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

// Conn is a net.Conn over a Stream, with working deadlines. The stream's
// blocking calls run on goroutines of the Conn's, which Read and Write wait
// for with a select that their deadline and Close also end, as net.Pipe
// does; a deadline never touches the stream, so I/O resumes when it is
// extended.
//
// Goroutines and buffers exist only while bytes are in flight, so an idle
// Conn costs little:
//
//   - A Read that finds no bytes on hand starts a fill: a goroutine that
//     reads the stream once, into a pooled buffer sized to that Read (at
//     least 512 bytes, at most Chunk), and ends. Later Reads take the bytes
//     from the buffer, which goes back to the pool once empty. A Conn with
//     a Read pending holds one goroutine and that buffer; with none
//     pending, neither.
//   - Write copies its bytes into pooled buffers (at most Chunk queued, like
//     a TCP send buffer) and returns; a goroutine sends them and ends when
//     the queue is empty. The copy is what lets Write return at its
//     deadline while the stream write it started goes on.
//
// Flow control is kept: the Conn never reads more than a Read asked for,
// and Write blocks while Chunk bytes wait.
type Conn struct {
	s   Stream
	cfg Config

	mu sync.Mutex
	// Read side.
	rbuf    *[]byte       // the buffer of the last fill; nil when none is held
	rdata   []byte        // unread bytes, within *rbuf
	rerr    error         // the stream's read error, reported once rdata is taken
	filling bool          // a fill goroutine is reading the stream
	rwake   chan struct{} // closed when a fill ends; made by a Read that waits
	// Write side.
	wq      []*[]byte     // queued bytes, in order
	wqueued int           // bytes in wq
	writing bool          // a flush goroutine is running
	werr    error         // the stream write that failed; no more are tried
	shut    bool          // CloseWrite was called
	closed  bool          // Close was called
	wwake   chan struct{} // closed when the flush made room or ended; made by a Write that waits
	linger  *time.Timer   // closes the stream if queued bytes take too long after Close

	done chan struct{} // closed by Close

	readDeadline  deadline
	writeDeadline deadline
}

// New wraps s. The Conn owns s from now on: it closes s once Close was
// called and the queued bytes are sent.
func New(s Stream, cfg Config) *Conn {
	return &Conn{
		s:             s,
		cfg:           cfg,
		done:          make(chan struct{}),
		readDeadline:  makeDeadline(),
		writeDeadline: makeDeadline(),
	}
}

// Read reads bytes the far side sent. It fails with a timeout once the
// read deadline has passed (even with bytes on hand, as a TCP conn does),
// with net.ErrClosed after Close, and returns io.EOF once the far side's
// stream has ended.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		case isDone(c.readDeadline.wait()):
			c.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		case len(c.rdata) > 0:
			n := copy(p, c.rdata)
			c.rdata = c.rdata[n:]
			if len(c.rdata) == 0 {
				putBuf(c.rbuf)
				c.rbuf, c.rdata = nil, nil
			}
			c.mu.Unlock()
			return n, nil
		case c.rerr != nil:
			c.mu.Unlock()
			return 0, c.readError()
		}
		if !c.filling {
			c.filling = true
			size := fillSize(len(p), c.cfg.Chunk)
			go c.fill(getBuf(size), size)
		}
		if c.rwake == nil {
			c.rwake = make(chan struct{})
		}
		wake := c.rwake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-c.done:
		case <-c.readDeadline.wait():
		}
		c.mu.Lock()
	}
}

// fill reads at most size bytes of the stream once into buf and hands
// them to Read.
func (c *Conn) fill(buf *[]byte, size int) {
	n, err := c.s.Read((*buf)[:size])
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filling = false
	if n > 0 && !c.closed {
		c.rbuf, c.rdata = buf, (*buf)[:n]
	} else {
		putBuf(buf)
	}
	if err != nil {
		c.rerr = err
	}
	if c.rwake != nil {
		close(c.rwake)
		c.rwake = nil
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
	n := 0
	c.mu.Lock()
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return n, c.opError("write", net.ErrClosed)
		case c.shut:
			c.mu.Unlock()
			return n, c.opError("write", ErrWriteShutdown)
		case c.werr != nil:
			c.mu.Unlock()
			return n, c.writeError()
		case isDone(c.writeDeadline.wait()):
			c.mu.Unlock()
			return n, c.opError("write", os.ErrDeadlineExceeded)
		case len(p) == 0:
			c.mu.Unlock()
			return n, nil
		}
		if room := c.cfg.Chunk - c.wqueued; room > 0 {
			k := min(room, len(p))
			b := getBuf(k)
			*b = (*b)[:copy((*b)[:k], p)]
			c.wq = append(c.wq, b)
			c.wqueued += k
			n += k
			p = p[k:]
			if !c.writing {
				c.writing = true
				go c.flush()
			}
			continue
		}
		if c.wwake == nil {
			c.wwake = make(chan struct{})
		}
		wake := c.wwake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-c.done:
		case <-c.writeDeadline.wait():
		}
		c.mu.Lock()
	}
}

// flush sends the queued bytes, then, after CloseWrite, the end of the
// stream, and ends; after Close it closes the stream once the queue is
// empty.
func (c *Conn) flush() {
	c.mu.Lock()
	for len(c.wq) > 0 && c.werr == nil {
		b := c.wq[0]
		c.wq[0] = nil
		c.wq = c.wq[1:]
		c.mu.Unlock()
		_, err := c.s.Write(*b)
		c.mu.Lock()
		c.wqueued -= len(*b)
		putBuf(b)
		if err != nil {
			c.werr = err
		}
		c.wakeWriters()
	}
	for _, b := range c.wq { // after a failed write
		putBuf(b)
	}
	c.wq, c.wqueued = nil, 0
	if c.shut && c.werr == nil {
		c.mu.Unlock()
		err := c.s.CloseWrite()
		c.mu.Lock()
		if err == nil {
			err = ErrWriteShutdown
		}
		c.werr = err
	}
	c.writing = false
	c.wakeWriters()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.s.Close()
		c.linger.Stop()
	}
}

func (c *Conn) wakeWriters() {
	if c.wwake != nil {
		close(c.wwake)
		c.wwake = nil
	}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return c.opError("close", net.ErrClosed)
	case c.shut:
		return nil
	}
	c.shut = true
	c.wakeWriters()
	if !c.writing && c.werr == nil {
		c.writing = true
		go c.flush()
	}
	return nil
}

// Close ends pending and later Reads and Writes at once and closes the
// stream once the queued bytes are sent (at most Linger later). The stream
// is closed on a goroutine of its own, so that Close never waits for it.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	close(c.done)
	if c.rbuf != nil {
		putBuf(c.rbuf)
		c.rbuf, c.rdata = nil, nil
	}
	writing := c.writing
	if writing {
		// flush closes the stream when the queue is empty and stops the
		// timer, which it reads under mu.
		c.linger = time.AfterFunc(c.cfg.Linger, func() { c.s.Close() })
	}
	c.mu.Unlock()
	if !writing {
		go c.s.Close()
	}
	return nil
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

package route

import (
	"context"
	"net"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Handshake runs exchange, which reads and writes c, bounded by ctx the
// way golang.org/x/net/internal/socks bounds its handshake: ctx's deadline
// is copied onto c, and cancelling ctx sets a deadline in the past, which
// interrupts the I/O exchange is blocked in. When Handshake returns,
// nothing watches ctx any more and c's deadline is cleared. No goroutine
// runs unless ctx ends during the exchange.
//
// It returns exchange's error; when exchange succeeded although ctx ended
// meanwhile (the interruption may have cut a message short), ctx's error;
// and otherwise the error of clearing the deadline, if any.
func Handshake(ctx context.Context, c net.Conn, exchange func() error) error {
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.SetDeadline(aLongTimeAgo)
		close(interrupted)
	})
	err := exchange()
	if !stop() {
		// The interruption has run or is running: wait for it, so that
		// clearing the deadline comes after it.
		<-interrupted
		if err == nil {
			err = ctx.Err()
		}
	}
	if clearErr := c.SetDeadline(time.Time{}); err == nil {
		err = clearErr
	}
	return err
}

package route

import (
	"context"
	"errors"
	"net"
	"time"
)

// RedialEvery is how often DialStaggered starts a fresh attempt while
// none has connected: Linux's first SYN retransmission comes after 1s.
const RedialEvery = time.Second

// maxAttempts bounds the attempts of one DialStaggered in flight at once.
const maxAttempts = 16

// DialStaggered runs dial, and runs it again every `every` while no
// attempt has connected and ctx has not ended, keeping every attempt going;
// the first conn wins and the others are cancelled (a conn that still
// arrives is closed). When every attempt failed, or ctx ended and the
// cancelled attempts have returned, it returns the first error.
//
// A connect whose SYN was lost waits for the kernel's retransmission,
// which backs off (1s, 3s, 7s, 15s after the first): when a link comes back
// from an outage, the next SYN of an attempt begun during it may be
// seconds away, while a fresh attempt connects at once. So a route to a
// proxy that was unreachable is back within `every` of the link.
func DialStaggered(ctx context.Context, every time.Duration, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, maxAttempts) // attempts never wait for us
	running := 0
	start := func() {
		running++
		go func() {
			c, err := dial(ctx)
			if err == nil && c == nil {
				err = errors.New("dialer returned neither a conn nor an error")
			}
			results <- result{c, err}
		}()
	}
	// closeLate closes the conns of attempts still running once we return.
	closeLate := func(n int) {
		go func() {
			for range n {
				if r := <-results; r.c != nil {
					r.c.Close()
				}
			}
		}()
	}
	start()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var firstErr error
	done := ctx.Done()
	for {
		select {
		case r := <-results:
			running--
			switch {
			case r.err == nil && done != nil:
				cancel()
				closeLate(running)
				return r.c, nil
			case r.c != nil: // ctx ended before it connected
				r.c.Close()
			case firstErr == nil:
				firstErr = r.err
			}
			if running == 0 {
				if firstErr == nil {
					firstErr = ctx.Err()
				}
				return nil, firstErr
			}
		case <-tick.C:
			if done != nil && running < maxAttempts {
				start()
			}
		case <-done:
			// Collect the cancelled attempts' errors, which say what the
			// dial was doing (an i/o timeout, a refusal).
			done = nil
			cancel()
		}
	}
}

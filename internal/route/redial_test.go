package route_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/route"
)

// closeCounter is a conn that counts Close calls.
type closeCounter struct {
	net.Conn
	closed *atomic.Int32
}

func (c closeCounter) Close() error { c.closed.Add(1); return nil }

// An attempt stuck in its connect does not hold the dial: a fresh one
// starts every interval, the first to connect wins, and the stuck ones are
// cancelled; a conn that arrives after the winner is closed.
func TestDialStaggeredFreshAttemptWins(t *testing.T) {
	var calls, closed atomic.Int32
	lateDone := make(chan struct{})
	dial := func(ctx context.Context) (net.Conn, error) {
		switch calls.Add(1) {
		case 1: // a SYN lost in an outage: waits until cancelled
			<-ctx.Done()
			return nil, ctx.Err()
		case 2: // connects, but only after the winner
			defer close(lateDone)
			time.Sleep(200 * time.Millisecond)
			return closeCounter{closed: &closed}, nil
		default:
			return closeCounter{closed: &closed}, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := route.DialStaggered(ctx, 20*time.Millisecond, dial)
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("dial ran %d times, want 3 (the stuck one, the slow one, the winner)", n)
	}
	<-lateDone
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := closed.Load(); n != 1 {
		t.Errorf("%d conns closed, want 1 (the late one)", n)
	}
	c.Close()
}

// A dial that fails at once fails the whole call at once, with its error.
func TestDialStaggeredFailsFast(t *testing.T) {
	refused := errors.New("connection refused")
	var calls atomic.Int32
	_, err := route.DialStaggered(context.Background(), time.Hour, func(context.Context) (net.Conn, error) {
		calls.Add(1)
		return nil, refused
	})
	if err != refused || calls.Load() != 1 {
		t.Errorf("DialStaggered = %v after %d attempts, want the refusal after 1", err, calls.Load())
	}
	_, err = route.DialStaggered(context.Background(), time.Hour, func(context.Context) (net.Conn, error) { return nil, nil })
	if err == nil || err.Error() != "dialer returned neither a conn nor an error" {
		t.Errorf("a dial returning nothing: %v", err)
	}
}

// When ctx ends, the cancelled attempts' own errors come back (they say
// what the dial was stuck on), and none is left running.
func TestDialStaggeredContextEnds(t *testing.T) {
	var running atomic.Int32
	stuck := errors.New("i/o timeout")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := route.DialStaggered(ctx, 30*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		return nil, stuck
	})
	if err != stuck {
		t.Errorf("DialStaggered = %v, want the attempts' error", err)
	}
	if n := running.Load(); n != 0 {
		t.Errorf("%d attempts still running after DialStaggered returned", n)
	}
}

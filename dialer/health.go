package dialer

import (
	"slices"
	"sync"
	"time"
)

// Route health: a route whose last attempt failed to connect is tried
// after the healthy routes of a rule until its backoff expires. The
// backoff starts at healthBackoffMin and doubles with every further
// failure up to healthBackoffMax; a successful attempt resets it. Health
// only orders the routes: a rule whose routes are all unhealthy still
// tries every one of them.
const (
	healthBackoffMin = time.Second
	healthBackoffMax = 30 * time.Second
)

// health is a route's record of its recent attempts.
type health struct {
	mu       sync.Mutex
	failures int       // consecutive failed attempts
	until    time.Time // unhealthy until then
}

// failed records a failed attempt at now.
func (h *health) failed(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	backoff := healthBackoffMax
	if h.failures <= 6 { // 1s << 5 = 32s is past the cap
		backoff = min(healthBackoffMin<<(h.failures-1), healthBackoffMax)
	}
	h.until = now.Add(backoff)
}

// ok records a successful attempt.
func (h *health) ok() {
	h.mu.Lock()
	h.failures, h.until = 0, time.Time{}
	h.mu.Unlock()
}

// downUntil returns when the route becomes healthy again; the zero time
// or a past one means it is healthy.
func (h *health) downUntil() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until
}

// byHealth returns rs with the healthy routes first, each part in the
// order written. It returns rs itself when no route is unhealthy, which
// is the common case, so that a dial allocates nothing for it.
func byHealth(rs []*route, now time.Time) []*route {
	if len(rs) < 2 {
		return rs
	}
	var down []bool
	for i, r := range rs {
		if now.Before(r.health.downUntil()) {
			if down == nil {
				down = make([]bool, len(rs))
			}
			down[i] = true
		}
	}
	if down == nil {
		return rs
	}
	out := make([]*route, 0, len(rs))
	for i, r := range rs {
		if !down[i] {
			out = append(out, r)
		}
	}
	for i, r := range rs {
		if down[i] {
			out = append(out, r)
		}
	}
	if slices.Equal(out, rs) {
		return rs
	}
	return out
}

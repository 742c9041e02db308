package dialer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Route health. A route whose last attempt failed (or did not connect
// within the fallback delay while another route did) is tried after the
// healthy routes of its rule. Its backoff starts at healthBackoffMin and
// doubles with every further failure up to healthBackoffMax. When the
// backoff expires, the next dial that has a healthy route to use instead
// probes the failing route beside it: one attempt to the same target,
// closed at once if it connects, so that no dial waits on a route that is
// still down. A successful attempt or probe makes the route healthy
// again, and first in its rule's order again. Health only orders the
// routes: a rule whose routes are all failing still tries every one.
const (
	healthBackoffMin = time.Second
	healthBackoffMax = 30 * time.Second
)

// health is a route's record of its recent attempts.
type health struct {
	failing atomic.Bool // the fast path of every dial: false means healthy

	mu       sync.Mutex
	failures int       // consecutive failures
	until    time.Time // no probe before then
	probing  bool      // a probe is running
}

// failed records a failed attempt at now.
func (h *health) failed(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	backoff := healthBackoffMax
	if h.failures <= 5 { // 1s << 5 is past the cap
		backoff = min(healthBackoffMin<<(h.failures-1), healthBackoffMax)
	}
	h.until = now.Add(backoff)
	h.probing = false
	h.failing.Store(true)
}

// ok records a successful attempt.
func (h *health) ok() {
	if !h.failing.Load() {
		return
	}
	h.mu.Lock()
	h.failures, h.until, h.probing = 0, time.Time{}, false
	h.failing.Store(false)
	h.mu.Unlock()
}

// claimProbe reports whether the caller should probe the route now (its
// backoff has expired and no probe runs), and marks the probe running.
func (h *health) claimProbe(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures == 0 || h.probing || now.Before(h.until) {
		return false
	}
	h.probing = true
	return true
}

// abandonProbe ends a probe that neither connected nor failed (the route
// was released).
func (h *health) abandonProbe() {
	h.mu.Lock()
	h.probing = false
	h.mu.Unlock()
}

// downUntil returns when the route's backoff expires (it may have); the
// zero time means the route is healthy.
func (h *health) downUntil() time.Time {
	if !h.failing.Load() {
		return time.Time{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until
}

// plan orders a rule's routes for a dial: the healthy ones first, then the
// failing ones, each part in the order written. It returns rs itself when
// all are healthy (the common case: nothing allocated), and the failing
// routes whose backoff has expired, to probe, when a healthy route stands
// before them.
func plan(rs []*route) (ordered, probe []*route) {
	if len(rs) < 2 {
		return rs, nil
	}
	n := 0
	for _, r := range rs {
		if r.health.failing.Load() {
			n++
		}
	}
	if n == 0 || n == len(rs) {
		return rs, nil
	}
	now := time.Now()
	ordered = make([]*route, 0, len(rs))
	for _, r := range rs {
		if !r.health.failing.Load() {
			ordered = append(ordered, r)
		}
	}
	for _, r := range rs {
		if r.health.failing.Load() {
			ordered = append(ordered, r)
			if r.health.claimProbe(now) {
				probe = append(probe, r)
			}
		}
	}
	return ordered, probe
}

// probe tries r once in the background for a dial of info's target: a
// connection is closed at once. Its outcome sets r's health like any
// attempt's. It is bounded by the dial timeout and ends early when r is
// released (Close, or a new table).
func (d *Dialer) probe(network string, info Info, r *route) {
	if !r.acquire() {
		r.health.abandonProbe()
		return
	}
	go func() {
		defer r.done()
		ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
		defer cancel()
		stop := context.AfterFunc(r.releasedCtx(), cancel)
		defer stop()
		if _, kc, err := d.attempt(ctx, network, info.via(r), r); err == nil {
			kc.abort()
		} else if ctx.Err() != nil && r.releasedCtx().Err() != nil {
			r.health.abandonProbe()
		}
	}()
}

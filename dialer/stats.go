package dialer

import (
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Dialer's counters, per route.
type Stats struct {
	Routes []RouteStats // sorted by route name
}

// RouteStats counts the dials and connections of one route.
type RouteStats struct {
	Route        string // the route's name, credentials redacted
	Dials        uint64 // attempts over the route, successful or not
	Failures     uint64 // attempts that failed
	Open         int64  // connections made over the route and not yet closed
	BytesRead    uint64 // read by the client from connections over the route
	BytesWritten uint64 // written by the client to connections over the route
	DialLatency  Latency
	// Unhealthy reports a route whose last attempt failed: dials try it
	// after the healthy routes of their rule until an attempt or a probe
	// connects. ProbeAt is when its backoff expires and the next dial may
	// probe it; zero when healthy.
	Unhealthy bool
	ProbeAt   time.Time
}

// Latency summarises the durations of a route's dial attempts (connect,
// proxy handshake and TLS). The quantiles come from a histogram with
// power-of-two buckets: each is the upper bound of its bucket, so it is
// within a factor of two of the true value.
type Latency struct {
	Count    uint64
	Min, Max time.Duration
	Mean     time.Duration
	P50, P99 time.Duration
}

// latencyBuckets: bucket i counts durations d with bits.Len64(µs(d)) == i.
const latencyBuckets = 40

// routeStats are a route's counters. Dial counters are updated without
// locks; bytes are counted by each Conn alone (no counter shared between
// conns on the data path), and summed here when a conn closes or Stats is
// called.
type routeStats struct {
	dials, failures    atomic.Uint64
	sumNanos           atomic.Uint64
	minNanos, maxNanos atomic.Int64
	buckets            [latencyBuckets]atomic.Uint64

	mu                        sync.Mutex
	open                      *Conn // the conns not yet closed, linked through Conn.prev and Conn.next
	nopen                     int64
	closedRead, closedWritten uint64 // bytes of the conns already closed
}

func (s *routeStats) opened(c *Conn) {
	s.mu.Lock()
	c.next = s.open
	if s.open != nil {
		s.open.prev = c
	}
	s.open = c
	s.nopen++
	s.mu.Unlock()
}

func (s *routeStats) closed(c *Conn) {
	s.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		s.open = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	s.nopen--
	s.closedRead += c.read.Load()
	s.closedWritten += c.written.Load()
	s.mu.Unlock()
}

func (s *routeStats) dialed(d time.Duration, err error) {
	s.dials.Add(1)
	if err != nil {
		s.failures.Add(1)
	}
	ns := int64(d)
	s.sumNanos.Add(uint64(ns))
	for {
		cur := s.minNanos.Load()
		if (cur != 0 && cur <= ns) || s.minNanos.CompareAndSwap(cur, ns) {
			break
		}
	}
	for {
		cur := s.maxNanos.Load()
		if cur >= ns || s.maxNanos.CompareAndSwap(cur, ns) {
			break
		}
	}
	s.buckets[min(bits.Len64(uint64(d/time.Microsecond)), latencyBuckets-1)].Add(1)
}

func (s *routeStats) snapshot(name string) RouteStats {
	rs := RouteStats{Route: name, Dials: s.dials.Load(), Failures: s.failures.Load()}
	s.mu.Lock()
	rs.Open = s.nopen
	rs.BytesRead, rs.BytesWritten = s.closedRead, s.closedWritten
	for c := s.open; c != nil; c = c.next {
		rs.BytesRead += c.read.Load()
		rs.BytesWritten += c.written.Load()
	}
	s.mu.Unlock()
	var counts [latencyBuckets]uint64
	var n uint64
	for i := range counts {
		counts[i] = s.buckets[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return rs
	}
	rs.DialLatency = Latency{
		Count: n,
		Min:   time.Duration(s.minNanos.Load()),
		Max:   time.Duration(s.maxNanos.Load()),
		Mean:  time.Duration(s.sumNanos.Load() / n),
		P50:   quantile(&counts, n, 0.50),
		P99:   quantile(&counts, n, 0.99),
	}
	return rs
}

// quantile returns the upper bound of the bucket holding the q-quantile.
func quantile(counts *[latencyBuckets]uint64, n uint64, q float64) time.Duration {
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return time.Duration(uint64(1)<<i) * time.Microsecond
		}
	}
	return 0
}

// Stats returns the counters of the live routes: direct, the default
// routes, and those the rules in use name. A route a new table released
// is no longer listed.
func (d *Dialer) Stats() Stats {
	d.mu.Lock()
	routes := d.routes.all()
	d.mu.Unlock()
	out := Stats{Routes: make([]RouteStats, 0, len(routes))}
	for _, r := range routes {
		rs := r.stats.snapshot(r.name)
		if until := r.health.downUntil(); !until.IsZero() {
			rs.Unhealthy, rs.ProbeAt = true, until
		}
		out.Routes = append(out.Routes, rs)
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Route < out.Routes[j].Route })
	return out
}

// Hook receives an event for every route attempt and for every connection
// that closes. Methods are called synchronously on the dialing or closing
// goroutine, possibly concurrently: keep them short and safe for
// concurrent use. Use it to feed metrics systems (Prometheus,
// OpenTelemetry) without kafkanat depending on them.
type Hook interface {
	DialDone(DialEvent)
	ConnClosed(CloseEvent)
}

// DialEvent describes one route attempt.
type DialEvent struct {
	Info     Info          // the address, target, rule and the route tried
	Duration time.Duration // connect, proxy handshake and TLS
	Err      error         // nil when the route connected
}

// CloseEvent describes a connection when it closes (at its first Close).
type CloseEvent struct {
	Info         Info
	Open         time.Duration // how long it was open
	BytesRead    uint64
	BytesWritten uint64
}

// Hooks is a Hook that passes every event to each of its hooks, in order.
type Hooks []Hook

// DialDone calls DialDone of each hook.
func (hs Hooks) DialDone(e DialEvent) {
	for _, h := range hs {
		h.DialDone(e)
	}
}

// ConnClosed calls ConnClosed of each hook.
func (hs Hooks) ConnClosed(e CloseEvent) {
	for _, h := range hs {
		h.ConnClosed(e)
	}
}

// HookFuncs is a Hook made of functions; a nil field ignores its events.
type HookFuncs struct {
	Dial  func(DialEvent)
	Close func(CloseEvent)
}

// DialDone calls h.Dial.
func (h HookFuncs) DialDone(e DialEvent) {
	if h.Dial != nil {
		h.Dial(e)
	}
}

// ConnClosed calls h.Close.
func (h HookFuncs) ConnClosed(e CloseEvent) {
	if h.Close != nil {
		h.Close(e)
	}
}

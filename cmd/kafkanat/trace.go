package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/kafkanat/kafkanat/dialer"
)

// Stage names beyond the dialer's: what probe does over the connection.
const (
	stageSASL  = "SASL"
	stageKafka = "Kafka request"
)

// dialTrace watches one dial through a dialer of its own, to time each
// stage of each route attempt. It sees:
//
//   - every TCP dial, to the target (direct route) or to a proxy or
//     bastion, as the dialer's forward dialer (Config.Direct): when the
//     name was resolved (net.Dialer calls Control once it has an address)
//     and when the connection was made;
//   - when a proxy or bastion handshake ended: socks, tunnel and
//     x/net/proxy clear the deadline they set on that connection for the
//     handshake (see internal/route.Handshake);
//   - when each TLS handshake began: crypto/tls consults the client session
//     cache before it sends its hello, and the trace is that cache (it
//     never returns a session, so every handshake is a full one);
//   - every route attempt, with its duration and error, as the dialer's
//     hook.
//
// A check builds a dialer per address, so every event belongs to its
// dial.
type dialTrace struct {
	mu        sync.Mutex
	forwards  []*forwardDial
	tlsStarts []time.Time
	attempts  []attempt
	reported  chan struct{} // receives after each attempt; see wait
}

func newDialTrace() *dialTrace {
	return &dialTrace{reported: make(chan struct{}, 1)}
}

// forwardDial is one TCP dial of the forward dialer.
type forwardDial struct {
	address   string
	start     time.Time
	resolved  time.Time // the name was resolved; zero for an IP address or a failed lookup
	end       time.Time
	err       error
	handshake time.Time // the route cleared the connection's deadline: its handshake ended
	claimed   bool      // assigned to an attempt
}

// attempt is one route attempt, from the dialer's hook.
type attempt struct {
	info       dialer.Info
	start, end time.Time
	err        error
}

// Stage is one timed stage of reaching an address. Dial stages belong to a
// route attempt; SASL and the Kafka requests follow the dial.
type Stage struct {
	// Stage is "name resolution", "TCP connect", "proxy handshake", "SSH
	// channel", "TLS", "SASL" or "Kafka request".
	Stage   string  `json:"stage"`
	Route   string  `json:"route,omitempty"`   // the route attempt a dial stage belongs to
	Address string  `json:"address,omitempty"` // what was resolved or connected to
	MS      float64 `json:"ms"`
	Error   string  `json:"error,omitempty"` // why the stage failed
}

var (
	_ dialer.Hook            = (*dialTrace)(nil)
	_ tls.ClientSessionCache = (*dialTrace)(nil)
)

// DialContext is the forward dialer: a net.Dialer, as the dialer's own,
// that notes when the name was resolved and when the connection was made.
func (t *dialTrace) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	fd := &forwardDial{address: address, start: time.Now()}
	t.mu.Lock()
	t.forwards = append(t.forwards, fd)
	t.mu.Unlock()
	d := net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error {
		t.mu.Lock()
		if fd.resolved.IsZero() {
			fd.resolved = time.Now()
		}
		t.mu.Unlock()
		return nil
	}}
	c, err := d.DialContext(ctx, network, address)
	t.mu.Lock()
	fd.end, fd.err = time.Now(), err
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &tracedConn{Conn: c, trace: t, fd: fd}, nil
}

// tracedConn is a forward connection that notes when a route's handshake
// on it ended. CloseWrite and CloseRead reach the TCP connection.
type tracedConn struct {
	net.Conn
	trace *dialTrace
	fd    *forwardDial
}

// SetDeadline notes the first time the deadline is cleared: the end of
// the route's handshake.
func (c *tracedConn) SetDeadline(d time.Time) error {
	if d.IsZero() {
		c.trace.mu.Lock()
		if c.fd.handshake.IsZero() {
			c.fd.handshake = time.Now()
		}
		c.trace.mu.Unlock()
	}
	return c.Conn.SetDeadline(d)
}

// CloseWrite shuts down the writing side of the TCP connection.
func (c *tracedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// CloseRead shuts down the reading side of the TCP connection.
func (c *tracedConn) CloseRead() error {
	if cr, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return errors.ErrUnsupported
}

// NetConn returns the TCP connection.
func (c *tracedConn) NetConn() net.Conn { return c.Conn }

// Get notes that a TLS handshake begins; it never has a session.
func (t *dialTrace) Get(string) (*tls.ClientSessionState, bool) {
	t.mu.Lock()
	t.tlsStarts = append(t.tlsStarts, time.Now())
	t.mu.Unlock()
	return nil, false
}

// Put drops the session: every probe handshake is a full one.
func (t *dialTrace) Put(string, *tls.ClientSessionState) {}

// DialDone notes a route attempt.
func (t *dialTrace) DialDone(e dialer.DialEvent) {
	end := time.Now()
	t.mu.Lock()
	t.attempts = append(t.attempts, attempt{info: e.Info, start: end.Add(-e.Duration), end: end, err: e.Err})
	t.mu.Unlock()
	select {
	case t.reported <- struct{}{}:
	default: // a signal is pending already
	}
}

// wait waits until n attempts have reported, or until deadline. A dial
// that connected returns at once, while the routes it started before the
// winner are still being abandoned: their attempts report a moment later.
func (t *dialTrace) wait(n int, deadline time.Time) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		t.mu.Lock()
		done := len(t.attempts) >= n
		t.mu.Unlock()
		if done {
			return
		}
		select {
		case <-t.reported:
		case <-timer.C:
			return
		}
	}
}

// ConnClosed ignores connections closing.
func (t *dialTrace) ConnClosed(dialer.CloseEvent) {}

// stages returns the stages of every route attempt, in the order the
// attempts started, and the stage that failed in the last attempt to fail
// ("" when an attempt connected, or none was made). Call it once the dial
// has returned.
func (t *dialTrace) stages() (stages []Stage, failed string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	attempts := slices.Clone(t.attempts)
	slices.SortStableFunc(attempts, func(a, b attempt) int { return a.start.Compare(b.start) })
	tlsUsed := make([]bool, len(t.tlsStarts))
	connected := slices.ContainsFunc(attempts, func(a attempt) bool { return a.err == nil })
	for _, a := range attempts {
		if connected && a.err != nil && errors.Is(a.err, context.Canceled) {
			a.err = fmt.Errorf("abandoned when another route connected: %w", a.err)
		}
		s := t.attemptStages(a, tlsUsed)
		stages = append(stages, s...)
		if a.err != nil && len(s) > 0 {
			failed = s[len(s)-1].Stage
		}
	}
	if connected {
		failed = ""
	}
	return stages, failed
}

// attemptStages splits one attempt into its stages.
func (t *dialTrace) attemptStages(a attempt, tlsUsed []bool) []Stage {
	var out []Stage
	add := func(stage dialer.Stage, address string, from, to time.Time) {
		out = append(out, Stage{Stage: string(stage), Route: a.info.Route, Address: address, MS: ms(to.Sub(from))})
	}
	fail := func() []Stage {
		out[len(out)-1].Error = a.err.Error()
		return out
	}
	kind, forwardAddr := routeKind(a.info)
	from := a.start
	fd := t.claimForward(forwardAddr, a)
	if fd != nil {
		resolvedAt := fd.start
		if isName(fd.address) {
			resolvedAt = fd.resolved
			if resolvedAt.IsZero() {
				resolvedAt = fd.end // the lookup failed
			}
			add(dialer.StageResolve, fd.address, fd.start, resolvedAt)
			if fd.err != nil && fd.resolved.IsZero() {
				return fail()
			}
		}
		add(dialer.StageConnect, fd.address, resolvedAt, fd.end)
		if fd.err != nil {
			return fail()
		}
		from = fd.end
	}
	if kind == "ssh" {
		// The bastion's handshake, when this attempt established the SSH
		// connection or failed to.
		switch {
		case a.err != nil && dialer.StageOf(a.err) == dialer.StageHandshake:
			add(dialer.StageHandshake, "", from, a.end)
			return fail()
		case fd != nil && fd.handshake.After(from) && fd.handshake.Before(a.end):
			add(dialer.StageHandshake, "", from, fd.handshake)
			from = fd.handshake
		}
	}
	tlsAt := t.claimTLS(from, a.end, tlsUsed)
	routeEnd := a.end
	if !tlsAt.IsZero() {
		routeEnd = tlsAt
	}
	switch kind {
	case "direct":
	case "ssh":
		add(dialer.StageChannel, "", from, routeEnd)
	default:
		add(dialer.StageHandshake, "", from, routeEnd)
	}
	if !tlsAt.IsZero() {
		add(dialer.StageTLS, "", tlsAt, a.end)
	}
	if a.err == nil {
		return out
	}
	if len(out) == 0 {
		// Nothing was timed (an attempt cut short before it dialed):
		// the attempt as a whole, under the stage its error names.
		stage := dialer.StageOf(a.err)
		if stage == "" {
			stage = dialer.StageConnect
		}
		add(stage, "", a.start, a.end)
	}
	return fail()
}

// claimForward returns the first unclaimed forward dial to address that
// started before the attempt ended. A dial tries each route once, so the
// address tells the attempt; a.start is only an estimate (the hook runs a
// moment after the attempt ends), too late to compare with.
func (t *dialTrace) claimForward(address string, a attempt) *forwardDial {
	for _, fd := range t.forwards {
		if !fd.claimed && fd.address == address && !fd.start.After(a.end) {
			fd.claimed = true
			return fd
		}
	}
	return nil
}

// claimTLS returns the first unclaimed TLS start in [from, to], or the
// zero time.
func (t *dialTrace) claimTLS(from, to time.Time, used []bool) time.Time {
	for i, at := range t.tlsStarts {
		if !used[i] && !at.Before(from) && !at.After(to) {
			used[i] = true
			return at
		}
	}
	return time.Time{}
}

// routeKind tells the kind of route an attempt took ("direct", "ssh" or
// "proxy") and the address its forward dial connects to: the target, or
// the proxy or bastion named in the route's URL.
func routeKind(info dialer.Info) (kind, forwardAddr string) {
	if info.Route == "direct" {
		return "direct", info.Target
	}
	u, err := url.Parse(info.Route)
	if err != nil {
		return "proxy", ""
	}
	if u.Scheme == "ssh" {
		return "ssh", u.Host
	}
	return "proxy", u.Host
}

// isName reports whether address's host is a name, not an IP address.
func isName(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil
}

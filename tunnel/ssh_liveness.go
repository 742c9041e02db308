package tunnel

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// How an SSH route notices that its bastion has silently gone away
// (packets dropped, no RST, a NAT that forgot the connection). TCP alone
// takes 15 minutes when data is unacknowledged, and keep-alive probes do
// not run then; meanwhile every dial through the connection would wait for
// its timeout. So the route asks the bastion itself, the way OpenSSH's
// ServerAliveInterval and ServerAliveCountMax do.
const (
	// DefaultSSHKeepalive is the keepalive interval of an SSH route unless
	// its URL (keepalive=) or SSHKeepalive says otherwise: OpenSSH's
	// ServerAliveInterval as bastion operators commonly set it.
	DefaultSSHKeepalive = 15 * time.Second
	// DefaultSSHKeepaliveMax is how many keepalives may go unanswered, each
	// for a whole interval, before the connection is declared dead. With
	// one, a silent bastion is given up two intervals (30s) after its last
	// byte: Kafka's default request timeout, and the route's
	// TCP_USER_TIMEOUT. OpenSSH's ServerAliveCountMax defaults to 3 (60s),
	// long enough for a Kafka client to time out its requests first.
	DefaultSSHKeepaliveMax = 1
	// minSSHKeepalive and maxSSHKeepalive bound the keepalive interval.
	minSSHKeepalive = 100 * time.Millisecond
	maxSSHKeepalive = 24 * time.Hour
)

const (
	// openProbeAfter is how long a channel open may wait for its answer
	// before the route asks the bastion whether it is still there. A
	// healthy bastion answers the probe even while it is still connecting
	// to a slow target; a dead link answers neither.
	openProbeAfter = 200 * time.Millisecond
	// minProbeTimeout is the least time a probe gets to be answered; the
	// route allows twice the SSH handshake's duration when that is longer,
	// so that a distant bastion is not declared dead for its round trip.
	minProbeTimeout = 500 * time.Millisecond
)

// SSHOption configures an SSHDialer made by NewSSHConfig beyond its
// ssh.ClientConfig.
type SSHOption interface {
	apply(*sshOptions) error
}

type sshOptions struct {
	keepalive    time.Duration // 0: liveness checks off
	keepaliveMax int
}

func defaultSSHOptions() sshOptions {
	return sshOptions{keepalive: DefaultSSHKeepalive, keepaliveMax: DefaultSSHKeepaliveMax}
}

type optionFunc func(*sshOptions) error

func (f optionFunc) apply(o *sshOptions) error { return f(o) }

// SSHKeepalive sets how the route checks that the bastion is alive,
// overriding the default of DefaultSSHKeepalive (15s) and
// DefaultSSHKeepaliveMax (1), as the ssh:// URL's keepalive= and
// keepalive_max= do for NewSSH.
//
// When nothing has come from the bastion for interval, the route sends it
// a "keepalive@openssh.com" request, which every SSH server answers; when
// max intervals in a row then pass with the request unanswered and nothing
// received, the SSH connection is declared dead: it is closed, the conns it
// carries fail at once (Read and Write return an error that says so), and
// the next dial establishes a new connection. A dead bastion is thus
// noticed (max+1)×interval after the last byte it sent, as OpenSSH's
// ServerAliveInterval=interval and ServerAliveCountMax=max would; a busy
// connection sends no keepalives. A channel open that gets no answer
// within 200ms sends a keepalive too: if nothing at all comes back within
// twice the SSH handshake's duration (at least 500ms), the connection is
// declared dead and the dial goes on over a new one.
//
// interval 0 turns both checks off: the route then relies on TCP (see
// NewSSH's forward dialer). A negative interval, one below 100ms or above
// 24h, or max below 1 with a non-zero interval is an error.
//
//	d, err := tunnel.NewSSHConfig("bastion:22", cfg, nil, tunnel.SSHKeepalive(5*time.Second, 2))
func SSHKeepalive(interval time.Duration, max int) SSHOption {
	return optionFunc(func(o *sshOptions) error {
		if err := checkKeepalive(interval, max); err != nil {
			return fmt.Errorf("SSHKeepalive(%v, %d): %w", interval, max, err)
		}
		o.keepalive, o.keepaliveMax = interval, max
		return nil
	})
}

func checkKeepalive(interval time.Duration, max int) error {
	switch {
	case interval < 0:
		return errors.New("negative interval")
	case interval == 0:
		return nil
	case interval < minSSHKeepalive:
		return fmt.Errorf("interval shorter than %v", minSSHKeepalive)
	case interval > maxSSHKeepalive:
		return fmt.Errorf("interval longer than %v", maxSSHKeepalive)
	case max < 1:
		return errors.New("max below 1")
	}
	return nil
}

// parseKeepalive reads the keepalive= and keepalive_max= values of an
// ssh:// URL (each given at most once; nil when absent) over the defaults.
func parseKeepalive(interval, max []string) (sshOptions, error) {
	o := defaultSSHOptions()
	if len(interval) > 1 {
		return o, fmt.Errorf("keepalive given %d times", len(interval))
	}
	if len(max) > 1 {
		return o, fmt.Errorf("keepalive_max given %d times", len(max))
	}
	if len(interval) == 1 {
		v := interval[0]
		switch d, err := time.ParseDuration(v); {
		case v == "off" || v == "0":
			o.keepalive = 0
		case err == nil:
			o.keepalive = d
		default:
			secs, nerr := strconv.Atoi(v)
			if nerr != nil || secs < 0 || secs > int(maxSSHKeepalive/time.Second) {
				return o, fmt.Errorf("keepalive=%q is not a duration (15s, 1m), a number of seconds up to a day, or off", v)
			}
			o.keepalive = time.Duration(secs) * time.Second
		}
	}
	if len(max) == 1 {
		n, err := strconv.Atoi(max[0])
		if err != nil {
			return o, fmt.Errorf("keepalive_max=%q is not a whole number", max[0])
		}
		if o.keepalive == 0 {
			return o, fmt.Errorf("keepalive_max=%s has no effect with keepalive=%s (keepalives off); drop one", max[0], interval[0])
		}
		o.keepaliveMax = n
	}
	if err := checkKeepalive(o.keepalive, o.keepaliveMax); err != nil {
		return o, fmt.Errorf("keepalive=%v keepalive_max=%d: %w", o.keepalive, o.keepaliveMax, err)
	}
	return o, nil
}

// errBastionSilent is the cause of every failure after the route declared
// the bastion dead.
var errBastionSilent = errors.New("the bastion stopped answering")

// deadBastionError says why the route declared its SSH connection dead.
type deadBastionError struct {
	silent time.Duration // how long nothing came from the bastion
	why    string        // "3 keepalives went unanswered", "a channel open and a keepalive went unanswered"
}

func (e *deadBastionError) Error() string {
	return fmt.Sprintf("%v: nothing received for %v (%s); the SSH connection was closed and the next dial opens a new one",
		errBastionSilent, e.silent.Round(time.Millisecond), e.why)
}

func (e *deadBastionError) Unwrap() error { return errBastionSilent }

// monitor watches a session for the life of its SSH connection: it sends
// keepalives when the bastion has been silent for an interval, answers
// probe requests from slow channel opens, and kills the session when the
// bastion stays silent. It runs on a goroutine of its own, one per SSH
// connection.
func (s *sshSession) monitor(o sshOptions, probeTimeout time.Duration) {
	timer := time.NewTimer(o.keepalive)
	defer timer.Stop()
	var (
		sent       int           // keepalives sent since the last byte came
		mark       int64         // lastRead when sent was counted
		probing    bool          // a probe from a channel open is running
		probeMark  int64         // lastRead when the probe began
		probeUntil time.Duration // when the probe fails, as s.tc.since()
	)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.probeReq:
			if !probing {
				probing, probeMark, probeUntil = true, s.tc.lastRead.Load(), s.tc.since()+probeTimeout
				s.keepalive()
			}
		case <-timer.C:
		}
		now, last := s.tc.since(), s.tc.lastRead.Load()
		if last != mark {
			sent, mark = 0, last // the bastion spoke: start over
		}
		if probing && last != probeMark {
			probing = false
		}
		silent := now - time.Duration(last)
		switch {
		case probing && now >= probeUntil:
			s.kill(&deadBastionError{silent: silent, why: "a channel open and a keepalive went unanswered for " + probeTimeout.String()})
			return
		case silent >= time.Duration(sent+1)*o.keepalive:
			if sent == o.keepaliveMax {
				s.kill(&deadBastionError{silent: silent, why: strconv.Itoa(sent) + " keepalives went unanswered"})
				return
			}
			s.keepalive()
			sent++
		}
		next := time.Duration(last) + time.Duration(sent+1)*o.keepalive - now
		if probing {
			next = min(next, probeUntil-now)
		}
		timer.Reset(max(next, time.Millisecond))
	}
}

// keepalive sends a keepalive@openssh.com request unless one is still
// waiting for its answer: x/crypto/ssh lets one global request wait at a
// time, and a second would only queue behind the first. Any answer will
// do (OpenSSH answers "failure"); what counts is that something came back,
// which the transport conn notes.
func (s *sshSession) keepalive() {
	if !s.keepaliveOut.CompareAndSwap(false, true) {
		return
	}
	go func() {
		s.client.SendRequest("keepalive@openssh.com", true, nil)
		s.keepaliveOut.Store(false)
	}()
}

// probe asks the monitor to check the bastion now (a channel open is slow
// to be answered). It never blocks; without a monitor it does nothing.
func (s *sshSession) probe() {
	select {
	case s.probeReq <- struct{}{}:
	default:
	}
}

// silenceClock is the part of the transport conn the monitor reads: when
// the bastion last sent anything, on a clock private to the connection.
type silenceClock struct {
	start    time.Time
	lastRead atomic.Int64 // a time.Duration since start
}

func (c *silenceClock) since() time.Duration { return time.Since(c.start) }

// heard notes that the bastion sent something just now.
func (c *silenceClock) heard() { c.lastRead.Store(int64(time.Since(c.start))) }

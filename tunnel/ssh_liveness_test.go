package tunnel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/tunnel"
)

// silentRelay forwards TCP connections to a bastion, and can go silent
// the way a dead link does: silence makes the connections relayed so far
// stop forwarding in both directions without closing anything (what the
// client sends is read and counted, then dropped, as a link that drops
// packets would; nothing more reaches it), and speak makes them forward
// again; with refuse set, new connections are accepted and then never
// forwarded.
type silentRelay struct {
	addr       string
	knownHosts string // a known_hosts file that trusts the bastion at addr

	refuse  atomic.Bool // new connections are not forwarded at all
	dropped atomic.Int64
	closed  atomic.Int32 // connections the client closed
	mu      sync.Mutex
	silent  []*atomic.Bool // one per relayed connection
}

// silence stops every connection relayed so far.
func (r *silentRelay) silence() { r.setSilent(true) }

// speak lets them forward again.
func (r *silentRelay) speak() { r.setSilent(false) }

func (r *silentRelay) setSilent(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.silent {
		s.Store(v)
	}
}

func newSilentRelay(t *testing.T, b *sshBastion) *silentRelay {
	r := &silentRelay{}
	s := testnet.Serve(t, func(c net.Conn) {
		defer r.closed.Add(1)
		if r.refuse.Load() {
			r.drop(c)
			return
		}
		up, err := net.Dial("tcp", b.Addr())
		if err != nil {
			return
		}
		defer up.Close()
		silent := new(atomic.Bool)
		r.mu.Lock()
		r.silent = append(r.silent, silent)
		r.mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.pipe(c, up, silent)
			c.Close()
		}()
		r.pipe(up, c, silent)
		up.Close()
		<-done
	})
	r.addr = s.Addr()
	r.knownHosts = writeTemp(t, "known_hosts", knownhosts.Line([]string{r.addr}, b.HostKey())+"\n")
	return r
}

// pipe copies src to dst until src ends; while silent it reads and drops
// instead.
func (r *silentRelay) pipe(dst, src net.Conn, silent *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if silent.Load() {
			r.dropped.Add(int64(n))
		} else if _, werr := dst.Write(buf[:n]); werr != nil {
			return
		}
		if err != nil {
			return
		}
	}
}

// drop reads and counts what c sends until it ends.
func (r *silentRelay) drop(c net.Conn) {
	n, _ := io.Copy(io.Discard, c)
	r.dropped.Add(n)
}

func (r *silentRelay) url(query ...string) *url.URL {
	return sshURL(url.UserPassword("alice", "s3cret"), r.addr, append([]string{"known_hosts=" + r.knownHosts}, query...)...)
}

// The keepalive= and keepalive_max= query parameters: good values make a
// route, bad ones a clear error naming the parameter.
func TestSSHKeepaliveURL(t *testing.T) {
	kh := writeTemp(t, "known_hosts", "")
	for _, q := range []string{"keepalive=15s", "keepalive=1m&keepalive_max=5", "keepalive=30", "keepalive=off",
		"keepalive=0", "keepalive_max=1", "keepalive=100ms&keepalive_max=1"} {
		u := sshURL(url.UserPassword("alice", "s3cret"), "127.0.0.1:22", "known_hosts="+kh, q)
		d, err := tunnel.NewSSH(u, nil)
		if err != nil {
			t.Errorf("NewSSH(?%s): %v", q, err)
			continue
		}
		d.Close()
	}
	for _, tc := range []struct{ q, want string }{
		{"keepalive=soon", `keepalive="soon" is not a duration (15s, 1m), a number of seconds up to a day, or off`},
		{"keepalive=9999999999", `keepalive="9999999999" is not a duration (15s, 1m), a number of seconds up to a day, or off`},
		{"keepalive=25h", "keepalive=25h0m0s keepalive_max=1: interval longer than 24h0m0s"},
		{"keepalive=-5s", "keepalive=-5s keepalive_max=1: negative interval"},
		{"keepalive=10ms", "keepalive=10ms keepalive_max=1: interval shorter than 100ms"},
		{"keepalive_max=0", "keepalive=15s keepalive_max=0: max below 1"},
		{"keepalive_max=x", `keepalive_max="x" is not a whole number`},
		{"keepalive=off&keepalive_max=3", "keepalive_max=3 has no effect with keepalive=off (keepalives off); drop one"},
		{"keepalive=1s&keepalive=2s", "keepalive given 2 times"},
		{"keepalive_max=1&keepalive_max=2", "keepalive_max given 2 times"},
	} {
		u := sshURL(url.UserPassword("alice", "s3cret"), "127.0.0.1:22", "known_hosts="+kh, tc.q)
		d, err := tunnel.NewSSH(u, nil)
		if err == nil {
			d.Close()
			t.Errorf("NewSSH(?%s) succeeded, want an error", tc.q)
			continue
		}
		if want := "invalid SSH route ssh://alice:xxxxx@127.0.0.1:22: "; !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("NewSSH(?%s) = %q, want %q ... %q", tc.q, err, want, tc.want)
		}
	}
}

func TestSSHKeepaliveOption(t *testing.T) {
	cfg := &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	for _, tc := range []struct {
		opt  tunnel.SSHOption
		want string
	}{
		{tunnel.SSHKeepalive(-time.Second, 3), "SSHKeepalive(-1s, 3): negative interval"},
		{tunnel.SSHKeepalive(time.Millisecond, 3), "SSHKeepalive(1ms, 3): interval shorter than 100ms"},
		{tunnel.SSHKeepalive(time.Second, 0), "SSHKeepalive(1s, 0): max below 1"},
		{nil, "nil SSHOption"},
	} {
		d, err := tunnel.NewSSHConfig("127.0.0.1:22", cfg, nil, tc.opt)
		if err == nil {
			d.Close()
			t.Errorf("NewSSHConfig with %v succeeded", tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), `invalid SSH route to "127.0.0.1:22": `) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("error %q, want %q", err, tc.want)
		}
	}
	for _, opt := range []tunnel.SSHOption{tunnel.SSHKeepalive(0, 0), tunnel.SSHKeepalive(time.Second, 1)} {
		d, err := tunnel.NewSSHConfig("127.0.0.1:22", cfg, nil, opt)
		if err != nil {
			t.Errorf("NewSSHConfig: %v", err)
			continue
		}
		d.Close()
	}
}

// An idle connection sends keepalives, one per quiet interval; with
// keepalive=off it sends nothing.
func TestSSHKeepaliveOnlyWhenIdle(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	for _, tc := range []struct {
		query string
		sends bool
	}{{"keepalive=100ms", true}, {"keepalive=off", false}} {
		t.Run(tc.query, func(t *testing.T) {
			r := newSilentRelay(t, b)
			d := newSSHDialer(t, r.url(tc.query), nil)
			testnet.RoundTrip(t, sshDial(t, d, testnet.Echo(t)), "hello")
			// Nothing is forwarded from now on; every byte the client
			// sends is counted.
			r.silence()
			time.Sleep(250 * time.Millisecond)
			got := r.dropped.Load()
			t.Logf("%s: the client sent %d bytes in 250ms of silence", tc.query, got)
			if tc.sends && got == 0 {
				t.Error("no keepalive was sent")
			}
			if !tc.sends && got != 0 {
				t.Errorf("%d bytes were sent with keepalives off", got)
			}
		})
	}
}

// A bastion that goes silent is declared dead after keepalive_max
// keepalives went unanswered: its conns fail at once with an error that
// says so (not io.EOF), and the next dial opens a new SSH connection
// straight away.
func TestSSHKeepaliveDeclaresSilentBastionDead(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	r := newSilentRelay(t, b)
	const interval, misses = 200 * time.Millisecond, 2
	d := newSSHDialer(t, r.url("keepalive=200ms", "keepalive_max=2"), nil)
	echo := testnet.Echo(t)
	c := sshDial(t, d, echo)
	testnet.RoundTrip(t, c, "before")

	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	r.silence()
	start := time.Now()
	var err error
	select {
	case err = <-readErr:
	case <-time.After(10 * (misses + 1) * interval):
		t.Fatalf("a Read on the silent connection was still waiting after %v", 10*(misses+1)*interval)
	}
	detected := time.Since(start)
	t.Logf("declared dead %v after the bastion went silent (expected (keepalive_max+1) x keepalive = %v after its last byte)", detected.Round(time.Millisecond), (misses+1)*interval)
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "the bastion stopped answering") ||
		!strings.Contains(err.Error(), "2 keepalives went unanswered") {
		t.Fatalf("Read = %v, want the bastion declared dead after 2 unanswered keepalives", err)
	}
	if r.dropped.Load() == 0 {
		t.Error("no keepalive reached the relay while the bastion was silent")
	}
	// Write queues (as on TCP) until the failed send shows.
	for i := 0; ; i++ {
		if _, err := c.Write([]byte("x")); err != nil {
			if !strings.Contains(err.Error(), "the bastion stopped answering") {
				t.Errorf("Write on a conn of the dead connection = %v", err)
			}
			break
		}
		if i == 100 {
			t.Fatal("Writes on a conn of the dead connection kept succeeding")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The link comes back: the next dial opens a new connection at once.
	r.speak()
	start = time.Now()
	testnet.RoundTrip(t, sshDial(t, d, echo), "after")
	t.Logf("the next dial and a round trip took %v", time.Since(start).Round(time.Millisecond))
	if got := b.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2 (the silent one and its replacement)", got)
	}
}

// A dial whose channel open goes unanswered probes the bastion; when the
// probe goes unanswered as well, the SSH connection is dropped and the
// same dial goes on over a new one, long before its own timeout and long
// before the keepalives (1m here) would have noticed.
func TestSSHSlowOpenProbesAndReconnects(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	r := newSilentRelay(t, b)
	d := newSSHDialer(t, r.url("keepalive=1m"), nil)
	echo := testnet.Echo(t)
	old := sshDial(t, d, echo)
	testnet.RoundTrip(t, old, "before")

	r.silence() // the old connection is dead; new ones work
	start := time.Now()
	testnet.RoundTrip(t, sshDial(t, d, echo), "after")
	t.Logf("a dial over the silent connection went on over a new one in %v (probe after 200ms, at least 500ms to answer)",
		time.Since(start).Round(time.Millisecond))
	if got := b.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2", got)
	}
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := old.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "a channel open and a keepalive went unanswered") {
		t.Errorf("Read on a conn of the dropped connection = %v, want the probe's verdict", err)
	}
}

// A dial whose context ends while its open waits leaves a probe behind:
// the silent connection is dropped, and the next dial goes straight to a
// new one.
func TestSSHOpenTimeoutProbes(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	r := newSilentRelay(t, b)
	d := newSSHDialer(t, r.url("keepalive=1m"), nil)
	echo := testnet.Echo(t)
	testnet.RoundTrip(t, sshDial(t, d, echo), "before")

	r.silence()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", echo)
	if err = testnet.MustFail(t, c, err); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial = %v, want its deadline", err)
	}
	// The probe runs on: within its 500ms the client closes the silent
	// connection, and a dial then needs no probe of its own.
	deadline := time.Now().Add(5 * time.Second)
	for r.closed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the silent connection was not closed within 5s of the timed-out open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	testnet.RoundTrip(t, sshDial(t, d, echo), "after")
	t.Logf("the dial after the probe dropped the connection took %v", time.Since(start).Round(time.Millisecond))
	if got := b.Connections(); got != 2 {
		t.Errorf("Connections() = %d, want 2", got)
	}
}

// While the bastion cannot be reached at all, dials fail at their own
// deadline; once it is back, the first dial gets through.
func TestSSHDialsDuringAndAfterOutage(t *testing.T) {
	b := newSSHBastion(t, testkit.WithSSHPassword("alice", "s3cret"))
	r := newSilentRelay(t, b)
	d := newSSHDialer(t, r.url("keepalive=200ms", "keepalive_max=2"), nil)
	echo := testnet.Echo(t)
	testnet.RoundTrip(t, sshDial(t, d, echo), "before")

	r.silence()
	r.refuse.Store(true)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		c, err := d.DialContext(ctx, "tcp", echo)
		cancel()
		if err = testnet.MustFail(t, c, err); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("dial %d during the outage = %v, want its deadline", i, err)
		}
	}
	r.speak()
	r.refuse.Store(false)
	start := time.Now()
	testnet.RoundTrip(t, sshDial(t, d, echo), "after")
	t.Logf("first dial after the outage: %v", time.Since(start).Round(time.Millisecond))
}

// FuzzSSHKeepaliveQuery feeds arbitrary keepalive= and keepalive_max=
// values to NewSSH: it must never panic, and a value it rejects is an
// error naming the route without its password.
func FuzzSSHKeepaliveQuery(f *testing.F) {
	for _, seed := range [][2]string{
		{"15s", "3"},    // the defaults, written out
		{"off", ""},     // keepalives off
		{"0", "2"},      // off, with a max that contradicts it
		{"30", "1"},     // whole seconds, as OpenSSH writes them
		{"-1s", "3"},    // negative
		{"99ms", "3"},   // under the 100ms floor
		{"1h", "0"},     // max below 1
		{"1e9h", "-5"},  // overflowing duration, negative max
		{"%zz", "x"},    // not a value at all
		{"", "9999999"}, // huge max
	} {
		f.Add(seed[0], seed[1])
	}
	kh := filepath.Join(f.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, nil, 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, interval, max string) {
		q := url.Values{"known_hosts": {kh}}
		if interval != "" {
			q.Set("keepalive", interval)
		}
		if max != "" {
			q.Set("keepalive_max", max)
		}
		u := sshURL(url.UserPassword("alice", "s3cret"), "127.0.0.1:22", q.Encode())
		d, err := tunnel.NewSSH(u, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid SSH route ssh://alice:xxxxx@127.0.0.1:22") || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q", err)
			}
			return
		}
		d.Close()
	})
}

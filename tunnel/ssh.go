package tunnel

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/net/proxy"
)

// errSSHClosed is the cause of every dial after SSHDialer.Close.
var errSSHClosed = fmt.Errorf("the SSH route was closed: %w", net.ErrClosed)

// SSHDialer is an SSH bastion route: it connects to addresses through
// "direct-tcpip" channels (RFC 4254, section 7.2) of one SSH connection to
// the bastion, the way "ssh -J" or "ssh -W" does. It is safe for concurrent
// use.
//
// The SSH connection is established at the first dial and shared by every
// later one. When it ends (the bastion closed it, the network failed, or a
// channel could not be opened because the connection was gone), the next
// dial establishes a new one; concurrent dials wait for the same attempt
// rather than each connecting. Connections already returned end with it.
//
// There is no SSH-level keepalive: the default forward dialer (a
// net.Dialer) turns on TCP keep-alive, which detects a dead bastion link,
// and an idle route costs the bastion nothing but the open connection.
type SSHDialer struct {
	addr    string // bastion host:port
	user    string
	name    string // the route for messages: ssh://user:xxxxx@host:port?...
	forward proxy.ContextDialer
	timeout time.Duration // ssh.ClientConfig.Timeout of NewSSHConfig; 0: none

	// config returns the client configuration for one connection attempt,
	// what it offers to authenticate (for messages), and a release func
	// (closes the agent connection) to call once the handshake is over.
	config func(ctx context.Context) (cfg *ssh.ClientConfig, offered string, release func(), err error)
	// knownHosts are the known_hosts files of a URL route, for messages;
	// nil when the caller's HostKeyCallback decides.
	knownHosts []string

	mu      sync.Mutex
	closed  bool
	cur     *sshSession // the shared connection; nil before the first dial
	pending *sshAttempt // the connection being established, if any
}

var (
	_ proxy.ContextDialer = (*SSHDialer)(nil)
	_ proxy.Dialer        = (*SSHDialer)(nil)
)

// sshSession is one SSH connection to the bastion.
type sshSession struct {
	client *ssh.Client
	local  net.Addr // our end of the connection to the bastion
	// ctx ends when the connection does: when reading from the bastion
	// fails (see sshTransportConn) or a dial finds the connection gone.
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *sshSession) alive() bool { return s.ctx.Err() == nil }

// kill closes the connection and marks it unusable.
func (s *sshSession) kill() {
	s.cancel()
	s.client.Close()
}

// sshTransportConn is the conn to the bastion as x/crypto/ssh sees it. It
// tells the dialer at once when the SSH connection ends, so that no dial
// picks it again and dials waiting on it give up (see DialContext):
//
//   - A failed read is the end: it cancels the session's context.
//   - A failed write ends the connection too, by closing the conn. x/crypto/ssh
//     only remembers a write error, and a channel open request that was never
//     sent would wait for its answer until the connection ends for another
//     reason; closing makes the read fail, which ends the connection and
//     fails the open.
//
// From the end on, writes fail without touching the conn.
type sshTransportConn struct {
	net.Conn
	dead   atomic.Bool
	onDead func()
}

func (c *sshTransportConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.end()
	}
	return n, err
}

func (c *sshTransportConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, errSSHConnLost
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.end()
		c.Conn.Close()
	}
	return n, err
}

func (c *sshTransportConn) end() {
	if c.dead.CompareAndSwap(false, true) {
		c.onDead()
	}
}

// errSSHConnLost is a write to a connection that has ended.
var errSSHConnLost = fmt.Errorf("the SSH connection to the bastion has ended: %w", net.ErrClosed)

// sshAttempt is an SSH connection being established, shared by the dials
// that need it meanwhile.
type sshAttempt struct {
	done     chan struct{} // closed when sess or err is set
	sess     *sshSession
	err      error
	ctxEnded bool   // err is the context of the dial that led the attempt ending
	abort    func() // closes the conn to the bastion (Close during the handshake)
}

// NewSSH returns an SSHDialer for the bastion at bastion, which has the form
//
//	ssh://user[:password]@host[:port][?key=PATH&known_hosts=PATH]
//
// The port defaults to 22. The user is required.
//
// Authentication, in this order of preference:
//   - key=PATH: the unencrypted private key in PATH (PEM or OpenSSH
//     format, as ssh-keygen writes it). An encrypted key is an error: load
//     it into an SSH agent instead. key may be repeated; with a password as
//     well, keys are offered first.
//   - a password in the URL.
//   - otherwise the SSH agent listening at $SSH_AUTH_SOCK (an error when
//     the variable is unset).
//
// The bastion's host key is verified against known_hosts=PATH, by default
// ~/.ssh/known_hosts; a missing file is an error. known_hosts may be
// repeated. Host key algorithms are negotiated in favour of the key types
// known_hosts holds for the bastion, as OpenSSH does, so an entry for one
// key type is enough even when the bastion offers several. Files are read
// again at every connection to the bastion, so a key added after an
// "unknown host" error is used by the next dial. A leading "~/" in a path
// stands for the home directory.
//
// insecure_ignore_host_key=true accepts ANY host key without verification.
// Anyone who can intercept the connection to the bastion can then read
// and alter every byte and capture the password: use it only in tests and
// throwaway environments, never with production credentials. It cannot be
// combined with known_hosts.
//
// Any other query key, a path or a fragment is an error. Keys and
// known_hosts files are read, and $SSH_AUTH_SOCK checked, by NewSSH so
// that mistakes show up at once; the agent itself is contacted at each
// connection.
//
// forward dials the bastion; nil means a net.Dialer.
func NewSSH(bastion *url.URL, forward proxy.ContextDialer) (*SSHDialer, error) {
	if bastion == nil {
		return nil, errors.New("tunnel: nil route URL")
	}
	u := bastion
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid SSH route %s: %s", redactSSH(u), fmt.Sprintf(format, args...))
	}
	if !strings.EqualFold(u.Scheme, "ssh") {
		return nil, bad("scheme %q is not ssh", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, bad("no host (write ssh://user@host:port)")
	}
	addr, err := hostPort(u.Host, "22")
	if err != nil {
		return nil, bad("%v", err)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return nil, bad("unexpected fragment %q", u.Fragment)
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, bad("no user (write ssh://user@%s)", addr)
	}
	user := u.User.Username()
	password, hasPassword := u.User.Password()
	if hasControl(user) {
		return nil, bad("user name contains a control character")
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query: %v", err)
	}
	var keyFiles, hostFiles []string
	insecure := false
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vals := q[k]
		switch k {
		case "key", "known_hosts":
			for _, v := range vals {
				if v == "" {
					return nil, bad("%s= is empty (give a file path)", k)
				}
				p, err := expandHome(v)
				if err != nil {
					return nil, bad("%s=%s: %v", k, v, err)
				}
				if k == "key" {
					keyFiles = append(keyFiles, p)
				} else {
					hostFiles = append(hostFiles, p)
				}
			}
		case "insecure_ignore_host_key":
			if len(vals) != 1 {
				return nil, bad("insecure_ignore_host_key given %d times", len(vals))
			}
			b, err := strconv.ParseBool(vals[0])
			if err != nil {
				return nil, bad("insecure_ignore_host_key=%q is not true or false", vals[0])
			}
			insecure = b
		default:
			return nil, bad("unknown query parameter %q (known: key, known_hosts, insecure_ignore_host_key)", k)
		}
	}
	givenHostFiles := hostFiles // for String: the default is not shown
	if insecure && len(hostFiles) > 0 {
		return nil, bad("insecure_ignore_host_key=true and known_hosts contradict each other; give one")
	}

	// The methods, as sent, and how they read in an error.
	var auth []ssh.AuthMethod
	var offered []string
	if len(keyFiles) > 0 {
		var signers []ssh.Signer
		for _, p := range keyFiles {
			s, err := loadKey(p)
			if err != nil {
				return nil, bad("%v", err)
			}
			signers = append(signers, s)
		}
		auth = append(auth, ssh.PublicKeys(signers...))
		offered = append(offered, "public key "+strings.Join(keyFiles, ", "))
	}
	if hasPassword {
		auth = append(auth, ssh.Password(password))
		offered = append(offered, "password")
	}
	agentSock := ""
	if len(auth) == 0 {
		agentSock = os.Getenv("SSH_AUTH_SOCK")
		if agentSock == "" {
			return nil, bad("no way to authenticate: give key=PATH (an unencrypted private key), " +
				"a password (ssh://user:password@host), or run an SSH agent and set SSH_AUTH_SOCK")
		}
		offered = append(offered, "the keys of the SSH agent at "+agentSock)
	}

	var hostKeys ssh.HostKeyCallback
	if insecure {
		hostKeys = ssh.InsecureIgnoreHostKey()
	} else {
		if len(hostFiles) == 0 {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, bad("no known_hosts=PATH and no home directory for ~/.ssh/known_hosts: %v", err)
			}
			hostFiles = []string{filepath.Join(home, ".ssh", "known_hosts")}
		}
		if _, err := loadKnownHosts(addr, hostFiles); err != nil {
			return nil, bad("%v", err)
		}
	}

	d := &SSHDialer{addr: addr, user: user, forward: forward}
	if !insecure {
		d.knownHosts = hostFiles
	}
	canonical := &url.URL{Scheme: "ssh", Host: addr, User: u.User, RawQuery: routeQuery(keyFiles, givenHostFiles, insecure)}
	d.name = canonical.Redacted()
	offeredText := strings.Join(offered, " and ")
	d.config = func(ctx context.Context) (*ssh.ClientConfig, string, func(), error) {
		cfg := &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKeys}
		if !insecure {
			cb, err := loadKnownHosts(addr, hostFiles)
			if err != nil {
				return nil, "", nil, err
			}
			cfg.HostKeyCallback = cb
			cfg.HostKeyAlgorithms = knownAlgorithms(cb, addr)
		}
		if agentSock == "" {
			return cfg, offeredText, func() {}, nil
		}
		return withAgent(ctx, cfg, agentSock, offeredText)
	}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	return d, nil
}

// NewSSHConfig returns an SSHDialer for the bastion at addr ("host:port")
// that authenticates and verifies host keys as cfg says, for programs that
// build their ssh.ClientConfig themselves (certificates, keyboard-interactive,
// their own host key policy). cfg.User must be set and cfg.HostKeyCallback
// must not be nil; cfg is copied. A non-zero cfg.Timeout bounds establishing
// the SSH connection in addition to the dial's context.
//
// forward dials the bastion; nil means a net.Dialer.
func NewSSHConfig(addr string, cfg *ssh.ClientConfig, forward proxy.ContextDialer) (*SSHDialer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid SSH route to %q: %s", addr, fmt.Sprintf(format, args...))
	}
	if cfg == nil {
		return nil, bad("nil ssh.ClientConfig")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, bad("not host:port: %v", err)
	}
	hp, err := hostPort(net.JoinHostPort(host, port), "")
	if err != nil {
		return nil, bad("%v", err)
	}
	if cfg.User == "" {
		return nil, bad("ssh.ClientConfig.User is empty")
	}
	if cfg.HostKeyCallback == nil {
		return nil, bad("ssh.ClientConfig.HostKeyCallback is nil: verify the bastion with knownhosts.New " +
			"or ssh.FixedHostKey (ssh.InsecureIgnoreHostKey only in tests)")
	}
	own := *cfg
	d := &SSHDialer{addr: hp, user: cfg.User, forward: forward, timeout: cfg.Timeout}
	d.name = (&url.URL{Scheme: "ssh", User: url.User(cfg.User), Host: hp}).String()
	d.config = func(context.Context) (*ssh.ClientConfig, string, func(), error) {
		c := own
		return &c, "the configured methods", func() {}, nil
	}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	return d, nil
}

// String returns the route URL with the password replaced by "xxxxx", the
// port made explicit and the query as given (paths with "~" expanded), for
// example ssh://alice:xxxxx@bastion:22 or
// ssh://alice@bastion:22?key=/home/alice/.ssh/id_ed25519.
func (d *SSHDialer) String() string { return d.name }

// GoString keeps %#v from printing credentials: it shows the redacted URL.
func (d *SSHDialer) GoString() string { return "&tunnel.SSHDialer{" + strconv.Quote(d.name) + "}" }

// Dial is DialContext with context.Background(), for users of proxy.Dialer.
func (d *SSHDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("host:port") through the bastion: it
// opens a "direct-tcpip" channel on the shared SSH connection, establishing
// that connection first if there is none. The host is sent to the bastion
// as written, so names are resolved there, never locally. network must be
// "tcp", "tcp4" or "tcp6"; the bastion decides the address family.
//
// If the context expires before the connection is complete, an error is
// returned. Once successfully connected, any expiration of the context will
// not affect the connection.
//
// The returned net.Conn supports deadlines (a Read or Write blocked past its
// deadline fails with an error for which errors.Is(err,
// os.ErrDeadlineExceeded) holds, and later deadlines let I/O resume),
// CloseWrite (sends SSH EOF: the target sees end of stream) and concurrent
// use. Its LocalAddr is our end of the SSH connection to the bastion, its
// RemoteAddr the target as dialed (a *net.TCPAddr for an IP address). It
// runs two goroutines of its own (besides the two x/crypto/ssh runs per
// channel), because SSH channels cannot be interrupted: one reads the
// channel ahead by at most 32 KiB, one writes what Write accepted. Like TCP,
// Write returns once its bytes are queued (at most 32 KiB are), and Close
// still sends queued bytes before closing the channel, giving up after 5s.
//
// Errors name the route and the failing step. A bastion refusing a target
// wraps *ssh.OpenChannelError; an unknown or changed host key wraps
// *knownhosts.KeyError; after Close, dials fail with an error wrapping
// net.ErrClosed.
func (d *SSHDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	target, err := checkDial(ctx, d.name, "SSH", network, address)
	if err != nil {
		return nil, err
	}
	what := "open a channel to " + target
	for retried := false; ; retried = true {
		s, fresh, err := d.session(ctx)
		if err != nil {
			return nil, err
		}
		// The open also ends when the connection does: x/crypto/ssh never
		// answers an open that registers its channel just after the
		// connection ended (it has dropped every channel by then), and its
		// goroutine for the open then stays blocked.
		openCtx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(s.ctx, cancel)
		ch, err := s.client.DialContext(openCtx, "tcp", target)
		stop()
		cancel()
		if err == nil {
			return newSSHConn(ch, s.local, remoteAddr(target)), nil
		}
		var refused *ssh.OpenChannelError
		switch {
		case errors.As(err, &refused):
			return nil, &dialError{route: d.name, what: what,
				err: &channelError{target: target, err: refused}}
		case contextError(ctx) != nil:
			return nil, &dialError{route: d.name, what: what, err: err, ctxErr: contextError(ctx)}
		}
		// The connection is gone (the mux answers with io.EOF). A
		// connection that served earlier dials may have died unnoticed:
		// try once more on a new one.
		s.kill()
		if fresh || retried {
			return nil, &dialError{route: d.name, what: what,
				err: fmt.Errorf("the SSH connection to the bastion was lost: %w", err)}
		}
	}
}

// Close closes the shared SSH connection, which ends every connection
// dialed through it, and aborts one being established. Later dials fail
// with an error wrapping net.ErrClosed. It is safe to call more than once.
func (d *SSHDialer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	s := d.cur
	d.cur = nil
	if a := d.pending; a != nil && a.abort != nil {
		a.abort()
	}
	d.mu.Unlock()
	if s != nil {
		s.kill()
	}
	return nil
}

// session returns a live SSH connection, establishing one if needed; fresh
// reports that it was established during this call.
func (d *SSHDialer) session(ctx context.Context) (s *sshSession, fresh bool, err error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, false, &dialError{route: d.name, what: "dial", err: errSSHClosed}
		}
		if s := d.cur; s != nil && s.alive() {
			d.mu.Unlock()
			return s, false, nil
		}
		if a := d.pending; a != nil {
			d.mu.Unlock()
			select {
			case <-a.done:
			case <-ctx.Done():
				return nil, false, &dialError{route: d.name, what: "connect to the bastion",
					err: ctx.Err(), ctxErr: ctx.Err()}
			}
			if a.err == nil {
				return a.sess, true, nil
			}
			if a.ctxEnded && ctx.Err() == nil {
				continue // the leader gave up, not the bastion: try again
			}
			return nil, false, a.err
		}
		a := &sshAttempt{done: make(chan struct{})}
		d.pending = a
		d.mu.Unlock()

		s, err := d.establish(ctx, a)
		d.mu.Lock()
		d.pending = nil
		if d.closed {
			// Close may have cut the handshake short: say why.
			if s != nil {
				s.kill()
			}
			s, err = nil, &dialError{route: d.name, what: "dial", err: errSSHClosed}
		}
		if err == nil {
			d.cur = s
		}
		a.sess, a.err, a.ctxEnded = s, err, err != nil && contextError(ctx) != nil
		d.mu.Unlock()
		close(a.done)
		return s, true, err
	}
}

// establish dials the bastion and runs the SSH handshake, bounded by ctx:
// its deadline is copied onto the conn and a watcher interrupts the
// handshake when ctx is cancelled. The watcher has ended and the deadline is
// cleared when establish returns.
func (d *SSHDialer) establish(ctx context.Context, a *sshAttempt) (*sshSession, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	cfg, offered, release, err := d.config(ctx)
	if err != nil {
		return nil, &dialError{route: d.name, what: "prepare the SSH connection", err: err, ctxErr: contextError(ctx)}
	}
	defer release()

	raw, err := d.forward.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, &dialError{route: d.name, what: "cannot reach the bastion", err: err, ctxErr: contextError(ctx)}
	}
	if raw == nil {
		return nil, &dialError{route: d.name, what: "cannot reach the bastion",
			err: errors.New("forward dialer returned neither a conn nor an error")}
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		raw.Close()
		return nil, &dialError{route: d.name, what: "dial", err: errSSHClosed}
	}
	a.abort = func() { raw.Close() }
	d.mu.Unlock()
	sctx, cancel := context.WithCancel(context.Background())
	tc := &sshTransportConn{Conn: raw, onDead: cancel}

	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	stop := watchContext(ctx, raw)

	// Remember what the host key check said, to tell key problems from
	// authentication problems, which x/crypto/ssh reports alike. The
	// check runs again at every key re-exchange, on x/crypto's goroutine.
	var (
		keyMu     sync.Mutex
		hostKey   ssh.PublicKey
		hostKeyOK bool
	)
	check := cfg.HostKeyCallback
	cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if _, _, err := net.SplitHostPort(remote.String()); err != nil {
			// knownhosts parses remote even when it checks hostname; a
			// forward dialer's conn may not have a host:port address.
			remote = targetAddr(d.addr)
		}
		err := check(hostname, remote, key)
		keyMu.Lock()
		hostKey, hostKeyOK = key, err == nil
		keyMu.Unlock()
		return err
	}
	conn, chans, reqs, err := ssh.NewClientConn(tc, d.addr, cfg)
	if stop() && err == nil {
		// Done, but the deadline was set in the past: the caller gave up.
		conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		raw.Close()
		keyMu.Lock()
		key, keyOK := hostKey, hostKeyOK
		keyMu.Unlock()
		what, cause := d.explain(err, key, keyOK, offered)
		return nil, &dialError{route: d.name, what: what, err: cause, ctxErr: contextError(ctx)}
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		cancel()
		conn.Close()
		return nil, &dialError{route: d.name, what: "SSH handshake with the bastion", err: err}
	}
	return &sshSession{
		client: ssh.NewClient(conn, chans, reqs),
		local:  raw.LocalAddr(),
		ctx:    sctx,
		cancel: cancel,
	}, nil
}

// explain turns a handshake error into the step that failed and a cause
// that says what to do.
func (d *SSHDialer) explain(err error, key ssh.PublicKey, keyOK bool, offered string) (what string, cause error) {
	var ke *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke):
		return "verify the bastion's host key", &hostKeyError{addr: d.addr, files: d.knownHosts, key: key, err: ke}
	case errors.As(err, &revoked):
		return "verify the bastion's host key", fmt.Errorf("the host key of %s (%s) is marked @revoked in known_hosts %s: %w",
			d.addr, fingerprint(key), strings.Join(d.knownHosts, ", "), err)
	case !keyOK && strings.Contains(err.Error(), "no common algorithm for host key"):
		return "verify the bastion's host key", fmt.Errorf("the bastion %s offers none of the host key types "+
			"known_hosts %s has for it; its key may have been replaced (verify the new key out of band, "+
			"then update known_hosts): %w", d.addr, strings.Join(d.knownHosts, ", "), err)
	case keyOK && (strings.Contains(err.Error(), "unable to authenticate") ||
		strings.Contains(err.Error(), "too many authentication attempts")):
		// x/crypto/ssh has no error type for a rejected user; these are its
		// messages (client_auth.go).
		return "authenticate", &authError{addr: d.addr, user: d.user, offered: offered, err: err}
	}
	return "SSH handshake with the bastion", err
}

// hostKeyError is an unknown or changed bastion host key.
type hostKeyError struct {
	addr  string
	files []string // empty when the caller's HostKeyCallback decided
	key   ssh.PublicKey
	err   *knownhosts.KeyError
}

func (e *hostKeyError) Error() string {
	host := knownhosts.Normalize(e.addr)
	files := "known_hosts"
	if len(e.files) > 0 {
		files += " " + strings.Join(e.files, ", ")
	}
	h, p, _ := net.SplitHostPort(e.addr)
	scan := "ssh-keyscan -p " + p + " " + h
	if len(e.err.Want) == 0 {
		return fmt.Sprintf("host key for %s not in %s (the bastion offered %s): "+
			"verify that fingerprint out of band, then add the key, e.g. %s >> %s",
			host, files, fingerprint(e.key), scan, firstOr(e.files, "~/.ssh/known_hosts"))
	}
	var known []string
	for _, k := range e.err.Want {
		known = append(known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
	}
	return fmt.Sprintf("host key for %s does not match %s (the bastion offered %s; known: %s): "+
		"someone may be intercepting the connection, or the bastion's key was replaced; "+
		"if the new key is genuine (check out of band), replace the entry",
		host, files, fingerprint(e.key), strings.Join(known, ", "))
}

func (e *hostKeyError) Unwrap() error { return e.err }

// authError is the bastion refusing to authenticate the user.
type authError struct {
	addr, user, offered string
	err                 error
}

func (e *authError) Error() string {
	return fmt.Sprintf("bastion %s rejected user %q (offered %s): check the user name and its credentials",
		e.addr, e.user, e.offered)
}

func (e *authError) Unwrap() error { return e.err }

// channelError is the bastion refusing to open a channel to a target.
type channelError struct {
	target string
	err    *ssh.OpenChannelError
}

func (e *channelError) Error() string {
	msg := e.err.Message
	if len(msg) > maxStatusText {
		msg = msg[:maxStatusText] + "..."
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if msg == "" {
		return fmt.Sprintf("bastion refused to connect to %s: %s", e.target, e.err.Reason)
	}
	return fmt.Sprintf("bastion refused to connect to %s: %s (%s)", e.target, e.err.Reason, msg)
}

func (e *channelError) Unwrap() error { return e.err }

// watchContext interrupts I/O on c when ctx is cancelled, by setting a
// deadline in the past. stop ends the watcher, waits for it, and reports
// whether it fired.
func watchContext(ctx context.Context, c net.Conn) (stop func() (fired bool)) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	done := make(chan struct{})
	fired := make(chan bool, 1)
	go func() {
		select {
		case <-ctx.Done():
			c.SetDeadline(aLongTimeAgo)
			fired <- true
		case <-done:
			fired <- false
		}
	}()
	return func() bool {
		close(done)
		return <-fired
	}
}

// withAgent adds the keys of the SSH agent at sock to cfg. release closes
// the connection to the agent, which must stay open during the handshake
// (the agent signs).
func withAgent(ctx context.Context, cfg *ssh.ClientConfig, sock, offered string) (*ssh.ClientConfig, string, func(), error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, "", nil, fmt.Errorf("cannot reach the SSH agent at SSH_AUTH_SOCK=%s: %w", sock, err)
	}
	ag := agent.NewClient(c)
	keys, err := ag.List()
	if err != nil {
		c.Close()
		return nil, "", nil, fmt.Errorf("listing the keys of the SSH agent at %s: %w", sock, err)
	}
	if len(keys) == 0 {
		c.Close()
		return nil, "", nil, fmt.Errorf("the SSH agent at %s holds no keys (add one with ssh-add, or give key=PATH)", sock)
	}
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(ag.Signers)}
	return cfg, offered, func() { c.Close() }, nil
}

// loadKey reads an unencrypted private key.
func loadKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, fmt.Errorf("key %s is encrypted with a passphrase, which kafkanat does not ask for: "+
			"load it into an SSH agent (ssh-add %s) and drop key=, or use an unencrypted key", path, path)
	case err != nil:
		return nil, fmt.Errorf("key %s is not a private key ssh can read (PEM or OpenSSH format): %w", path, err)
	}
	return s, nil
}

// loadKnownHosts parses the known_hosts files.
func loadKnownHosts(addr string, files []string) (ssh.HostKeyCallback, error) {
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			h, p, _ := net.SplitHostPort(addr)
			return nil, fmt.Errorf("known_hosts file %s does not exist: create it with the bastion's key "+
				"(e.g. ssh-keyscan -p %s %s >> %s, after checking the fingerprint out of band), "+
				"or give known_hosts=PATH", f, p, h, f)
		}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	return cb, nil
}

// probeKey is a key no known_hosts line holds: checking it for a host
// yields a KeyError listing the keys known for that host.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// knownAlgorithms returns the host key algorithms for the key types
// known_hosts holds for addr, or nil (x/crypto's default order) when it
// holds none (the host is unknown, or vouched for by a @cert-authority).
// Without this x/crypto prefers ECDSA, and a bastion that also has the
// Ed25519 key known_hosts lists would fail as a mismatch.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	if err := cb(addr, targetAddr(addr), probeKey); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		t := k.Key.Type()
		add := []string{t}
		if t == ssh.KeyAlgoRSA {
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// routeQuery is the query String shows: paths only, no secrets.
func routeQuery(keys, knownHosts []string, insecure bool) string {
	esc := strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "+", "%2B", " ", "%20", "=", "%3D")
	var parts []string
	for _, k := range keys {
		parts = append(parts, "key="+esc.Replace(k))
	}
	for _, k := range knownHosts {
		parts = append(parts, "known_hosts="+esc.Replace(k))
	}
	if insecure {
		parts = append(parts, "insecure_ignore_host_key=true")
	}
	return strings.Join(parts, "&")
}

// redactSSH is u without password, for messages about a malformed URL.
func redactSSH(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.ForceQuery = false
	return c.Redacted()
}

// hostPort validates the host[:port] of a URL and returns host:port, with
// defaultPort when none is given ("" requires one).
func hostPort(hostport, defaultPort string) (string, error) {
	u := url.URL{Host: hostport}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", errors.New("no host")
	}
	if hasControl(host) || strings.ContainsAny(host, " /?#@\\") {
		return "", errors.New("host contains a character not allowed in a host name")
	}
	if port == "" {
		if strings.HasSuffix(hostport, ":") || defaultPort == "" {
			return "", errors.New("empty port")
		}
		port = defaultPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot expand ~: %w", err)
	}
	return filepath.Join(home, p[1:]), nil
}

func fingerprint(k ssh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

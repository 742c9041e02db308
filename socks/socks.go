package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// defaultPort is the proxy port when a route URL names none (as in
// golang.org/x/net/proxy.FromURL).
const defaultPort = "1080"

// Dialer is a SOCKS5 route: it connects to addresses through one SOCKS5
// proxy. It is safe for concurrent use.
type Dialer struct {
	proxyAddr string      // host:port of the proxy
	auth      *proxy.Auth // nil: offer no authentication
	forward   proxy.ContextDialer
	name      string // the route URL with the password redacted
}

var (
	_ proxy.ContextDialer = (*Dialer)(nil)
	_ proxy.Dialer        = (*Dialer)(nil)
)

// New returns a Dialer for the proxy at proxyURL, which has the form
//
//	socks5://[user[:password]@]host[:port]
//
// The scheme may also be socks5h: both send the host name of every address
// to the proxy unresolved (the proxy resolves it). With a user, the Dialer offers user/password authentication
// (RFC 1929) besides none; user and password are at most 255 bytes and the
// user is not empty. The port defaults to 1080. A path, query or fragment
// is an error.
//
// forward dials the proxy itself; nil means a net.Dialer.
func New(proxyURL *url.URL, forward proxy.ContextDialer) (*Dialer, error) {
	if proxyURL == nil {
		return nil, errors.New("socks: nil route URL")
	}
	u := proxyURL
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid SOCKS5 route %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "socks5" && scheme != "socks5h" {
		return nil, bad("scheme %q is not socks5 or socks5h", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, bad("no host (write %s://host:port)", scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, bad("no proxy host")
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, bad("empty port")
		}
		port = defaultPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, bad("port %q is not a number in 1..65535", port)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, bad("unexpected query %q", u.RawQuery)
	}
	if u.Fragment != "" {
		return nil, bad("unexpected fragment %q", u.Fragment)
	}
	d := &Dialer{proxyAddr: net.JoinHostPort(host, port), forward: forward}
	canonical := &url.URL{Scheme: scheme, Host: d.proxyAddr}
	if u.User != nil {
		user := u.User.Username()
		password, _ := u.User.Password()
		switch {
		case user == "":
			return nil, bad("empty user name")
		case len(user) > 255:
			return nil, bad("user name longer than 255 bytes")
		case len(password) > 255:
			return nil, bad("password longer than 255 bytes")
		}
		d.auth = &proxy.Auth{User: user, Password: password}
		canonical.User = u.User
	}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	d.name = canonical.Redacted()
	return d, nil
}

// String returns the route URL with the password replaced by "xxxxx" and
// the port made explicit, for example socks5://alice:xxxxx@gw:1080.
func (d *Dialer) String() string { return d.name }

// GoString keeps %#v from printing credentials: it shows the redacted URL.
func (d *Dialer) GoString() string { return "&socks.Dialer{" + strconv.Quote(d.name) + "}" }

// Dial is DialContext with context.Background(), for users of proxy.Dialer.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("host:port") through the proxy. A host
// name is sent to the proxy unresolved (address type DOMAINNAME), an IP
// literal as an IPv4 or IPv6 address. network must be "tcp", "tcp4" or
// "tcp6"; the proxy decides the address family it uses to reach the target.
//
// If the context expires before the connection is complete, an error is
// returned. Once successfully connected, any expiration of the context will
// not affect the connection.
//
// The returned net.Conn is the connection to the proxy as forward returned
// it (a *net.TCPConn with the default forward dialer). Errors name the
// route and the failing step. Once the proxy has been dialed they unwrap to
// the *net.OpError of golang.org/x/net/proxy (Op "socks connect"), and,
// when the context ended the dial, also to the context's error.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	// Quoted: a bad address may hold anything.
	what := "dial " + strconv.Quote(address)
	if ctx == nil {
		return nil, &dialError{route: d.name, what: what, err: errors.New("nil context")}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &dialError{route: d.name, what: what,
			err: fmt.Errorf("network %q not supported (SOCKS5 routes carry tcp, tcp4 or tcp6)", network)}
	}
	if err := checkAddress(address); err != nil {
		return nil, &dialError{route: d.name, what: what, err: err}
	}
	capt := &capture{forward: d.forward, authOffered: d.auth != nil}
	xd, err := proxy.SOCKS5("tcp", d.proxyAddr, d.auth, capt)
	if err != nil {
		return nil, &dialError{route: d.name, what: what, err: err}
	}
	cd, ok := xd.(proxy.ContextDialer)
	if !ok {
		return nil, &dialError{route: d.name, what: what,
			err: fmt.Errorf("golang.org/x/net/proxy.SOCKS5 returned %T, which has no DialContext", xd)}
	}
	c, err := cd.DialContext(ctx, network, address)
	if err != nil {
		return nil, d.handshakeError(ctx, capt.conn, address, err)
	}
	if capt.conn == nil {
		// Unreachable with x/net's dialer, which dials through capt.
		return c, nil
	}
	// c is x/net's *socks.Conn, which embeds the conn and so hides its
	// CloseWrite; the proxy is a transparent pipe now, so return the raw one.
	return capt.conn.Conn, nil
}

// handshakeError says which step of the SOCKS5 exchange failed, using
// what h observed on the wire rather than x/net's message texts.
func (d *Dialer) handshakeError(ctx context.Context, h *handshakeConn, address string, err error) error {
	e := &dialError{route: d.name, err: err, ctxErr: contextError(ctx)}
	switch {
	case h == nil:
		e.what = "cannot reach the proxy"
	case h.requestSent:
		e.what = "CONNECT " + address
		if e.ctxErr == nil && strings.HasPrefix(innerText(err), replyPrefix) {
			e.what = "the proxy could not connect to " + address
			e.reply = true
		}
	case h.version >= 0 && h.version != socksVersion:
		e.what = fmt.Sprintf("the proxy does not speak SOCKS5 (its reply starts with byte 0x%02x)", h.version)
	case h.unoffered:
		e.what = fmt.Sprintf("the proxy chose authentication method 0x%02x, which was not offered", h.method)
	case h.authSent:
		e.what = fmt.Sprintf("authentication as user %q failed", d.auth.User)
	case h.method == noAcceptableMethods && d.auth == nil:
		e.what = "the proxy requires authentication; give user:password in the route URL"
	case h.method == noAcceptableMethods:
		e.what = "the proxy accepts neither no authentication nor user/password"
	default:
		e.what = "SOCKS5 handshake failed"
	}
	return e
}

// contextError is ctx's error once ctx has ended. x/net copies ctx's
// deadline onto the conn, which may fire a moment before ctx's own timer,
// so a passed deadline counts as expired.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// checkAddress rejects what cannot be put in a SOCKS5 CONNECT request. Its
// errors do not repeat the address.
func checkAddress(address string) error {
	if strings.ContainsFunc(address, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("a control character in host:port")
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if len(host) > 255 {
		return errors.New("host longer than 255 bytes, the SOCKS5 limit")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("port is not a number in 1..65535")
	}
	return nil
}

const (
	noAuth              = 0x00
	userPassword        = 0x02
	noAcceptableMethods = 0xff
	authVersion         = 0x01 // first byte of an RFC 1929 request
	socksVersion        = 0x05 // first byte of an RFC 1928 request
	// replyPrefix starts x/net's message for a CONNECT reply other than
	// success ("unknown error connection refused"); it is matched only to
	// phrase the message, never to decide the outcome.
	replyPrefix = "unknown error "
)

// capture is the forward dialer handed to x/net for one dial: it keeps the
// conn it returned so that DialContext can return it unwrapped.
type capture struct {
	forward     proxy.ContextDialer
	authOffered bool // the dial offers user/password authentication
	conn        *handshakeConn
}

func (f *capture) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := f.forward.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("forward dialer returned neither a conn nor an error")
	}
	f.conn = &handshakeConn{Conn: c, method: -1, version: -1, authOffered: f.authOffered}
	return f.conn, nil
}

func (f *capture) Dial(network, address string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, address)
}

// handshakeConn notes how far the handshake got, for error messages. x/net
// writes each SOCKS5 message with one Write, and only its handshake
// goroutine reads and writes (its cancel watcher only sets deadlines).
type handshakeConn struct {
	net.Conn
	authOffered bool
	writes      int
	read        int // bytes read so far
	version     int // first byte of the proxy's first reply; -1 until read
	method      int // authentication method the proxy chose; -1 until read
	unoffered   bool
	authSent    bool
	requestSent bool
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if c.writes > 0 && len(p) > 0 {
		switch p[0] {
		case authVersion:
			c.authSent = true
		case socksVersion:
			c.requestSent = true
		}
	}
	c.writes++
	return c.Conn.Write(p)
}

// errUnoffered fails a handshake in which the proxy chose a method the
// client did not offer: x/net would go on as if it had chosen none and wait
// for a reply that never comes.
var errUnoffered = errors.New("the proxy chose an authentication method that was not offered")

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	// The proxy's first reply is its version, then the method it chose.
	if c.read == 0 && n >= 1 {
		c.version = int(p[0])
	}
	if c.read < 2 && c.read+n >= 2 {
		c.method = int(p[1-c.read])
		offered := c.method == noAuth || c.method == noAcceptableMethods || (c.authOffered && c.method == userPassword)
		if c.version == socksVersion && !offered {
			// Report no bytes: io.ReadFull drops an error that comes
			// with the bytes it asked for.
			c.unoffered = true
			c.read += n
			return 0, errUnoffered
		}
	}
	c.read += n
	return n, err
}

// dialError is a failed dial through a SOCKS5 route. Its message names the
// route (password redacted) and the step that failed.
type dialError struct {
	route  string
	what   string
	err    error // x/net's *net.OpError, or a validation error
	ctxErr error // the context's error when the context ended the dial
	reply  bool  // err reports a CONNECT reply code
}

func (e *dialError) Error() string {
	var cause string
	switch {
	case e.ctxErr != nil:
		cause = e.ctxErr.Error()
	case e.reply:
		cause = strings.TrimPrefix(innerText(e.err), replyPrefix)
	default:
		cause = innerText(e.err)
	}
	return e.route + ": " + e.what + ": " + cause
}

func (e *dialError) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{e.err, e.ctxErr}
	}
	return []error{e.err}
}

// innerText is err's message without the "socks connect tcp A->B: "
// prefix of x/net's OpError, which repeats what the route already says.
func innerText(err error) string {
	if op, ok := err.(*net.OpError); ok && strings.HasPrefix(op.Op, "socks") && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

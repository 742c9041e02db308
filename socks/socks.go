package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/route"
)

// spec is the URL form New accepts.
var spec = route.Spec{Kind: "SOCKS5 route", Schemes: []string{"socks5", "socks5h"}}

// targets is what a SOCKS5 CONNECT request can carry: a host name of at
// most 255 bytes (RFC 1928, section 5).
var targets = route.Targets{Protocol: "SOCKS5", MaxHost: 255}

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
// forward dials the proxy itself; nil means a net.Dialer with TCP
// keep-alive and, on Linux, TCP_USER_TIMEOUT of 30s.
func New(proxyURL *url.URL, forward proxy.ContextDialer) (*Dialer, error) {
	canonical, err := spec.Parse(proxyURL)
	if err != nil {
		return nil, err
	}
	var auth *proxy.Auth
	if u := canonical.User; u != nil {
		password, _ := u.Password()
		auth = &proxy.Auth{User: u.Username(), Password: password}
		if len(auth.User) > 255 {
			return nil, spec.Errorf(proxyURL, "user name longer than 255 bytes")
		}
		if len(auth.Password) > 255 {
			return nil, spec.Errorf(proxyURL, "password longer than 255 bytes")
		}
	}
	if forward == nil {
		forward = route.NewDialer()
	}
	return &Dialer{proxyAddr: canonical.Host, auth: auth, forward: forward, name: canonical.Redacted()}, nil
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
	if _, err := targets.CheckDial(ctx, d.name, network, address); err != nil {
		return nil, err
	}
	capt := &capture{forward: d.forward, authOffered: d.auth != nil}
	xd, err := proxy.SOCKS5("tcp", d.proxyAddr, d.auth, capt)
	if err != nil {
		return nil, route.NewError(ctx, d.name, "dial "+strconv.Quote(address), err)
	}
	cd, ok := xd.(proxy.ContextDialer)
	if !ok {
		return nil, route.NewError(ctx, d.name, "dial "+strconv.Quote(address),
			fmt.Errorf("golang.org/x/net/proxy.SOCKS5 returned %T, which has no DialContext", xd))
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
	cause := &proxyError{err: err, reply: -1}
	e := route.NewError(ctx, d.name, "", cause).In(route.StageHandshake)
	switch {
	case h == nil:
		e.Stage, e.Step = route.StageConnect, "cannot reach the proxy"
	case h.refused() && e.Context == nil:
		e.Step = "the proxy could not connect to " + address
		cause.reply = h.reply
	case h.requestSent:
		e.Step = "CONNECT " + address
	case h.version >= 0 && h.version != socksVersion:
		e.Step = fmt.Sprintf("the proxy does not speak SOCKS5 (its reply starts with byte 0x%02x)", h.version)
	case h.unoffered:
		e.Step = fmt.Sprintf("the proxy chose authentication method 0x%02x, which was not offered", h.method)
	case h.authSent:
		e.Step = fmt.Sprintf("authentication as user %q failed", d.auth.User)
	case h.method == noAcceptableMethods && d.auth == nil:
		e.Step = "the proxy requires authentication; give user:password in the route URL"
	case h.method == noAcceptableMethods:
		e.Step = "the proxy accepts neither no authentication nor user/password"
	default:
		e.Step = "SOCKS5 handshake failed"
	}
	return e
}

// proxyError is the error of golang.org/x/net/proxy for a dial through
// the proxy, which it unwraps to. Its message leaves out what x/net's
// *net.OpError adds ("socks connect tcp PROXY->TARGET: "), which the route
// and the step already say, and for a CONNECT the proxy refused it is the
// reply as RFC 1928 names it.
type proxyError struct {
	err   error
	reply int // the reply code of a refused CONNECT; -1 for other failures
}

func (e *proxyError) Error() string {
	if e.reply >= 0 {
		return replyText(e.reply)
	}
	if op, ok := e.err.(*net.OpError); ok && op.Err != nil {
		return op.Err.Error()
	}
	return e.err.Error()
}

func (e *proxyError) Unwrap() error { return e.err }

// replyText names a SOCKS5 reply code as RFC 1928, section 6 does.
func replyText(code int) string {
	switch code {
	case 0x01:
		return "general SOCKS server failure"
	case 0x02:
		return "connection not allowed by ruleset"
	case 0x03:
		return "network unreachable"
	case 0x04:
		return "host unreachable"
	case 0x05:
		return "connection refused"
	case 0x06:
		return "TTL expired"
	case 0x07:
		return "command not supported"
	case 0x08:
		return "address type not supported"
	}
	return "unknown code: " + strconv.Itoa(code)
}

const (
	noAuth              = 0x00
	userPassword        = 0x02
	noAcceptableMethods = 0xff
	authVersion         = 0x01 // first byte of an RFC 1929 request
	socksVersion        = 0x05 // first byte of an RFC 1928 request or reply
	succeeded           = 0x00 // the reply code of a CONNECT that succeeded
	replyHeader         = 4    // bytes x/net reads before checking a reply
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
	f.conn = &handshakeConn{Conn: c, method: -1, version: -1, replyVersion: -1, reply: -1, authOffered: f.authOffered}
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
	requestAt   int // bytes read when the CONNECT request was sent
	// The first bytes of the reply to the CONNECT request; -1 until read.
	replyVersion int
	reply        int
}

// refused reports that the proxy answered the CONNECT request with a
// failure code: x/net fails the dial once it has read the reply's first
// replyHeader bytes and found the version right and the code not success.
func (c *handshakeConn) refused() bool {
	return c.requestSent && c.read-c.requestAt >= replyHeader &&
		c.replyVersion == socksVersion && c.reply != succeeded
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if c.writes > 0 && len(p) > 0 {
		switch p[0] {
		case authVersion:
			c.authSent = true
		case socksVersion:
			c.requestSent = true
			c.requestAt = c.read
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
	if c.requestSent {
		// The reply's version and code, at offsets 0 and 1 of the reply.
		at := c.read - c.requestAt
		if at == 0 && n >= 1 {
			c.replyVersion = int(p[0])
		}
		if at < 2 && at+n >= 2 {
			c.reply = int(p[1-at])
		}
	}
	c.read += n
	return n, err
}

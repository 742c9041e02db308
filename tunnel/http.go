package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// maxReplyHeader bounds the bytes read for the proxy's reply (status line,
// headers and any 1xx interim replies), so a rogue proxy cannot make a dial
// buffer without limit.
const maxReplyHeader = 64 << 10

// maxStatusText bounds how much of a status line an error message quotes.
const maxStatusText = 200

// aLongTimeAgo is a deadline in the past: setting it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// HTTPDialer is an HTTP CONNECT route: it connects to addresses through an
// HTTP proxy. It is safe for concurrent use.
type HTTPDialer struct {
	proxyAddr string      // host:port of the proxy
	tls       *tls.Config // nil for http://
	user      string      // "" without credentials
	auth      string      // Proxy-Authorization value; "" without credentials
	forward   proxy.ContextDialer
	name      string // the route URL with the password redacted
}

var (
	_ proxy.ContextDialer = (*HTTPDialer)(nil)
	_ proxy.Dialer        = (*HTTPDialer)(nil)
)

// NewHTTP returns an HTTPDialer for the proxy at proxyURL, which has the form
//
//	http://[user[:password]@]host[:port]
//	https://[user[:password]@]host[:port]
//
// The port defaults to 80 for http and 443 for https, as in net/http. With
// https the Dialer runs TLS to the proxy configured by tlsConfig (nil means
// the zero tls.Config), verifying the proxy's certificate for the URL's host
// unless tlsConfig sets ServerName; tlsConfig is cloned, its NextProtos
// dropped (the CONNECT is HTTP/1.1) and it is unused for http. With a user,
// every CONNECT carries Proxy-Authorization: Basic; the user is not empty,
// and neither contains control characters nor the user a colon (RFC 7617).
// A path, query or fragment is an error.
//
// forward dials the proxy itself; nil means a net.Dialer.
func NewHTTP(proxyURL *url.URL, forward proxy.ContextDialer, tlsConfig *tls.Config) (*HTTPDialer, error) {
	if proxyURL == nil {
		return nil, errors.New("tunnel: nil route URL")
	}
	u := proxyURL
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid HTTP proxy route %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	scheme := strings.ToLower(u.Scheme)
	var defaultPort string
	switch scheme {
	case "http":
		defaultPort = "80"
	case "https":
		defaultPort = "443"
	default:
		return nil, bad("scheme %q is not http or https", u.Scheme)
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
	d := &HTTPDialer{proxyAddr: net.JoinHostPort(host, port), forward: forward}
	canonical := &url.URL{Scheme: scheme, Host: d.proxyAddr}
	if u.User != nil {
		user := u.User.Username()
		password, _ := u.User.Password()
		switch {
		case user == "":
			return nil, bad("empty user name")
		case strings.Contains(user, ":"):
			return nil, bad("user name contains a colon")
		case hasControl(user):
			return nil, bad("user name contains a control character")
		case hasControl(password):
			return nil, bad("password contains a control character")
		}
		d.user = user
		d.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
		canonical.User = u.User
	}
	if scheme == "https" {
		if tlsConfig == nil {
			d.tls = &tls.Config{}
		} else {
			d.tls = tlsConfig.Clone()
		}
		if d.tls.ServerName == "" {
			d.tls.ServerName = host
		}
		// ALPN could select h2, which would not understand our CONNECT.
		d.tls.NextProtos = nil
	}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	d.name = canonical.Redacted()
	return d, nil
}

// String returns the route URL with the password replaced by "xxxxx" and
// the port made explicit, for example http://alice:xxxxx@proxy:3128.
func (d *HTTPDialer) String() string { return d.name }

// GoString keeps %#v from printing credentials: it shows the redacted URL.
func (d *HTTPDialer) GoString() string { return "&tunnel.HTTPDialer{" + strconv.Quote(d.name) + "}" }

// Dial is DialContext with context.Background(), for users of proxy.Dialer.
func (d *HTTPDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("host:port") through the proxy: it
// sends "CONNECT host:port HTTP/1.1" and accepts any 2xx reply (1xx interim
// replies are skipped). network must be "tcp", "tcp4" or "tcp6"; the proxy
// decides the address family it uses to reach the target.
//
// If the context expires before the connection is complete, an error is
// returned. Once successfully connected, any expiration of the context will
// not affect the connection.
//
// The returned net.Conn is the connection to the proxy as forward returned
// it (wrapped in a *tls.Conn for https), unless the proxy sent tunnelled
// bytes along with its reply: then it is a wrapper that returns those bytes
// first and supports deadlines, CloseWrite, CloseRead and NetConn() (the
// wrapped conn). Errors name the route and the failing step; a refusal
// quotes the proxy's status line.
func (d *HTTPDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	// Quoted: a bad address may hold anything.
	target, err := checkDial(ctx, d.name, "HTTP CONNECT", network, address)
	if err != nil {
		return nil, err
	}
	raw, err := d.forward.DialContext(ctx, "tcp", d.proxyAddr)
	if err != nil {
		return nil, &dialError{route: d.name, what: "cannot reach the proxy", err: err, ctxErr: contextError(ctx)}
	}
	if raw == nil {
		return nil, &dialError{route: d.name, what: "cannot reach the proxy",
			err: errors.New("forward dialer returned neither a conn nor an error")}
	}
	c, err := d.handshake(ctx, raw, target)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// handshake runs TLS (for https) and the CONNECT exchange on raw, bounded
// by ctx: ctx's deadline is copied onto raw and a watcher interrupts the
// I/O when ctx is cancelled. The watcher has ended and raw's deadline is
// cleared when handshake returns.
func (d *HTTPDialer) handshake(ctx context.Context, raw net.Conn, target string) (net.Conn, error) {
	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	var stop func() (fired bool)
	if ctx.Done() != nil {
		done := make(chan struct{})
		fired := make(chan bool, 1)
		go func() {
			select {
			case <-ctx.Done():
				raw.SetDeadline(aLongTimeAgo)
				fired <- true
			case <-done:
				fired <- false
			}
		}()
		stop = func() bool {
			close(done)
			return <-fired
		}
	}
	c, what, err := d.connect(raw, target)
	if stop != nil && stop() && err == nil {
		// Done, but the deadline was set in the past: the caller gave up.
		what, err = "CONNECT "+target, ctx.Err()
	}
	if err != nil {
		return nil, &dialError{route: d.name, what: what, err: err, ctxErr: contextError(ctx)}
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, &dialError{route: d.name, what: "CONNECT " + target, err: err}
	}
	return c, nil
}

// connect runs the protocol; what names the step that failed.
func (d *HTTPDialer) connect(raw net.Conn, target string) (c net.Conn, what string, err error) {
	c = raw
	if d.tls != nil {
		tc := tls.Client(raw, d.tls)
		if err := tc.Handshake(); err != nil {
			return nil, "TLS handshake with the proxy", err
		}
		c = tc
	}
	what = "CONNECT " + target
	if _, err := c.Write(d.request(target)); err != nil {
		return nil, what, err
	}
	lr := &io.LimitedReader{R: c, N: maxReplyHeader}
	br := bufio.NewReader(lr)
	resp, err := readReply(br, lr)
	if err != nil {
		return nil, what, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, what, d.refusal(resp)
	}
	// A 2xx reply to CONNECT has no body (RFC 9110, section 9.3.6): every
	// byte after its header belongs to the tunnel.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		return newPrefixConn(c, bytes.Clone(b)), what, nil
	}
	return c, what, nil
}

// request is the CONNECT request for target.
func (d *HTTPDialer) request(target string) []byte {
	b := make([]byte, 0, 48+2*len(target)+len(d.auth))
	b = append(b, "CONNECT "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, target...)
	b = append(b, "\r\n"...)
	if d.auth != "" {
		b = append(b, "Proxy-Authorization: "...)
		b = append(b, d.auth...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// readReply reads the final reply to a CONNECT, skipping 1xx interim
// replies other than 101.
func readReply(br *bufio.Reader, lr *io.LimitedReader) (*http.Response, error) {
	req := &http.Request{Method: http.MethodConnect}
	for {
		resp, err := http.ReadResponse(br, req)
		switch {
		case err != nil && lr.N == 0:
			return nil, fmt.Errorf("reply header longer than %d bytes", maxReplyHeader)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("the proxy closed the connection before replying: %w", err)
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) {
				return nil, err // an I/O error, not a malformed reply
			}
			return nil, fmt.Errorf("malformed reply: %w", err)
		}
		if resp.StatusCode/100 == 1 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// refusal is the error for a reply other than 2xx.
func (d *HTTPDialer) refusal(resp *http.Response) error {
	e := &StatusError{StatusCode: resp.StatusCode, Status: resp.Proto + " " + resp.Status}
	if resp.StatusCode == http.StatusProxyAuthRequired {
		if d.user != "" {
			e.hint = fmt.Sprintf("the proxy did not accept user %q", d.user)
		} else {
			e.hint = "the proxy requires credentials; give user:password in the route URL"
		}
	}
	return e
}

// StatusError is a reply other than 2xx to a CONNECT request. Dial errors
// wrap it: find it with errors.As.
type StatusError struct {
	StatusCode int    // for example 407
	Status     string // the status line, for example "HTTP/1.1 407 Proxy Authentication Required"
	hint       string
}

// Error quotes the proxy's status line (cut to a sane length) and, for 407
// and similar replies, what to check.
func (e *StatusError) Error() string {
	status := e.Status
	if len(status) > maxStatusText {
		status = status[:maxStatusText] + "..."
	}
	msg := fmt.Sprintf("proxy replied %q", status)
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

// requestTarget validates address and returns it in the authority form a
// CONNECT request line carries (IPv6 literals bracketed). Its errors do not
// repeat the address.
func requestTarget(address string) (string, error) {
	// Anything that could end the request line or start a header.
	if strings.ContainsAny(address, " /?#@\\") || hasControl(address) {
		return "", errors.New("a character not allowed in host:port")
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err)
		}
		return "", err
	}
	if host == "" {
		return "", errors.New("no host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", errors.New("port is not a number in 1..65535")
	}
	return net.JoinHostPort(host, port), nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// contextError is ctx's error once ctx has ended. A deadline copied onto a
// conn may fire a moment before ctx's own timer, so a passed deadline
// counts as expired.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// dialError is a failed dial through an HTTP CONNECT route. Its message
// names the route (password redacted) and the step that failed.
type dialError struct {
	route  string
	what   string
	err    error
	ctxErr error // the context's error when the context ended the dial
}

func (e *dialError) Error() string {
	cause := e.err
	if e.ctxErr != nil {
		cause = e.ctxErr
	}
	return e.route + ": " + e.what + ": " + cause.Error()
}

func (e *dialError) Unwrap() []error {
	if e.ctxErr != nil && e.ctxErr != e.err {
		return []error{e.err, e.ctxErr}
	}
	return []error{e.err}
}

// checkDial validates a DialContext call of a tunnel route named route (of
// the given kind) and returns the target as the route requests it.
func checkDial(ctx context.Context, route, kind, network, address string) (string, error) {
	// Quoted: a bad address may hold anything.
	what := "dial " + strconv.Quote(address)
	if ctx == nil {
		return "", &dialError{route: route, what: what, err: errors.New("nil context")}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", &dialError{route: route, what: what,
			err: fmt.Errorf("network %q not supported (%s routes carry tcp, tcp4 or tcp6)", network, kind)}
	}
	target, err := requestTarget(address)
	if err != nil {
		return "", &dialError{route: route, what: what, err: err}
	}
	return target, nil
}

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

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/route"
)

// maxReplyHeader bounds the bytes read for the proxy's reply (status line,
// headers and any 1xx interim replies), so a rogue proxy cannot make a dial
// buffer without limit.
const maxReplyHeader = 64 << 10

// maxStatusText bounds how much of a status line an error message quotes.
const maxStatusText = 200

// httpSpec is the URL form NewHTTP accepts.
var httpSpec = route.Spec{Kind: "HTTP proxy route", Schemes: []string{"http", "https"}}

// connectTargets is what a CONNECT request line can carry: nothing that
// could end the line or start a header, nor a URL's delimiters.
var connectTargets = route.Targets{Protocol: "HTTP CONNECT", Forbidden: " /?#@\\"}

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
// forward dials the proxy itself; nil means a net.Dialer with TCP
// keep-alive and, on Linux, TCP_USER_TIMEOUT of 30s.
func NewHTTP(proxyURL *url.URL, forward proxy.ContextDialer, tlsConfig *tls.Config) (*HTTPDialer, error) {
	canonical, err := httpSpec.Parse(proxyURL)
	if err != nil {
		return nil, err
	}
	d := &HTTPDialer{proxyAddr: canonical.Host, forward: forward}
	if u := canonical.User; u != nil {
		user := u.Username()
		password, _ := u.Password()
		switch {
		case strings.Contains(user, ":"):
			return nil, httpSpec.Errorf(proxyURL, "user name contains a colon")
		case route.HasControl(user):
			return nil, httpSpec.Errorf(proxyURL, "user name contains a control character")
		case route.HasControl(password):
			return nil, httpSpec.Errorf(proxyURL, "password contains a control character")
		}
		d.user = user
		d.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	if canonical.Scheme == "https" {
		if tlsConfig == nil {
			d.tls = &tls.Config{}
		} else {
			d.tls = tlsConfig.Clone()
		}
		if d.tls.ServerName == "" {
			d.tls.ServerName = canonical.Hostname()
		}
		// ALPN could select h2, which would not understand our CONNECT.
		d.tls.NextProtos = nil
	}
	if d.forward == nil {
		d.forward = route.NewDialer()
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
	target, err := connectTargets.CheckDial(ctx, d.name, network, address)
	if err != nil {
		return nil, err
	}
	raw, err := dialProxy(ctx, d.forward, d.proxyAddr)
	if err != nil {
		return nil, route.NewError(ctx, d.name, "cannot reach the proxy", err).In(route.StageConnect)
	}
	c, err := d.handshake(ctx, raw, target)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// handshake runs TLS (for https) and the CONNECT exchange on raw, bounded
// by ctx.
func (d *HTTPDialer) handshake(ctx context.Context, raw net.Conn, target string) (net.Conn, error) {
	var c net.Conn
	step := "CONNECT " + target
	err := route.Handshake(ctx, raw, func() (err error) {
		c, step, err = d.connect(raw, target)
		return err
	})
	if err != nil {
		return nil, route.NewError(ctx, d.name, step, err).In(route.StageHandshake)
	}
	return c, nil
}

// connect runs the protocol; step is the one that failed, or the last.
func (d *HTTPDialer) connect(raw net.Conn, target string) (c net.Conn, step string, err error) {
	c = raw
	if d.tls != nil {
		tc := tls.Client(raw, d.tls)
		if err := tc.Handshake(); err != nil {
			return nil, "TLS handshake with the proxy", err
		}
		c = tc
	}
	step = "CONNECT " + target
	if _, err := c.Write(d.request(target)); err != nil {
		return nil, step, err
	}
	lr := &io.LimitedReader{R: c, N: maxReplyHeader}
	br := bufio.NewReader(lr)
	resp, err := readReply(br, lr)
	if err != nil {
		return nil, step, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, step, d.refusal(resp)
	}
	// A 2xx reply to CONNECT has no body (RFC 9110, section 9.3.6): every
	// byte after its header belongs to the tunnel.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		return newPrefixConn(c, bytes.Clone(b)), step, nil
	}
	return c, step, nil
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
	// Some proxies answer 401, meant for origin servers, where RFC 9110
	// has 407: both say the credentials are missing or wrong.
	if resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusUnauthorized {
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
// and 401, what to check: the user the proxy did not accept, or that it
// wants credentials.
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

// dialProxy dials the proxy (or bastion) at addr with forward.
func dialProxy(ctx context.Context, forward proxy.ContextDialer, addr string) (net.Conn, error) {
	c, err := forward.DialContext(ctx, "tcp", addr)
	if err == nil && c == nil {
		err = errors.New("forward dialer returned neither a conn nor an error")
	}
	return c, err
}

package testkit

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// HTTPProxy is an in-process HTTP proxy for tests that serves only CONNECT
// (RFC 9110, section 9.3.6). It listens on 127.0.0.1, requires
// "Proxy-Authorization: Basic" credentials when created WithCredentials,
// relays bytes both ways passing half-closes on, and records every target
// it is asked for. It is not meant for production traffic.
//
// Each connection carries one request. Replies: 200 and the tunnel; 400
// for a malformed request or a target that is not host:port; 405 for any
// method but CONNECT; 407 with Proxy-Authenticate when credentials are
// required and missing or wrong; 431 for a request header over 64 KiB;
// 502 when the target cannot be reached, 504 when reaching it times out.
// Bytes a client sends right behind its CONNECT request are delivered to
// the target first.
type HTTPProxy struct {
	*proxyServer // Addr, URL, Targets and Close
}

// NewHTTPProxy starts an HTTPProxy on 127.0.0.1 at a free port; it serves
// in the background until Close.
func NewHTTPProxy(opts ...ProxyOption) (*HTTPProxy, error) {
	check := func(cfg proxyConfig) error {
		if strings.Contains(cfg.user, ":") {
			return errors.New("user contains a colon, which Basic authentication cannot carry")
		}
		return nil
	}
	s, err := newProxyServer("HTTPProxy", "http", opts, check, serveHTTPConnect)
	if err != nil {
		return nil, err
	}
	return &HTTPProxy{s}, nil
}

// httpMaxRequestHeader bounds a request's head.
const httpMaxRequestHeader = 64 << 10

// serveHTTPConnect runs one client connection: one request, then the relay.
func serveHTTPConnect(s *proxyServer, c net.Conn) {
	c.SetDeadline(time.Now().Add(proxyHandshakeTimeout))
	lr := &io.LimitedReader{R: c, N: httpMaxRequestHeader}
	br := bufio.NewReader(lr)
	req, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		switch {
		case lr.N == 0:
			httpRefuse(c, http.StatusRequestHeaderFieldsTooLarge, "")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne):
			// The client went away or stalled: nobody to answer.
		default:
			httpRefuse(c, http.StatusBadRequest, "")
		}
		return
	}
	if req.Method != http.MethodConnect {
		httpRefuse(c, http.StatusMethodNotAllowed, "Allow: CONNECT\r\n")
		return
	}
	if s.cfg.auth && !httpAuthorized(req, s.cfg) {
		httpRefuse(c, http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"kafkanattest\"\r\n")
		return
	}
	target := req.RequestURI
	if host, _, err := net.SplitHostPort(target); err != nil || host == "" {
		httpRefuse(c, http.StatusBadRequest, "")
		return
	}
	s.record(target)
	up, err := s.dial(target)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		httpRefuse(c, status, "")
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		s.release(s.upstreams, up)
		return
	}
	// Bytes the client sent behind its request are in br, not in c.
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		if _, err := up.Write(early); err != nil {
			s.release(s.upstreams, up)
			return
		}
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		s.release(s.upstreams, up)
		return
	}
	s.relay(c, up)
}

// httpAuthorized reports whether req carries the configured credentials.
func httpAuthorized(req *http.Request, cfg proxyConfig) bool {
	scheme, cred, ok := strings.Cut(req.Header.Get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(cfg.user)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte(cfg.password)) == 1
	return userOK && passOK
}

// httpRefuse answers with status and closes: header holds extra header
// lines, each ending in CRLF.
func httpRefuse(c net.Conn, status int, header string) {
	body := http.StatusText(status) + "\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), header, len(body), body)
	linger(c)
}

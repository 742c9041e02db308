package kube

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/kafkanat/kafkanat/internal/route"
)

// pingPeriod is how often an upgraded connection sends a SPDY ping, as
// kubectl's does, so that load balancers in front of the API server do not
// drop it while its streams are quiet.
const pingPeriod = 10 * time.Second

// maxErrorBody bounds how much of a refused upgrade's body is read.
const maxErrorBody = 64 << 10

// apiServer opens upgraded port-forward connections to the API server,
// with the rest.Config's TLS settings and credentials. Every step, from
// the TCP dial to the upgrade response, is bounded by the dial's context:
// a stalled API server cannot hold a dial past it.
type apiServer struct {
	base *url.URL    // the API server, rest.Config.Host with its path prefix
	tls  *tls.Config // nil for plain http
	// wrap adds the credentials, impersonation and user agent of the
	// rest.Config to a round trip.
	wrap func(http.RoundTripper) (http.RoundTripper, error)
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// upgraded is an upgraded connection to a pod's port-forward.
type upgraded struct {
	conn     streamhttp.Connection
	local    net.Addr // our end of the TCP connection to the API server
	protocol Protocol
}

// portForward opens an upgraded connection to the port-forward subresource
// at path, over protocol p.
func (a *apiServer) portForward(ctx context.Context, path string, p Protocol) (*upgraded, error) {
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	var rt upgradeRoundTripper
	method := http.MethodPost
	if p == WebSocket {
		rt = &wsRoundTripper{api: a}
		method = http.MethodGet // RFC 6455 section 4.1
	} else {
		rt = &spdyRoundTripper{api: a}
	}
	wrapped, err := a.wrap(rt)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := wrapped.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, responseError(resp)
	}
	conn, local, err := rt.upgraded()
	if err != nil {
		return nil, err
	}
	sc, err := streamspdy.NewClientConnectionWithPings(conn, pingPeriod)
	if err != nil {
		return nil, err
	}
	return &upgraded{conn: sc, local: local, protocol: p}, nil
}

// upgradeRoundTripper is the innermost round trip of an upgrade: after a
// 101 answer, upgraded returns the connection that carries SPDY frames.
type upgradeRoundTripper interface {
	http.RoundTripper
	upgraded() (net.Conn, net.Addr, error)
}

// connect dials the API server's TCP port, bounded by ctx.
func (a *apiServer) connect(ctx context.Context) (net.Conn, error) {
	return a.dial(ctx, "tcp", hostPort(a.base))
}

// spdyRoundTripper upgrades to SPDY/3.1 the way kubectl's SPDY dialer
// does: a POST with "Upgrade: SPDY/3.1" and the port-forward protocol in
// X-Stream-Protocol-Version, answered 101 Switching Protocols.
type spdyRoundTripper struct {
	api  *apiServer
	conn net.Conn
}

func (t *spdyRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	raw, err := t.api.connect(ctx)
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	err = route.Handshake(ctx, raw, func() error {
		c := raw
		if t.api.tls != nil {
			tc := tls.Client(raw, t.api.tls)
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("TLS handshake with the API server: %w", err)
			}
			c = tc
		}
		req.Header.Set(streamhttp.HeaderConnection, streamhttp.HeaderUpgrade)
		req.Header.Set(streamhttp.HeaderUpgrade, streamspdy.HeaderSpdy31)
		req.Header.Set(streamhttp.HeaderProtocolVersion, pfconst.PortForwardV1Name)
		if err := req.Write(c); err != nil {
			return err
		}
		br := bufio.NewReader(c)
		r, err := http.ReadResponse(br, req)
		if err != nil {
			return fmt.Errorf("reading the API server's answer: %w", err)
		}
		if r.StatusCode == http.StatusSwitchingProtocols {
			t.conn = &bufferedConn{Conn: c, r: br}
		} else if err := bufferBody(r); err != nil {
			return err
		}
		resp = r
		return nil
	})
	if err != nil || t.conn == nil {
		raw.Close()
	}
	if err != nil {
		return nil, err
	}
	if t.conn != nil && !strings.EqualFold(resp.Header.Get(streamhttp.HeaderUpgrade), streamspdy.HeaderSpdy31) {
		t.conn.Close()
		t.conn = nil
		return nil, fmt.Errorf("the API server answered 101 without upgrading to %s", streamspdy.HeaderSpdy31)
	}
	return resp, nil
}

func (t *spdyRoundTripper) upgraded() (net.Conn, net.Addr, error) {
	return t.conn, t.conn.LocalAddr(), nil
}

// wsRoundTripper upgrades to a WebSocket whose binary messages carry
// SPDY/3.1 frames, with the subprotocol "SPDY/3.1+portforward.k8s.io":
// what kubectl does since Kubernetes 1.30 (PortForwardWebsockets), which
// API servers then translate to SPDY towards the kubelet.
type wsRoundTripper struct {
	api  *apiServer
	conn *gwebsocket.Conn
}

func (t *wsRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// gorilla/websocket bounds the handshake by ctx's deadline only; the
	// raw connection is kept so that cancelling ctx interrupts it too.
	var (
		mu          sync.Mutex
		raw         net.Conn
		interrupted bool
	)
	d := gwebsocket.Dialer{
		NetDialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := t.api.connect(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				raw = c
				if interrupted {
					c.SetDeadline(time.Unix(1, 0))
				}
			}
			return c, err
		},
		TLSClientConfig: t.api.tls,
		Subprotocols:    []string{pfconst.WebsocketsSPDYTunnelingPortForwardV1},
		// No proxy: the API server is reached with rest.Config.Dial or
		// directly (see New).
		Proxy: nil,
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		interrupted = true
		if raw != nil {
			raw.SetDeadline(time.Unix(1, 0))
		}
		close(done)
	})
	u := *req.URL
	u.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
	conn, resp, err := d.DialContext(ctx, u.String(), req.Header)
	if !stop() {
		<-done
		if conn != nil {
			conn.Close()
		}
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	if err != nil {
		if errors.Is(err, gwebsocket.ErrBadHandshake) && resp != nil {
			// gorilla has read the beginning of the body already.
			if err := bufferBody(resp); err != nil {
				return nil, err
			}
			return resp, nil
		}
		return nil, err
	}
	if conn.Subprotocol() != pfconst.WebsocketsSPDYTunnelingPortForwardV1 {
		conn.Close()
		return nil, fmt.Errorf("%w %q; want %q", errSubprotocol, conn.Subprotocol(), pfconst.WebsocketsSPDYTunnelingPortForwardV1)
	}
	t.conn = conn
	return resp, nil
}

func (t *wsRoundTripper) upgraded() (net.Conn, net.Addr, error) {
	return portforward.NewTunnelingConnection("kube", t.conn), t.conn.LocalAddr(), nil
}

// errSubprotocol is the error of a WebSocket upgrade to another
// subprotocol than port-forward's.
var errSubprotocol = errors.New("the API server chose the WebSocket subprotocol")

// websocketRefused reports whether err, from a WebSocket upgrade, says
// that the API server does not take port-forward over WebSocket (so that
// SPDY may work), rather than refusing the request itself: 401, 403 and
// 404 would be SPDY's answer too.
func websocketRefused(err error) bool {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		switch se.ErrStatus.Code {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return false
		}
		return true
	}
	return errors.Is(err, errSubprotocol)
}

// bufferedConn is a connection whose first bytes were read into r while
// reading the upgrade response.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// bufferBody reads up to maxErrorBody bytes of r's body into memory, so
// that it can be reported after the connection is closed.
func bufferBody(r *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	r.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the API server's answer (%s): %w", r.Status, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// responseError is the error of an upgrade the API server refused: its
// Status object as an *apierrors.StatusError when the body holds one,
// otherwise one made of the HTTP status and the body's text.
func responseError(r *http.Response) error {
	body, _ := io.ReadAll(r.Body)
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(r.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = "no body"
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    int32(r.StatusCode),
		Reason:  metav1.StatusReasonUnknown,
		Message: fmt.Sprintf("the API server answered %s: %s", r.Status, msg),
	}}
}

// hostPort is u's host and port, with the scheme's default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// newAPIServer builds an apiServer from a transport.Config made once from
// the rest.Config (so that exec credential plugins are set up once).
func newAPIServer(base *url.URL, tc *transport.Config, dial func(ctx context.Context, network, address string) (net.Conn, error)) (*apiServer, error) {
	tlsConfig, err := transport.TLSConfigFor(tc)
	if err != nil {
		return nil, err
	}
	if base.Scheme == "https" {
		if tlsConfig == nil {
			tlsConfig = &tls.Config{}
		}
		tlsConfig = tlsConfig.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = base.Hostname()
		}
		// Upgrades are HTTP/1.1 only.
		tlsConfig.NextProtos = []string{"http/1.1"}
	} else {
		tlsConfig = nil
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return &apiServer{
		base: base,
		tls:  tlsConfig,
		wrap: func(rt http.RoundTripper) (http.RoundTripper, error) { return transport.HTTPWrappersForConfig(tc, rt) },
		dial: dial,
	}, nil
}

package kubetest

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"

	gwebsocket "github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// serveTunnelled serves a WebSocket port-forward request the way the API
// server's TunnelingHandler (k8s.io/apiserver/pkg/util/proxy) does: the
// request becomes a SPDY upgrade request for the kubelet's handler, and
// the handler's 101 answer becomes the WebSocket upgrade, whose binary
// messages then carry the SPDY frames. The API server forwards the SPDY
// request to the kubelet; here the kubelet's handler runs in-process.
func (s *Server) serveTunnelled(w http.ResponseWriter, r *http.Request, fw *forwarder) {
	var protocols []string
	for _, p := range gwebsocket.Subprotocols(r) {
		if strings.HasPrefix(p, pfconst.WebsocketsSPDYTunnelingPrefix) && strings.HasSuffix(p, pfconst.KubernetesSuffix) {
			protocols = append(protocols, strings.TrimPrefix(p, pfconst.WebsocketsSPDYTunnelingPrefix))
		}
	}
	if len(protocols) == 0 {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "unable to upgrade: no tunneling spdy protocols provided", nil)
		return
	}
	spdyReq := r.Clone(r.Context())
	spdyReq.Method = http.MethodPost
	spdyReq.Body = http.NoBody
	for _, h := range []string{"Sec-Websocket-Protocol", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"} {
		spdyReq.Header.Del(h)
	}
	spdyReq.Header.Set(streamhttp.HeaderConnection, streamhttp.HeaderUpgrade)
	spdyReq.Header.Set(streamhttp.HeaderUpgrade, streamspdy.HeaderSpdy31)
	spdyReq.Header.Del(streamhttp.HeaderProtocolVersion)
	for _, p := range protocols {
		spdyReq.Header.Add(streamhttp.HeaderProtocolVersion, p)
	}
	tw := &tunnelWriter{w: w, r: r, header: http.Header{}, s: s, upgrade: Upgrade{Protocol: "WebSocket", Namespace: fw.pod.Namespace, Pod: fw.pod.Name}}
	s.servePortForward(tw, spdyReq, fw)
}

// tunnelWriter is the ResponseWriter the kubelet's handler answers a
// tunnelled request with: an error answer goes to the client as it is;
// the 101 answer upgrades the client's connection to a WebSocket, which
// Hijack returns as the connection the handler speaks SPDY on.
type tunnelWriter struct {
	w       http.ResponseWriter
	r       *http.Request
	header  http.Header
	s       *Server
	upgrade Upgrade
	conn    net.Conn
}

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		for k, v := range t.header {
			t.w.Header()[k] = v
		}
		t.w.WriteHeader(code)
		return
	}
	// The subprotocol tells the client which SPDY protocol the handler
	// chose, as the header would have.
	up := gwebsocket.Upgrader{
		Subprotocols: []string{pfconst.WebsocketsSPDYTunnelingPrefix + t.header.Get(streamhttp.HeaderProtocolVersion)},
		CheckOrigin:  func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(t.w, t.r, nil)
	if err != nil {
		return // Upgrade answered the client; Hijack fails
	}
	t.s.record(t.upgrade)
	t.conn = t.s.track(portforward.NewTunnelingConnection("kubetest", ws))
}

func (t *tunnelWriter) Write(p []byte) (int, error) { return t.w.Write(p) }

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if t.conn == nil {
		return nil, nil, errors.New("kubetest: the WebSocket upgrade failed")
	}
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}

// hijackRecorder records a SPDY upgrade and tracks the connection the
// kubelet's handler hijacks for it, so that Close can close it.
type hijackRecorder struct {
	http.ResponseWriter
	s       *Server
	upgrade Upgrade
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.s.record(h.upgrade)
	return h.s.track(c), rw, nil
}

package kubetest

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Token is the bearer token the server accepts (Config sets it).
const Token = "kubetest-token"

// user is the name 403 messages give the caller, as RBAC's do.
const user = "kubetest-user"

// Pod is a pod the server knows. Only Namespace, Name and Dial are
// required.
type Pod struct {
	Namespace, Name string
	// Subdomain is the headless service the pod is named under (a
	// StatefulSet's serviceName); informational.
	Subdomain string
	// Phase defaults to Running.
	Phase corev1.PodPhase
	// NotReady makes the pod's Ready condition False.
	NotReady bool
	// IP is the pod's reported IP (never dialed); default 198.51.100.N.
	IP string
	// Dial connects to port inside the pod, as the kubelet does for a
	// port-forward stream; an error is what the kubelet reports on the
	// error stream (for example "connection refused").
	Dial func(ctx context.Context, port int) (net.Conn, error)
}

// ServicePort is a port of a Service.
type ServicePort struct {
	Name       string
	Port       int
	TargetPort int // the pods' port; 0 means Port
}

// Service is a service the server knows, backed by the named pods.
type Service struct {
	Namespace, Name string
	Headless        bool // ClusterIP None
	Ports           []ServicePort
	Pods            []string // names of its pods (in Namespace)
}

// Upgrade records one upgraded port-forward connection.
type Upgrade struct {
	Protocol       string // "SPDY" or "WebSocket"
	Namespace, Pod string
}

// Forward records one forwarded stream pair.
type Forward struct {
	Namespace, Pod string
	Port           int
}

// Option configures NewServer.
type Option func(*Server)

// Deny makes the server answer 403 Forbidden to requests that need verb
// on resource ("get" "pods", "get" "services", "list"
// "endpointslices.discovery.k8s.io", "create" "pods/portforward"), as
// RBAC does when the role lacks it.
func Deny(verb, resource string) Option {
	return func(s *Server) { s.denied[verb+" "+resource] = true }
}

// WithoutWebSocket makes the server answer WebSocket port-forward
// requests 400 Bad Request, as API servers before Kubernetes 1.30 did, so
// that a client falls back to SPDY.
func WithoutWebSocket() Option {
	return func(s *Server) { s.noWebSocket = true }
}

// Server is the test API server. Methods are safe for concurrent use.
type Server struct {
	ts          *httptest.Server
	denied      map[string]bool
	noWebSocket bool

	mu       sync.Mutex
	pods     map[string]*podEntry // by namespace/name
	services map[string]Service
	stalled  chan struct{} // closed when no longer stalled; nil when not stalled
	pfStall  chan struct{} // the same, for port-forward requests only
	upStall  chan struct{} // the same, for what upgraded connections send
	upgrades []Upgrade
	forwards []Forward
	hijacked map[net.Conn]struct{}
	nextIP   int
}

type podEntry struct {
	Pod
	uid types.UID
}

// NewServer starts a Server on 127.0.0.1 with TLS. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		denied:   make(map[string]bool),
		pods:     make(map[string]*podEntry),
		services: make(map[string]Service),
		hijacked: make(map[net.Conn]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}", s.getPod)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/services/{name}", s.getService)
	mux.HandleFunc("GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", s.listSlices)
	mux.HandleFunc("/api/v1/namespaces/{ns}/pods/{name}/portforward", s.portForward)
	s.ts = httptest.NewUnstartedServer(s.gate(mux))
	s.ts.StartTLS()
	return s
}

// URL is the server's base URL, "https://127.0.0.1:PORT".
func (s *Server) URL() string { return s.ts.URL }

// Config returns a rest.Config for the server: its URL, its CA and the
// bearer token.
func (s *Server) Config() *rest.Config {
	return &rest.Config{
		Host:        s.ts.URL,
		BearerToken: Token,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: s.caPEM(),
		},
	}
}

func (s *Server) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// WriteKubeconfig writes a kubeconfig file for the server to path, with
// one context named context (its current context).
func (s *Server) WriteKubeconfig(path, context string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: s.ts.URL, CertificateAuthorityData: s.caPEM()}
	cfg.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: Token}
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest"}
	cfg.CurrentContext = context
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// AddPod adds or replaces a pod; a replaced pod gets a new UID, as a
// recreated pod does.
func (s *Server) AddPod(p Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Phase == "" {
		p.Phase = corev1.PodRunning
	}
	if p.IP == "" {
		s.nextIP++
		p.IP = fmt.Sprintf("198.51.100.%d", s.nextIP%254+1)
	}
	s.pods[p.Namespace+"/"+p.Name] = &podEntry{Pod: p, uid: types.UID(fmt.Sprintf("kubetest-%s-%s-%d", p.Namespace, p.Name, time.Now().UnixNano()))}
}

// AddService adds or replaces a service.
func (s *Server) AddService(svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[svc.Namespace+"/"+svc.Name] = svc
}

// SetStalled makes the server stop answering (true): requests and
// port-forward upgrades are read and left unanswered, as when the API
// server hangs behind a load balancer that keeps connections open.
// Upgraded connections keep working. false answers again, including the
// requests that were waiting.
func (s *Server) SetStalled(stalled bool) { s.setStall(&s.stalled, stalled) }

// StallPortForward is SetStalled for port-forward requests only: pods
// and services are answered, upgrades are not.
func (s *Server) StallPortForward(stalled bool) { s.setStall(&s.pfStall, stalled) }

// StallUpgraded makes the upgraded port-forward connections stop sending
// (true), as an API server that froze with its connections open: stream
// replies and data wait until false.
func (s *Server) StallUpgraded(stalled bool) { s.setStall(&s.upStall, stalled) }

func (s *Server) setStall(ch *chan struct{}, stalled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case stalled && *ch == nil:
		*ch = make(chan struct{})
	case !stalled && *ch != nil:
		close(*ch)
		*ch = nil
	}
}

// wait holds a request while *ch is set; it reports false if the client
// went away meanwhile.
func (s *Server) wait(r *http.Request, ch *chan struct{}) bool {
	s.mu.Lock()
	stall := *ch
	s.mu.Unlock()
	if stall == nil {
		return true
	}
	select {
	case <-stall:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Upgrades returns the upgraded port-forward connections so far.
func (s *Server) Upgrades() []Upgrade {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.upgrades)
}

// Forwards returns the forwarded stream pairs so far.
func (s *Server) Forwards() []Forward {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.forwards)
}

// Close closes every port-forward connection and stops the server.
func (s *Server) Close() {
	s.SetStalled(false)
	s.StallPortForward(false)
	s.StallUpgraded(false)
	s.mu.Lock()
	for c := range s.hijacked {
		c.Close()
	}
	s.mu.Unlock()
	s.ts.Close()
}

// gate checks the bearer token and holds requests while stalled.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.wait(r, &s.stalled) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+Token {
			writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowed answers 403 unless verb on resource is allowed.
func (s *Server) allowed(w http.ResponseWriter, verb, resource, group, ns, name string) bool {
	if !s.denied[verb+" "+resource] {
		return true
	}
	kind := resource
	if g := strings.Index(resource, "."); g > 0 {
		kind = resource[:g]
	}
	var what string
	if name != "" {
		what = fmt.Sprintf("%s %q", kind, name)
	} else {
		what = kind
	}
	msg := fmt.Sprintf("%s is forbidden: User %q cannot %s resource %q in API group %q in the namespace %q",
		what, user, verb, kind, group, ns)
	writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg, &metav1.StatusDetails{Name: name, Kind: kind})
	return false
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	if p := s.findPod(w, r, "get", "pods"); p != nil {
		writeJSON(w, podObject(p))
	}
}

// findPod returns the pod of r's path if verb on resource is allowed and
// the pod exists; otherwise it answers 403 or 404 and returns nil.
func (s *Server) findPod(w http.ResponseWriter, r *http.Request, verb, resource string) *podEntry {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if !s.allowed(w, verb, resource, "", ns, name) {
		return nil
	}
	s.mu.Lock()
	p := s.pods[ns+"/"+name]
	s.mu.Unlock()
	if p == nil {
		notFound(w, "pods", name)
	}
	return p
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if !s.allowed(w, "get", "services", "", ns, name) {
		return
	}
	s.mu.Lock()
	svc, ok := s.services[ns+"/"+name]
	s.mu.Unlock()
	if !ok {
		notFound(w, "services", name)
		return
	}
	obj := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	}
	if svc.Headless {
		obj.Spec.ClusterIP = corev1.ClusterIPNone
	} else {
		obj.Spec.ClusterIP = "203.0.113.10"
	}
	for _, p := range svc.Ports {
		obj.Spec.Ports = append(obj.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: int32(p.Port), Protocol: corev1.ProtocolTCP})
	}
	writeJSON(w, obj)
}

func (s *Server) listSlices(w http.ResponseWriter, r *http.Request) {
	ns := r.PathValue("ns")
	if !s.allowed(w, "list", "endpointslices.discovery.k8s.io", "discovery.k8s.io", ns, "") {
		return
	}
	sel := r.URL.Query().Get("labelSelector")
	name, ok := strings.CutPrefix(sel, discoveryv1.LabelServiceName+"=")
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("kubetest serves EndpointSlices by %s=NAME only, not %q", discoveryv1.LabelServiceName, sel), nil)
		return
	}
	list := &discoveryv1.EndpointSliceList{TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"}}
	s.mu.Lock()
	if svc, ok := s.services[ns+"/"+name]; ok {
		list.Items = append(list.Items, s.sliceLocked(svc))
	}
	s.mu.Unlock()
	writeJSON(w, list)
}

// sliceLocked is the EndpointSlice of svc, as the EndpointSlice
// controller would write it. s.mu is held.
func (s *Server) sliceLocked(svc Service) discoveryv1.EndpointSlice {
	es := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace, Name: svc.Name + "-kubetest",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range svc.Ports {
		name, port, proto := p.Name, int32(p.TargetPort), corev1.ProtocolTCP
		if port == 0 {
			port = int32(p.Port)
		}
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto})
	}
	for _, podName := range svc.Pods {
		p := s.pods[svc.Namespace+"/"+podName]
		if p == nil {
			continue
		}
		ready := p.Phase == corev1.PodRunning && !p.NotReady
		hostname := p.Name
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			Hostname:   &hostname,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.uid},
		})
	}
	return es
}

func podObject(p *podEntry) *corev1.Pod {
	ready := corev1.ConditionTrue
	if p.NotReady || p.Phase != corev1.PodRunning {
		ready = corev1.ConditionFalse
	}
	obj := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.uid},
		Spec:       corev1.PodSpec{Hostname: p.Name, Subdomain: p.Subdomain},
		Status: corev1.PodStatus{
			Phase: p.Phase,
			PodIP: p.IP,
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodReady, Status: ready,
			}},
		},
	}
	if ready == corev1.ConditionFalse {
		obj.Status.Conditions[0].Reason = "ContainersNotReady"
		obj.Status.Conditions[0].Message = "containers with unready status: [kafka]"
	}
	return obj
}

// portForward serves the pods/portforward subresource: the API server's
// checks (RBAC, the pod exists), then the kubelet's handler.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r, &s.pfStall) {
		return
	}
	p := s.findPod(w, r, "create", "pods/portforward")
	if p == nil {
		return
	}
	ns, name := p.Namespace, p.Name
	if p.Phase != corev1.PodRunning {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("pod %s is not running", name), nil)
		return
	}
	fw := &forwarder{s: s, pod: p}
	if wsstream.IsWebSocketRequest(r) {
		if s.noWebSocket {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "unable to upgrade: this API server does not take port-forward over WebSocket", nil)
			return
		}
		s.serveTunnelled(w, r, fw)
		return
	}
	if r.Method != http.MethodPost {
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "port-forward over SPDY takes POST", nil)
		return
	}
	s.servePortForward(&hijackRecorder{ResponseWriter: w, s: s, upgrade: Upgrade{Protocol: "SPDY", Namespace: ns, Pod: name}}, r, fw)
}

// streamCreationTimeout is how long the kubelet's handler waits for the
// second stream of a pair. The kubelet's is 30s; a shorter one ends the
// handler's wait for a pair a client abandoned soon after the test.
const streamCreationTimeout = 2 * time.Second

// servePortForward runs the kubelet's port-forward handler.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request, fw *forwarder) {
	portforward.ServePortForward(w, r, fw, fw.pod.Name, string(fw.pod.uid), &portforward.V4Options{},
		0, streamCreationTimeout, portforward.SupportedProtocols)
}

func (s *Server) record(u Upgrade) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upgrades = append(s.upgrades, u)
}

// track remembers an upgraded connection, so that Close can close it,
// and makes its writes wait while StallUpgraded is on.
func (s *Server) track(c net.Conn) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hijacked[c] = struct{}{}
	return &stallConn{Conn: c, s: s, closed: make(chan struct{})}
}

// stallConn is an upgraded connection whose writes wait while the server
// stalls upgraded connections.
type stallConn struct {
	net.Conn
	s      *Server
	closed chan struct{}
	once   sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	stall := c.s.upStall
	c.s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// forwarder is the kubelet's side of port-forward for one pod: it
// connects each data stream to the pod's port.
type forwarder struct {
	s   *Server
	pod *podEntry
}

// PortForward copies between stream and the pod's port until the pod
// closes the connection, or the client closes or resets the stream;
// a half-close is passed on.
func (f *forwarder) PortForward(ctx context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	f.s.mu.Lock()
	f.s.forwards = append(f.s.forwards, Forward{Namespace: f.pod.Namespace, Pod: f.pod.Name, Port: int(port)})
	f.s.mu.Unlock()
	if f.pod.Dial == nil {
		return fmt.Errorf("dial tcp4 127.0.0.1:%d: connect: connection refused", port)
	}
	conn, err := f.pod.Dial(ctx, int(port))
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		_, err := io.Copy(conn, stream)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
			return
		}
		conn.Close()
		// Keep reading until the client resets the stream: SPDY frames of
		// a stream nobody reads block every stream of the connection.
		io.Copy(io.Discard, stream)
	}()
	// When the pod closes its side, the handler closes the streams on
	// return; the copy above ends when the client closes or resets.
	io.Copy(stream, conn)
	return nil
}

func writeJSON(w http.ResponseWriter, obj any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(obj)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string, details *metav1.StatusDetails) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Details: details, Code: int32(code),
	})
}

func notFound(w http.ResponseWriter, kind, name string) {
	writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%s %q not found", kind, name), &metav1.StatusDetails{Name: name, Kind: kind})
}

// StatefulSet describes pods NAME-0 ... NAME-(Replicas-1) under a
// headless service, as a StatefulSet with serviceName Service makes them.
type StatefulSet struct {
	Namespace, Name string
	Service         string // the headless service; it gets Ports
	Replicas        int
	Ports           []ServicePort
	// Dial connects to port inside pod (its name), as Pod.Dial.
	Dial func(ctx context.Context, pod string, port int) (net.Conn, error)
}

// AddStatefulSet adds the pods of ss and its headless service, and
// returns the pods' names.
func (s *Server) AddStatefulSet(ss StatefulSet) []string {
	names := make([]string, ss.Replicas)
	for i := range names {
		name := fmt.Sprintf("%s-%d", ss.Name, i)
		names[i] = name
		s.AddPod(Pod{Namespace: ss.Namespace, Name: name, Subdomain: ss.Service, Dial: func(ctx context.Context, port int) (net.Conn, error) {
			return ss.Dial(ctx, name, port)
		}})
	}
	s.AddService(Service{Namespace: ss.Namespace, Name: ss.Service, Headless: true, Ports: ss.Ports, Pods: names})
	return names
}

package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1client "k8s.io/client-go/kubernetes/typed/discovery/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/route"
)

var _ proxy.ContextDialer = (*Dialer)(nil)

// errClosed is the error of a dial after Close.
var errClosed = errors.New("the kube.Dialer is closed")

// Dialer reaches pods through the Kubernetes API server's port-forward,
// with no local listener: each connection it returns is a stream pair on
// an upgraded connection to the API server (one per pod, shared by all
// connections to that pod). It is a proxy.ContextDialer, usable as a
// kafkanat Route. Methods are safe for concurrent use.
type Dialer struct {
	api       *apiServer
	http      *http.Client // of the API calls (get pod, list EndpointSlices)
	core      corev1client.CoreV1Interface
	discovery discoveryv1client.DiscoveryV1Interface
	opts      options

	mu     sync.Mutex
	closed bool
	conns  map[podKey]*podConn   // the connection new dials to a pod use
	live   map[*podConn]struct{} // every open connection, retired ones too
}

// New returns a Dialer that reaches the API server as cfg says (host, TLS,
// credentials, impersonation; rest.Config.Dial, if set, dials its TCP
// connections). cfg.Proxy is not supported (New fails if it is set) and
// the HTTPS_PROXY environment is not consulted: the API server is dialed
// directly, or with cfg.Dial, which can carry it over any route.
//
// Unless cfg sets QPS, Burst or RateLimiter, its API calls (one or two per
// dial) are limited to 50 per second with bursts of 100, rather than
// client-go's 5 and 10.
//
// The credentials need, in the namespaces dialed: create on
// pods/portforward; get on pods (addresses naming a pod); get on services
// and list on endpointslices.discovery.k8s.io (addresses naming a
// service).
func New(cfg *rest.Config, opts ...Option) (*Dialer, error) {
	if cfg == nil {
		return nil, errors.New("kube: New: nil rest.Config")
	}
	if cfg.Proxy != nil {
		return nil, errors.New("kube: New: rest.Config.Proxy is not supported; set rest.Config.Dial to reach the API server through a proxy")
	}
	o := defaultOptions()
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("kube: New: option %d is nil", i+1)
		}
		if err := opt.apply(&o); err != nil {
			return nil, fmt.Errorf("kube: New: %w", err)
		}
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: New: API server address %q: %w", cfg.Host, err)
	}
	if base.Scheme != "https" && base.Scheme != "http" {
		return nil, fmt.Errorf("kube: New: API server address %q: scheme %q, want https or http", cfg.Host, base.Scheme)
	}
	tc, err := cfg.TransportConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: New: %w", err)
	}
	api, err := newAPIServer(base, tc, cfg.Dial)
	if err != nil {
		return nil, fmt.Errorf("kube: New: %w", err)
	}
	if cfg.QPS == 0 && cfg.Burst == 0 && cfg.RateLimiter == nil {
		// Each dial makes one or two API calls, and a Kafka client dials
		// in bursts; client-go's default of 5 per second would hold them.
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 50, 100
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: New: %w", err)
	}
	core, err := corev1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kube: New: %w", err)
	}
	discovery, err := discoveryv1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kube: New: %w", err)
	}
	return &Dialer{
		api:       api,
		http:      hc,
		core:      core,
		discovery: discovery,
		opts:      o,
		conns:     make(map[podKey]*podConn),
		live:      make(map[*podConn]struct{}),
	}, nil
}

// FromKubeconfig returns a Dialer for a kubeconfig file's context: path
// "" loads the files kubectl would (KUBECONFIG, else ~/.kube/config), and
// context "" means the file's current context.
func FromKubeconfig(path, context string, opts ...Option) (*Dialer, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "the default kubeconfig"
		}
		return nil, fmt.Errorf("kube: kubeconfig %s, context %q: %w", where, context, err)
	}
	return New(cfg, opts...)
}

// DialContext connects to address (see ParseAddress for its forms:
// "kafka-0.kafka-headless.kafka.svc.cluster.local:9092",
// "kafka.kafka:9092", ...) through the API server's port-forward. network
// must be "tcp", "tcp4" or "tcp6".
//
// If the context expires before the connection is complete, an error is
// returned; once successfully connected, any expiration of the context
// will not affect the connection. Errors are *net.OpError with Op "dial"
// wrapping an *Error that names the pod, namespace and port.
//
// The API server accepts a stream before the kubelet connects to the pod,
// so a port nothing listens on in the pod is reported by DialContext only
// when the kubelet's answer comes first, and otherwise by the connection's
// first Read: either way an *Error with step "port-forward" and the
// kubelet's message.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	fail := func(e *Error) (net.Conn, error) {
		e.Address = address
		if cerr := route.ContextError(ctx); cerr != nil && !errors.Is(e.Err, cerr) {
			e.Err = fmt.Errorf("%w: %w", cerr, e.Err)
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: podAddr(address), Err: e}
	}
	if ctx == nil {
		ctx = context.Background()
		return fail(&Error{Step: "dial", Err: errors.New("nil context")})
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fail(&Error{Step: "dial", Err: fmt.Errorf("network %q not supported (the Kubernetes route carries tcp, tcp4 or tcp6)", network)})
	}
	t, err := ParseAddress(address, d.opts.clusterDomain)
	if err != nil {
		return fail(&Error{Step: "read the address", Err: err})
	}
	p, e := d.resolve(ctx, t)
	if e != nil {
		return fail(e)
	}
	pt := t
	pt.Kind, pt.Pod, pt.Port = KindPod, p.name, p.port
	pc, err := d.acquire(ctx, p)
	if err != nil {
		status, err := apiError(err, permPortForward, p.namespace, "pod "+strconv.Quote(p.name))
		return fail(&Error{Target: pt, Step: "port-forward", Status: status, Err: err})
	}
	pair, err := pc.openPair(ctx, p.port)
	if err != nil {
		step := "open a port-forward stream over " + pc.up.protocol.String()
		var ke *kubeletError
		if errors.As(err, &ke) {
			step = "port-forward"
		}
		return fail(&Error{Target: pt, Step: step, Err: err})
	}
	return newConn(pc, p, t, address, pair), nil
}

// Close closes every connection to the API server, which ends the
// connections the Dialer returned, and makes later dials fail.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	d.closeAllLocked()
	d.mu.Unlock()
	d.http.CloseIdleConnections()
	return nil
}

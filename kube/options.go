package kube

import (
	"fmt"
	"time"
)

// Protocol is how port-forward connections reach the API server.
type Protocol int

const (
	// WebSocketOrSPDY tries WebSocket first and falls back to SPDY when
	// the API server does not take the WebSocket upgrade, as kubectl does
	// since Kubernetes 1.31. It is the default.
	WebSocketOrSPDY Protocol = iota
	// SPDY upgrades to SPDY/3.1, which every API server takes; proxies in
	// front of the API server may not pass it.
	SPDY
	// WebSocket tunnels SPDY/3.1 frames in a WebSocket (subprotocol
	// "SPDY/3.1+portforward.k8s.io"), which API servers take since
	// Kubernetes 1.30 (feature PortForwardWebsockets, on by default since
	// 1.31).
	WebSocket
)

func (p Protocol) String() string {
	switch p {
	case WebSocketOrSPDY:
		return "WebSocket or SPDY"
	case SPDY:
		return "SPDY"
	case WebSocket:
		return "WebSocket"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Option configures a Dialer.
type Option interface{ apply(*options) error }

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	clusterDomain string
	protocol      Protocol
	allowUnready  bool
	idleTimeout   time.Duration
}

func defaultOptions() options {
	return options{clusterDomain: "cluster.local", protocol: WebSocketOrSPDY, idleTimeout: 30 * time.Second}
}

// ClusterDomain sets the cluster's DNS domain that addresses may end in,
// overriding the default of "cluster.local".
//
//	kube.New(cfg, kube.ClusterDomain("k8s.example.internal"))
func ClusterDomain(domain string) Option {
	return optionFunc(func(o *options) error {
		if err := checkClusterDomain(domain); err != nil {
			return fmt.Errorf("ClusterDomain(%q): %w", domain, err)
		}
		o.clusterDomain = domain
		return nil
	})
}

// WithProtocol sets how connections reach the API server, overriding the
// default of WebSocketOrSPDY.
//
//	kube.New(cfg, kube.WithProtocol(kube.SPDY))
func WithProtocol(p Protocol) Option {
	return optionFunc(func(o *options) error {
		switch p {
		case WebSocketOrSPDY, SPDY, WebSocket:
			o.protocol = p
			return nil
		}
		return fmt.Errorf("WithProtocol(%d): not a Protocol", int(p))
	})
}

// AllowUnready lets the Dialer forward to pods that are Running but not
// Ready, as kubectl port-forward does; by default such a dial fails with
// ErrNotReady, as a headless service's DNS leaves unready pods out. It
// applies to addresses that name a pod; a service always leads to a ready
// pod.
func AllowUnready() Option {
	return optionFunc(func(o *options) error {
		o.allowUnready = true
		return nil
	})
}

// IdleTimeout sets how long a connection to the API server that carries
// no forwarded connection stays open for the next dial to the same pod,
// overriding the default of 30s. It must be positive.
func IdleTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("IdleTimeout(%v): must be positive", d)
		}
		o.idleTimeout = d
		return nil
	})
}

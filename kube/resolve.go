package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod is a pod to forward to: what the port-forward needs and what the
// connection reports.
type pod struct {
	namespace, name string
	uid             types.UID
	ip              string // the pod's IP, for RemoteAddr; may be empty
	port            int    // the pod's port to forward to
}

var (
	permGetPod      = permission{"get", "pods"}
	permGetService  = permission{"get", "services"}
	permListSlices  = permission{"list", "endpointslices.discovery.k8s.io"}
	permPortForward = permission{"create", "pods/portforward"}
	errNoReadyPod   = fmt.Errorf("no ready pod backs it (its EndpointSlices list none): %w", ErrNotReady)
	errNoTargetPort = errors.New("its EndpointSlices list no port named")
)

// resolve finds the pod and port t leads to. A pod must be Running and,
// unless unready pods are allowed, Ready; a service leads to the first of
// its ready pods (by name) that its EndpointSlices list, and its port to
// the matching target port.
func (d *Dialer) resolve(ctx context.Context, t Target) (pod, *Error) {
	fail := func(step string, status int, err error) (pod, *Error) {
		return pod{}, &Error{Target: t, Step: step, Status: status, Err: err}
	}
	if t.Kind == KindPod {
		p, err := d.core.Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
		if err != nil {
			status, err := apiError(err, permGetPod, t.Namespace, "pod "+strconv.Quote(t.Pod))
			return fail("get the pod", status, err)
		}
		if err := d.checkPod(p); err != nil {
			return fail("check the pod", 0, err)
		}
		return pod{namespace: p.Namespace, name: p.Name, uid: p.UID, ip: p.Status.PodIP, port: t.Port}, nil
	}

	svc, err := d.core.Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
	if err != nil {
		status, err := apiError(err, permGetService, t.Namespace, "service "+strconv.Quote(t.Service))
		return fail("get the service", status, err)
	}
	// A headless service's name resolves to its pods' addresses, so the
	// port dialed is the pod's; otherwise it is a port of the service.
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	portName := ""
	if !headless {
		i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
			return int(p.Port) == t.Port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP)
		})
		if i < 0 {
			return fail("map the service port", 0, fmt.Errorf("the service has no TCP port %d (it has %s)", t.Port, servicePorts(svc)))
		}
		portName = svc.Spec.Ports[i].Name
	}
	list, err := d.discovery.EndpointSlices(t.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + t.Service,
	})
	if err != nil {
		status, err := apiError(err, permListSlices, t.Namespace, "EndpointSlices of service "+strconv.Quote(t.Service))
		return fail("list the service's EndpointSlices", status, err)
	}
	p, err := pickPod(list.Items, headless, portName, t)
	if err != nil {
		return fail("find a ready pod of the service", 0, err)
	}
	return p, nil
}

// pickPod chooses, among the endpoints of slices, the ready pod whose
// name sorts first, and the pod port the service port named portName maps
// to (the dialed port itself when headless).
func pickPod(eps []discoveryv1.EndpointSlice, headless bool, portName string, t Target) (pod, error) {
	var best *pod
	for _, s := range eps {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port := t.Port
		if !headless {
			i := -1
			for j, p := range s.Ports {
				if p.Name != nil && *p.Name == portName && p.Port != nil && (p.Protocol == nil || *p.Protocol == "TCP") {
					i = j
					break
				}
			}
			if i < 0 {
				continue
			}
			port = int(*s.Ports[i].Port)
		}
		for _, e := range s.Endpoints {
			// Ready unset means ready (the EndpointSlice API's rule).
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.Name == "" {
				continue
			}
			if best != nil && best.name <= e.TargetRef.Name {
				continue
			}
			p := pod{namespace: t.Namespace, name: e.TargetRef.Name, uid: e.TargetRef.UID, port: port}
			if len(e.Addresses) > 0 {
				p.ip = e.Addresses[0]
			}
			best = &p
		}
	}
	if best == nil {
		if !headless && len(eps) > 0 && !slices.ContainsFunc(eps, func(s discoveryv1.EndpointSlice) bool {
			return slices.ContainsFunc(s.Ports, func(p discoveryv1.EndpointPort) bool { return p.Name != nil && *p.Name == portName })
		}) {
			return pod{}, fmt.Errorf("%w %q", errNoTargetPort, portName)
		}
		return pod{}, errNoReadyPod
	}
	return *best, nil
}

// checkPod says why p cannot be forwarded to: not Running, or (unless
// allowed) not Ready.
func (d *Dialer) checkPod(p *corev1.Pod) error {
	if p.DeletionTimestamp != nil {
		return fmt.Errorf("the pod is being deleted: %w", ErrNotReady)
	}
	if p.Status.Phase != corev1.PodRunning {
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = "not yet scheduled"
		}
		return fmt.Errorf("the pod is %s, not Running: %w", phase, ErrNotReady)
	}
	if d.opts.allowUnready {
		return nil
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return nil
		}
		why := ""
		if c.Reason != "" || c.Message != "" {
			why = " (" + strings.TrimSpace(c.Reason+" "+c.Message) + ")"
		}
		return fmt.Errorf("the pod is Running but not Ready%s; kube.AllowUnready() dials it anyway: %w", why, ErrNotReady)
	}
	return fmt.Errorf("the pod is Running but has no Ready condition; kube.AllowUnready() dials it anyway: %w", ErrNotReady)
}

func servicePorts(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "no ports"
	}
	var b strings.Builder
	for i, p := range svc.Spec.Ports {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(p.Port)))
		b.WriteString("/")
		if p.Protocol == "" {
			b.WriteString("TCP")
		} else {
			b.WriteString(string(p.Protocol))
		}
	}
	return b.String()
}

// addr is the pod's address for RemoteAddr: its IP and port, or, when
// the IP is not known, "pod/NAMESPACE/NAME:PORT".
func (p pod) addr() net.Addr {
	if ip := net.ParseIP(p.ip); ip != nil {
		return &net.TCPAddr{IP: ip, Port: p.port}
	}
	return podAddr(fmt.Sprintf("pod/%s/%s:%d", p.namespace, p.name, p.port))
}

// podAddr is an address that is not an IP address and port (a pod's
// name, a dialed address) as a net.Addr.
type podAddr string

func (a podAddr) Network() string { return "tcp" }
func (a podAddr) String() string  { return string(a) }

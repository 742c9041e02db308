package kube

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Kind says what an address names.
type Kind int

const (
	// KindPod is an address that names one pod.
	KindPod Kind = iota + 1
	// KindService is an address that names a service, reached through one
	// of its ready pods.
	KindService
)

func (k Kind) String() string {
	switch k {
	case KindPod:
		return "pod"
	case KindService:
		return "service"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Target is what an address names in the cluster.
type Target struct {
	Kind      Kind
	Namespace string
	// Pod is the pod's name (KindPod).
	Pod string
	// Service is the service's name: the service a KindService address
	// names, or the headless service of a pod's DNS name (empty for the
	// explicit pod form).
	Service string
	// Port is the port the address names: a pod's port for KindPod and
	// headless services, the service's port otherwise.
	Port int
}

// String names the target as the messages do: "pod kafka/kafka-0 port
// 9092" or "service kafka/kafka port 9092".
func (t Target) String() string {
	name := t.Pod
	if t.Kind == KindService {
		name = t.Service
	}
	return fmt.Sprintf("%s %s/%s port %d", t.Kind, t.Namespace, name, t.Port)
}

// ParseAddress reads a dialed "host:port" with clusterDomain (for example
// "cluster.local") as the cluster's DNS domain. The grammar, with each
// NAME a DNS label (RFC 1123: lower-case letters, digits and '-', at most
// 63 characters; upper case is folded) and a trailing dot allowed:
//
//	POD.SERVICE.NAMESPACE.svc.CLUSTERDOMAIN:PORT   a pod by its name under a headless service,
//	POD.SERVICE.NAMESPACE.svc:PORT                 as its DNS name reads inside the cluster;
//	POD.SERVICE.NAMESPACE:PORT                     PORT is the pod's
//	SERVICE.NAMESPACE.svc.CLUSTERDOMAIN:PORT       a service, as its DNS name reads;
//	SERVICE.NAMESPACE.svc:PORT                     PORT is the service's, mapped to the
//	SERVICE.NAMESPACE:PORT                         pod's target port (headless: the pod's)
//	POD.NAMESPACE.pod[.CLUSTERDOMAIN]:PORT         a pod by name, explicitly; PORT is the pod's
//
// A pod's DNS name under a headless service starts with its hostname,
// which for StatefulSet pods is their name: the first label is taken as
// the pod's name. A name ending in CLUSTERDOMAIN must hold ".svc" or
// ".pod" before it. Anything else is an error saying why.
func ParseAddress(address, clusterDomain string) (Target, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return Target{}, errors.New(ae.Err)
		}
		return Target{}, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || portText[0] == '0' || portText[0] == '+' {
		return Target{}, fmt.Errorf("port %q is not a number in 1..65535", portText)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	inDomain := false
	if clusterDomain != "" && strings.HasSuffix(host, "."+clusterDomain) {
		host = strings.TrimSuffix(host, "."+clusterDomain)
		inDomain = true
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return Target{}, fmt.Errorf("host %q: %w", host, err)
		}
	}
	t := Target{Port: port}
	switch last := labels[len(labels)-1]; {
	case last == "svc" && len(labels) == 3:
		t.Kind, t.Service, t.Namespace = KindService, labels[0], labels[1]
	case last == "svc" && len(labels) == 4:
		t.Kind, t.Pod, t.Service, t.Namespace = KindPod, labels[0], labels[1], labels[2]
	case last == "pod" && len(labels) == 3:
		t.Kind, t.Pod, t.Namespace = KindPod, labels[0], labels[1]
	case last == "svc" || last == "pod":
		return Target{}, fmt.Errorf("%q has %d labels before .%s; want SERVICE.NAMESPACE.svc, POD.SERVICE.NAMESPACE.svc or POD.NAMESPACE.pod", host, len(labels)-1, last)
	case inDomain:
		return Target{}, fmt.Errorf("a name in the cluster domain %s needs .svc or .pod before it", clusterDomain)
	case len(labels) == 2:
		t.Kind, t.Service, t.Namespace = KindService, labels[0], labels[1]
	case len(labels) == 3:
		t.Kind, t.Pod, t.Service, t.Namespace = KindPod, labels[0], labels[1], labels[2]
	default:
		return Target{}, fmt.Errorf("%q is not a Kubernetes name: want SERVICE.NAMESPACE or POD.SERVICE.NAMESPACE, optionally followed by .svc.%s", host, clusterDomain)
	}
	return t, nil
}

// checkLabel reports why l is not an RFC 1123 label, as Kubernetes names
// of pods, services and namespaces must be.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("an empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q holds %q; want lower-case letters, digits and '-'", l, c)
		}
	}
	return nil
}

// checkClusterDomain validates a cluster domain as ClusterDomain takes it.
func checkClusterDomain(d string) error {
	if d == "" {
		return errors.New("empty")
	}
	for _, l := range strings.Split(d, ".") {
		if err := checkLabel(l); err != nil {
			return err
		}
	}
	return nil
}

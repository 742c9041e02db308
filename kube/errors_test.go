package kube_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

// dialErr dials address and returns the error, failing if the dial
// succeeded or the error is not a dial *net.OpError holding a *kube.Error.
func dialErr(t *testing.T, d *kube.Dialer, ctx context.Context, address string) *kube.Error {
	t.Helper()
	c, err := d.DialContext(ctx, "tcp", address)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded; want an error", address)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("dial %s: %v is no *net.OpError with Op dial (Kafka clients retry those)", address, err)
	}
	return kubeError(t, err)
}

func TestForbiddenNamesTheRBACPermission(t *testing.T) {
	for _, tc := range []struct {
		verb, resource, address, want string
	}{
		{"get", "pods", "kafka-0.kafka-headless.kafka:9092",
			`kube: pod kafka/kafka-0 port 9092: get the pod: forbidden: the API server denied get on pods in namespace kafka (RBAC: grant verb "get" on resource "pods"): pods "kafka-0" is forbidden: User "kubetest-user" cannot get resource "pods" in API group "" in the namespace "kafka"`},
		{"create", "pods/portforward", "kafka-0.kafka-headless.kafka:9092",
			`kube: pod kafka/kafka-0 port 9092: port-forward: forbidden: the API server denied create on pods/portforward in namespace kafka (RBAC: grant verb "create" on resource "pods/portforward"): pods/portforward "kafka-0" is forbidden: User "kubetest-user" cannot create resource "pods/portforward" in API group "" in the namespace "kafka"`},
		{"get", "services", "kafka.kafka:9092",
			`kube: service kafka/kafka port 9092: get the service: forbidden: the API server denied get on services in namespace kafka`},
		{"list", "endpointslices.discovery.k8s.io", "kafka.kafka:9092",
			`kube: service kafka/kafka port 9092: list the service's EndpointSlices: forbidden: the API server denied list on endpointslices.discovery.k8s.io in namespace kafka`},
	} {
		for _, proto := range protocols {
			t.Run(tc.verb+" "+tc.resource+" "+proto.String(), func(t *testing.T) {
				s := newServer(t, kubetest.Deny(tc.verb, tc.resource))
				s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-0", Dial: newEcho(t).dial})
				s.AddService(kubetest.Service{Namespace: "kafka", Name: "kafka", Ports: []kubetest.ServicePort{{Name: "c", Port: 9092}}, Pods: []string{"kafka-0"}})
				d := newDialer(t, s, kube.WithProtocol(proto))
				ke := dialErr(t, d, context.Background(), tc.address)
				if !strings.HasPrefix(ke.Error(), tc.want) {
					t.Errorf("message\n%s\ndoes not start with\n%s", ke, tc.want)
				}
				if !errors.Is(ke, kube.ErrForbidden) || ke.Status != 403 {
					t.Errorf("errors.Is(err, ErrForbidden) = %v, Status %d; want true, 403", errors.Is(ke, kube.ErrForbidden), ke.Status)
				}
			})
		}
	}
}

func TestNotFoundAndNotReady(t *testing.T) {
	s := newServer(t)
	echo := newEcho(t)
	s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "ready", Dial: echo.dial})
	s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "unready", NotReady: true, Dial: echo.dial})
	s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "pending", Phase: "Pending", Dial: echo.dial})
	s.AddService(kubetest.Service{Namespace: "kafka", Name: "nobody", Ports: []kubetest.ServicePort{{Name: "c", Port: 9092}}, Pods: []string{"unready"}})
	d := newDialer(t, s)
	for _, tc := range []struct {
		address, want string
		is            error
	}{
		{"missing.kafka-headless.kafka.svc.cluster.local:9092", `kube: pod kafka/missing port 9092: get the pod: pod "missing" not found in namespace kafka: pods "missing" not found`, kube.ErrNotFound},
		{"gone.kafka:9092", `kube: service kafka/gone port 9092: get the service: service "gone" not found in namespace kafka`, kube.ErrNotFound},
		{"unready.kafka.pod:9092", `kube: pod kafka/unready port 9092: check the pod: the pod is Running but not Ready (ContainersNotReady containers with unready status: [kafka]); kube.AllowUnready() dials it anyway: not ready`, kube.ErrNotReady},
		{"pending.kafka.pod:9092", `kube: pod kafka/pending port 9092: check the pod: the pod is Pending, not Running: not ready`, kube.ErrNotReady},
		{"nobody.kafka:9092", `kube: service kafka/nobody port 9092: find a ready pod of the service: no ready pod backs it (its EndpointSlices list none): not ready`, kube.ErrNotReady},
		{"kafka:9092", `kube: "kafka:9092": read the address: "kafka" is not a Kubernetes name`, nil},
	} {
		ke := dialErr(t, d, context.Background(), tc.address)
		if !strings.HasPrefix(ke.Error(), tc.want) {
			t.Errorf("dial %s:\n%s\nwant a message starting with\n%s", tc.address, ke, tc.want)
		}
		if tc.is != nil && !errors.Is(ke, tc.is) {
			t.Errorf("dial %s: errors.Is(err, %v) is false", tc.address, tc.is)
		}
	}
	// AllowUnready dials the Running pod that is not Ready.
	da := newDialer(t, s, kube.AllowUnready())
	c, err := da.DialContext(context.Background(), "tcp", "unready.kafka.pod:9092")
	if err != nil {
		t.Fatalf("AllowUnready: %v", err)
	}
	c.Close()
}

func TestRefusedInsidePod(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-0", Dial: closedPort(t)})
			d := newDialer(t, s, kube.WithProtocol(proto))
			// The kubelet's refusal races the data stream's creation: it
			// fails the dial or the first Read, with the same message.
			for i := range 20 {
				c, err := d.DialContext(context.Background(), "tcp", "kafka-0.kafka-headless.kafka:9093")
				if err == nil {
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, err = c.Read(make([]byte, 1))
					c.Close()
					if err == io.EOF {
						t.Fatal("a refused port read as a clean EOF")
					}
				}
				ke := kubeError(t, err)
				if msg := ke.Error(); !strings.HasPrefix(msg, "kube: pod kafka/kafka-0 port 9093: port-forward: error forwarding port 9093 to pod kafka-0") || !strings.Contains(msg, "connection refused") {
					t.Fatalf("attempt %d: %q; want the kubelet's message naming pod, namespace and port, and the refusal", i, msg)
				}
			}
		})
	}
}

func TestStalledAPIServerBoundedByContext(t *testing.T) {
	for _, proto := range []kube.Protocol{kube.SPDY, kube.WebSocket, kube.WebSocketOrSPDY} {
		t.Run(proto.String(), func(t *testing.T) {
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-0", Dial: newEcho(t).dial})
			d := newDialer(t, s, kube.WithProtocol(proto))

			// Stalled before the pod lookup: a deadline ends the dial.
			s.SetStalled(true)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			ke := dialErr(t, d, ctx, "kafka-0.kafka.pod:9092")
			cancel()
			t.Logf("stalled lookup: gave up after %v: %v", time.Since(start).Round(time.Millisecond), ke)
			if !errors.Is(ke, context.DeadlineExceeded) || ke.Step != "get the pod" {
				t.Errorf("%v (step %q); want context.DeadlineExceeded at get the pod", ke, ke.Step)
			}
			s.SetStalled(false)

			// Stalled at the upgrade: a deadline, then a cancellation
			// without deadline, ends the dial.
			s.StallPortForward(true)
			ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			start = time.Now()
			ke = dialErr(t, d, ctx, "kafka-0.kafka.pod:9092")
			cancel()
			t.Logf("stalled upgrade, deadline: gave up after %v: %v", time.Since(start).Round(time.Millisecond), ke)
			if !errors.Is(ke, context.DeadlineExceeded) || ke.Step != "port-forward" {
				t.Errorf("%v (step %q); want context.DeadlineExceeded at port-forward", ke, ke.Step)
			}
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			start = time.Now()
			ke = dialErr(t, d, ctx, "kafka-0.kafka.pod:9092")
			t.Logf("stalled upgrade, cancelled: gave up after %v: %v", time.Since(start).Round(time.Millisecond), ke)
			if !errors.Is(ke, context.Canceled) || ke.Step != "port-forward" {
				t.Errorf("%v (step %q); want context.Canceled at port-forward", ke, ke.Step)
			}
			s.StallPortForward(false)

			// The server answers again: the next dial works.
			c, err := d.DialContext(context.Background(), "tcp", "kafka-0.kafka.pod:9092")
			if err != nil {
				t.Fatalf("dial after the stall: %v", err)
			}
			c.Close()
		})
	}
}

func TestWebSocketFallsBackToSPDY(t *testing.T) {
	s := newServer(t, kubetest.WithoutWebSocket())
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
	d := newDialer(t, s) // WebSocketOrSPDY
	c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ups := s.Upgrades(); len(ups) != 1 || ups[0].Protocol != "SPDY" {
		t.Errorf("upgrades %+v; want one over SPDY after the WebSocket refusal", ups)
	}
	// WebSocket alone fails with the server's answer.
	dw := newDialer(t, s, kube.WithProtocol(kube.WebSocket))
	ke := dialErr(t, dw, context.Background(), "p.ns.pod:1")
	if !strings.Contains(ke.Error(), "does not take port-forward over WebSocket") || ke.Status != 400 {
		t.Errorf("WebSocket only: %v (status %d); want the server's 400", ke, ke.Status)
	}
}

func TestFromKubeconfig(t *testing.T) {
	s := newServer(t)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(path, "test-cluster"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, context string }{{path, ""}, {path, "test-cluster"}, {"", ""}} {
		if tc.path == "" {
			t.Setenv("KUBECONFIG", path)
		}
		d, err := kube.FromKubeconfig(tc.path, tc.context)
		if err != nil {
			t.Fatalf("FromKubeconfig(%q, %q): %v", tc.path, tc.context, err)
		}
		c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:1")
		if err != nil {
			t.Fatalf("dial with FromKubeconfig(%q, %q): %v", tc.path, tc.context, err)
		}
		c.Close()
		d.Close()
	}
	_, err := kube.FromKubeconfig(path, "other")
	if err == nil || !strings.Contains(err.Error(), `context "other"`) {
		t.Errorf("a missing context: %v", err)
	}
	_, err = kube.FromKubeconfig(filepath.Join(t.TempDir(), "none"), "")
	if err == nil || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "none") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := newServer(t)
	cfg := s.Config()
	cfg.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	if _, err := kube.New(cfg); err == nil || !strings.Contains(err.Error(), "rest.Config.Proxy is not supported") {
		t.Errorf("Proxy: %v", err)
	}
	if _, err := kube.New(nil); err == nil {
		t.Error("nil config accepted")
	}
	for _, opt := range []kube.Option{kube.ClusterDomain("Bad_Domain"), kube.IdleTimeout(0), kube.WithProtocol(kube.Protocol(9)), nil} {
		if _, err := kube.New(s.Config(), opt); err == nil {
			t.Errorf("option %v accepted", opt)
		}
	}
}

func TestDialAfterClose(t *testing.T) {
	s := newServer(t)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
	d := newDialer(t, s)
	c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:1")
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("a connection outlived its Dialer's Close")
	}
	c.Close()
	ke := dialErr(t, d, context.Background(), "p.ns.pod:1")
	if !strings.Contains(ke.Error(), "closed") {
		t.Errorf("dial after Close: %v", ke)
	}
	if _, err := d.DialContext(context.Background(), "udp", "p.ns.pod:1"); err == nil || !strings.Contains(err.Error(), `network "udp" not supported`) {
		t.Errorf("udp: %v", err)
	}
}

func TestStalledUpgradedConnectionIsRetired(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
			d := newDialer(t, s, kube.WithProtocol(proto))
			echoOnce(t, d, "p.ns.pod:1")
			s.StallUpgraded(true)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			ke := dialErr(t, d, ctx, "p.ns.pod:1")
			cancel()
			t.Logf("stream creation on a frozen connection gave up after %v: %v", time.Since(start).Round(time.Millisecond), ke)
			if !errors.Is(ke, context.DeadlineExceeded) || !strings.HasPrefix(ke.Step, "open a port-forward stream") {
				t.Errorf("%v (step %q); want context.DeadlineExceeded opening the stream", ke, ke.Step)
			}
			s.StallUpgraded(false)
			// The frozen connection is retired: the next dial opens another.
			echoOnce(t, d, "p.ns.pod:1")
			if n := len(s.Upgrades()); n != 2 {
				t.Errorf("%d upgrades; want a new connection after the stalled one", n)
			}
		})
	}
}

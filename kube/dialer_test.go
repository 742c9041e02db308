package kube_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

func TestEchoThroughPortForward(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			echo := newEcho(t)
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-0", Subdomain: "kafka-headless", IP: "198.51.100.7", Dial: echo.dial})
			d := newDialer(t, s, kube.WithProtocol(proto))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, addr := range []string{
				"kafka-0.kafka-headless.kafka.svc.cluster.local:9092",
				"kafka-0.kafka-headless.kafka.svc:9092",
				"kafka-0.kafka-headless.kafka:9092",
				"kafka-0.kafka.pod:9092",
				"KAFKA-0.kafka-headless.kafka.svc.cluster.local.:9092",
			} {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					t.Fatalf("dial %s: %v", addr, err)
				}
				msg := []byte("hello " + addr)
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo through %s: %q, %v", addr, got, err)
				}
				if ra := c.RemoteAddr().String(); ra != "198.51.100.7:9092" {
					t.Errorf("RemoteAddr %s; want the pod's address 198.51.100.7:9092", ra)
				}
				if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || !la.IP.IsLoopback() {
					t.Errorf("LocalAddr %v; want our end of the API server connection", c.LocalAddr())
				}
				c.Close()
			}
			ups := s.Upgrades()
			if len(ups) != 1 || ups[0].Protocol != map[kube.Protocol]string{kube.SPDY: "SPDY", kube.WebSocket: "WebSocket"}[proto] {
				t.Errorf("upgrades %+v; want one %s connection carrying every dial to the pod", ups, proto)
			}
			if n := len(s.Forwards()); n != 5 {
				t.Errorf("%d stream pairs forwarded; want 5", n)
			}
		})
	}
}

func TestHalfClose(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			echo := newEcho(t)
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: echo.dial})
			d := newDialer(t, s, kube.WithProtocol(proto))
			c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:7")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("all of it"))
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "all of it" {
				t.Fatalf("after CloseWrite read %q, %v; want the echo, then EOF (the pod saw our EOF and closed)", got, err)
			}
		})
	}
}

func TestConnConformance(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			// The pod side of each pair is a loopback connection the
			// forwarder dials: the test holds its accepted end.
			ln, err := nettest.NewLocalListener("tcp4")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: func(ctx context.Context, port int) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp4", ln.Addr().String())
			}})
			d := newDialer(t, s, kube.WithProtocol(proto))
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				c1, err = d.DialContext(context.Background(), "tcp", "p.ns.pod:9092")
				if err != nil {
					return nil, nil, nil, err
				}
				c2, err = ln.Accept()
				if err != nil {
					c1.Close()
					return nil, nil, nil, err
				}
				return c1, c2, func() { c1.Close(); c2.Close() }, nil
			})
		})
	}
}

func TestDeadlinesInterruptAndResume(t *testing.T) {
	echo := newEcho(t)
	s := newServer(t)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: echo.dial})
	d := newDialer(t, s)
	c, err := d.DialContext(context.Background(), "tcp", "p.ns.pod:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("blocked Read ended with %v; want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline did not interrupt a blocked Read")
	}
	c.SetReadDeadline(time.Time{})
	c.Write([]byte("x"))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("Read after clearing the deadline: %q, %v", b, err)
	}
}

func TestServiceAddresses(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			echo := newEcho(t)
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-0", NotReady: true, Dial: echo.dial})
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-1", Dial: echo.dial})
			s.AddPod(kubetest.Pod{Namespace: "kafka", Name: "kafka-2", Dial: echo.dial})
			s.AddService(kubetest.Service{Namespace: "kafka", Name: "kafka", Ports: []kubetest.ServicePort{{Name: "client", Port: 9092, TargetPort: 19092}}, Pods: []string{"kafka-0", "kafka-1", "kafka-2"}})
			s.AddService(kubetest.Service{Namespace: "kafka", Name: "kafka-headless", Headless: true, Ports: []kubetest.ServicePort{{Name: "client", Port: 19092}}, Pods: []string{"kafka-0", "kafka-1", "kafka-2"}})
			d := newDialer(t, s, kube.WithProtocol(proto))
			for _, tc := range []struct {
				addr, pod string
				port      int
			}{
				{"kafka.kafka:9092", "kafka-1", 19092},                   // service port mapped to the target port
				{"kafka.kafka.svc.cluster.local:9092", "kafka-1", 19092}, // the same, by DNS name
				{"kafka-headless.kafka.svc:19092", "kafka-1", 19092},     // headless: the port is the pod's
			} {
				c, err := d.DialContext(context.Background(), "tcp", tc.addr)
				if err != nil {
					t.Fatalf("dial %s: %v", tc.addr, err)
				}
				c.Write([]byte("?"))
				io.ReadFull(c, make([]byte, 1))
				c.Close()
				fw := s.Forwards()
				last := fw[len(fw)-1]
				if last.Pod != tc.pod || last.Port != tc.port {
					t.Errorf("%s went to %+v; want pod %s port %d (the first ready pod, kafka-0 is not ready)", tc.addr, last, tc.pod, tc.port)
				}
			}
			_, err := d.DialContext(context.Background(), "tcp", "kafka.kafka:9093")
			if ke := kubeError(t, err); !strings.Contains(ke.Error(), "the service has no TCP port 9093 (it has 9092/TCP)") {
				t.Errorf("dial to a port the service lacks: %v", err)
			}
		})
	}
}

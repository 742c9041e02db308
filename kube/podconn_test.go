package kube_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/kube"
	"github.com/kafkanat/kafkanat/kube/kubetest"
)

// echoOnce dials address, checks one echo round trip and closes.
func echoOnce(t *testing.T, d *kube.Dialer, address string) {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", address)
	if err != nil {
		t.Fatalf("dial %s: %v", address, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatalf("echo through %s: %v", address, err)
	}
}

func TestIdleConnectionClosesAndReopens(t *testing.T) {
	s := newServer(t)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
	d := newDialer(t, s, kube.IdleTimeout(100*time.Millisecond))
	echoOnce(t, d, "p.ns.pod:1")
	echoOnce(t, d, "p.ns.pod:1") // within the idle timeout: the same connection
	if n := len(s.Upgrades()); n != 1 {
		t.Fatalf("%d upgrades for two quick dials; want 1", n)
	}
	time.Sleep(400 * time.Millisecond)
	echoOnce(t, d, "p.ns.pod:1")
	if n := len(s.Upgrades()); n != 2 {
		t.Errorf("%d upgrades after the idle timeout; want a second one", n)
	}
}

func TestRecreatedPodGetsItsOwnConnection(t *testing.T) {
	s := newServer(t)
	echo := newEcho(t)
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: echo.dial})
	d := newDialer(t, s)
	echoOnce(t, d, "p.ns.pod:1")
	s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: echo.dial}) // a new UID
	echoOnce(t, d, "p.ns.pod:1")
	if n := len(s.Upgrades()); n != 2 {
		t.Errorf("%d upgrades; want one per pod incarnation", n)
	}
}

func TestConcurrentDialsShareOneConnection(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			s := newServer(t)
			s.AddPod(kubetest.Pod{Namespace: "ns", Name: "p", Dial: newEcho(t).dial})
			d := newDialer(t, s, kube.WithProtocol(proto))
			echoOnce(t, d, "p.ns.pod:1") // the connection exists before the burst
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() { echoOnce(t, d, "p.ns.pod:1") })
			}
			wg.Wait()
			if n := len(s.Upgrades()); n != 1 {
				t.Errorf("%d upgrades for 33 dials to one pod; want 1", n)
			}
			if n := len(s.Forwards()); n != 33 {
				t.Errorf("%d stream pairs; want 33", n)
			}
		})
	}
}

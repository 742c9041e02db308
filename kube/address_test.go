package kube_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkanat/kafkanat/kube"
)

func TestParseAddress(t *testing.T) {
	pod := func(p, svc, ns string, port int) kube.Target {
		return kube.Target{Kind: kube.KindPod, Pod: p, Service: svc, Namespace: ns, Port: port}
	}
	svc := func(s, ns string, port int) kube.Target {
		return kube.Target{Kind: kube.KindService, Service: s, Namespace: ns, Port: port}
	}
	for _, tc := range []struct {
		address string
		want    kube.Target
		err     string
	}{
		{"kafka-0.kafka-headless.kafka.svc.cluster.local:9092", pod("kafka-0", "kafka-headless", "kafka", 9092), ""},
		{"kafka-0.kafka-headless.kafka.svc.cluster.local.:9092", pod("kafka-0", "kafka-headless", "kafka", 9092), ""},
		{"Kafka-0.Kafka-Headless.KAFKA.svc.cluster.local:9092", pod("kafka-0", "kafka-headless", "kafka", 9092), ""},
		{"kafka-0.kafka-headless.kafka.svc:9092", pod("kafka-0", "kafka-headless", "kafka", 9092), ""},
		{"kafka-0.kafka-headless.kafka:9092", pod("kafka-0", "kafka-headless", "kafka", 9092), ""},
		{"kafka-0.kafka.pod:9092", pod("kafka-0", "", "kafka", 9092), ""},
		{"kafka-0.kafka.pod.cluster.local:9092", pod("kafka-0", "", "kafka", 9092), ""},
		{"kafka.kafka.svc.cluster.local:9092", svc("kafka", "kafka", 9092), ""},
		{"kafka.kafka.svc:9092", svc("kafka", "kafka", 9092), ""},
		{"kafka.kafka:9092", svc("kafka", "kafka", 9092), ""},
		{"kafka:9092", kube.Target{}, `"kafka" is not a Kubernetes name`},
		{"a.b.c.d:9092", kube.Target{}, `"a.b.c.d" is not a Kubernetes name`},
		{"a.b.c.d.svc:9092", kube.Target{}, `has 4 labels before .svc`},
		{"x.pod:9092", kube.Target{}, `has 1 labels before .pod`},
		{"kafka.kafka.cluster.local:9092", kube.Target{}, "needs .svc or .pod before it"},
		{"kafka.kafka.svc.other.local:9092", kube.Target{}, `is not a Kubernetes name`},
		{"kafka_0.kafka:9092", kube.Target{}, `label "kafka_0" holds '_'`},
		{"-a.kafka:9092", kube.Target{}, `starts or ends with '-'`},
		{"a..kafka:9092", kube.Target{}, "an empty label"},
		{strings.Repeat("a", 64) + ".kafka:9092", kube.Target{}, "longer than 63"},
		{"kafka.kafka:0", kube.Target{}, `port "0" is not a number in 1..65535`},
		{"kafka.kafka:65536", kube.Target{}, `port "65536"`},
		{"kafka.kafka:+1", kube.Target{}, `port "+1"`},
		{"kafka.kafka:http", kube.Target{}, `port "http"`},
		{"kafka.kafka", kube.Target{}, "missing port in address"},
		{"[::1]:9092", kube.Target{}, `holds ':'`},
	} {
		got, err := kube.ParseAddress(tc.address, "cluster.local")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseAddress(%q): %v", tc.address, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseAddress(%q) = %+v; want %+v", tc.address, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseAddress(%q) = %+v, %v; want an error containing %q", tc.address, got, err, tc.err)
		}
	}
	// Another cluster domain.
	got, err := kube.ParseAddress("kafka.kafka.svc.k8s.example:9092", "k8s.example")
	if err != nil || got != svc("kafka", "kafka", 9092) {
		t.Errorf("with cluster domain k8s.example: %+v, %v", got, err)
	}
}

// FuzzParseAddress checks that ParseAddress never panics and that what it
// accepts is a target whose canonical name reads back the same.
func FuzzParseAddress(f *testing.F) {
	for _, seed := range []string{
		"kafka-0.kafka-headless.kafka.svc.cluster.local:9092", // headless pod name
		"kafka.kafka:9092",      // service, short form
		"kafka-0.kafka.pod:1",   // explicit pod
		"a..b:1", "x:99999", "", // malformed
		"[fd00::1]:9092",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, address string) {
		got, err := kube.ParseAddress(address, "cluster.local")
		if err != nil {
			return
		}
		var canonical string
		switch {
		case got.Kind == kube.KindService:
			canonical = fmt.Sprintf("%s.%s.svc.cluster.local:%d", got.Service, got.Namespace, got.Port)
		case got.Service != "":
			canonical = fmt.Sprintf("%s.%s.%s.svc.cluster.local:%d", got.Pod, got.Service, got.Namespace, got.Port)
		default:
			canonical = fmt.Sprintf("%s.%s.pod:%d", got.Pod, got.Namespace, got.Port)
		}
		again, err := kube.ParseAddress(canonical, "cluster.local")
		if err != nil || again != got {
			t.Fatalf("%q parsed as %+v; its canonical form %q parses as %+v, %v", address, got, canonical, again, err)
		}
	})
}

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSuggestRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs []string
		want  []suggestion
	}{
		{"none", nil, nil},
		{"one port per broker: keep the ports",
			[]string{"b1.abc.us-west1.example.com:9093", "b2.abc.us-west1.example.com:9094"},
			[]suggestion{
				{"One rule per broker (a tunnel or load-balancer port each):", []string{"b1.abc.us-west1.example.com:9093 => HOST:PORT", "b2.abc.us-west1.example.com:9094 => HOST:PORT"}},
				{"Or one endpoint for *.abc.us-west1.example.com that keeps each broker's port (their ports differ):", []string{"*.abc.us-west1.example.com => HOST"}},
				{"Or a SOCKS5 gateway inside the brokers' network that resolves *.abc.us-west1.example.com:", []string{"*.abc.us-west1.example.com via socks5://GATEWAY:1080"}},
			}},
		{"numbered names, one port: NodePorts",
			[]string{"kafka-controller-0.kafka-controller-headless.gcp.svc.cluster.local:9092", "Kafka-Controller-1.kafka-controller-headless.gcp.svc.cluster.local:9092"},
			[]suggestion{
				{"One rule per broker (a tunnel or load-balancer port each):", []string{"kafka-controller-0.kafka-controller-headless.gcp.svc.cluster.local:9092 => HOST:PORT", "Kafka-Controller-1.kafka-controller-headless.gcp.svc.cluster.local:9092 => HOST:PORT"}},
				{"Or one port per broker computed from its number (consecutive ports such as NodePorts BASE, BASE+1, ...):", []string{"kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => HOST:{BASE+n}"}},
				{"Or a SOCKS5 gateway inside the brokers' network that resolves *.kafka-controller-headless.gcp.svc.cluster.local:", []string{"*.kafka-controller-headless.gcp.svc.cluster.local via socks5://GATEWAY:1080"}},
			}},
		{"single-label names and IPs: per broker only",
			[]string{"node1:9092", "node2:9092", "10.0.0.7:9092", "[fd00::1]:9092"},
			[]suggestion{
				{"One rule per broker (a tunnel or load-balancer port each):", []string{"node1:9092 => HOST:PORT", "node2:9092 => HOST:PORT", "10.0.0.7:9092 => HOST:PORT", "[fd00::1]:9092 => HOST:PORT"}},
			}},
		{"two domains, unnumbered, same port",
			[]string{"east.a.invalid:9092", "west.a.invalid:9092", "solo.b.invalid:9092"},
			[]suggestion{
				{"One rule per broker (a tunnel or load-balancer port each):", []string{"east.a.invalid:9092 => HOST:PORT", "west.a.invalid:9092 => HOST:PORT", "solo.b.invalid:9092 => HOST:PORT"}},
				{"Or a SOCKS5 gateway inside the brokers' network that resolves *.a.invalid:", []string{"*.a.invalid via socks5://GATEWAY:1080"}},
				{"Or a SOCKS5 gateway inside the brokers' network that resolves *.b.invalid:", []string{"*.b.invalid via socks5://GATEWAY:1080"}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, suggestRules(tc.addrs))
		})
	}
}

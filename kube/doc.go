// Package kube is a kafkanat route into Kubernetes: a dialer that reaches
// pods through the API server's port-forward (the protocol of kubectl
// port-forward), with no local listener and nothing exposed by the
// cluster. Kafka brokers that advertise in-cluster names
// ("kafka-0.kafka-headless.kafka.svc.cluster.local:9092") become
// reachable from outside with the credentials of a kubeconfig.
//
//	kd, err := kube.FromKubeconfig("", "")  // KUBECONFIG or ~/.kube/config, current context
//	if err != nil { ... }
//	defer kd.Close()
//	dial := kafkanat.New(
//		kafkanat.Route("k8s", kd),
//		kafkanat.Rules("*.svc.cluster.local via k8s"), // or kafkanat.Via("k8s") for every address
//	)
//	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-0.kafka-headless.kafka.svc.cluster.local:9092"), kgo.Dialer(dial))
//
// The addresses the Dialer understands (ParseAddress has the grammar):
// a pod's DNS name under a headless service (POD.SERVICE.NAMESPACE, with or
// without ".svc.cluster.local"), a service's (SERVICE.NAMESPACE[.svc[...]],
// reaching the first ready pod its EndpointSlices list, at the target
// port of the service port dialed), and POD.NAMESPACE.pod for a pod by
// name.
//
// Each connection is one port-forward stream pair (data and error
// streams) on an upgraded connection to the API server, over WebSocket or
// SPDY (WithProtocol); the connections to one pod share one upgraded
// connection. They have working deadlines (a Kafka client's timeouts
// interrupt blocked reads and writes, which resume when extended) and
// CloseWrite. Errors name the pod, namespace and port, the RBAC
// permission a 403 lacked, and what a 404 did not find.
//
// Package kubetest has an in-process API server for tests, serving the
// kubelet's port-forward protocol for pods a test maps to listeners.
package kube

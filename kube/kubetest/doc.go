// Package kubetest is an in-process Kubernetes API server for tests of
// programs that reach pods through package kube. It is a test server: it
// serves only what kube needs, over TLS on 127.0.0.1, for pods and
// services a test declares:
//
//   - GET pods and services, and list EndpointSlices by service name, as
//     JSON objects of k8s.io/api types;
//   - port-forward (POST .../pods/NAME/portforward over SPDY/3.1, and GET
//     with the WebSocket subprotocol "SPDY/3.1+portforward.k8s.io") with
//     the kubelet's own server side, k8s.io/cri-streaming, whose streams
//     reach a test's listener through the pod's Dial function. WebSocket
//     requests are tunnelled to that handler the way the API server's
//     TunnelingHandler does.
//
// Requests need the bearer token of Config; Deny makes the server answer
// 403 for an RBAC verb and resource, as a cluster missing that permission
// would; SetStalled makes it accept connections and never answer, as a
// failing API server does (StallPortForward only for upgrades,
// StallUpgraded for what upgraded connections send). WithoutWebSocket
// refuses WebSocket as API servers before 1.30 did. Upgrades and Forwards
// record what was asked.
//
// Everything listens on loopback; nothing here is for production use.
package kubetest

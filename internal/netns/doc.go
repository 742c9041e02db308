// Package netns tests kafkanat on real, isolated networks built from Linux
// network namespaces, where the loopback tests of the other suites cannot
// reach: no route to the brokers, no DNS server, NAT, port forwarders,
// gateways and a bastion on an edge host, and links that die silently.
//
// The suite (go test ./internal/netns, as root) builds three namespaces per
// run, named kntns<pid>-client, -edge and -brokers:
//
//	client 203.0.113.2 ── 203.0.113.1 edge 198.51.100.1 ── brokers 198.51.100.11-.13, DNS .53
//
// The client network has no route beyond the edge and no DNS server (its
// resolv.conf names 203.0.113.53, which nobody holds). The edge forwards only
// connections its NAT rules translate, and resolves the brokers' names
// through the brokers' DNS server. Brokers are kfake clusters in a process
// of their own, each broker on its own address, advertising names that only
// the brokers' side resolves (kafka-<n>.brokers.kafkanat.test). Nothing is
// routed off the machine and the root namespace is never changed: veth
// pairs are created inside the namespaces, forwarding is enabled in the
// edge only, and addresses come from 203.0.113.0/24 and 198.51.100.0/24.
// The machine's own network may use those ranges too (this one does), so
// every program meant for a namespace checks first that it is not in the
// test process's (CheckNotParentNamespace).
//
// Everything is removed at the end, also when the test binary panics or is
// killed: a reaper process (this binary, re-executed) holds a pipe to it
// and removes the namespaces when the pipe closes; a later run removes what
// runs that died before their reaper could act left behind.
//
// This file's package holds the building blocks (namespaces, processes
// inside them, firewall rules and counters, a DNS server); the tests and
// the programs they run inside the namespaces (brokers, clients) are in
// the package's test files. Without root or iproute2 the tests skip,
// except under CI=true, where they fail.
package netns

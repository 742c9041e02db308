// Package kafkanattest is a test kit for programs that reach Kafka through
// kafkanat: in-process Kafka clusters whose brokers advertise hidden
// addresses, and in-process SOCKS5 and HTTP CONNECT proxy servers.
//
// A Cluster runs franz-go's kfake with every broker listening on a real
// 127.0.0.1 port while advertising a name that does not resolve (by default
// "b<nodeID>.kafka.internal.invalid:9092"). Bootstrap through the real address
// works; every later connection fails unless the client maps the advertised
// addresses, for example with Cluster.Rules as kafkanat rules, or with
// Cluster.DialAdvertised standing in for DNS on the brokers' side of a tunnel.
// Topics seeds topics whose partitions are led by the brokers in turn, so
// that a client producing to every partition dials every broker; Ports,
// TLS, SASL, DiscardProduce, OnRequest and ListenOn cover what tests of
// routes need from the brokers, and MoveLeader and MoveBroker change them
// at run time. The API takes no type of kfake's, which has no tagged
// release.
//
// SOCKS5Server and HTTPProxy listen on 127.0.0.1, optionally require
// credentials, and record every target they are asked to connect to, as
// sent (host names unresolved), so a test can check which route a connection
// took and that names were resolved on the far side. WithDialer lets a proxy
// reach targets the way an in-cluster gateway would, e.g. with
// Cluster.DialAdvertised.
//
// SSHServer is an in-process SSH bastion for the ssh:// route: password or
// key authentication, "direct-tcpip" channels to the targets it is asked
// for (recorded like the proxies'), a count of its SSH connections (to
// check that one carries many channels) and DropConnections to cut them.
// Cluster.MoveBroker moves a broker to a new port under the same
// advertised name. CA issues TLS certificates for the names a test
// chooses, and OfflineResolver keeps name lookups in-process.
//
// Everything listens on loopback only (brokers on the addresses ListenOn
// allows, for network-namespace tests). The servers are implemented in the
// kafkanat module, whose own tests use them; `go doc
// github.com/kafkanat/kafkanat/internal/testkit` documents their methods.
// The package is meant for tests and examples, not for production traffic.
package kafkanattest

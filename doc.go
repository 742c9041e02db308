// Package kafkanat lets a Go Kafka client reach brokers that hide behind
// NAT, VPCs, Kubernetes or proxies, with no proxy process of its own.
//
// A Kafka client dials a bootstrap address, reads metadata, then dials
// every broker at the address the broker advertises. Outside the brokers'
// network those addresses often do not resolve or do not route. kafkanat
// is a dialer that sees every address the client dials, rewrites it by
// rule, and carries the connection over the right route: direct, a SOCKS5
// proxy (socks5://, socks5h://), an HTTP CONNECT proxy (http://,
// https://), an SSH bastion (ssh://), or any tunnel the application
// already has.
//
// Plug it into a client with one line:
//
//	dial := kafkanat.New(kafkanat.Rules(`*.kafka.internal => 203.0.113.10`))
//
//	kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial))      // franz-go
//	cfg.Net.Proxy.Enable = true; cfg.Net.Proxy.Dialer = dial     // sarama
//	&kafka.Transport{Dial: dial}                                 // segmentio/kafka-go
//
// Rules are evaluated at every dial, in the order written; the first that
// matches decides (see package rewrite for the language):
//
//	kafka:9092 => 109.109.109.109:9092                  # one address to another
//	*.abc.us-west1.example.com => 10.128.0.5            # every broker name, port kept
//	b{n}.kafka.internal:9092 => 203.0.113.10:{31090+n}  # one port per broker
//	*.svc.cluster.local via socks5://gateway:1080       # names resolved by the proxy
//	*.kafka.internal via ssh://kafka@bastion:22         # through an SSH bastion
//	* deny                                              # nothing else
//
// Names travel unresolved to SOCKS5 and HTTP CONNECT proxies and SSH
// bastions. With the TLS
// option the broker's certificate is verified against the advertised name,
// whatever the rule rewrote the address to. Dial errors (*DialError) name
// the address, rule, target and route.
package kafkanat

// Command kafkanat checks, before any code is written, whether a Kafka
// cluster's brokers can be reached through kafkanat rules and routes, and
// explains where each address would go.
//
//	go run github.com/kafkanat/kafkanat/cmd/kafkanat@latest probe --bootstrap kafka.example.com:9092 --rules '*.kafka.internal => 203.0.113.10'
//
// # probe
//
// probe builds a kafkanat dialer from its flags, dials the bootstrap
// address through it, fetches metadata, and then checks every broker on a
// connection of its own: it dials the broker's advertised address through
// the dialer and runs an ApiVersions round trip over it. It prints one row
// per broker: node id, advertised address, the rule that matched (number
// and text, or "no rule"), the target, the route that carried the
// connection, the status, the dial time and the ApiVersions round-trip
// time. Failures follow the table with kafkanat's error message, which
// names the address, rule, target and route.
//
// The status of a broker is one of
//
//	ok           the ApiVersions round trip succeeded
//	refused      the configuration refuses the address (a deny rule, or --strict and no rule); it was not dialed
//	unreachable  the dial failed (connect, proxy handshake or TLS)
//	failed       the dial succeeded but Kafka did not answer (SASL, protocol or timeout)
//
// --suggest adds rules that would cover the addresses no rule matched:
// one line per broker ("ADDRESS => HOST:PORT", for a tunnel or
// load-balancer port per broker), and, for brokers sharing a domain, one
// wildcard keeping each broker's port ("*.DOMAIN => HOST", offered only
// when their ports differ), one port per broker computed from its number
// ("name-{n}.DOMAIN:PORT => HOST:{BASE+n}", when the names are numbered),
// and a SOCKS5 gateway in the brokers' network that resolves their names
// ("*.DOMAIN via socks5://GATEWAY:1080"). Replace the upper-case words.
//
// # probe --json
//
// With --json, probe prints one JSON document (see the Report type in
// report.go). Fields are never renamed or removed; new ones may be added.
//
//	{
//	  "ok": true,                      // the bootstrap and every broker answered (exit status 0)
//	  "bootstrap": {
//	    "address": "kafka:9092",       // as given to --bootstrap
//	    "decision": "kafka:9092 => 127.0.0.1:9092 via direct (rule 1: kafka:9092 => 127.0.0.1:9092)",
//	    "rule": 1,                     // 1-based rule number; 0 when no rule matched
//	    "rule_text": "...",            // the rule, or "no rule matched"; credentials redacted
//	    "target": "127.0.0.1:9092",    // where the address is dialed; empty when refused
//	    "routes": ["direct"],          // routes tried in order; credentials redacted
//	    "refused": false,              // a deny rule or --strict refuses the address
//	    "route": "direct",             // the route that carried the connection
//	    "status": "ok",                // ok, refused, unreachable or failed
//	    "error": "",                   // kafkanat's message when status is not ok
//	    "dial_ms": 0.31,               // the dial through kafkanat (connect, proxy handshake, TLS)
//	    "metadata_ms": 1.2,            // the Metadata round trip
//	    "cluster_id": "...",
//	    "controller_id": 0
//	  },
//	  "brokers": [{                    // in node id order
//	    "node_id": 0, "rack": "", "advertised": "b0.kafka.internal:9092",
//	    "decision": "...", "rule": 1, "rule_text": "...", "target": "...", "routes": ["..."],
//	    "refused": false, "route": "direct", "status": "ok", "error": "",
//	    "dial_ms": 0.25,
//	    "rtt_ms": 0.09                 // an ApiVersions round trip on the open connection
//	  }],
//	  "reachable": 3,                  // brokers whose status is ok
//	  "suggested_rules": ["..."]       // with --suggest, rule lines (see above; [] when none); null without
//	}
//
// # explain
//
// explain prints, for each address, what the dialer would do with it,
// without dialing: the rule, the target and the routes, or why it is
// refused.
//
// # Exit status
//
// 0: every broker (probe) answered, or every address (explain) was
// explained; 1: the bootstrap or some broker is not reachable; 2: usage or
// configuration error (bad flags, rules that do not parse, a malformed
// address).
//
// Passwords are never printed: SASL passwords are read from the
// environment variable --sasl-password-env names, and route URLs are shown
// with their passwords redacted.
package main

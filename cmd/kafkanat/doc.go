// Command kafkanat checks, before any code is written, whether a Kafka
// cluster's brokers can be reached through kafkanat rules and routes, and
// explains where each address would go.
//
//	go run github.com/kafkanat/kafkanat/cmd/kafkanat@latest probe --bootstrap kafka.example.com:9092 --rules '*.kafka.internal => 203.0.113.10'
//
// # probe
//
// probe dials the bootstrap address through the rules, fetches metadata,
// and then checks every broker on a connection of its own: it dials the
// broker's advertised address through the rules, runs an ApiVersions round
// trip over it, and checks that the endpoint it reached is that broker.
// It prints one row per broker: node id, advertised address, the rule that
// matched (number and text, or "no rule"), the target, the route that
// carried the connection, the status, the dial time, the ApiVersions
// round-trip time and the time of each stage. Failures follow the table
// with the stage that failed and kafkanat's error message, which names the
// address, rule, target and route.
//
// The status of a broker is one of
//
//	ok            the requests succeeded and the endpoint proved to be the broker (or could not tell: see below)
//	refused       the configuration refuses the address (a deny rule, or --strict and no rule); it was not dialed
//	unreachable   the dial failed (name resolution, TCP connect, proxy handshake, SSH channel or TLS)
//	failed        the dial succeeded but Kafka did not answer (SASL, a port that is not Kafka, timeout)
//	wrong-broker  the endpoint is another broker of the cluster, or none of its brokers
//
// # Identity
//
// A rule that sends one broker's name to another broker's endpoint works
// at bootstrap, where any broker answers Metadata, and then fails with
// NOT_LEADER errors (the problem Kafka's KIP-1242 addresses on the broker
// side). probe asks each endpoint to describe the BROKER configuration
// resource of every node id in the metadata, in one DescribeConfigs
// request: a broker describes only itself and refuses the others with
// INVALID_REQUEST. That needs DESCRIBE_CONFIGS on the cluster; without it,
// probe asks ListOffsets for one partition led by each node, which only
// the leader answers. A mis-mapped broker reads
//
//	node 1 wrong-broker: rule 2 sends node 1 (b1.kafka.internal:9092) to the endpoint of node 2 (b2.kafka.internal:9092): 10.0.0.7:9094 via direct answers DescribeConfigs as node 2
//
// When neither request can tell (no permission, and the node leads no
// partition), the broker stays ok and a note says why its identity is
// unverified. A broker of another cluster that has the same node id passes
// for that node: the checks compare node ids, not clusters.
//
// # Stages
//
// Each dial is timed stage by stage, for each route it tried:
//
//	name resolution  resolving the host connected to: the target (direct route) or the proxy or bastion
//	TCP connect      connecting to the target (direct) or to the proxy or bastion
//	proxy handshake  the SOCKS5 or HTTP CONNECT exchange; the SSH handshake and authentication
//	SSH channel      opening the bastion's channel to the target
//	TLS              the TLS handshake with the broker (--tls)
//
// and then the connection:
//
//	SASL             the SASL handshake and authentication (--sasl-mechanism)
//	Kafka request    the Kafka requests: ApiVersions, Metadata or the identity checks
//
// The table shows them in one cell, short: dns, tcp, proxy, ssh, tls,
// sasl, kafka, each with its time. A stage that failed, or was abandoned
// when another route connected first, is marked "!", and "|" separates
// the attempts of a rule's routes ("tcp! 1ms | tcp 210µs, proxy 400µs,
// kafka 1.1ms": the first route was down, the second carried the
// connection).
//
// --timeout bounds each dial, every route of the rule sharing it
// (kafkanat starts the next route after a fallback delay of 300ms, so a
// route that hangs does not use up the time of the next), and then, from
// the moment the dial returned, the Kafka requests.
//
// A port that answers, but not as Kafka does, is named: "it is not a
// Kafka broker (it answered HTTP: "HTTP/1.1 400 Bad Request")", or an SSH
// banner, or the first bytes it sent. A port that stays silent when asked
// in Kafka gets an HTTP HEAD request on a new connection once the Kafka
// requests have timed out, as HTTP servers wait in silence for the end of
// a request line that a Kafka request never sends.
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
//	  "ok": true,                      // the bootstrap and every broker answered, as itself (exit status 0)
//	  "bootstrap": {
//	    "address": "kafka:9092",       // as given to --bootstrap
//	    "decision": "kafka:9092 => 127.0.0.1:9092 via direct (rule 1: kafka:9092 => 127.0.0.1:9092)",
//	    "rule": 1,                     // 1-based rule number; 0 when no rule matched
//	    "rule_text": "...",            // the rule, or "no rule matched"; credentials redacted
//	    "target": "127.0.0.1:9092",    // where the address is dialed; empty when refused
//	    "routes": ["direct"],          // routes tried in order; credentials redacted; [] when refused
//	    "refused": false,              // a deny rule or --strict refuses the address
//	    "route": "direct",             // the route that carried the connection
//	    "status": "ok",                // ok, refused, unreachable, failed (brokers: or wrong-broker)
//	    "error": "",                   // why, when status is not ok: kafkanat's message for dial failures
//	    "failed_stage": "",            // the stage that failed (see Stages); "" when none did
//	    "dial_ms": 0.31,               // the dial through kafkanat, every route attempt
//	    "stages": [                    // in order; [] when refused
//	      {"stage": "TCP connect", "route": "direct", "address": "127.0.0.1:9092", "ms": 0.25},
//	      {"stage": "Kafka request", "ms": 1.3}
//	      // a failed stage has "error": the route's message
//	    ],
//	    "metadata_ms": 1.2,            // the Metadata round trip
//	    "cluster_id": "...",
//	    "controller_id": 0
//	  },
//	  "brokers": [{                    // in node id order
//	    "node_id": 0, "rack": "", "advertised": "b0.kafka.internal:9092",
//	    "decision": "...", "rule": 1, "rule_text": "...", "target": "...", "routes": ["..."],
//	    "refused": false, "route": "direct", "status": "ok", "error": "", "failed_stage": "",
//	    "dial_ms": 0.25, "stages": [...],
//	    "rtt_ms": 0.09,                // an ApiVersions round trip on the open connection
//	    "identity": {
//	      "status": "verified",        // verified, wrong-broker, unverified, or unchecked (not reached)
//	      "answered_as": 0,            // the node id the endpoint proved to be; -1 when unknown
//	      "method": "DescribeConfigs", // or "ListOffsets"; "" when neither could tell
//	      "note": "..."                // only when unverified: why
//	    }
//	  }],
//	  "reachable": 3,                  // brokers whose status is ok
//	  "suggested_rules": ["..."]       // rule lines for the addresses no rule matched (see --suggest); [] when none, never null
//	}
//
// # explain
//
// explain prints, for each address, what the dialer would do with it,
// without dialing: the rule, the target and the routes, or why it is
// refused. With --json it prints
//
//	{
//	  "ok": true,                      // every address was explained (exit status 0)
//	  "addresses": [{                  // in the order given
//	    "address": "b1.kafka.internal:9092",
//	    "decision": "...", "rule": 1, "rule_text": "...", "target": "...", "routes": ["..."], "refused": false,
//	    "error": ""                    // why the address could not be explained (malformed); "" otherwise
//	  }]
//	}
//
// with probe's decision fields.
//
// # Exit status
//
// 0: every broker (probe) answered as itself, or every address (explain)
// was explained; 1: the bootstrap or some broker is not reachable, failed,
// or is the wrong broker; 2: usage or configuration error (bad flags,
// rules that do not parse, a malformed address).
//
// Errors are printed once, after the command's name ("kafkanat probe: rules
// line 2, column 9: ..."). Passwords are never printed: SASL passwords are
// read from the environment variable --sasl-password-env names, and route
// URLs are shown with their passwords redacted.
package main

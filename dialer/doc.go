// Package dialer is kafkanat's engine: for every address a Kafka client
// dials it matches the rules (package rewrite), consults an optional
// Lookup, picks the routes (direct, SOCKS5, HTTP CONNECT, an SSH bastion,
// or a route the application names), dials them in order until one connects, optionally
// runs TLS verifying the advertised name, and returns a *Conn that records
// how the connection was made.
//
// Most programs use the root package (kafkanat.New or kafkanat.NewDialer),
// which builds a Config from options. Use this package directly to build a
// Config in code.
//
// Failures are *Error values that name the address, the target, the rule
// and the route; errors.As finds a *net.OpError with Op "dial" in each of
// them, which is how Kafka clients recognise a dial error worth retrying.
package dialer

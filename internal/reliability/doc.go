// Package reliability holds kafkanat's fault, timeout, load, hostile-input
// and security tests: real Kafka clients producing while proxies die and
// brokers move, routes that never answer, a thousand concurrent dials,
// rogue proxies and secrets that must never be printed. It has no API;
// RELIABILITY.md at the repository root lists every test, how to run it
// and what it showed.
//
// The default run fits in CI. Longer soaks run with the -soak test flag or
// KAFKANAT_SOAK=1:
//
//	go test -race ./internal/reliability
//	go test -race -timeout 90m ./internal/reliability -args -soak
package reliability

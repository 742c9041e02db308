// Package route holds what kafkanat's proxy routes (packages socks and
// tunnel) and the dialer share, written once: route URL validation and
// route keys, target address checks, the context bound of a handshake, the
// half-close fallbacks and the error of a failed dial through a route.
//
// It imports the standard library only, so that every route package can
// use it.
package route

// Package tunnel holds kafkanat's tunnel routes. HTTPDialer dials through
// an HTTP proxy with the CONNECT method (RFC 9110, section 9.3.6), over
// plain TCP (http://) or TLS (https://), with optional Basic proxy
// authentication.
//
// A proxy may send the first bytes of the tunnelled stream in the same
// packet as its reply; HTTPDialer reads the reply through a buffer and hands
// back whatever the buffer holds beyond it before reading the connection
// again, so no byte is lost. When nothing is buffered the connection to the
// proxy is returned as is.
package tunnel

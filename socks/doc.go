// Package socks is kafkanat's SOCKS5 route: it dials through a SOCKS5
// proxy (RFC 1928), optionally authenticating with a user name and password
// (RFC 1929). The wire protocol is golang.org/x/net/proxy's; this package
// adds URL validation, errors that name the route, and connections that keep
// CloseWrite.
//
// Both socks5:// and socks5h:// send the host name of the address being
// dialed to the proxy unresolved, so the proxy resolves it where the name
// means something (an advertised Kafka broker name is usually resolvable
// only inside the broker's network).
//
// A Dialer returns the TCP connection to the proxy itself once the proxy
// has connected it to the target: it supports deadlines, CloseWrite and
// CloseRead, and adds no goroutine or copy to the data path.
package socks

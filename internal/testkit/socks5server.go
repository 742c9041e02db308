package testkit

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// SOCKS5Server is an in-process SOCKS5 proxy (RFC 1928) for tests. It
// listens on 127.0.0.1, serves CONNECT requests for IPv4, IPv6 and
// domain-name targets (a name is passed to the dialer unresolved), requires
// user/password authentication (RFC 1929) when created WithCredentials,
// relays bytes both ways passing half-closes on, and records every target
// it is asked for. It is not meant for production traffic.
//
// A failed CONNECT is answered with the reply code that fits the dial
// error: connection refused (5), host unreachable (4, also for unknown
// names and timeouts), network unreachable (3), or general failure (1).
// Other commands get "command not supported" (7) and unknown address
// types "address type not supported" (8).
type SOCKS5Server struct {
	*proxyServer // Addr, URL, Targets and Close
}

// NewSOCKS5Server starts a SOCKS5Server on 127.0.0.1 at a free port; it
// serves in the background until Close.
func NewSOCKS5Server(opts ...ProxyOption) (*SOCKS5Server, error) {
	check := func(cfg proxyConfig) error {
		if len(cfg.user) > 255 || len(cfg.password) > 255 {
			return errors.New("user and password must be at most 255 bytes (RFC 1929)")
		}
		return nil
	}
	s, err := newProxyServer("SOCKS5Server", "socks5", opts, check, serveSOCKS5)
	if err != nil {
		return nil, err
	}
	return &SOCKS5Server{s}, nil
}

// SOCKS5 wire values (RFC 1928, RFC 1929).
const (
	socks5Version      = 0x05
	socks5AuthVersion  = 0x01
	socks5MethodNone   = 0x00
	socks5MethodPass   = 0x02
	socks5NoAcceptable = 0xff
	socks5CmdConnect   = 0x01
	socks5AddrIPv4     = 0x01
	socks5AddrDomain   = 0x03
	socks5AddrIPv6     = 0x04

	socks5Succeeded          = 0x00
	socks5GeneralFailure     = 0x01
	socks5NetUnreachable     = 0x03
	socks5HostUnreachable    = 0x04
	socks5ConnRefused        = 0x05
	socks5CmdNotSupported    = 0x07
	socks5AddrTypeNotSupport = 0x08
)

// serveSOCKS5 runs one client connection: negotiation, authentication,
// one request, then the relay.
func serveSOCKS5(s *proxyServer, c net.Conn) {
	c.SetDeadline(time.Now().Add(proxyHandshakeTimeout))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != socks5Version {
		return // not SOCKS5: there is no way to answer
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	want := byte(socks5MethodNone)
	if s.cfg.auth {
		want = socks5MethodPass
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		c.Write([]byte{socks5Version, socks5NoAcceptable})
		linger(c)
		return
	}
	if _, err := c.Write([]byte{socks5Version, want}); err != nil {
		return
	}
	if s.cfg.auth && !socks5Authenticate(c, s.cfg) {
		return
	}

	var req [4]byte // VER CMD RSV ATYP
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != socks5Version {
		return
	}
	target, ok := socks5ReadAddr(c, req[3])
	if !ok {
		return
	}
	if target == "" {
		socks5Reply(c, socks5AddrTypeNotSupport, nil)
		linger(c)
		return
	}
	if req[1] != socks5CmdConnect {
		socks5Reply(c, socks5CmdNotSupported, nil)
		linger(c)
		return
	}
	s.record(target)
	if host, _, _ := net.SplitHostPort(target); host == "" {
		socks5Reply(c, socks5GeneralFailure, nil) // an empty domain name
		linger(c)
		return
	}
	up, err := s.dial(target)
	if err != nil {
		socks5Reply(c, socks5ReplyCode(err), nil)
		linger(c)
		return
	}
	if err := socks5Reply(c, socks5Succeeded, up.LocalAddr()); err != nil {
		s.release(s.upstreams, up)
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		s.release(s.upstreams, up)
		return
	}
	s.relay(c, up)
}

// socks5Authenticate runs the RFC 1929 subnegotiation.
func socks5Authenticate(c net.Conn, cfg proxyConfig) bool {
	var ver [2]byte // VER ULEN
	if _, err := io.ReadFull(c, ver[:]); err != nil {
		return false
	}
	user := make([]byte, ver[1])
	if _, err := io.ReadFull(c, user); err != nil {
		return false
	}
	var plen [1]byte
	if _, err := io.ReadFull(c, plen[:]); err != nil {
		return false
	}
	password := make([]byte, plen[0])
	if _, err := io.ReadFull(c, password); err != nil {
		return false
	}
	userOK := subtle.ConstantTimeCompare(user, []byte(cfg.user)) == 1
	passOK := subtle.ConstantTimeCompare(password, []byte(cfg.password)) == 1
	if ver[0] != socks5AuthVersion || !userOK || !passOK {
		c.Write([]byte{socks5AuthVersion, 0x01})
		linger(c)
		return false
	}
	_, err := c.Write([]byte{socks5AuthVersion, 0x00})
	return err == nil
}

// socks5ReadAddr reads DST.ADDR and DST.PORT of type atyp and returns them
// as "host:port" (IPv6 bracketed). For an unknown type it returns "" and
// true: the request cannot be read further but deserves a reply. ok is
// false when the client went away.
func socks5ReadAddr(c net.Conn, atyp byte) (target string, ok bool) {
	var host string
	switch atyp {
	case socks5AddrIPv4, socks5AddrIPv6:
		ip := make(net.IP, net.IPv4len)
		if atyp == socks5AddrIPv6 {
			ip = make(net.IP, net.IPv6len)
		}
		if _, err := io.ReadFull(c, ip); err != nil {
			return "", false
		}
		host = ip.String()
	case socks5AddrDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", false
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return "", false
		}
		host = string(name)
	default:
		return "", true
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port[0])<<8|int(port[1]))), true
}

// socks5Reply writes a reply with code and the bound address (0.0.0.0:0
// when bound is not a TCP address).
func socks5Reply(c net.Conn, code byte, bound net.Addr) error {
	ip, port := net.IPv4zero, 0
	if a, ok := bound.(*net.TCPAddr); ok && a.IP.To16() != nil {
		ip, port = a.IP, a.Port
	}
	b := []byte{socks5Version, code, 0}
	if ip4 := ip.To4(); ip4 != nil {
		b = append(b, socks5AddrIPv4)
		b = append(b, ip4...)
	} else {
		b = append(b, socks5AddrIPv6)
		b = append(b, ip.To16()...)
	}
	b = append(b, byte(port>>8), byte(port))
	_, err := c.Write(b)
	return err
}

// socks5ReplyCode maps a dial error to a reply code.
func socks5ReplyCode(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return socks5ConnRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return socks5NetUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &dnsErr),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return socks5HostUnreachable
	default:
		return socks5GeneralFailure
	}
}

package netns

import (
	"errors"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSServer answers A queries for the names of one zone from a fixed
// table, as the brokers' network's own DNS would: names in the zone that
// are not in the table are NXDOMAIN, other types of a known name have no
// data, and names outside the zone are REFUSED (it is no recursive
// resolver, so nothing is ever forwarded).
type DNSServer struct {
	zone  string                // lower case, with the final dot
	hosts map[string]netip.Addr // lower-case FQDN with the final dot -> IPv4
}

// NewDNSServer returns a server for zone answering hosts (name -> IPv4).
func NewDNSServer(zone string, hosts map[string]string) (*DNSServer, error) {
	s := &DNSServer{zone: fqdn(zone), hosts: map[string]netip.Addr{}}
	for name, ip := range hosts {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return nil, errors.New("DNS table: " + name + " => " + ip + ": not an IPv4 address")
		}
		n := fqdn(name)
		if !s.inZone(n) {
			return nil, errors.New("DNS table: " + name + " is not in zone " + zone)
		}
		s.hosts[n] = a
	}
	return s, nil
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func (s *DNSServer) inZone(name string) bool {
	return name == s.zone || strings.HasSuffix(name, "."+s.zone)
}

// Serve answers queries on pc until it is closed.
func (s *DNSServer) Serve(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if reply, err := s.Answer(buf[:n]); err == nil {
			_, _ = pc.WriteTo(reply, from)
		}
	}
}

// Answer returns the reply to one query message, or an error for a
// message that is no query (which is then dropped, as servers do).
func (s *DNSServer) Answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	if h.Response || h.OpCode != 0 {
		return nil, errors.New("not a standard query")
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	name := strings.ToLower(q.Name.String())
	ip, known := s.hosts[name]
	switch {
	case q.Class != dnsmessage.ClassINET || !s.inZone(name):
		rh.Authoritative = false
		rh.RCode = dnsmessage.RCodeRefused
	case !known:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		rr := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}
		if err := b.AResource(rr, dnsmessage.AResource{A: ip.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

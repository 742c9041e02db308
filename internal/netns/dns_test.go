package netns_test

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kafkanat/kafkanat/internal/netns"
)

func dnsServer(t testing.TB) *netns.DNSServer {
	t.Helper()
	s, err := netns.NewDNSServer("brokers.kafkanat.test", map[string]string{"kafka-0.brokers.kafkanat.test": "198.51.100.11"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(t testing.TB, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestDNSServerAnswers(t *testing.T) {
	s := dnsServer(t)
	for _, tc := range []struct {
		name    string
		typ     dnsmessage.Type
		rcode   dnsmessage.RCode
		answers []string
	}{
		{"kafka-0.brokers.kafkanat.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"198.51.100.11"}},
		{"KAFKA-0.Brokers.Kafkanat.Test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"198.51.100.11"}},
		{"kafka-0.brokers.kafkanat.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, nil},
		{"kafka-9.brokers.kafkanat.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"example.com.", dnsmessage.TypeA, dnsmessage.RCodeRefused, nil},
	} {
		reply, err := s.Answer(query(t, tc.name, tc.typ))
		if err != nil {
			t.Fatalf("%s %v: %v", tc.name, tc.typ, err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("%s: reply does not parse: %v", tc.name, err)
		}
		var got []string
		for _, a := range m.Answers {
			if r, ok := a.Body.(*dnsmessage.AResource); ok {
				got = append(got, netip.AddrFrom4(r.A).String())
			}
		}
		if m.ID != 7 || !m.Response || m.RCode != tc.rcode || strings.Join(got, ",") != strings.Join(tc.answers, ",") {
			t.Errorf("%s %v: id %d response %v rcode %v answers %v; want id 7, a response, %v, %v", tc.name, tc.typ, m.ID, m.Response, m.RCode, got, tc.rcode, tc.answers)
		}
	}
	if _, err := s.Answer([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte message was answered")
	}
	if _, err := netns.NewDNSServer("brokers.kafkanat.test", map[string]string{"other.test": "198.51.100.11"}); err == nil {
		t.Error("a name outside the zone was accepted")
	}
	if _, err := netns.NewDNSServer("brokers.kafkanat.test", map[string]string{"a.brokers.kafkanat.test": "fd00::1"}); err == nil {
		t.Error("an IPv6 address was accepted for an A record")
	}
}

// FuzzDNSServer: any message gets a reply that parses, with the query's
// ID, or an error; never a panic.
func FuzzDNSServer(f *testing.F) {
	s := dnsServer(f)
	f.Add(query(f, "kafka-0.brokers.kafkanat.test.", dnsmessage.TypeA))
	f.Add(query(f, "x.", dnsmessage.TypeMX))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		reply, err := s.Answer(msg)
		if err != nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("reply %x to %x does not parse: %v", reply, msg, err)
		}
		if len(msg) < 2 || m.ID != uint16(msg[0])<<8|uint16(msg[1]) || !m.Response {
			t.Fatalf("reply %+v to %x: wrong ID or not a response", m.Header, msg)
		}
	})
}

package dialer_test

import (
	"context"
	"net"
	"testing"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

// RemoteAddr is what Conn's doc says for each kind of route: the target
// for direct and ssh:// routes, the proxy for SOCKS5 and HTTP CONNECT.
func TestConnRemoteAddr(t *testing.T) {
	echo := testnet.Echo(t)
	socks, err := testkit.NewSOCKS5Server()
	if err != nil {
		t.Fatal(err)
	}
	defer socks.Close()
	httpProxy, err := testkit.NewHTTPProxy()
	if err != nil {
		t.Fatal(err)
	}
	defer httpProxy.Close()
	hidden := "broker.kafka.internal.invalid:9092"
	bastion, err := testkit.NewSSHServer(testkit.WithSSHPassword("alice", "pw"),
		testkit.WithSSHDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
			if address == hidden {
				address = echo
			}
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer bastion.Close()
	ssh := "ssh://alice:pw@" + bastion.Addr() + "?insecure_ignore_host_key=true"

	for _, tc := range []struct {
		name, rules, address, want string
		tcpAddr                    bool // RemoteAddr is a *net.TCPAddr
	}{
		{"direct", "a.invalid:1 => " + echo, "a.invalid:1", echo, true},
		{"SOCKS5", "a.invalid:1 => " + echo + " via " + socks.URL(), "a.invalid:1", socks.Addr(), true},
		{"HTTP CONNECT", "a.invalid:1 => " + echo + " via " + httpProxy.URL(), "a.invalid:1", httpProxy.Addr(), true},
		{"ssh to an IP address", "a.invalid:1 => " + echo + " via " + ssh, "a.invalid:1", echo, true},
		{"ssh to a name", hidden + " via " + ssh, hidden, hidden, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDialer(t, dialer.Config{Rules: rules(t, tc.rules)})
			defer d.Close()
			c, err := d.DialContext(context.Background(), "tcp", tc.address)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ra := c.RemoteAddr()
			if _, ok := ra.(*net.TCPAddr); ra.String() != tc.want || ok != tc.tcpAddr {
				t.Errorf("RemoteAddr() = %s (%T), want %s (a *net.TCPAddr: %v)", ra, ra, tc.want, tc.tcpAddr)
			}
			testnet.RoundTrip(t, c, "through "+tc.name)
		})
	}
}

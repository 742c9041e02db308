package socks_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/socks"
)

func newSOCKS5Server(t *testing.T, opts ...testkit.ProxyOption) *testkit.SOCKS5Server {
	t.Helper()
	s, err := testkit.NewSOCKS5Server(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("SOCKS5Server.Close: %v", err)
		}
	})
	return s
}

func newDialer(t *testing.T, rawURL string, forward testnet.DialFunc) *socks.Dialer {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var d *socks.Dialer
	if forward != nil {
		d, err = socks.New(u, forward)
	} else {
		d, err = socks.New(u, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial dials through d with a 10s bound and closes the conn at cleanup.
func dial(t *testing.T, d *socks.Dialer, address string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatalf("DialContext(%q) via %s: %v", address, d, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

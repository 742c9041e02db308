package tunnel_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/tunnel"
)

func newHTTPProxy(t *testing.T, opts ...testkit.ProxyOption) *testkit.HTTPProxy {
	t.Helper()
	p, err := testkit.NewHTTPProxy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("HTTPProxy.Close: %v", err)
		}
	})
	return p
}

func newDialer(t *testing.T, rawURL string, forward testnet.DialFunc, cfg *tls.Config) *tunnel.HTTPDialer {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var d *tunnel.HTTPDialer
	if forward != nil {
		d, err = tunnel.NewHTTP(u, forward, cfg)
	} else {
		d, err = tunnel.NewHTTP(u, nil, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial dials through d with a 10s bound and closes the conn at cleanup.
func dial(t *testing.T, d *tunnel.HTTPDialer, address string) net.Conn {
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

package tunnel_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/testnet"
)

// startFakeProxy serves hand-written CONNECT proxies: handle gets each
// parsed request and the reader holding anything sent behind it. With cfg,
// the listener speaks TLS.
func startFakeProxy(t *testing.T, cfg *tls.Config, handle func(c net.Conn, req *http.Request, br *bufio.Reader)) string {
	return testnet.Serve(t, func(c net.Conn) {
		if cfg != nil {
			tc := tls.Server(c, cfg)
			defer tc.Close()
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
		}
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		handle(c, req, br)
	}).Addr()
}

// replyWith is a fake proxy handler that writes reply in one Write and
// then echoes the conn.
func replyWith(reply string) func(net.Conn, *http.Request, *bufio.Reader) {
	return func(c net.Conn, _ *http.Request, br *bufio.Reader) {
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// selfSigned returns a certificate for names (IP literals become IP SANs)
// and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "kafkanat test proxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

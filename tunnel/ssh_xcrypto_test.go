package tunnel

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// handshakeError runs an x/crypto/ssh client handshake against an
// x/crypto/ssh server over loopback TCP and returns the client's error.
func handshakeError(t *testing.T, server *ssh.ServerConfig, client *ssh.ClientConfig) error {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	server.AddHostKey(signer)
	if client.HostKeyCallback == nil {
		client.HostKeyCallback = ssh.FixedHostKey(signer.PublicKey())
	}
	// Loopback TCP, not net.Pipe: both ends write their version line
	// before reading, which an unbuffered pipe would deadlock.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.Close()
		if conn, _, _, err := ssh.NewServerConn(s, server); err == nil {
			conn.Close()
		}
	}()
	conn, _, _, err := ssh.NewClientConn(c, "bastion.invalid:22", client)
	if conn != nil {
		conn.Close()
	}
	c.Close()
	wg.Wait()
	if err == nil {
		t.Fatal("the handshake succeeded, want an error")
	}
	return err
}

func refusePassword(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
	return nil, errors.New("wrong password")
}

// Each check of ssh_xcrypto.go recognises the error x/crypto/ssh really
// returns, and none takes another failure for it.
func TestXCryptoErrors(t *testing.T) {
	unableToAuthenticate := handshakeError(t,
		&ssh.ServerConfig{PasswordCallback: refusePassword},
		&ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.Password("wrong")}})
	// A client whose AuthCallback never gives up stops by itself: a
	// server without a limit sees every attempt.
	attempts := 0
	tooManyAttempts := handshakeError(t,
		&ssh.ServerConfig{MaxAuthTries: -1, PasswordCallback: func(m ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			attempts++
			return refusePassword(m, p)
		}},
		&ssh.ClientConfig{User: "alice", AuthCallback: func(*ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			return ssh.Password("wrong"), nil
		}})
	if attempts < 10 {
		t.Errorf("the server saw %d attempts: the client did not run into its own limit (%v)", attempts, tooManyAttempts)
	}
	noCommonHostKey := handshakeError(t,
		&ssh.ServerConfig{NoClientAuth: true},
		&ssh.ClientConfig{User: "alice", HostKeyAlgorithms: []string{ssh.KeyAlgoECDSA256},
			HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	noCommonKex := handshakeError(t,
		&ssh.ServerConfig{NoClientAuth: true, Config: ssh.Config{KeyExchanges: []string{ssh.KeyExchangeECDHP256}}},
		&ssh.ClientConfig{User: "alice", Config: ssh.Config{KeyExchanges: []string{ssh.KeyExchangeCurve25519}}})
	hostKeyRejected := handshakeError(t,
		&ssh.ServerConfig{NoClientAuth: true},
		&ssh.ClientConfig{User: "alice", HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error {
			return errors.New("unknown host")
		}})

	for _, tc := range []struct {
		name       string
		err        error
		auth, algo bool
	}{
		{"unable to authenticate", unableToAuthenticate, true, false},
		{"too many authentication attempts", tooManyAttempts, true, false},
		{"no common host key algorithm", noCommonHostKey, false, true},
		{"no common key exchange", noCommonKex, false, false},
		{"host key rejected", hostKeyRejected, false, false},
	} {
		if got := authenticationFailed(tc.err); got != tc.auth {
			t.Errorf("%s: authenticationFailed(%q) = %v, want %v", tc.name, tc.err, got, tc.auth)
		}
		if got := noCommonHostKeyAlgorithm(tc.err); got != tc.algo {
			t.Errorf("%s: noCommonHostKeyAlgorithm(%q) = %v, want %v", tc.name, tc.err, got, tc.algo)
		}
	}
}

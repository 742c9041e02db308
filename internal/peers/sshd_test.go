package peers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	osuser "os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kafkanat/kafkanat/internal/peers"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/tunnel"
)

// sshdRoute starts sshd for a new key of the current user and returns an
// SSH route to it (key file and known_hosts file in a temp dir), its URL
// and the current user's name.
func sshdRoute(t *testing.T) (*tunnel.SSHDialer, *url.URL, string) {
	t.Helper()
	me, err := osuser.Current()
	if err != nil {
		t.Fatal(err)
	}
	signer, pemBytes, err := kafkanattest.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	addr, knownHosts := peers.SSHD(t, me.Username, signer.PublicKey())
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("sshd address %q, want 127.0.0.1:<port>", addr)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte(knownHosts+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "ssh", User: url.User(me.Username), Host: addr, RawQuery: "key=" + key + "&known_hosts=" + kh}
	d, err := tunnel.NewSSH(u, nil)
	if err != nil {
		t.Fatalf("NewSSH(%s): %v", u, err)
	}
	t.Cleanup(func() { d.Close() })
	return d, u, me.Username
}

// sshdEcho sends msg over a new channel to target and checks the echo.
func sshdEcho(d *tunnel.SSHDialer, target string, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return errors.New("the echo differs")
	}
	return nil
}

// TestSSHD runs the SSH route against OpenSSH's sshd: key authentication,
// host key verification (sshd offers ECDSA and Ed25519; known_hosts has
// only Ed25519), channels multiplexed on one connection, refusals, EOF and
// deadlines.
func TestSSHD(t *testing.T) {
	t.Parallel()
	d, routeURL, user := sshdRoute(t)
	echo := newEchoServer(t)

	// Larger than the SSH window sshd opens with, so flow control runs.
	big := bytes.Repeat([]byte("kafkanat through sshd\n"), 200000)
	if err := sshdEcho(d, echo.addr(), big); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sshdEcho(d, echo.addr(), []byte(fmt.Sprintf("channel %d", i))); err != nil {
				t.Errorf("channel %d: %v", i, err)
			}
		}()
	}
	wg.Wait()

	// sshd refuses a closed port and says why; the connection stays up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", closed)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s through sshd succeeded", closed)
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || !strings.Contains(err.Error(), "bastion refused to connect to "+closed+": connect failed (Connection refused)") {
		t.Errorf("dial to a closed port: %v", err)
	}
	if err := sshdEcho(d, echo.addr(), []byte("still connected")); err != nil {
		t.Error(err)
	}

	// EOF crosses sshd; a read deadline interrupts a read sshd leaves
	// waiting.
	counter := newCounterServer(t)
	c, err = d.DialContext(ctx, "tcp", counter)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read with nothing sent = %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hello")
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c); err != nil || string(got) != "got 5 bytes" {
		t.Errorf("after CloseWrite read %q, %v; want %q", got, err, "got 5 bytes")
	}

	// Another key is refused, naming the user.
	_, otherPEM, err := kafkanattest.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// The route's URL, not its name: the name leaves the query out.
	u := *routeURL
	q := u.Query()
	q.Set("key", other)
	u.RawQuery = q.Encode()
	bad, err := tunnel.NewSSH(&u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	c, err = bad.DialContext(ctx, "tcp", echo.addr())
	if err == nil {
		c.Close()
		t.Fatal("sshd accepted a key it does not know")
	}
	if want := fmt.Sprintf("rejected user %q", user); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// newCounterServer reads each conn to EOF, then replies "got N bytes".
func newCounterServer(t *testing.T) string {
	return testnet.Serve(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	}).Addr()
}

package streamconn_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
	"github.com/kafkanat/kafkanat/internal/streamconn"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// tcpStream is a TCP connection used as a Stream: its own deadlines are
// never set, so every deadline the tests see is the Conn's.
type tcpStream struct{ *net.TCPConn }

// pipe returns a Conn over one end of a loopback TCP connection and the
// other end as is.
func pipe(t *testing.T) (c *streamconn.Conn, peer net.Conn, stop func()) {
	t.Helper()
	ln, err := nettest.NewLocalListener("tcp4")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	c = streamconn.New(tcpStream{d.(*net.TCPConn)}, streamconn.Config{
		Local: d.LocalAddr(), Remote: d.RemoteAddr(), Chunk: 4 << 10, Linger: time.Second,
	})
	return c, peer, func() { c.Close(); peer.Close() }
}

func TestConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c, peer, stop := pipe(t)
		return c, peer, stop, nil
	})
}

func TestCloseWriteAndWriteError(t *testing.T) {
	c, peer, stop := pipe(t)
	defer stop()
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "last words" {
		t.Fatalf("the peer read %q, %v; want the bytes, then EOF", got, err)
	}
	// Reading goes on after the half-close.
	if _, err := peer.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "reply" {
		t.Fatalf("read %q, %v after CloseWrite; want the reply", buf, err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, streamconn.ErrWriteShutdown) {
		t.Fatalf("Write after CloseWrite: %v; want ErrWriteShutdown", err)
	}
}

func TestReadDeadlineResumes(t *testing.T) {
	c, peer, stop := pipe(t)
	defer stop()
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	peer.Write([]byte("k"))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'k' {
		t.Fatalf("Read after clearing the deadline: %q, %v", b, err)
	}
}

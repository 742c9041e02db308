package route_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/kafkanat/kafkanat/internal/route"
)

// tcpPair returns both ends of a loopback TCP connection dialed with d.
func tcpPair(t *testing.T, d interface {
	Dial(network, address string) (net.Conn, error)
}) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// sockopt reads an integer socket option of c.
func sockopt(t *testing.T, c *net.TCPConn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

func TestNewDialerSetsUserTimeoutAndKeepAlive(t *testing.T) {
	c, _ := tcpPair(t, route.NewDialer())
	if got, want := sockopt(t, c, syscall.IPPROTO_TCP, 0x12), int(route.UserTimeout.Milliseconds()); got != want {
		t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", got, want)
	}
	if got := sockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got != 1 {
		t.Errorf("SO_KEEPALIVE = %d, want 1", got)
	}
	if got, want := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), int(route.KeepAlive.Seconds()); got != want {
		t.Errorf("TCP_KEEPIDLE = %d s, want %d", got, want)
	}
	// A plain dialer leaves the kernel's default (0: tcp_retries2 decides).
	plain, _ := tcpPair(t, &net.Dialer{})
	if got := sockopt(t, plain, syscall.IPPROTO_TCP, 0x12); got != 0 {
		t.Errorf("TCP_USER_TIMEOUT of a plain net.Dialer = %d, want 0", got)
	}
}

func TestQuickAckArms(t *testing.T) {
	c, _ := tcpPair(t, &net.Dialer{})
	q := route.NewQuickAck(c)
	if q == nil {
		t.Fatal("NewQuickAck(*net.TCPConn) = nil on Linux")
	}
	// Clearing TCP_QUICKACK puts the socket in delayed-ACK ("pingpong")
	// mode, which reading the option shows as 0; Arm leaves that mode.
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0) })
	if got := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK); got != 0 {
		t.Fatalf("TCP_QUICKACK after clearing it = %d, want 0", got)
	}
	q.Arm()
	if got := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK); got != 1 {
		t.Errorf("TCP_QUICKACK after Arm = %d, want 1", got)
	}

	// Conns without a socket of their own get none; a nil one does nothing.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if q := route.NewQuickAck(p1); q != nil {
		t.Errorf("NewQuickAck(net.Pipe) = %v, want nil", q)
	}
	var none *route.QuickAck
	none.Arm()
}

// BenchmarkQuickAckArm is the cost of one Arm: one setsockopt.
func BenchmarkQuickAckArm(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := route.NewQuickAck(c)
	for b.Loop() {
		q.Arm()
	}
}

package tunnel

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/kafkanat/kafkanat/internal/streamconn"
)

const (
	// sshChunk is how many bytes each of an SSH conn's goroutines holds:
	// the reader reads the channel this far ahead, and Write queues this
	// much. It is the payload of one maximum-size SSH packet.
	sshChunk = 32 << 10
	// sshCloseLinger bounds how long Close keeps trying to send queued
	// bytes to a target that does not read before it closes the channel
	// regardless.
	sshCloseLinger = 5 * time.Second
)

// newSSHConn is a net.Conn over an SSH "direct-tcpip" channel, with
// working deadlines: SSH channels (x/crypto/ssh) have none, and a blocked
// Read or Write can only be interrupted by closing the channel (see
// internal/streamconn). CloseWrite sends an SSH EOF.
func newSSHConn(ch *sshChannel, local, remote net.Addr) net.Conn {
	return streamconn.New(ch, streamconn.Config{
		Local:      local,
		Remote:     remote,
		Chunk:      sshChunk,
		Linger:     sshCloseLinger,
		WriteError: sshWriteError,
	})
}

func sshWriteError(err error) error {
	if err == io.EOF {
		// x/crypto/ssh's word for a channel the far side closed.
		return errors.New("the channel was closed by the bastion")
	}
	return err
}

// targetAddr is a dialed "host:port" as a net.Addr.
type targetAddr string

func (a targetAddr) Network() string { return "tcp" }
func (a targetAddr) String() string  { return string(a) }

// remoteAddr is target as a net.Addr: a *net.TCPAddr for an IP address.
func remoteAddr(target string) net.Addr {
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return targetAddr(target)
}

package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kafkanat/kafkanat/internal/streamconn"
)

const (
	// sshChunk bounds what an SSH conn holds in each direction: a read of
	// the channel asks for at most this much, and Write queues at most
	// this much (buffers are sized to the Read or Write, so a small one
	// holds little). x/crypto/ssh sends a window adjustment per read that
	// consumed more than 96 KiB, and each costs an encryption and a write:
	// reading a Kafka fetch response in 1 MiB steps, as a client reading
	// the channel directly would, rather than 32 KiB ones, took the CPU
	// per MB of a bulk read from 1.10x that of x/crypto's own conn to
	// 1.03x (BenchmarkSSHRead).
	sshChunk = 1 << 20
	// sshCloseLinger bounds how long Close keeps trying to send queued
	// bytes to a target that does not read before it closes the channel
	// regardless.
	sshCloseLinger = 5 * time.Second
)

// directTCPIP is the payload of a "direct-tcpip" channel open request
// (RFC 4254, section 7.2).
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// open opens a "direct-tcpip" channel to target ("host:port", checked) on
// the session. The open runs on a goroutine of its own, because x/crypto's
// OpenChannel cannot be interrupted: the dial returns when ctx ends or the
// SSH connection does, and the goroutine closes a channel that opens
// later. With probe, an open not answered within openProbeAfter asks the
// monitor to check the bastion, as does one whose ctx ends first.
//
// The channel's requests are answered on a goroutine (a direct-tcpip
// channel gets none from OpenSSH; an unanswered request would stall the
// whole connection). Unlike Client.Dial, open starts no goroutine to drain
// the channel's extended data, which direct-tcpip channels do not carry.
func (s *sshSession) open(ctx context.Context, target string, probe bool) (ssh.Channel, error) {
	host, port, _ := net.SplitHostPort(target)
	p, _ := strconv.ParseUint(port, 10, 16)
	payload := ssh.Marshal(&directTCPIP{Host: host, Port: uint32(p), OriginHost: "0.0.0.0"})
	type opened struct {
		ch  ssh.Channel
		err error
	}
	result := make(chan opened)
	gaveUp := make(chan struct{})
	go func() {
		ch, reqs, err := s.client.OpenChannel("direct-tcpip", payload)
		if err == nil {
			go ssh.DiscardRequests(reqs)
		}
		select {
		case result <- opened{ch, err}:
		case <-gaveUp:
			if ch != nil {
				ch.Close()
			}
		}
	}()
	var slow <-chan time.Time
	if probe {
		t := time.NewTimer(openProbeAfter)
		defer t.Stop()
		slow = t.C
	}
	for {
		select {
		case r := <-result:
			return r.ch, r.err
		case <-slow:
			s.probe()
		case <-ctx.Done():
			close(gaveUp)
			if probe {
				s.probe()
			}
			return nil, ctx.Err()
		case <-s.ctx.Done():
			// x/crypto/ssh never answers an open that registers its
			// channel just after the connection ended (it has dropped
			// every channel by then).
			close(gaveUp)
			return nil, s.endError()
		}
	}
}

// endError is the error of an operation that found the SSH connection
// ended: why the route killed it, or io.EOF (x/crypto's word).
func (s *sshSession) endError() error {
	if s.cause != nil {
		return s.cause
	}
	return io.EOF
}

// sshChannel is a channel of a session as its SSH conn uses it: the first
// Close releases the session (see Shutdown). The conn closes the channel
// once its queued bytes are sent, after its own Close.
type sshChannel struct {
	ssh.Channel
	sess    *sshSession
	once    sync.Once
	release func()
}

// Read reads the channel. When the route killed the SSH connection, the
// end of the channel is that error, not io.EOF: the target did not end
// the stream.
func (c *sshChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if err == io.EOF && !c.sess.alive() {
		err = c.sess.endError()
	}
	return n, err
}

// Write writes the channel, saying why when the route killed the SSH
// connection.
func (c *sshChannel) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	if err != nil && !c.sess.alive() && c.sess.cause != nil {
		err = c.sess.cause
	}
	return n, err
}

func (c *sshChannel) Close() error {
	err := c.Channel.Close()
	c.once.Do(c.release)
	return err
}

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

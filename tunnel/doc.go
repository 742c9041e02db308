// Package tunnel holds kafkanat's tunnel routes. HTTPDialer dials through
// an HTTP proxy with the CONNECT method (RFC 9110, section 9.3.6), over
// plain TCP (http://) or TLS (https://), with optional Basic proxy
// authentication. SSHDialer dials through an SSH bastion (ssh://), the way
// "ssh -J" does.
//
// A proxy may send the first bytes of the tunnelled stream in the same
// packet as its reply; HTTPDialer reads the reply through a buffer and hands
// back whatever the buffer holds beyond it before reading the connection
// again, so no byte is lost. When nothing is buffered the connection to the
// proxy is returned as is.
//
// SSHDialer keeps one SSH connection to the bastion and opens a
// "direct-tcpip" channel on it per dial (RFC 4254, section 7.2), sending
// the target's host name unresolved. It authenticates with a password, an
// unencrypted key file or the SSH agent, and verifies the bastion against
// known_hosts unless told explicitly not to. The connection is established
// at the first dial and again, once, by the next dials after it ends.
// Keepalives, and a probe when a channel open is slow, notice a bastion
// that went silent; its SSH connection is then closed and the next dial
// opens a new one. Close ends the route and its connections at once;
// Shutdown ends the route and closes the SSH connection once the last of
// them is closed. SSH channels have no deadlines of their own, so a
// returned connection waits for its channel on goroutines that run while
// bytes are in flight, which lets deadlines interrupt a blocked Read or
// Write without closing the channel, as net.Conn requires.
package tunnel

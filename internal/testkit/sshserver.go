package testkit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHOption configures an SSHServer.
type SSHOption func(*sshConfig)

type sshConfig struct {
	passwords map[string]string
	keys      map[string][][]byte // user → authorized keys, wire format
	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	err       error // the first misused option
}

// WithSSHPassword lets user log in with password (SSH "password"
// authentication). It may be given for several users; a later one for the
// same user replaces the password. With neither WithSSHPassword nor
// WithSSHAuthorizedKey, the server lets every user in without
// authentication.
func WithSSHPassword(user, password string) SSHOption {
	return func(c *sshConfig) {
		if user == "" {
			c.fail(errors.New("WithSSHPassword: empty user"))
			return
		}
		if c.passwords == nil {
			c.passwords = map[string]string{}
		}
		c.passwords[user] = password
	}
}

// WithSSHAuthorizedKey lets user log in with the private key of key (SSH
// "publickey" authentication, as an authorized_keys line would). It may be
// given several times, for several keys and users.
func WithSSHAuthorizedKey(user string, key ssh.PublicKey) SSHOption {
	return func(c *sshConfig) {
		if user == "" || key == nil {
			c.fail(errors.New("WithSSHAuthorizedKey: empty user or nil key"))
			return
		}
		if c.keys == nil {
			c.keys = map[string][][]byte{}
		}
		c.keys[user] = append(c.keys[user], key.Marshal())
	}
}

// WithSSHDialer sets how the server connects to the targets of
// "direct-tcpip" channels, overriding the default of a net.Dialer. The
// context ends when the dial takes longer than 10s or the server is closed.
// Pass Cluster.DialAdvertised to reach a cluster's hidden advertised names
// the way a bastion inside the cluster's network would:
//
//	bastion, err := kafkanattest.NewSSHServer(kafkanattest.WithSSHDialer(cluster.DialAdvertised))
//
// The default dialer resolves names with the system resolver: give hidden
// (.invalid) names a WithSSHDialer so that no DNS query leaves the machine.
func WithSSHDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) SSHOption {
	return func(c *sshConfig) { c.dial = dial }
}

func (c *sshConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

const (
	// sshHandshakeTimeout bounds a client's SSH handshake, so an
	// abandoned client does not hold a goroutine.
	sshHandshakeTimeout = 10 * time.Second
	// sshDialTimeout bounds each dial to a target.
	sshDialTimeout = 10 * time.Second
)

// SSHServer is an in-process SSH server for tests that serves only what an
// SSH bastion route needs: "direct-tcpip" channels (RFC 4254, section 7.2,
// what "ssh -W" and "ssh -J" ask for), each connected to its target, with
// bytes relayed both ways and half-closes passed on. It listens on
// 127.0.0.1 with a freshly generated Ed25519 host key, authenticates by
// password or public key (or not at all when given neither option), and
// records every target it is asked for, as sent (host names unresolved).
// Sessions, shells and other channel types are refused. It is not meant for
// production traffic.
//
// A target the server cannot connect to is refused with "connect failed"
// and the dial error as the message, as OpenSSH refuses it.
type SSHServer struct {
	cfg    sshConfig
	ln     net.Listener
	signer ssh.Signer
	server *ssh.ServerConfig
	ctx    context.Context // ends at Close: aborts dials in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	clients     map[net.Conn]struct{} // connections from SSH clients
	upstreams   map[net.Conn]struct{} // connections to targets
	targets     []string
	established int

	closeOnce sync.Once
	closeErr  error
}

// NewSSHServer starts an SSHServer on 127.0.0.1 at a free port; it serves
// in the background until Close.
func NewSSHServer(opts ...SSHOption) (*SSHServer, error) {
	var cfg sshConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.err != nil {
		return nil, fmt.Errorf("kafkanattest: SSHServer: %w", cfg.err)
	}
	if cfg.dial == nil {
		cfg.dial = (&net.Dialer{}).DialContext
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: SSHServer: generating the host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: SSHServer: %w", err)
	}
	s := &SSHServer{
		cfg:       cfg,
		signer:    signer,
		clients:   map[net.Conn]struct{}{},
		upstreams: map[net.Conn]struct{}{},
	}
	s.server = &ssh.ServerConfig{
		NoClientAuth: len(cfg.passwords) == 0 && len(cfg.keys) == 0,
	}
	if len(cfg.passwords) > 0 {
		s.server.PasswordCallback = s.checkPassword
	}
	if len(cfg.keys) > 0 {
		s.server.PublicKeyCallback = s.checkKey
	}
	s.server.AddHostKey(signer)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kafkanattest: SSHServer: %w", err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *SSHServer) Addr() string { return s.ln.Addr().String() }

// HostKey returns the server's host key (Ed25519, generated by
// NewSSHServer).
func (s *SSHServer) HostKey() ssh.PublicKey { return s.signer.PublicKey() }

// KnownHosts returns a known_hosts line for the server, such as
// "[127.0.0.1]:41234 ssh-ed25519 AAAA...", to write to a known_hosts file.
func (s *SSHServer) KnownHosts() string {
	return knownhosts.Line([]string{s.Addr()}, s.HostKey())
}

// Targets returns the target of every "direct-tcpip" channel an
// authenticated client asked for, in the order the requests arrived, as
// "host:port" (IPv6 bracketed) with the host exactly as the client sent it,
// unresolved. Targets the server failed to connect to are included.
func (s *SSHServer) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Connections returns how many SSH connections have been established
// (handshake and authentication succeeded) since the server started,
// counting those that have ended. A client that multiplexes every channel
// over one connection keeps it at 1.
func (s *SSHServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.established
}

// DropConnections cuts every live SSH connection, as a restarting bastion
// or a failing network would: the TCP connections are closed without any
// SSH goodbye, which ends their channels and the target connections. The
// server keeps accepting new connections.
func (s *SSHServer) DropConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.clients))
	for c := range s.clients {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Close stops the server: it closes the listener and every client and
// target connection, and returns once every goroutine of the server has
// ended. Close is safe to call more than once.
func (s *SSHServer) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		var conns []net.Conn
		for c := range s.clients {
			conns = append(conns, c)
		}
		for c := range s.upstreams {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.cancel()
		s.closeErr = s.ln.Close()
		for _, c := range conns {
			c.Close()
		}
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *SSHServer) checkPassword(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	want, ok := s.cfg.passwords[meta.User()]
	if ok && subtle.ConstantTimeCompare(password, []byte(want)) == 1 {
		return nil, nil
	}
	return nil, fmt.Errorf("wrong password for user %q", meta.User())
}

func (s *SSHServer) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	blob := key.Marshal()
	for _, k := range s.cfg.keys[meta.User()] {
		if bytes.Equal(k, blob) {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("key not authorized for user %q", meta.User())
}

func (s *SSHServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors or similar: wait, as net/http does.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		if !s.track(s.clients, c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(s.clients, c)
			s.serveConn(c)
		}()
	}
}

// track registers c in set so that Close closes it; once closed, it closes
// c and reports false.
func (s *SSHServer) track(set map[net.Conn]struct{}, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	set[c] = struct{}{}
	return true
}

// release closes c and forgets it.
func (s *SSHServer) release(set map[net.Conn]struct{}, c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(set, c)
	s.mu.Unlock()
}

// serveConn runs one SSH connection until it ends.
func (s *SSHServer) serveConn(c net.Conn) {
	c.SetDeadline(time.Now().Add(sshHandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.server)
	if err != nil {
		return
	}
	defer conn.Close()
	if err := c.SetDeadline(time.Time{}); err != nil {
		return
	}
	s.mu.Lock()
	s.established++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs) // keepalives get a "failure" reply, as from OpenSSH
	}()
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			nc.Reject(ssh.UnknownChannelType, "this server serves only direct-tcpip channels")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.forward(nc)
		}()
	}
}

// directTCPIP is the payload of a "direct-tcpip" channel open request
// (RFC 4254, section 7.2).
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// forward connects a "direct-tcpip" channel to its target and relays.
func (s *SSHServer) forward(nc ssh.NewChannel) {
	var req directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	target := net.JoinHostPort(req.Host, strconv.FormatUint(uint64(req.Port), 10))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	up, err := s.dial(target)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	defer s.release(s.upstreams, up)
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	s.relay(ch, reqs, up)
}

// dial connects to target with the configured dialer; the conn is tracked.
func (s *SSHServer) dial(target string) (net.Conn, error) {
	if host, _, _ := net.SplitHostPort(target); host == "" {
		return nil, errors.New("empty host")
	}
	ctx, cancel := context.WithTimeout(s.ctx, sshDialTimeout)
	defer cancel()
	c, err := s.cfg.dial(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("dialer returned neither a conn nor an error")
	}
	if !s.track(s.upstreams, c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// relay copies between the channel and the target conn until both
// directions have ended, passing each EOF on as a half-close, as OpenSSH
// does. When the client closes the channel (or the SSH connection ends),
// the bytes it sent before are still delivered to the target, and then the
// target conn is closed.
func (s *SSHServer) relay(ch ssh.Channel, reqs <-chan *ssh.Request, up net.Conn) {
	defer ch.Close()
	toTarget := make(chan struct{})
	toClient := make(chan struct{})
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(toTarget)
		if _, err := io.Copy(up, ch); err != nil {
			up.Close()
			ch.Close()
			return
		}
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	go func() {
		defer s.wg.Done()
		defer close(toClient)
		if _, err := io.Copy(ch, up); err != nil {
			up.Close()
			ch.Close()
			return
		}
		ch.CloseWrite()
	}()
	// tt and tc become nil once their direction has ended.
	tt, tc := toTarget, toClient
	for tt != nil || tc != nil {
		select {
		case req, ok := <-reqs:
			if ok {
				if req.WantReply {
					req.Reply(false, nil)
				}
				continue
			}
			// The channel is closed.
			<-toTarget
			up.Close()
			<-toClient
			return
		case <-tt:
			tt = nil
		case <-tc:
			tc = nil
		}
	}
}

// NewSSHKey generates an Ed25519 key pair for SSH tests: signer
// authenticates a client (signer.PublicKey() is what WithSSHAuthorizedKey
// or an authorized_keys file takes), and pemBytes is the private key in
// OpenSSH format, unencrypted, as ssh-keygen writes it, ready for a key
// file (mode 0600).
func NewSSHKey() (signer ssh.Signer, pemBytes []byte, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkanattest: generating an SSH key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkanattest: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "kafkanattest")
	if err != nil {
		return nil, nil, fmt.Errorf("kafkanattest: encoding an SSH key: %w", err)
	}
	return signer, pem.EncodeToMemory(block), nil
}

package tunnel

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/internal/route"
)

// sshSpec is the URL form NewSSH accepts; NewSSH validates the query.
var sshSpec = route.Spec{Kind: "SSH route", Schemes: []string{"ssh"}, Query: true, UserRequired: true}

// sshTargets are the targets DialContext accepts: those of an HTTP CONNECT
// route (a bastion gets the host name as sent, and OpenSSH passes it to
// its resolver).
var sshTargets = route.Targets{Protocol: "SSH", Forbidden: connectTargets.Forbidden}

// NewSSH returns an SSHDialer for the bastion at bastion, which has the form
//
//	ssh://user[:password]@host[:port][?key=PATH&known_hosts=PATH&keepalive=15s&keepalive_max=1]
//
// The port defaults to 22. The user is required.
//
// Authentication, in this order of preference:
//   - key=PATH: the unencrypted private key in PATH (PEM or OpenSSH
//     format, as ssh-keygen writes it). An encrypted key is an error: load
//     it into an SSH agent instead. key may be repeated; with a password as
//     well, keys are offered first.
//   - a password in the URL.
//   - otherwise the SSH agent listening at $SSH_AUTH_SOCK (an error when
//     the variable is unset).
//
// The bastion's host key is verified against known_hosts=PATH, by default
// ~/.ssh/known_hosts; a missing file is an error. known_hosts may be
// repeated. Host key algorithms are negotiated in favour of the key types
// known_hosts holds for the bastion, as OpenSSH does, so an entry for one
// key type is enough even when the bastion offers several. Files are read
// again at every connection to the bastion, so a key added after an
// "unknown host" error is used by the next dial. A leading "~/" in a path
// stands for the home directory.
//
// insecure_ignore_host_key=true accepts ANY host key without verification.
// Anyone who can intercept the connection to the bastion can then read
// and alter every byte and capture the password: use it only in tests and
// throwaway environments, never with production credentials. It cannot be
// combined with known_hosts.
//
// keepalive=D (a duration such as 15s or 1m, or whole seconds) and
// keepalive_max=N set how the route notices a bastion that silently went
// away, as SSHKeepalive describes (OpenSSH's ServerAliveInterval and
// ServerAliveCountMax): by default 15s and 1, so that a dead bastion is
// given up 30s after the last byte it sent, and a dial that finds it dead
// goes on over a new SSH connection within about a second. keepalive=off
// (or 0) turns the checks off.
//
// Any other query key, a path or a fragment is an error. Keys and
// known_hosts files are read, and $SSH_AUTH_SOCK checked, by NewSSH so
// that mistakes show up at once; the agent itself is contacted at each
// connection.
//
// forward dials the bastion; nil means a dialer with TCP keep-alive and,
// on Linux, TCP_USER_TIMEOUT of 30s: a link that acknowledges nothing for
// that long is dropped by the kernel.
func NewSSH(bastion *url.URL, forward proxy.ContextDialer) (*SSHDialer, error) {
	canonical, err := sshSpec.Parse(bastion)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error { return sshSpec.Errorf(bastion, format, args...) }
	addr := canonical.Host
	user := canonical.User.Username()
	password, hasPassword := canonical.User.Password()
	if route.HasControl(user) {
		return nil, bad("user name contains a control character")
	}

	q, err := url.ParseQuery(canonical.RawQuery)
	if err != nil {
		return nil, bad("malformed query: %w", err)
	}
	var keyFiles, hostFiles []string
	insecure := false
	opts, err := parseKeepalive(q["keepalive"], q["keepalive_max"])
	if err != nil {
		return nil, bad("%w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vals := q[k]
		switch k {
		case "key", "known_hosts":
			for _, v := range vals {
				if v == "" {
					return nil, bad("%s= is empty (give a file path)", k)
				}
				p, err := expandHome(v)
				if err != nil {
					return nil, bad("%s=%s: %w", k, v, err)
				}
				if k == "key" {
					keyFiles = append(keyFiles, p)
				} else {
					hostFiles = append(hostFiles, p)
				}
			}
		case "insecure_ignore_host_key":
			if len(vals) != 1 {
				return nil, bad("insecure_ignore_host_key given %d times", len(vals))
			}
			b, err := strconv.ParseBool(vals[0])
			if err != nil {
				return nil, bad("insecure_ignore_host_key=%q is not true or false", vals[0])
			}
			insecure = b
		case "keepalive", "keepalive_max":
			// parsed above
		default:
			return nil, bad("unknown query parameter %q (known: key, known_hosts, insecure_ignore_host_key, keepalive, keepalive_max)", k)
		}
	}
	if insecure && len(hostFiles) > 0 {
		return nil, bad("insecure_ignore_host_key=true and known_hosts contradict each other; give one")
	}

	// The methods, as sent, and how they read in an error.
	var auth []ssh.AuthMethod
	var offered []string
	if len(keyFiles) > 0 {
		var signers []ssh.Signer
		for _, p := range keyFiles {
			s, err := loadKey(p)
			if err != nil {
				return nil, bad("%w", err)
			}
			signers = append(signers, s)
		}
		auth = append(auth, ssh.PublicKeys(signers...))
		offered = append(offered, "public key "+strings.Join(keyFiles, ", "))
	}
	if hasPassword {
		auth = append(auth, ssh.Password(password))
		offered = append(offered, "password")
	}
	agentSock := ""
	if len(auth) == 0 {
		agentSock = os.Getenv("SSH_AUTH_SOCK")
		if agentSock == "" {
			return nil, bad("no way to authenticate: give key=PATH (an unencrypted private key), " +
				"a password (ssh://user:password@host), or run an SSH agent and set SSH_AUTH_SOCK")
		}
		offered = append(offered, "the keys of the SSH agent at "+agentSock)
	}

	var hostKeys ssh.HostKeyCallback
	if insecure {
		hostKeys = ssh.InsecureIgnoreHostKey()
	} else {
		if len(hostFiles) == 0 {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, bad("no known_hosts=PATH and no home directory for ~/.ssh/known_hosts: %w", err)
			}
			hostFiles = []string{filepath.Join(home, ".ssh", "known_hosts")}
		}
		if _, err := loadKnownHosts(addr, hostFiles); err != nil {
			return nil, bad("%w", err)
		}
	}

	d := &SSHDialer{addr: addr, user: user, forward: forward, opts: opts}
	if !insecure {
		d.knownHosts = hostFiles
	}
	// The name leaves the query out: file paths are noise in every error,
	// log line and Stats entry, and the route is the user and the bastion.
	canonical.RawQuery = ""
	d.name = canonical.Redacted()
	offeredText := strings.Join(offered, " and ")
	d.config = func(ctx context.Context) (*ssh.ClientConfig, string, func(), error) {
		cfg := &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKeys}
		if !insecure {
			cb, err := loadKnownHosts(addr, hostFiles)
			if err != nil {
				return nil, "", nil, err
			}
			cfg.HostKeyCallback = cb
			cfg.HostKeyAlgorithms = knownAlgorithms(cb, addr)
		}
		if agentSock == "" {
			return cfg, offeredText, func() {}, nil
		}
		return withAgent(ctx, cfg, agentSock, offeredText)
	}
	if d.forward == nil {
		d.forward = route.NewDialer()
	}
	return d, nil
}

// NewSSHConfig returns an SSHDialer for the bastion at addr ("host:port")
// that authenticates and verifies host keys as cfg says, for programs that
// build their ssh.ClientConfig themselves (certificates, keyboard-interactive,
// their own host key policy). cfg.User must be set and cfg.HostKeyCallback
// must not be nil; cfg is copied. A non-zero cfg.Timeout bounds establishing
// the SSH connection in addition to the dial's context. options tune the
// route: SSHKeepalive (keepalives every 15s, 1 allowed to go unanswered,
// unless given).
//
// forward dials the bastion; nil means a dialer with TCP keep-alive and,
// on Linux, TCP_USER_TIMEOUT of 30s, as for NewSSH.
func NewSSHConfig(addr string, cfg *ssh.ClientConfig, forward proxy.ContextDialer, options ...SSHOption) (*SSHDialer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid SSH route to %q: %w", addr, fmt.Errorf(format, args...))
	}
	if cfg == nil {
		return nil, bad("nil ssh.ClientConfig")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, bad("not host:port: %w", err)
	}
	hp, err := route.HostPort(net.JoinHostPort(host, port), "")
	if err != nil {
		return nil, bad("%w", err)
	}
	if cfg.User == "" {
		return nil, bad("ssh.ClientConfig.User is empty")
	}
	if cfg.HostKeyCallback == nil {
		return nil, bad("ssh.ClientConfig.HostKeyCallback is nil: verify the bastion with knownhosts.New " +
			"or ssh.FixedHostKey (ssh.InsecureIgnoreHostKey only in tests)")
	}
	opts := defaultSSHOptions()
	for _, o := range options {
		if o == nil {
			return nil, bad("nil SSHOption")
		}
		if err := o.apply(&opts); err != nil {
			return nil, bad("%w", err)
		}
	}
	own := *cfg
	d := &SSHDialer{addr: hp, user: cfg.User, forward: forward, timeout: cfg.Timeout, opts: opts}
	d.name = (&url.URL{Scheme: "ssh", User: url.User(cfg.User), Host: hp}).String()
	d.config = func(context.Context) (*ssh.ClientConfig, string, func(), error) {
		c := own
		return &c, "the configured methods", func() {}, nil
	}
	if d.forward == nil {
		d.forward = route.NewDialer()
	}
	return d, nil
}

// String returns the route URL with the password replaced by "xxxxx", the
// port made explicit and no query (key and known_hosts paths are left
// out), for example ssh://alice:xxxxx@bastion:22 or ssh://alice@bastion:22.
func (d *SSHDialer) String() string { return d.name }

// GoString keeps %#v from printing credentials: it shows the redacted URL.
func (d *SSHDialer) GoString() string { return "&tunnel.SSHDialer{" + strconv.Quote(d.name) + "}" }

// withAgent adds the keys of the SSH agent at sock to cfg. release closes
// the connection to the agent, which must stay open during the handshake
// (the agent signs).
func withAgent(ctx context.Context, cfg *ssh.ClientConfig, sock, offered string) (*ssh.ClientConfig, string, func(), error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, "", nil, fmt.Errorf("cannot reach the SSH agent at SSH_AUTH_SOCK=%s: %w", sock, err)
	}
	ag := agent.NewClient(c)
	keys, err := ag.List()
	if err != nil {
		c.Close()
		return nil, "", nil, fmt.Errorf("listing the keys of the SSH agent at %s: %w", sock, err)
	}
	if len(keys) == 0 {
		c.Close()
		return nil, "", nil, fmt.Errorf("the SSH agent at %s holds no keys (add one with ssh-add, or give key=PATH)", sock)
	}
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(ag.Signers)}
	return cfg, offered, func() { c.Close() }, nil
}

// loadKey reads an unencrypted private key.
func loadKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, &advice{err: err, msg: fmt.Sprintf("key %s is encrypted with a passphrase, which kafkanat does not ask for: "+
			"load it into an SSH agent (ssh-add %s) and drop key=, or use an unencrypted key", path, path)}
	case err != nil:
		return nil, fmt.Errorf("key %s is not a private key ssh can read (PEM or OpenSSH format): %w", path, err)
	}
	return s, nil
}

// loadKnownHosts parses the known_hosts files.
func loadKnownHosts(addr string, files []string) (ssh.HostKeyCallback, error) {
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			h, p, _ := net.SplitHostPort(addr)
			return nil, &advice{err: err, msg: fmt.Sprintf("known_hosts file %s does not exist: create it with the bastion's key "+
				"(e.g. ssh-keyscan -p %s %s >> %s, after checking the fingerprint out of band), "+
				"or give known_hosts=PATH", f, p, h, f)}
		}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	return cb, nil
}

// probeKey is a key no known_hosts line holds: checking it for a host
// yields a KeyError listing the keys known for that host.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// knownAlgorithms returns the host key algorithms for the key types
// known_hosts holds for addr, or nil (x/crypto's default order) when it
// holds none (the host is unknown, or vouched for by a @cert-authority).
// Without this x/crypto prefers ECDSA, and a bastion that also has the
// Ed25519 key known_hosts lists would fail as a mismatch.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	if err := cb(addr, targetAddr(addr), probeKey); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		t := k.Key.Type()
		add := []string{t}
		if t == ssh.KeyAlgoRSA {
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot expand ~: %w", err)
	}
	return filepath.Join(home, p[1:]), nil
}

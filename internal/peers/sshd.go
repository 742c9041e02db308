package peers

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD starts OpenSSH's sshd (Debian package openssh-server) in the
// foreground on a free 127.0.0.1 port and returns its address,
// "127.0.0.1:P", and a known_hosts line for it. sshd lets user in with the
// private key of authorizedKey only (no passwords) and allows
// "direct-tcpip" channels to any target: it is an SSH bastion. user ""
// means the user running the test, and it must be that user: the sshd the
// test starts can log in no one else.
//
// sshd offers two host keys, ECDSA and Ed25519, and knownHosts lists only
// the Ed25519 one, as a known_hosts written by a modern OpenSSH client
// often does; a client must then negotiate the Ed25519 key.
//
// As root, sshd needs its privilege separation directory /run/sshd, which
// SSHD creates if missing.
func SSHD(t testing.TB, user string, authorizedKey ssh.PublicKey) (addr string, knownHosts string) {
	t.Helper()
	if authorizedKey == nil {
		t.Fatal("peers.SSHD: nil authorized key")
	}
	me, err := osuser.Current()
	if err != nil {
		t.Fatalf("peers.SSHD: the current user: %v", err)
	}
	if user == "" {
		user = me.Username
	}
	if user != me.Username {
		t.Fatalf("peers.SSHD: user %q is not the user running the test (%q): "+
			"the sshd it starts reads authorized keys from a temp dir only that user can read", user, me.Username)
	}
	if strings.ContainsAny(user, " \t\r\n\"*?!,") {
		t.Fatalf("peers.SSHD: user %q cannot be written in an AllowUsers line", user)
	}
	bin := lookBinary(t, "sshd", "openssh-server")
	// sshd re-executes itself and refuses to run from a relative path.
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("peers.SSHD: creating sshd's privilege separation directory: %v", err)
		}
	}

	edPEM, edPub, err := sshdHostKey("ed25519")
	if err != nil {
		t.Fatalf("peers.SSHD: %v", err)
	}
	ecPEM, _, err := sshdHostKey("ecdsa")
	if err != nil {
		t.Fatalf("peers.SSHD: %v", err)
	}
	penalties := sshdHasPerSourcePenalties(bin)
	addr = start(t, peer{
		name: "sshd",
		bin:  bin,
		args: func(dir string, port int) ([]string, error) {
			files := map[string][]byte{
				"ssh_host_ed25519_key": edPEM,
				"ssh_host_ecdsa_key":   ecPEM,
				"authorized_keys":      ssh.MarshalAuthorizedKey(authorizedKey),
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					return nil, err
				}
			}
			conf := filepath.Join(dir, "sshd_config")
			if err := os.WriteFile(conf, []byte(sshdConfig(dir, port, user, penalties)), 0o600); err != nil {
				return nil, err
			}
			// -D: stay in the foreground; -e: log to stderr.
			return []string{"-D", "-e", "-f", conf}, nil
		},
	})
	return addr, knownhosts.Line([]string{addr}, edPub)
}

// sshdConfig is sshd's configuration (sshd_config(5), OpenSSH 9): loopback
// only, public key authentication of user only, TCP forwarding to any
// target, nothing else (no PAM, no passwords, no TTY, no X11 or agent
// forwarding), and no DNS lookups of clients, so that nothing leaves the
// machine. StrictModes no: the files live in a temp dir, whose ownership
// and modes sshd would otherwise check. PerSourcePenalties (OpenSSH 9.8 and
// later) would refuse a client for a while after a connection closed
// without authenticating, which is what the check for a listening sshd does.
func sshdConfig(dir string, port int, user string, noPenalties bool) string {
	q := strconv.Quote
	text := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
AddressFamily inet
HostKey %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
AllowAgentForwarding no
PermitTTY no
UseDNS no
LogLevel VERBOSE
`, port,
		q(filepath.Join(dir, "ssh_host_ecdsa_key")),
		q(filepath.Join(dir, "ssh_host_ed25519_key")),
		q(filepath.Join(dir, "sshd.pid")),
		q(filepath.Join(dir, "authorized_keys")),
		user)
	if noPenalties {
		text += "PerSourcePenalties no\n"
	}
	return text
}

// sshdHostKey generates a host key of the given kind ("ed25519" or
// "ecdsa") and returns it in OpenSSH's private key format.
func sshdHostKey(kind string) (pemBytes []byte, pub ssh.PublicKey, err error) {
	var priv any
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unknown host key kind %q", kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating an %s host key: %w", kind, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "kafkanat test sshd")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the %s host key: %w", kind, err)
	}
	return pem.EncodeToMemory(block), signer.PublicKey(), nil
}

var sshdVersion = regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`)

// sshdHasPerSourcePenalties reports whether sshd is OpenSSH 9.8 or later,
// which knows the PerSourcePenalties option (older versions refuse to
// start with it). "sshd -V" prints the version.
func sshdHasPerSourcePenalties(bin string) bool {
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	m := sshdVersion.FindSubmatch(out)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return major > 9 || major == 9 && minor >= 8
}

package tunnel

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// explain turns a handshake error into the step that failed and a cause
// that says what to do. keyOK reports that the host key check passed (key
// is the key the bastion offered), which tells an authentication failure
// from a key problem.
func (d *SSHDialer) explain(err error, key ssh.PublicKey, keyOK bool, offered string) (step string, cause error) {
	var ke *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke):
		return "verify the bastion's host key", &hostKeyError{addr: d.addr, files: d.knownHosts, key: key, err: ke}
	case errors.As(err, &revoked):
		return "verify the bastion's host key", fmt.Errorf("the host key of %s (%s) is marked @revoked in known_hosts %s: %w",
			d.addr, fingerprint(key), strings.Join(d.knownHosts, ", "), err)
	case !keyOK && noCommonHostKeyAlgorithm(err):
		return "verify the bastion's host key", fmt.Errorf("the bastion %s offers none of the host key types "+
			"known_hosts %s has for it; its key may have been replaced (verify the new key out of band, "+
			"then update known_hosts): %w", d.addr, strings.Join(d.knownHosts, ", "), err)
	case keyOK && authenticationFailed(err):
		return "authenticate", &authError{addr: d.addr, user: d.user, offered: offered, err: err}
	}
	return "SSH handshake with the bastion", err
}

// hostKeyError is an unknown or changed bastion host key.
type hostKeyError struct {
	addr  string
	files []string // empty when the caller's HostKeyCallback decided
	key   ssh.PublicKey
	err   *knownhosts.KeyError
}

func (e *hostKeyError) Error() string {
	host := knownhosts.Normalize(e.addr)
	files := "known_hosts"
	if len(e.files) > 0 {
		files += " " + strings.Join(e.files, ", ")
	}
	h, p, _ := net.SplitHostPort(e.addr)
	scan := "ssh-keyscan -p " + p + " " + h
	if len(e.err.Want) == 0 {
		return fmt.Sprintf("host key for %s not in %s (the bastion offered %s): "+
			"verify that fingerprint out of band, then add the key, e.g. %s >> %s",
			host, files, fingerprint(e.key), scan, firstOr(e.files, "~/.ssh/known_hosts"))
	}
	var known []string
	for _, k := range e.err.Want {
		known = append(known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
	}
	return fmt.Sprintf("host key for %s does not match %s (the bastion offered %s; known: %s): "+
		"someone may be intercepting the connection, or the bastion's key was replaced; "+
		"if the new key is genuine (check out of band), replace the entry",
		host, files, fingerprint(e.key), strings.Join(known, ", "))
}

func (e *hostKeyError) Unwrap() error { return e.err }

// authError is the bastion refusing to authenticate the user.
type authError struct {
	addr, user, offered string
	err                 error
}

func (e *authError) Error() string {
	return fmt.Sprintf("bastion %s rejected user %q (offered %s): check the user name and its credentials",
		e.addr, e.user, e.offered)
}

func (e *authError) Unwrap() error { return e.err }

// channelError is the bastion refusing to open a channel to a target.
type channelError struct {
	target string
	err    *ssh.OpenChannelError
}

func (e *channelError) Error() string {
	msg := e.err.Message
	if len(msg) > maxStatusText {
		msg = msg[:maxStatusText] + "..."
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if msg == "" {
		return fmt.Sprintf("bastion refused to connect to %s: %s", e.target, e.err.Reason)
	}
	return fmt.Sprintf("bastion refused to connect to %s: %s (%s)", e.target, e.err.Reason, msg)
}

func (e *channelError) Unwrap() error { return e.err }

func fingerprint(k ssh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// advice is an error whose message says what is wrong and what to do, in
// place of the cause's own words (a missing file's "stat PATH: no such
// file or directory"); it unwraps to the cause.
type advice struct {
	msg string
	err error
}

func (e *advice) Error() string { return e.msg }

func (e *advice) Unwrap() error { return e.err }

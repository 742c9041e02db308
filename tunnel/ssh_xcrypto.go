package tunnel

import (
	"errors"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The checks in this file depend on the words or field values of
// golang.org/x/crypto/ssh's errors, for which it has no error type or
// sentinel. They are the only ones, and ssh_xcrypto_test.go pins each by
// producing the error with x/crypto itself: an upgrade that changes them
// fails that test.

// authenticationFailed reports that the bastion refused every
// authentication method offered. x/crypto/ssh's client (client_auth.go)
// returns "ssh: unable to authenticate, attempted methods [...], no
// supported methods remain" when none is left to try, and "ssh: too many
// authentication attempts (N), aborting" when an AuthCallback keeps
// supplying methods.
func authenticationFailed(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "ssh: unable to authenticate") ||
		strings.Contains(msg, "ssh: too many authentication attempts")
}

// noCommonHostKeyAlgorithm reports that the bastion offers none of the
// host key algorithms the client asked for (those of the key types
// known_hosts lists for it). x/crypto/ssh says which negotiation failed in
// the What field of its AlgorithmNegotiationError (common.go).
func noCommonHostKeyAlgorithm(err error) bool {
	var ne *ssh.AlgorithmNegotiationError
	return errors.As(err, &ne) && ne.What == "host key"
}

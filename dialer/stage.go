package dialer

import (
	"errors"
	"net"

	iroute "github.com/kafkanat/kafkanat/internal/route"
)

// Stage is a stage of a route attempt. A dial goes through some of them,
// in this order: resolving the host to connect to, connecting to it, the
// proxy's handshake, opening an SSH channel, and TLS.
type Stage string

// The stages of a route attempt.
const (
	// StageResolve resolves the host the route connects to: the target on
	// the direct route, the proxy or bastion on the others.
	StageResolve Stage = "name resolution"
	// StageConnect opens the TCP connection to the target (direct) or to
	// the proxy or bastion.
	StageConnect Stage = Stage(iroute.StageConnect)
	// StageHandshake is the proxy's protocol (SOCKS5, HTTP CONNECT), or
	// the SSH handshake and authentication with a bastion.
	StageHandshake Stage = Stage(iroute.StageHandshake)
	// StageChannel opens an SSH channel from the bastion to the target.
	StageChannel Stage = Stage(iroute.StageChannel)
	// StageTLS is the TLS handshake with the broker (Config.TLS).
	StageTLS Stage = "TLS"
)

// stageOrder ranks the stages by how far an attempt got.
var stageOrder = map[Stage]int{StageResolve: 1, StageConnect: 2, StageHandshake: 3, StageChannel: 4, StageTLS: 5}

// StageOf reports the stage at which a failed dial stopped: err is an
// error from DialContext, or the Err of a DialEvent (one route attempt).
// When a dial tried several routes, it reports the furthest stage any of
// them reached.
//
// It returns "" when err does not tell: the dial was refused or never
// started (ErrNoRoute, a malformed address, Close), or a route the
// application named failed with an error of its own.
func StageOf(err error) Stage {
	var e *Error
	if errors.As(err, &e) {
		err = e.Err
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isRoute := err.(*iroute.Error); !isRoute {
			var furthest Stage
			for _, attempt := range multi.Unwrap() {
				if s := attemptStage(attempt); stageOrder[s] > stageOrder[furthest] {
					furthest = s
				}
			}
			return furthest
		}
	}
	return attemptStage(err)
}

// attemptStage classifies the error of one route attempt.
func attemptStage(err error) Stage {
	if err == nil {
		return ""
	}
	var re *iroute.Error
	if errors.As(err, &re) {
		if re.Stage == iroute.StageConnect && isDNS(re.Err) {
			return StageResolve
		}
		return Stage(re.Stage)
	}
	if isDNS(err) {
		return StageResolve
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return StageConnect
	}
	var te *tlsError
	if errors.As(err, &te) {
		return StageTLS
	}
	return ""
}

func isDNS(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns)
}

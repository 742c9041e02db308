package route

import (
	"context"
	"time"
)

// Error is a failed dial through a proxy route. Its message reads
// "ROUTE: STEP: CAUSE", for example
//
//	socks5://alice:xxxxx@gw:1080: the proxy could not connect to 10.0.0.7:9092: connection refused
//
// The dialer builds its own message from the fields (see Reason).
type Error struct {
	Route string // the route, credentials redacted: socks5://alice:xxxxx@gw:1080
	// Stage is the stage of the attempt that failed, empty when the dial
	// did not start (a malformed target, a closed route).
	Stage Stage
	// Step is what failed: "cannot reach the proxy", "CONNECT host:port",
	// "authenticate", ...
	Step string
	Err  error // the cause
	// Context is the dial context's error when the context ended the
	// dial; the message then shows it rather than Err (which is mostly
	// the interrupted I/O's timeout).
	Context error
}

// Stage is a stage of an attempt through a route; the values are those of
// the dialer's public Stage constants.
type Stage string

// The stages of an attempt through a proxy route, in the order they run.
const (
	StageConnect   Stage = "TCP connect"     // reaching the proxy or bastion
	StageHandshake Stage = "proxy handshake" // the proxy's protocol; the SSH handshake and authentication
	StageChannel   Stage = "SSH channel"     // opening an SSH channel to the target
)

// NewError returns the *Error of a route named routeName whose step failed
// with err, noting ctx's error if ctx has ended.
func NewError(ctx context.Context, routeName, step string, err error) *Error {
	return &Error{Route: routeName, Step: step, Err: err, Context: ContextError(ctx)}
}

// In sets the stage the failed step belongs to and returns e.
func (e *Error) In(stage Stage) *Error {
	e.Stage = stage
	return e
}

func (e *Error) Error() string { return e.Route + ": " + e.Reason() }

// Reason is the message without the route: "STEP: CAUSE".
func (e *Error) Reason() string {
	cause := e.Err
	if e.Context != nil {
		cause = e.Context
	}
	return e.Step + ": " + cause.Error()
}

// Unwrap returns the cause and, when the context ended the dial, the
// context's error.
func (e *Error) Unwrap() []error {
	if e.Context != nil && e.Context != e.Err {
		return []error{e.Err, e.Context}
	}
	return []error{e.Err}
}

// ContextError is ctx's error once ctx has ended, nil before (and for a
// nil ctx). A deadline copied onto a conn may fire a moment before ctx's
// own timer, so a passed deadline counts as expired.
func ContextError(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

package dialer

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	iroute "github.com/kafkanat/kafkanat/internal/route"
)

var (
	// ErrNoRoute reports an address that the configuration refuses: a
	// rule says deny, or the Dialer is strict and no rule matched. The
	// Dialer never dials such an address.
	ErrNoRoute = errors.New("no route")

	// ErrConfig reports an invalid configuration. Errors returned by New
	// (and by kafkanat.NewDialer) match it with errors.Is and carry the
	// reason in their message.
	ErrConfig = errors.New("invalid configuration")
)

// configError carries the reason a configuration was rejected; it matches
// ErrConfig with errors.Is and unwraps to the reason.
type configError struct{ err error }

// Error is the reason with the library's name in front.
func (e *configError) Error() string        { return "kafkanat: " + e.err.Error() }
func (e *configError) Unwrap() error        { return e.err }
func (e *configError) Is(target error) bool { return target == ErrConfig }

// ConfigError returns err marked as a configuration error: errors.Is(result,
// ErrConfig) holds and the message is err's.
func ConfigError(err error) error {
	if err == nil || errors.Is(err, ErrConfig) {
		return err
	}
	return &configError{err}
}

// Error is the error of every failed dial. Its message reads
//
//	kafkanat: dial b2.abc.example.com:9094 => 10.0.0.7:9094 via socks5://bastion:1080 (rule 3): connection refused
//
// naming the address the client asked for, where the rules sent it, over
// which route, because of which rule, and why it failed.
//
// errors.As(err, &opErr) with opErr a *net.OpError succeeds with
// opErr.Op == "dial" for every failure but an invalid configuration:
// Kafka clients (franz-go above all) retry dial errors only when they find
// one, and a configuration error must fail fast instead. When the cause
// carries no such OpError, As provides one whose Err is the cause.
type Error struct {
	Address string // the address the client dialed (bootstrap or advertised)
	Target  string // the address after rewriting; equal to Address when nothing rewrote it
	Rule    int    // 1-based number of the matching rule; 0 when no rule matched
	// RuleText is the matching rule as text with credentials redacted, or
	// a description of what decided instead ("Lookup", "no rule matched").
	RuleText string
	Route    string // the route or routes tried, comma-separated, credentials redacted
	Err      error  // the cause
	hint     string
}

// Error describes the failed dial in one line; control characters an
// address may hold are escaped.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kafkanat: dial ")
	if e.Address == "" {
		b.WriteString(`""`)
	}
	b.WriteString(clip(e.Address))
	if e.Target != "" && e.Target != e.Address {
		b.WriteString(" => ")
		b.WriteString(clip(e.Target))
	}
	if e.Route != "" {
		b.WriteString(" via ")
		b.WriteString(e.Route)
	}
	switch {
	case e.Rule > 0:
		b.WriteString(" (rule ")
		b.WriteString(strconv.Itoa(e.Rule))
		b.WriteString(")")
	case e.RuleText != "":
		b.WriteString(" (")
		b.WriteString(e.RuleText)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(reason(e.Err, e.Route))
	if e.hint != "" {
		b.WriteString("; ")
		b.WriteString(e.hint)
	}
	return escapeControl(b.String())
}

// clipAt is how many bytes of an address a message shows at the most: a
// broken or hostile broker can advertise one of any length, and messages
// end up in logs.
const clipAt = 300

// clip returns s, or when it is longer than clipAt its first bytes (whole
// characters) followed by its length.
func clip(s string) string {
	if len(s) <= clipAt {
		return s
	}
	return clipHead(s) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// quoteClipped is strconv.Quote of s, clipped as clip does, the length
// outside the quotes.
func quoteClipped(s string) string {
	if len(s) <= clipAt {
		return strconv.Quote(s)
	}
	return strconv.Quote(clipHead(s)) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// clipHead returns the longest prefix of s of at most clipAt bytes that
// does not cut a UTF-8 character.
func clipHead(s string) string {
	n := clipAt
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// escapeControl escapes control characters, which a hostile broker can put
// in the address it advertises: clients log these messages, and a raw CR
// or LF would let the address forge log lines.
func escapeControl(s string) string {
	if !iroute.HasControl(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if iroute.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// As provides a *net.OpError with Op "dial" when the cause has none, so
// that clients classify every kafkanat dial failure as a dial error.
func (e *Error) As(target any) bool {
	p, ok := target.(**net.OpError)
	if !ok || errors.Is(e.Err, ErrConfig) {
		return false
	}
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Op == "dial" {
		*p = op
		return true
	}
	addr := e.Target
	if addr == "" {
		addr = e.Address
	}
	*p = &net.OpError{Op: "dial", Net: "tcp", Addr: stringAddr(addr), Err: e.Err}
	return true
}

// reason is the cause's message without what the Error message already
// says: the "dial tcp ADDR: " of a net.OpError, or the route of a proxy
// route's *iroute.Error (its step and cause remain).
func reason(err error, routeName string) string {
	if err == nil {
		return "unknown error"
	}
	if op, ok := err.(*net.OpError); ok && op.Op == "dial" && op.Err != nil {
		return op.Err.Error()
	}
	if re, ok := err.(*iroute.Error); ok && re.Route == routeName {
		return re.Reason()
	}
	if ce, ok := err.(*configError); ok {
		return ce.err.Error() // the Error message says "kafkanat: " already
	}
	return err.Error()
}

// stringAddr is a net.Addr for an address that may be a host name.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

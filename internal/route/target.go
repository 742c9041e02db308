package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Targets says which target addresses a route can carry.
type Targets struct {
	// Protocol names the route in messages: "SOCKS5", "HTTP CONNECT", "SSH".
	Protocol string
	// MaxHost is the longest host, in bytes, the protocol can carry; 0
	// means no limit.
	MaxHost int
	// Forbidden holds the characters, besides ASCII control characters
	// (always refused), that an address may not contain.
	Forbidden string
}

// Check validates address ("host:port", an IPv6 host in brackets) and
// returns it as host:port. Its errors do not repeat the address.
func (t Targets) Check(address string) (string, error) {
	if t.Forbidden != "" && strings.ContainsAny(address, t.Forbidden) {
		return "", errors.New("a character not allowed in host:port")
	}
	if HasControl(address) {
		return "", errors.New("a control character in host:port")
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err) // without the address
		}
		return "", err
	}
	if host == "" {
		return "", errors.New("no host")
	}
	if t.MaxHost > 0 && len(host) > t.MaxHost {
		return "", fmt.Errorf("host longer than %d bytes, the %s limit", t.MaxHost, t.Protocol)
	}
	if !validPort(port) {
		return "", fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	if strings.HasPrefix(address, "[") && !strings.Contains(host, ":") {
		return net.JoinHostPort(host, port), nil // brackets around a name: drop them
	}
	return address, nil // already host:port as a request carries it; no allocation
}

// CheckDial validates the arguments of a route's DialContext (routeName
// is the route's redacted name) and returns the target as host:port. Its
// errors are *Error with the step `dial "ADDRESS"`.
func (t Targets) CheckDial(ctx context.Context, routeName, network, address string) (string, error) {
	// Quoted: a bad address may hold anything.
	step := "dial " + strconv.Quote(address)
	if ctx == nil {
		return "", &Error{Route: routeName, Step: step, Err: errors.New("nil context")}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", &Error{Route: routeName, Step: step,
			Err: fmt.Errorf("network %q not supported (%s routes carry tcp, tcp4 or tcp6)", network, t.Protocol)}
	}
	target, err := t.Check(address)
	if err != nil {
		return "", &Error{Route: routeName, Step: step, Err: err}
	}
	return target, nil
}

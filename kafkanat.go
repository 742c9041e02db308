package kafkanat

import (
	"context"
	"net"

	"golang.org/x/net/proxy"

	"github.com/kafkanat/kafkanat/dialer"
)

// DialFunc dials a network address. It is the type of New's result and
// plugs into every Go Kafka client:
//
//	kgo.Dialer(f)                                   // franz-go
//	cfg.Net.Proxy.Enable, cfg.Net.Proxy.Dialer = true, f // sarama
//	&kafka.Transport{Dial: f}                       // segmentio/kafka-go
//	&http.Transport{DialContext: f}                 // side services
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

var (
	_ proxy.ContextDialer = DialFunc(nil)
	_ proxy.Dialer        = DialFunc(nil)
)

// DialContext calls f.
func (f DialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// Dial calls f with context.Background(); the dial timeout still bounds it.
// This is how sarama calls a proxy dialer.
func (f DialFunc) Dial(network, address string) (net.Conn, error) {
	return f(context.Background(), network, address)
}

// DialError is the error of every failed dial; see dialer.Error.
type DialError = dialer.Error

// ConnInfo describes how a connection was made; see InfoOf.
type ConnInfo = dialer.Info

var (
	// ErrNoRoute reports an address the configuration refuses (a deny
	// rule, or Strict and no rule matched); it is never dialed.
	ErrNoRoute = dialer.ErrNoRoute

	// ErrConfig reports invalid options. NewDialer returns it; New returns
	// a DialFunc whose every dial returns it, wrapped with the reason.
	ErrConfig = dialer.ErrConfig
)

// InfoOf reports the advertised address, target, rule and route of a
// connection made by kafkanat. It unwraps *tls.Conn, so it also works on
// the connections a client wraps in TLS after the dial (sarama).
func InfoOf(c net.Conn) (ConnInfo, bool) { return dialer.InfoOf(c) }

// New returns a DialFunc that rewrites and routes every address by opts.
// It never panics: if the options are invalid, every dial fails with a
// *DialError whose cause is the configuration error (matching ErrConfig),
// so a misconfigured client fails at its first dial with the reason. Such
// an error is not a *net.OpError, so that clients do not retry it. Use
// NewDialer to get the error up front, and to Close what ssh:// routes
// hold open (with New, their SSH connection lives as long as the program).
func New(opts ...Option) DialFunc {
	d, err := NewDialer(opts...)
	if err != nil {
		return func(_ context.Context, _, address string) (net.Conn, error) {
			return nil, &DialError{Address: address, Err: err}
		}
	}
	return d.DialContext
}

// NewDialer returns a Dialer for opts, or an error matching ErrConfig that
// names the option, and for rules the line and column, that is wrong.
func NewDialer(opts ...Option) (*dialer.Dialer, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return nil, dialer.ConfigError(errNilOption)
		}
		o.apply(&c)
		if c.err != nil {
			return nil, dialer.ConfigError(c.err)
		}
	}
	return dialer.New(c.cfg)
}

// Decision is what kafkanat would do with an address; see Explain.
type Decision = dialer.Decision

// Explain reports what a dialer built from opts would do with address
// ("host:port"), without dialing: the rule (number and text), the target
// and the routes in order, or why it would be refused. Credentials are
// redacted. Its String method gives the decision in one line.
func Explain(address string, opts ...Option) (Decision, error) {
	d, err := NewDialer(opts...)
	if err != nil {
		return Decision{Address: address}, err
	}
	defer d.Close()
	return d.Explain(context.Background(), address)
}

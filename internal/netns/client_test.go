package netns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
)

// clientSpec is what the client role, run inside a namespace, does.
type clientSpec struct {
	// Mode is "workload" (produce Records at Rate while consuming them
	// back, then check them), "dial" (dial each of Dials once and report)
	// or "ping" (a franz-go client asks the seed broker for metadata).
	Mode   string `json:"mode"`
	Client string `json:"client"` // "franz-go" or "sarama", for workload
	// Plain uses the Kafka client's own dialer: no kafkanat.
	Plain       bool              `json:"plain"`
	Seed        string            `json:"seed"`
	Rules       string            `json:"rules"`
	Via         string            `json:"via"`
	Registry    map[string]string `json:"registry"`   // Lookup: advertised address -> target
	LookupDNS   bool              `json:"lookup_dns"` // Lookup resolves the host over DNS
	DialTimeout time.Duration     `json:"dial_timeout"`
	Topic       string            `json:"topic"`
	Records     int               `json:"records"`
	Rate        int               `json:"rate"` // records offered per second
	Dials       []dialSpec        `json:"dials"`
	Guard       time.Duration     `json:"guard"` // bounds the whole run: a hang, not a slow machine
}

// dialSpec is one dial of the "dial" mode.
type dialSpec struct {
	Address  string        `json:"address"`
	Deadline time.Duration `json:"deadline"` // of the caller's context; 0: none
}

// event is one line the client role prints (JSON) for the test to read.
type event struct {
	Ev      string        `json:"ev"` // dial, close, call, ack, dialed, pinged, result, fatal
	T       int64         `json:"t"`  // when, in Unix nanoseconds
	Start   int64         `json:"start,omitempty"`
	Seq     int           `json:"seq"`
	Addr    string        `json:"addr,omitempty"`
	Target  string        `json:"target,omitempty"`
	Route   string        `json:"route,omitempty"`
	Dur     time.Duration `json:"dur,omitempty"`
	Err     string        `json:"err,omitempty"`
	Timeout bool          `json:"timeout,omitempty"`
	Result  *workResult   `json:"result,omitempty"`
}

func (e event) at() time.Time { return time.Unix(0, e.T) }

// emitter prints events as JSON lines, one writer at a time.
type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *emitter) emit(ev event) {
	if ev.T == 0 {
		ev.T = time.Now().UnixNano()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(ev)
}

// runClient is the client role.
func runClient() error {
	var spec clientSpec
	if err := readSpec(&spec); err != nil {
		return err
	}
	out := &emitter{enc: json.NewEncoder(os.Stdout)}
	dial, closeDialer, err := clientDialer(spec, out)
	if err != nil {
		return err
	}
	defer closeDialer()
	// A guard against hangs: the test reads "fatal" and fails.
	guard := time.AfterFunc(spec.Guard, func() {
		out.emit(event{Ev: "fatal", Err: fmt.Sprintf("the client did not finish within %v", spec.Guard)})
		os.Exit(3)
	})
	defer guard.Stop()
	switch spec.Mode {
	case "workload":
		var res *workResult
		if spec.Client == "sarama" {
			res, err = saramaWorkload(spec, dial, out)
		} else {
			res, err = franzWorkload(spec, dial, out)
		}
		if err != nil {
			return err
		}
		out.emit(event{Ev: "result", Result: res})
	case "dial":
		for _, d := range spec.Dials {
			dialOnce(d, dial, out)
		}
	case "ping":
		opts := []kgo.Opt{kgo.SeedBrokers(spec.Seed)}
		if dial != nil {
			opts = append(opts, kgo.Dialer(dial))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), spec.Guard/2)
		err = cl.Ping(ctx)
		cancel()
		cl.Close()
		ev := event{Ev: "pinged"}
		if err != nil {
			ev.Err = err.Error()
		}
		out.emit(ev)
	default:
		return fmt.Errorf("unknown mode %q", spec.Mode)
	}
	return nil
}

type dialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// clientDialer builds the dialer the client uses: kafkanat with the
// spec's rules and routes, reporting every route attempt and closed
// connection through its Hook and every call of the client; or, for a
// Plain client, nil (the Kafka client's own dialer), except in dial mode,
// where it is a net.Dialer.
func clientDialer(spec clientSpec, out *emitter) (dialFunc, func(), error) {
	if spec.Plain {
		if spec.Mode == "dial" {
			var d net.Dialer
			return d.DialContext, func() {}, nil
		}
		return nil, func() {}, nil
	}
	opts := []kafkanat.Option{
		kafkanat.Hook(dialer.HookFuncs{
			Dial: func(e dialer.DialEvent) {
				ev := event{Ev: "dial", Addr: e.Info.Address, Target: e.Info.Target, Route: e.Info.Route, Dur: e.Duration}
				if e.Err != nil {
					ev.Err = e.Err.Error()
					ev.Timeout = isTimeout(e.Err)
				}
				out.emit(ev)
			},
			Close: func(e dialer.CloseEvent) {
				out.emit(event{Ev: "close", Addr: e.Info.Address, Route: e.Info.Route, Dur: e.Open})
			},
		}),
	}
	if spec.Rules != "" {
		opts = append(opts, kafkanat.Rules(spec.Rules))
	}
	if spec.Via != "" {
		opts = append(opts, kafkanat.Via(spec.Via))
	}
	if spec.DialTimeout > 0 {
		opts = append(opts, kafkanat.DialTimeout(spec.DialTimeout))
	}
	if spec.Registry != nil {
		reg := spec.Registry
		opts = append(opts, kafkanat.Lookup(func(_ context.Context, address string) (string, bool, error) {
			target, ok := reg[address]
			return target, ok, nil
		}))
	}
	if spec.LookupDNS {
		// A registry reached over the network: here, DNS, which the
		// client's network cannot reach, asked through an API that takes
		// no context (as much registry client code does), so that only
		// the dialer's deadline can end the wait before the resolver's.
		opts = append(opts, kafkanat.Lookup(func(_ context.Context, address string) (string, bool, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return "", false, err
			}
			ips, err := net.LookupHost(host)
			if err != nil {
				return "", false, err
			}
			return net.JoinHostPort(ips[0], port), true, nil
		}))
	}
	d, err := kafkanat.NewDialer(opts...)
	if err != nil {
		return nil, nil, err
	}
	call := func(ctx context.Context, network, address string) (net.Conn, error) {
		start := time.Now()
		c, err := d.DialContext(ctx, network, address)
		ev := event{Ev: "call", Start: start.UnixNano(), Addr: address, Dur: time.Since(start)}
		if err != nil {
			ev.Err, ev.Timeout = err.Error(), isTimeout(err)
		} else if info, ok := kafkanat.InfoOf(c); ok {
			ev.Route, ev.Target = info.Route, info.Target
		}
		out.emit(ev)
		return c, err
	}
	return call, func() { d.Close() }, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// dialOnce dials d.Address with the caller's deadline d.Deadline and
// reports how it went.
func dialOnce(d dialSpec, dial dialFunc, out *emitter) {
	ctx := context.Background()
	if d.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Deadline)
		defer cancel()
	}
	start := time.Now()
	c, err := dial(ctx, "tcp", d.Address)
	ev := event{Ev: "dialed", Start: start.UnixNano(), Addr: d.Address, Dur: time.Since(start)}
	if err != nil {
		ev.Err, ev.Timeout = err.Error(), isTimeout(err)
	} else {
		if info, ok := kafkanat.InfoOf(c); ok {
			ev.Route, ev.Target = info.Route, info.Target
		}
		c.Close()
	}
	out.emit(ev)
}

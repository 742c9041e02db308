package kafkanattest

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// MoveBroker moves broker node (its position in node order, which is also
// its kfake node ID) to a new real address, as a broker does when it comes
// back on another port while keeping the name it advertises: the broker
// starts listening on a free port of the address it listens on (127.0.0.1,
// or the address ListenOn gave it), its old port closes, and every
// connection it had is cut. It returns the new "host:port".
//
// From then on Addrs and Rules report the new address and DialAdvertised
// connects to it; the advertised address does not change. A client finds
// the broker again only once its dialer maps the advertised address to the
// new one, for example kafkanat rules rebuilt from Rules and installed with
// the Dialer's SetRules. The broker keeps its data, partitions and groups.
//
//	newAddr, err := cluster.MoveBroker(1)
//	rules, _ := rewrite.Parse("rules", cluster.Rules())
//	err = d.SetRules(rules)
func (c *Cluster) MoveBroker(node int) (newAddr string, err error) {
	c.mu.Lock()
	n := len(c.lns)
	var l *advertisedListener
	var cur string
	if node >= 0 && node < n {
		l, cur = c.lns[node], c.addrs[node]
	}
	c.mu.Unlock()
	if l == nil {
		return "", fmt.Errorf("kafkanattest: MoveBroker(%d): no such broker; the cluster has nodes 0 to %d", node, n-1)
	}
	host, _, err := net.SplitHostPort(cur)
	if err != nil || host == "" {
		return "", fmt.Errorf("kafkanattest: MoveBroker(%d): the broker's address %q has no host", node, cur)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("kafkanattest: MoveBroker(%d): %w", node, err)
	}
	old, cut, err := l.swap(ln)
	if err != nil {
		ln.Close()
		return "", fmt.Errorf("kafkanattest: MoveBroker(%d): %w", node, err)
	}
	newAddr = ln.Addr().String()
	// The new address is published before the old port closes, so that
	// whoever sees the old one fail already finds the new one.
	c.mu.Lock()
	c.addrs[node] = newAddr
	c.real[normalize(c.advertised[node])] = newAddr
	c.mu.Unlock()
	old.Close()
	for _, bc := range cut {
		bc.Close()
	}
	return newAddr, nil
}

// errListenerClosed reports a move of a broker whose cluster has closed.
var errListenerClosed = errors.New("the cluster is closed")

// advertisedListener is the listener kfake accepts a broker's connections
// from. Its Addr reports the broker's advertised address (kfake advertises
// ln.Addr().String()); the real listener behind it can be replaced while
// kfake's accept loop runs, which is how MoveBroker moves a broker.
type advertisedListener struct {
	addr advertisedAddr

	mu     sync.Mutex
	ln     net.Listener // the real listener in use
	conns  map[*brokerConn]struct{}
	closed bool
}

func newAdvertisedListener(ln net.Listener, advertised string) *advertisedListener {
	return &advertisedListener{addr: advertisedAddr(advertised), ln: ln, conns: map[*brokerConn]struct{}{}}
}

// Accept returns the next connection to the broker's current port. When
// the broker moves while Accept waits, Accept goes on waiting on the new
// port; a connection the old port accepted meanwhile is cut.
func (l *advertisedListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln := l.ln
		l.mu.Unlock()
		c, err := ln.Accept()
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			if c != nil {
				c.Close()
			}
			if err == nil {
				err = &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
			}
			return nil, err
		case ln != l.ln:
			l.mu.Unlock()
			if c != nil {
				c.Close()
			}
			continue
		case err != nil:
			l.mu.Unlock()
			return nil, err
		}
		bc := &brokerConn{Conn: c, l: l}
		l.conns[bc] = struct{}{}
		l.mu.Unlock()
		return bc, nil
	}
}

// swap installs ln as the real listener and returns the previous one and
// the connections accepted from it, for the caller to close.
func (l *advertisedListener) swap(ln net.Listener) (old net.Listener, cut []*brokerConn, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, errListenerClosed
	}
	old, l.ln = l.ln, ln
	for bc := range l.conns {
		cut = append(cut, bc)
	}
	clear(l.conns)
	return old, cut, nil
}

// Close closes the real listener; connections already accepted stay open
// (kfake closes them).
func (l *advertisedListener) Close() error {
	l.mu.Lock()
	l.closed = true
	ln := l.ln
	l.mu.Unlock()
	return ln.Close()
}

// Addr returns the broker's advertised address.
func (l *advertisedListener) Addr() net.Addr { return l.addr }

// brokerConn is a connection a broker accepted; it leaves its listener's
// set when closed, so that MoveBroker cuts only live connections.
type brokerConn struct {
	net.Conn
	l *advertisedListener
}

func (c *brokerConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

package kube

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// podKey names a pod incarnation: a pod recreated under the same name is
// another pod, with another UID.
type podKey struct {
	namespace, name string
	uid             types.UID
}

// podConn is one upgraded connection to a pod's port-forward. SPDY
// multiplexes streams, so it carries a stream pair (data and error) for
// every connection the Dialer returned to that pod. It closes after
// IdleTimeout without streams, at once when it was retired, and with the
// Dialer.
type podConn struct {
	d      *Dialer
	key    podKey
	up     *upgraded
	nextID atomic.Int64 // the port-forward requestID of the last stream pair

	// Guarded by d.mu.
	streams int         // stream pairs open
	retired bool        // takes no new stream pairs
	idle    *time.Timer // closes the connection when it stayed unused
}

// usable reports whether pc takes new stream pairs. d.mu is held.
func (pc *podConn) usable() bool {
	if pc.retired {
		return false
	}
	select {
	case <-pc.up.conn.CloseChan():
		return false
	default:
		return true
	}
}

// acquire returns an open connection to the pod, with one stream pair
// counted on it: the one the caller is about to open. It opens a new
// upgraded connection when none is usable.
func (d *Dialer) acquire(ctx context.Context, p pod) (*podConn, error) {
	key := podKey{p.namespace, p.name, p.uid}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errClosed
	}
	if pc := d.conns[key]; pc != nil && pc.usable() {
		pc.take()
		d.mu.Unlock()
		return pc, nil
	}
	d.mu.Unlock()

	up, err := d.upgrade(ctx, p)
	if err != nil {
		return nil, err
	}
	pc := &podConn{d: d, key: key, up: up}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		up.conn.Close()
		return nil, errClosed
	}
	if other := d.conns[key]; other != nil && other.usable() {
		// A concurrent dial opened one first: use it, drop ours.
		up.conn.Close()
		other.take()
		return other, nil
	}
	d.conns[key] = pc
	d.live[pc] = struct{}{}
	pc.take()
	return pc, nil
}

// upgrade opens an upgraded connection to p's port-forward with the
// configured protocol, falling back from WebSocket to SPDY as kubectl does
// when the API server does not take the WebSocket upgrade.
func (d *Dialer) upgrade(ctx context.Context, p pod) (*upgraded, error) {
	path := "/api/v1/namespaces/" + p.namespace + "/pods/" + p.name + "/portforward"
	switch d.opts.protocol {
	case SPDY, WebSocket:
		return d.api.portForward(ctx, path, d.opts.protocol)
	}
	up, err := d.api.portForward(ctx, path, WebSocket)
	if err == nil || !websocketRefused(err) {
		return up, err
	}
	return d.api.portForward(ctx, path, SPDY)
}

// take counts a stream pair on pc. d.mu is held.
func (pc *podConn) take() {
	pc.streams++
	if pc.idle != nil {
		pc.idle.Stop()
		pc.idle = nil
	}
}

// release uncounts a stream pair and closes pc when it has none left and
// was retired, or after the idle timeout.
func (pc *podConn) release() {
	d := pc.d
	d.mu.Lock()
	defer d.mu.Unlock()
	pc.streams--
	if pc.streams > 0 {
		return
	}
	if !pc.usable() || d.closed {
		pc.closeLocked()
		return
	}
	pc.idle = time.AfterFunc(d.opts.idleTimeout, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if pc.streams == 0 {
			pc.closeLocked()
		}
	})
}

// retire keeps new stream pairs off pc (its API server stopped answering)
// and closes it once its last stream pair is released.
func (pc *podConn) retire() {
	pc.d.mu.Lock()
	defer pc.d.mu.Unlock()
	pc.retired = true
	if pc.d.conns[pc.key] == pc {
		delete(pc.d.conns, pc.key)
	}
}

// closeLocked closes pc's connection. d.mu is held.
func (pc *podConn) closeLocked() {
	if pc.d.conns[pc.key] == pc {
		delete(pc.d.conns, pc.key)
	}
	delete(pc.d.live, pc)
	if pc.idle != nil {
		pc.idle.Stop()
		pc.idle = nil
	}
	pc.up.conn.Close()
}

// streamPair is the error and data streams of one forwarded connection.
// The error stream is read from its creation on: the kubelet writes its
// message there, and SPDY frames nobody reads would hold up the
// connection's other streams.
type streamPair struct {
	errs, data streamhttp.Stream
	errDone    chan struct{} // the error stream has ended; errMsg holds what it carried
	errMsg     string
}

// readErrors reads the error stream to its end.
func (sp *streamPair) readErrors() {
	msg, _ := io.ReadAll(io.LimitReader(sp.errs, maxErrorMessage))
	sp.errMsg = strings.TrimSpace(string(msg))
	close(sp.errDone)
}

// kubeletMessage returns what the kubelet wrote on the error stream, once
// the stream has ended, waiting at most errorStreamWait (the kubelet ends
// the error stream before the data stream, so the message is there in
// time unless the connection to the API server is failing); "" if none.
func (sp *streamPair) kubeletMessage(pc *podConn) string {
	wait := time.NewTimer(errorStreamWait)
	defer wait.Stop()
	select {
	case <-sp.errDone:
		return sp.errMsg
	case <-pc.up.conn.CloseChan():
	case <-wait.C:
	}
	return ""
}

// kubeletError is a port-forward the kubelet refused, with its message
// ("error forwarding port 9092 to pod kafka-0, uid ...: ... connection
// refused").
type kubeletError struct{ msg string }

func (e *kubeletError) Error() string { return e.msg }

// openPair opens a stream pair to port, as kubectl's port-forward does:
// the error stream first (closed for writing at once: the kubelet writes
// on it, not we), then the data stream, both with the same requestID.
// On failure it releases the pair's count on pc.
//
// ctx bounds it: when ctx ends first, pc is retired (an API server that
// does not answer SYN_STREAM is taken for stalled) and the dial returns;
// the creation goes on in the background until the API server answers or
// client-go's stream timeout (30s) passes, then resets the pair, if any,
// and releases the count, so that pc closes only after it.
func (pc *podConn) openPair(ctx context.Context, port int) (*streamPair, error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(pc.nextID.Add(1), 10))
	type result struct {
		pair *streamPair
		err  error
	}
	got := make(chan result)
	abandoned := make(chan struct{})
	go func() {
		r := result{pair: &streamPair{errDone: make(chan struct{})}}
		r.pair.errs, r.err = pc.up.conn.CreateStream(h)
		if r.err == nil {
			r.pair.errs.Close()
			go r.pair.readErrors()
			dh := h.Clone()
			dh.Set(corev1.StreamType, corev1.StreamTypeData)
			r.pair.data, r.err = pc.up.conn.CreateStream(dh)
			if r.err != nil {
				// The kubelet resets both streams after writing why it
				// could not forward, sometimes before the data stream's
				// reply: its message says more than "stream reset".
				if msg := r.pair.kubeletMessage(pc); msg != "" {
					r.err = &kubeletError{msg}
				}
				r.pair.reset(pc)
			}
		}
		select {
		case got <- r:
		case <-abandoned:
			if r.err == nil {
				r.pair.reset(pc)
			}
			pc.release()
		}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			pc.release()
		}
		return r.pair, r.err
	case <-ctx.Done():
		close(abandoned)
		pc.retire()
		return nil, ctx.Err()
	}
}

// reset tears both streams down and forgets them.
func (sp *streamPair) reset(pc *podConn) {
	var streams []streamhttp.Stream
	for _, s := range []streamhttp.Stream{sp.errs, sp.data} {
		if s != nil {
			s.Reset()
			streams = append(streams, s)
		}
	}
	pc.up.conn.RemoveStreams(streams...)
}

// closeAll closes every connection; d.mu is held.
func (d *Dialer) closeAllLocked() {
	for pc := range d.live {
		pc.closeLocked()
	}
}

package kube

import (
	"net"
	"sync"
	"time"

	"github.com/kafkanat/kafkanat/internal/streamconn"
)

const (
	// chunk is how far a connection reads ahead and how much Write queues.
	chunk = 32 << 10
	// closeLinger bounds how long Close keeps sending queued bytes to a
	// pod that does not read.
	closeLinger = 5 * time.Second
	// errorStreamWait bounds how long a connection whose data stream
	// ended waits for the error stream's message. The kubelet closes the
	// error stream before the data stream, so it is there in time unless
	// the connection to the API server is failing.
	errorStreamWait = 5 * time.Second
	// maxErrorMessage bounds what is read from an error stream.
	maxErrorMessage = 4 << 10
)

// pairStream is a stream pair as a streamconn.Stream: bytes go over the
// data stream; the error stream's message, if the kubelet wrote one (for
// example "connection refused" from inside the pod), replaces the end of
// the data stream as the error Read returns.
type pairStream struct {
	pc   *podConn
	pod  pod
	t    Target
	addr string
	pair *streamPair

	closeOnce sync.Once
}

// newConn returns a net.Conn over pair, a stream pair of pc to p.
func newConn(pc *podConn, p pod, t Target, address string, pair *streamPair) net.Conn {
	s := &pairStream{pc: pc, pod: p, t: t, addr: address, pair: pair}
	return streamconn.New(s, streamconn.Config{
		Local:  pc.up.local,
		Remote: p.addr(),
		Chunk:  chunk,
		Linger: closeLinger,
	})
}

func (s *pairStream) Read(p []byte) (int, error) {
	n, err := s.pair.data.Read(p)
	if err == nil {
		return n, nil
	}
	// The pod's side has ended, and with it the kubelet's forwarding:
	// reset the stream, as kubectl does, so that bytes still sent on it
	// are dropped rather than left unread on the shared connection, where
	// they would block every other stream (SPDY has no flow control).
	s.pair.data.Reset()
	if msg := s.pair.kubeletMessage(s.pc); msg != "" {
		t := s.t
		t.Kind, t.Pod, t.Port = KindPod, s.pod.name, s.pod.port
		return n, &Error{Address: s.addr, Target: t, Step: "port-forward", Err: &kubeletError{msg}}
	}
	return n, err
}

func (s *pairStream) Write(p []byte) (int, error) { return s.pair.data.Write(p) }

// CloseWrite ends the data stream from our side (a SPDY FIN): the pod's
// connection reads EOF, as after a TCP half-close.
func (s *pairStream) CloseWrite() error { return s.pair.data.Close() }

// Close resets both streams and releases the pod connection.
func (s *pairStream) Close() error {
	s.closeOnce.Do(func() {
		s.pair.reset(s.pc)
		s.pc.release()
	})
	return nil
}

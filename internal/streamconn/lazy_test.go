package streamconn_test

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// goroutinesSettle waits until the number of goroutines is want, and
// returns the last count seen.
func goroutinesSettle(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n != want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// A Conn runs goroutines only while bytes are in flight: none when idle,
// one while a Read waits, none once its bytes are read or its Write is
// sent.
func TestGoroutinesOnlyInFlight(t *testing.T) {
	c, peer, stop := pipe(t)
	defer stop()
	time.Sleep(10 * time.Millisecond) // pipe's accepting goroutine ends
	base := runtime.NumGoroutine()

	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		readDone <- err
	}()
	// The test's reader and the Conn's fill.
	if n := goroutinesSettle(base + 2); n != base+2 {
		t.Errorf("a pending Read: %d goroutines, want %d (the reader and one fill)", n, base+2)
	}
	peer.Write([]byte("abcd"))
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if n := goroutinesSettle(base); n != base {
		t.Errorf("after the Read: %d goroutines, want %d", n, base)
	}

	if _, err := c.Write(make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	if n := goroutinesSettle(base); n != base {
		t.Errorf("after a Write was sent: %d goroutines, want %d", n, base)
	}
}

// Bytes a fill read ahead of a small Read are not lost, and a Read larger
// than a fill takes several.
func TestReadsOfEverySize(t *testing.T) {
	c, peer, stop := pipe(t) // Chunk 4 KiB
	defer stop()
	msg := make([]byte, 100<<10)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go peer.Write(msg)
	got := make([]byte, 0, len(msg))
	for _, n := range []int{1, 3, 700, 5000, 64 << 10} {
		buf := make([]byte, n)
		k, err := io.ReadFull(c, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
	}
	rest := make([]byte, len(msg)-len(got))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	for i := range msg {
		if got[i] != msg[i] {
			t.Fatalf("byte %d = %d, want %d", i, got[i], msg[i])
		}
	}
}

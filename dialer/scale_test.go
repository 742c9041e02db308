package dialer_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
)

// scaleDials is how many dials TestScaleConcurrentDials runs at once.
const scaleDials = 10_000

// scaleListeners spreads the dials over several listeners so that no
// accept queue (net.core.somaxconn, 4096 by default) overflows, which would
// stall a connect for a second-long SYN retransmit.
const scaleListeners = 16

// TestScaleConcurrentDials starts 10,000 dials at once through one Dialer
// (direct route, one rule per loopback listener), holds every conn open,
// closes them all, and checks that no goroutine and no file descriptor
// outlives them. It reports the time and memory taken; it asserts no time.
//
// The listeners close what they accept at once, so the test holds 10,000
// descriptors, not 20,000 (client and server ends), and fits the usual
// hard limit.
func TestScaleConcurrentDials(t *testing.T) {
	raiseFileLimit(t, scaleDials+1024)
	ignore := leakcheck.IgnoreCurrent()
	// A listener first, so that the runtime's own descriptors (the
	// netpoller's) exist before the baseline is counted.
	warm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	// Conns earlier tests dropped without closing are closed by their
	// finalizers after a GC; let that happen before counting.
	if raw, fdsBefore := openFiles(t), settledOpenFiles(t); raw > fdsBefore {
		t.Logf("%d descriptors were closed by finalizers: earlier tests dropped conns or files without closing them", raw-fdsBefore)
	}
	fdsBefore := openFiles(t)

	var (
		rules strings.Builder
		lns   []net.Listener
		wg    sync.WaitGroup
	)
	for i := range scaleListeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		fmt.Fprintf(&rules, "b%d.scale.invalid:9092 => %s\n", i, ln.Addr())
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	}
	stopListeners := func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}
	defer stopListeners()
	d := benchDialer(t, rules.String())

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := make([]net.Conn, scaleDials)
	errs := make([]error, scaleDials)
	start := make(chan struct{})
	var dialers sync.WaitGroup
	for i := range scaleDials {
		dialers.Go(func() {
			<-start
			conns[i], errs[i] = d.DialContext(ctx, "tcp", fmt.Sprintf("b%d.scale.invalid:9092", i%scaleListeners))
		})
	}
	began := time.Now()
	close(start)
	dialers.Wait()
	elapsed := time.Since(began)
	runtime.ReadMemStats(&after)
	peakHeap := after.HeapInuse
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)

	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed < 5 {
				t.Errorf("dial %d: %v", i, err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d dials failed", failed, scaleDials)
	}
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	fdsOpen := openFiles(t)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	clear(conns)
	stopListeners()

	t.Logf("%d concurrent dials over %d listeners: %v (%.1f µs per dial); %d conns open held %d descriptors",
		scaleDials, scaleListeners, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/scaleDials, open, fdsOpen-fdsBefore-scaleListeners)
	t.Logf("memory: %.2f KiB allocated per dial; heap in use %.1f MiB when the last dial returned (%.1f MiB before); live heap %.2f KiB per open conn (after GC); %.1f MiB obtained from the OS in all (goroutine stacks included)",
		float64(after.TotalAlloc-before.TotalAlloc)/scaleDials/1024, mib(peakHeap), mib(before.HeapInuse),
		(float64(live.HeapAlloc)-float64(before.HeapAlloc))/scaleDials/1024, mib(live.Sys))

	leakcheck.VerifyNone(t, ignore)
	if fds := settledOpenFiles(t); fds > fdsBefore {
		t.Errorf("%d file descriptors open after every conn and listener closed, %d before the listeners opened", fds, fdsBefore)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// raiseFileLimit makes sure the process may open need descriptors, raising
// the soft limit up to the hard one for the test's duration. It skips when
// the hard limit is too low, and fails instead under CI=true.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read the file descriptor limit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		msg := fmt.Sprintf("the hard limit on open files is %d; this test needs %d (raise it with ulimit -Hn as root)", lim.Max, need)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	old := lim
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising the soft limit on open files from %d to %d: %v", old.Cur, lim.Cur, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// settledOpenFiles counts the open file descriptors after a GC has run
// the finalizers of unreachable files and conns, once the count holds
// still (or after a second).
func settledOpenFiles(t *testing.T) int {
	t.Helper()
	last := -1
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		runtime.GC()
		n := openFiles(t)
		if n == last {
			return n
		}
		last = n
		time.Sleep(5 * time.Millisecond)
	}
	return last
}

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries) - 1 // ReadDir's own descriptor for the directory
}

// perConnConns is how many conns TestPerConnCost holds open per variant.
const perConnConns = 500

// TestPerConnCost measures, for the direct, SOCKS5 and HTTP CONNECT routes,
// the goroutines, allocated bytes and live heap each open conn costs, by
// hand (the baseline of BenchmarkDial) and through kafkanat, and asserts
// that kafkanat adds no goroutine per conn. The proxies run in-process, so
// their goroutines (two or three per conn) appear in both variants; the
// difference is kafkanat's.
func TestPerConnCost(t *testing.T) {
	target, closeAccepted := holdListener(t)
	for _, rc := range routeCases(t, target) {
		t.Run(rc.name, func(t *testing.T) {
			// The first round warms up the proxy and the runtime (maps and
			// pools grown to size); the second is reported.
			var base, kn connCost
			for range 2 {
				base = measureConns(t, rc.byHand, perConnConns, closeAccepted)
				kn = measureConns(t, rc.kafkanat, perConnConns, closeAccepted)
			}
			t.Logf("%s: %.2f goroutines, %.0f B allocated, %.0f B live heap per open conn", rc.baseline, base.goroutines, base.allocated, base.live)
			t.Logf("kafkanat: %.2f goroutines, %.0f B allocated, %.0f B live heap per open conn", kn.goroutines, kn.allocated, kn.live)
			t.Logf("kafkanat adds %+.2f goroutines, %+.0f B allocated, %+.0f B live heap per conn", kn.goroutines-base.goroutines, kn.allocated-base.allocated, kn.live-base.live)
			// A goroutine per conn would add 1.0; allow for a goroutine of the
			// runtime or a proxy coming or going while counting.
			if extra := kn.goroutines - base.goroutines; extra >= 0.25 {
				t.Errorf("kafkanat adds %.2f goroutines per open conn over the %s route; want none", extra, rc.name)
			}
		})
	}
}

// connCost is what one open conn costs, averaged over many.
type connCost struct {
	goroutines float64 // goroutines alive per open conn, in the whole process
	allocated  float64 // bytes allocated per dial, in the whole process
	live       float64 // live heap bytes per open conn, after a GC
}

// measureConns opens n conns with dial one after the other, measures, and
// closes them, and their far ends with closeAccepted.
func measureConns(t *testing.T, dial dialFunc, n int, closeAccepted func()) connCost {
	t.Helper()
	g0 := settledGoroutines()
	runtime.GC()
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	g1 := settledGoroutines()
	runtime.ReadMemStats(&m1)
	runtime.GC()
	runtime.ReadMemStats(&m2)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	closeAccepted()
	// The proxies' goroutines end once they see both ends close.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		t.Fatalf("%d goroutines still running after every conn closed, %d before", g, g0)
	}
	return connCost{
		goroutines: float64(g1-g0) / float64(n),
		allocated:  float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
		live:       (float64(m2.HeapAlloc) - float64(m0.HeapAlloc)) / float64(n),
	}
}

// settledGoroutines returns the number of goroutines once it has stayed
// the same for a few milliseconds (or after a second): goroutines that
// serve a conn may start a moment after the dial returned.
func settledGoroutines() int {
	last, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		if g := runtime.NumGoroutine(); g == last {
			same++
		} else {
			last, same = g, 0
		}
	}
	return last
}

// holdListener is a loopback listener that keeps every conn it accepts
// open, without a goroutine per conn, until closeAccepted or the end of the
// test.
func holdListener(t *testing.T) (addr string, closeAccepted func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	})
	closeAccepted = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		closeAccepted()
	})
	return ln.Addr().String(), closeAccepted
}

// Package leakcheck finds goroutines that tests leave running. It serves
// the core module's tests, whose go.mod may require golang.org/x/net and
// golang.org/x/crypto only, so that importers of kafkanat get no test
// library in their module graph; every other module of the repository uses
// go.uber.org/goleak, whose small API this one follows.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle bounds how long a check waits for goroutines that are exiting.
const settle = 5 * time.Second

// Option changes what a check ignores.
type Option func(*config)

type config struct {
	ignore map[string]bool
	settle time.Duration
}

// IgnoreCurrent ignores the goroutines running now, for a check around one
// part of a test.
func IgnoreCurrent() Option {
	ids := map[string]bool{}
	for _, g := range stacks() {
		ids[g.id] = true
	}
	return func(c *config) {
		for id := range ids {
			c.ignore[id] = true
		}
	}
}

// VerifyTestMain runs the tests, then fails the test binary if goroutines
// other than the runtime's and the testing package's are left.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Find(); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// VerifyNone fails t if goroutines other than the runtime's, the testing
// package's and those opts ignore are still running after a grace period.
func VerifyNone(t testing.TB, opts ...Option) {
	t.Helper()
	if err := Find(opts...); err != nil {
		t.Error(err)
	}
}

// Find waits up to a few seconds for unexpected goroutines to end and
// returns an error listing those that did not.
func Find(opts ...Option) error {
	cfg := config{ignore: map[string]bool{}, settle: settle}
	for _, o := range opts {
		o(&cfg)
	}
	deadline := time.Now().Add(cfg.settle)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var left []string
		for _, g := range stacks() {
			if !g.self && !cfg.ignore[g.id] && !expected(g.stack) {
				left = append(left, g.stack)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("found %d unexpected goroutines:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(wait)
	}
}

type goroutine struct {
	id    string
	self  bool
	stack string
}

// stacks returns every goroutine's stack, the caller's marked self.
func stacks() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, s := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(s, "\n")
		id, _, _ := strings.Cut(strings.TrimPrefix(head, "goroutine "), " ")
		out = append(out, goroutine{id: id, self: i == 0, stack: s})
	}
	return out
}

// expected reports goroutines of the runtime and the testing package, as
// goleak's default filters do. runtime.Stack leaves out runtime frames, so
// the first frame is the function that is waiting.
func expected(stack string) bool {
	_, frames, _ := strings.Cut(stack, "\n")
	first, _, _ := strings.Cut(frames, "\n")
	if i := strings.LastIndex(first, "("); i > 0 {
		first = first[:i]
	}
	if i := strings.LastIndex(first, "/"); i >= 0 {
		first = first[i+1:]
	}
	switch {
	case strings.HasPrefix(first, "testing."): // waiting for tests and subtests
		return true
	case first == "signal.signal_recv", first == "signal.loop", first == "runtime.ensureSigM":
		return true
	}
	return strings.Contains(stack, "internal/fuzz.") || strings.Contains(stack, "runtime/trace.")
}

package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func TestFindsAndIgnores(t *testing.T) {
	quick := func(c *config) { c.settle = 200 * time.Millisecond }
	before := IgnoreCurrent()
	done := make(chan struct{})
	go func() { <-done }()
	err := Find(before, quick)
	if err == nil || !strings.Contains(err.Error(), "TestFindsAndIgnores.func") {
		t.Fatalf("Find = %v, want the blocked goroutine", err)
	}
	if err := Find(IgnoreCurrent(), quick); err != nil {
		t.Fatalf("IgnoreCurrent did not ignore it: %v", err)
	}
	close(done)
	VerifyNone(t, before) // it exits: the grace period covers it
}

func TestSubtestsAreExpected(t *testing.T) {
	t.Run("sub", func(t *testing.T) {
		t.Parallel()
		VerifyNone(t)
	})
	t.Run("sub2", func(t *testing.T) { VerifyNone(t) })
}

func TestMain(m *testing.M) { VerifyTestMain(m) }

package kafkanattest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: clusters,
// proxies and clients must stop everything they start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

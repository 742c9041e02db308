package testkit_test

import (
	"testing"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// servers must stop everything they start.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

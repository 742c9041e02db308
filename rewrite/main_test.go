package rewrite_test

import (
	"testing"

	"github.com/kafkanat/kafkanat/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

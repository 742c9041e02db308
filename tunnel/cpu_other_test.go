//go:build !unix

package tunnel_test

import "time"

// processCPU is not measured here: always zero, and benchmarks report no
// CPU time.
func processCPU() time.Duration { return 0 }

//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

// setProcAttr does nothing: outside Linux the harness stops the forwarder
// alone (its forked children end with their connections).
func setProcAttr(*exec.Cmd) {}

// terminate stops a forwarder we started.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// kill stops a forwarder we started.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// cpuTime is not measured outside Linux: it is always zero, and the
// report shows no CPU cost.
func cpuTime() time.Duration { return 0 }

// processCPU is not measured outside Linux: always zero.
func processCPU(int) time.Duration { return 0 }

// processRSS is not measured outside Linux.
func processRSS(int) (int64, error) {
	return 0, errors.New("resident memory is read from /proc, on Linux only")
}

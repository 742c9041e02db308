//go:build !linux

package main

import (
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

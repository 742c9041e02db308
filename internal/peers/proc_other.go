//go:build !linux

package peers

import (
	"os"
	"os/exec"
)

// setProcAttr leaves the process attributes alone: the peers are Debian
// packages, and only Linux gets process-group handling.
func setProcAttr(*exec.Cmd) {}

// terminate stops the peer; without process groups there is no gentler
// portable signal.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Kill) }

// kill stops the peer at once.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Kill) }

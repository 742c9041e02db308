package peers

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the peer in its own process group, so that stopping it
// also stops the children it forks (danted does), and has the kernel kill it
// if the test process dies before its cleanup runs.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminate asks the peer's process group to exit.
func terminate(cmd *exec.Cmd) {
	// The group id is the pid of the peer we started (Setpgid).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}

// kill stops the peer's process group at once.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

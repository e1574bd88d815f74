//go:build unix

package azurite

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// ownProcessGroup makes Azurite the leader of a new process group, so Stop
// reaches anything it spawned, and (on Linux) asks the kernel to send it
// SIGTERM if the Go process dies first — a test binary killed by -timeout
// then does not leave an emulator behind.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends sig to Azurite's whole process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	err := syscall.Kill(-cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

func terminate(cmd *exec.Cmd) error { return signalGroup(cmd, syscall.SIGTERM) }
func kill(cmd *exec.Cmd) error      { return signalGroup(cmd, syscall.SIGKILL) }

// waitGroupGone polls until no process is left in Azurite's group, or
// reports false after timeout. While any member lives, the group
// id cannot be reused, so the final SIGKILL cannot hit a stranger.
func waitGroupGone(cmd *exec.Cmd, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := syscall.Kill(-cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

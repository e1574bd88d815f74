//go:build !unix

package azurite

import (
	"os/exec"
	"time"
)

// Without process groups only the direct child can be ended. On Windows the
// npm launcher is a .cmd wrapper, so node may outlive Stop there; Linux and
// macOS are the supported development platforms.
func ownProcessGroup(*exec.Cmd) {}

func terminate(cmd *exec.Cmd) error { return cmd.Process.Kill() }
func kill(cmd *exec.Cmd) error      { return cmd.Process.Kill() }

func waitGroupGone(*exec.Cmd, time.Duration) bool { return true }

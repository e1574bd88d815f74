//go:build unix && !linux

package azurite

import "syscall"

// setParentDeathSignal is a no-op: only Linux has Pdeathsig. Call Stop (or
// azuritetest.Main) to end Azurite.
func setParentDeathSignal(*syscall.SysProcAttr) {}

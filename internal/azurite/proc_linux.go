package azurite

import "syscall"

// setParentDeathSignal uses Pdeathsig. The kernel sends it when the thread
// that started the child exits, not the process; the Go runtime only ends
// threads whose goroutine exits while locked with runtime.LockOSThread,
// which nothing here does.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }

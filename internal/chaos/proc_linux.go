package chaos

import "syscall"

// procAttr asks the kernel to kill a worker if the driver dies first, so
// that an interrupted run leaves no worker behind. (Pdeathsig follows the
// thread that started the child; the Go runtime only ends threads locked
// with runtime.LockOSThread, which nothing here does.)
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

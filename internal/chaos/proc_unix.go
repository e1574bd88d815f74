//go:build unix

package chaos

import (
	"os"
	"syscall"
)

var (
	sigTerm = syscall.SIGTERM
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)

func signal(p *os.Process, s syscall.Signal) error { return p.Signal(s) }

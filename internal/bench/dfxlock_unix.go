//go:build unix

package bench

import (
	"os"
	"syscall"
)

// lockDfxRef takes the machine-wide dfx-ref lock (flock on
// /tmp/dfx-ref.lock, the lock `flock /tmp/dfx-ref.lock dfx-ref ...` takes),
// waiting for it; unlock releases it.
func lockDfxRef() (unlock func(), err error) {
	f, err := os.OpenFile(dfxLockPath, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

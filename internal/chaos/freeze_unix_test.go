//go:build unix

package chaos

import (
	"os"
	ossignal "os/signal"
	"strconv"
	"syscall"
)

// freezeOnce stops this process with SIGSTOP if $AZDURABLE_CHAOS_FREEZE
// names a marker file that does not exist yet, after writing its pid in
// it; the test continues the process with SIGCONT.
func freezeOnce() {
	path := os.Getenv(envFreeze)
	if path == "" {
		return
	}
	// Written under a name of its own, then linked to the marker's name:
	// the link fails if the marker exists, and a reader never sees a
	// partial pid.
	own := path + "." + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(own, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return
	}
	if err := os.Link(own, path); err != nil {
		return // another process froze already
	}
	// The stop can take effect a moment after kill returns (seen on a
	// loaded machine: the episode went on and committed before the process
	// stopped, and the test waited for a stale commit that never came), so
	// the code waits here until the test has continued the process.
	cont := make(chan os.Signal, 1)
	ossignal.Notify(cont, syscall.SIGCONT)
	defer ossignal.Stop(cont)
	_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	<-cont
}

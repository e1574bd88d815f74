package azurestorage

import (
	"testing"
	"time"
)

// TestControlQueueWaitsWhileBusy: a process that has seen work within
// busyWindow waits at most busyPoll between empty polls of its control
// queues, since starts, events and results sent by other processes wake
// nobody here; after busyWindow without work the back-off is unbounded
// again.
func TestControlQueueWaitsWhileBusy(t *testing.T) {
	f := &activityFetcher{}
	f.sawWork(time.Now())
	if got := f.busyCap(); got != busyPoll {
		t.Fatalf("busyCap just after work = %v, want %v", got, busyPoll)
	}
	f.sawWork(time.Now().Add(-busyWindow - time.Second))
	if got := f.busyCap(); got != 0 {
		t.Fatalf("busyCap a while after the last work = %v, want 0 (no bound)", got)
	}
}

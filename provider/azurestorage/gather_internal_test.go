package azurestorage

import (
	"testing"
	"time"
)

// TestGatherWaitsForHalfTheSlots: while the queue has work, the next
// receive waits until half of the slots seen are free, or at most as long
// as the last receive took; a caller that starts waiting meanwhile ends
// the wait as soon as the half is reached. The test asserts which of these
// ended the wait, never how long it took.
func TestGatherWaitsForHalfTheSlots(t *testing.T) {
	newFetcher := func(peak, waiting int) *activityFetcher {
		return &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), peak: peak, waiting: waiting}
	}
	// start runs gather in the background; ends fails the test unless
	// that gather returns within a generous deadline.
	start := func(f *activityFetcher, rtt time.Duration) chan struct{} {
		done := make(chan struct{})
		go func() { f.gather(rtt); close(done) }()
		return done
	}
	ends := func(done chan struct{}, why string) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal(why)
		}
	}
	// Half the slots free already: no wait, even for a slow service.
	ends(start(newFetcher(10, 5), time.Hour), "gather waited although half of the slots were free")

	// One slot free of ten and a slow last receive: the wait lasts until
	// slots free up, which a waiting caller announces.
	f := newFetcher(10, 1)
	done := start(f, time.Hour)
	for i := 0; i < 4; i++ {
		f.mu.Lock()
		f.waiting++
		f.broadcastLocked()
		f.mu.Unlock()
		select {
		case <-done:
			if f.freeLocked() < 5 {
				t.Fatalf("gather ended with %d slots free, fewer than half of 10", f.freeLocked())
			}
		default:
		}
	}
	ends(done, "gather went on waiting with half of the slots free")

	// Too few free slots and a fast service: the wait is capped by the
	// last receive's time (and by gatherCap), and ends without more slots.
	ends(start(newFetcher(10, 1), time.Millisecond), "gather waited longer than the last receive took")
	ends(start(newFetcher(10, 1), time.Hour), "gather waited longer than gatherCap")

	// Nothing known of the last receive: no wait.
	newFetcher(10, 0).gather(0)
}

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
	// Half the slots free already: no wait, even for a slow service.
	f := newFetcher(10, 5)
	done := make(chan struct{})
	go func() { f.gather(time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("gather waited although half of the slots were free")
	}

	// One slot free of ten and a slow last receive: the wait lasts until
	// slots free up, which a waiting caller announces.
	f = newFetcher(10, 1)
	done = make(chan struct{})
	go func() { f.gather(time.Hour); close(done) }()
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
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("gather went on waiting with half of the slots free")
	}

	// Too few free slots and a fast service: the wait is capped by the
	// last receive's time (and by gatherCap), and ends without more slots.
	f = newFetcher(10, 1)
	done = make(chan struct{})
	go func() { f.gather(time.Millisecond); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("gather waited longer than the last receive took")
	}
	f = newFetcher(10, 1)
	done = make(chan struct{})
	go func() { f.gather(time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("gather waited longer than gatherCap")
	}

	// Nothing known of the last receive: no wait.
	newFetcher(10, 0).gather(0)
}

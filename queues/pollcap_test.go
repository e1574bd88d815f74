package queues

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPollerWaitCap: while WaitCap returns a bound, no wait after an empty
// poll exceeds it (the back-off still counts the empty polls); once it
// returns 0 the waits follow the back-off again, from where it got to.
func TestPollerWaitCap(t *testing.T) {
	fq := &fakeQueue{}
	for range 9 {
		fq.answers = append(fq.answers, empty)
	}
	fq.answers = append(fq.answers, one("a"))
	bound := time.Second
	p, err := newPoller("q", fq.recv, &PollerOptions{Rand: constRand(0.5), Logger: quietLogger(),
		WaitCap: func() time.Duration { return bound }})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waits = append(waits, d)
		if len(waits) == 8 {
			bound = 0 // the process has seen no work for a while
		}
		return false, nil
	}
	if msgs, err := p.Next(t.Context()); err != nil || len(msgs) != 1 {
		t.Fatalf("Next = %v, %v", msgs, err)
	}
	// The eighth wait (1650 ms by the back-off) is bounded; the ninth,
	// unbounded, is the back-off's next.
	want := []time.Duration{0, 50 * ms, 100 * ms, 150 * ms, 250 * ms, 450 * ms, 850 * ms, time.Second, 3250 * ms}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits\n got %v\nwant %v", waits, want)
	}
}

package queues

import (
	"context"
	"testing"
	"time"
)

// TestPollerWakesOnSendAzurite: a poller of a real queue that sits at the
// 30 s default back-off receives a message sent by Send in the same process
// before that back-off would have expired. Without the wake-up the wait
// would run its full 30 s and the deadline below would fail the test.
func TestPollerWakesOnSendAzurite(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t, 0)
	p, err := NewPoller(q, &PollerOptions{Wakeups: h.wake, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	saturate(p)
	type wait struct {
		d     time.Duration
		start time.Time
	}
	waits := make(chan wait, 16)
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waits <- wait{d, time.Now()}
		return sleep(ctx, d, wake)
	}
	ctx, cancel := context.WithTimeout(t.Context(), DefaultMaxPollInterval-5*time.Second)
	defer cancel()
	type result struct {
		msgs []*Message
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := p.Next(ctx)
		done <- result{msgs, err, time.Now()}
	}()
	w := <-waits // the first (empty) poll is over; the poller now waits
	if w.d != DefaultMaxPollInterval {
		t.Fatalf("poller waits %v after an empty poll, want the 30 s cap", w.d)
	}
	sent, err := q.Send(t.Context(), `{"wake":"up"}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Next: %v (the send did not wake the poller)", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != sent.ID {
		t.Fatalf("received %d messages, want the one sent", len(r.msgs))
	}
	if !r.at.Before(w.start.Add(w.d)) {
		t.Fatalf("received at %v, not before the back-off ended at %v", r.at, w.start.Add(w.d))
	}
}

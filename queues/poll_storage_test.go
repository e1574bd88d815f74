package queues

import (
	"context"
	"testing"
	"time"
)

// TestPollerWakesOnSendAzurite: a poller of a real queue that sits at the
// 30 s default back-off receives a message sent by Send in the same process
// before that back-off would have expired: its wait ends because it was
// woken, not because its timer ran out. (The test waits for the outcome
// with a deadline of minutes, and asserts how the wait ended, never how
// long it took.)
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
	woken := make(chan bool, 16)
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waits <- wait{d, time.Now()}
		ok, err := sleep(ctx, d, wake)
		woken <- ok
		return ok, err
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
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
		t.Fatalf("Next: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != sent.ID {
		t.Fatalf("received %d messages, want the one sent", len(r.msgs))
	}
	if !<-woken {
		t.Fatalf("the poller's wait ran its full %v (from %v) instead of being woken by the send", w.d, w.start.Format(time.RFC3339Nano))
	}
}

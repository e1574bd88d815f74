package memory

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider"
)

// The back-off of a give-back counts the give-backs since the instance
// last moved: a long-lived instance (a schedule, an entity, an eternal
// monitor) whose commits fail now and then, each time for a reason of the
// storage, must not have its messages held back for ten minutes after a
// dozen such failures spread over its life.
func TestGiveBackBackOffRestartsAfterProgress(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	for round := 0; round < 8; round++ {
		wi := f.lock()
		d, err := f.b.GiveBackOrchestration(f.ctx, wi, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := provider.GiveBackDelay(provider.StalledOrchestration, 1); d != want {
			t.Fatalf("round %d: a give-back after progress waits %v, want %v (the first give-back's)", round, d, want)
		}
		f.clock.Advance(d)
		wi = f.lock()
		f.commit(wi, f.episode(wi, timerCreated(int32(round), f.now().Add(time.Second), f.now())))
		f.clock.Advance(time.Second)
	}
	// Give-backs with no progress between them still back off.
	wi := f.lock()
	d1, _ := f.b.GiveBackOrchestration(f.ctx, wi, nil)
	f.clock.Advance(d1)
	wi = f.lock()
	d2, _ := f.b.GiveBackOrchestration(f.ctx, wi, nil)
	if d2 <= d1 {
		t.Fatalf("a second give-back without progress waits %v, the first %v", d2, d1)
	}
}

package azurestorage

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider"
)

// The back-off of a give-back counts the give-backs since the instance
// last moved (a commit that succeeded), so that a long-lived instance
// whose commits fail now and then is never held back for ten minutes; the
// memory that this backend gave the instance back stays.
func TestGiveBackBackOffRestartsAfterProgress(t *testing.T) {
	var d diagState
	key := orchGiveBackKey("i")
	now := time.Now()
	for round := 0; round < 8; round++ {
		if n := d.count(key, now); n != 1 {
			t.Fatalf("round %d: give-back number %d after a commit, want 1 (delay %v)", round, n,
				provider.GiveBackDelay(provider.StalledOrchestration, n))
		}
		d.forget(key) // the episode committed
	}
	d.count(key, now)
	if n := d.count(key, now); n != 2 {
		t.Fatalf("two give-backs without progress count %d", n)
	}
	d.forget(key)
	if !d.gaveBack(key, now) {
		t.Fatal("a commit made the backend forget that it gave the instance back")
	}
}

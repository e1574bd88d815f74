package azurestorage

import (
	"testing"

	"github.com/azdurable/azdurable/provider"
)

// TestReserveLocalDuringAReceive: a receive in flight, which was asked for
// every free slot, does not make this process's commits send their
// activities visible (each would then cost a receive to fetch back). If
// the receive returns more items than the slots the reservations left,
// local items go back to the queue as the surplus, newest first, so that
// nothing is kept back that no slot can start at once; a received item is
// never given back that way, since every give-back of one raises its
// dequeue count towards the poison limit.
func TestReserveLocalDuringAReceive(t *testing.T) {
	f := &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), waiting: 3}
	f.receiving = f.freeLocked() // the loop asks for every free slot
	if !f.reserveLocal() || !f.reserveLocal() {
		t.Fatal("a receive in flight refused local reservations")
	}
	if f.reserveLocal() && f.reserveLocal() {
		t.Fatal("more reservations than waiting slots were granted")
	}
	received := func(id string) queuedItem { return queuedItem{wi: &provider.ActivityWorkItem{ID: id}} }
	local := func(id string) queuedItem {
		return queuedItem{wi: &provider.ActivityWorkItem{ID: id, Private: &activityLock{local: true}}}
	}
	ids := func(items []queuedItem) []string {
		var out []string
		for _, q := range items {
			out = append(out, q.wi.ID)
		}
		return out
	}

	// The receive returned two items, then both reserved items are
	// offered: one slot too few.
	f.items = []queuedItem{received("a"), received("b"), local("l1"), local("l2")}
	f.reserved = 0
	surplus := f.surplusLocked()
	if len(surplus) != 1 || surplus[0].ID != "l2" {
		t.Fatalf("surplus %v, want the newest local item l2", surplus)
	}
	if got := ids(f.items); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "l1" {
		t.Fatalf("kept %v, want a b l1", got)
	}

	// Received items beyond the callers stay for the next free slot.
	g := &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), waiting: 1}
	g.items = []queuedItem{received("a"), received("b"), received("c")}
	if s := g.surplusLocked(); len(s) != 0 || len(g.items) != 3 {
		t.Fatalf("received items given back: %v (kept %v)", s, ids(g.items))
	}
	// With a caller for every item nothing is surplus.
	h := &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), waiting: 2}
	h.items = []queuedItem{received("a"), local("l")}
	if s := h.surplusLocked(); len(s) != 0 {
		t.Fatalf("surplus %v with a slot for every item", s)
	}
}

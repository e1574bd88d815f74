package azurestorage

import (
	"testing"

	"github.com/azdurable/azdurable/provider"
)

// TestReserveLocalDuringAReceive: a receive in flight, which was asked for
// every free slot, does not make this process's commits send their
// activities visible (each would then cost a receive to fetch back); if
// the receive returns more items than the slots the reservations left, the
// surplus (the newest received items) goes back to the queue, so nothing
// is kept back that no slot can start at once.
func TestReserveLocalDuringAReceive(t *testing.T) {
	f := &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), waiting: 3}
	f.receiving = f.freeLocked() // the loop asks for every free slot
	if !f.reserveLocal() || !f.reserveLocal() {
		t.Fatal("a receive in flight refused local reservations")
	}
	// The receive returns two items: one slot is left for them.
	a, b := &provider.ActivityWorkItem{ID: "a"}, &provider.ActivityWorkItem{ID: "b"}
	f.receiving = 0
	f.items = append(f.items, queuedItem{wi: a}, queuedItem{wi: b})
	surplus := f.surplusLocked(2)
	if len(surplus) != 1 || surplus[0] != b || len(f.items) != 1 || f.items[0].wi != a {
		t.Fatalf("surplus %v, kept %v; want b given back and a kept", surplus, f.items)
	}
	if f.reserveLocal() {
		t.Fatal("a reservation beyond the waiting slots was granted")
	}
	// Without reservations nothing received is surplus.
	g := &activityFetcher{b: &Backend{}, running: true, notify: make(chan struct{}), waiting: 2}
	g.items = append(g.items, queuedItem{wi: a}, queuedItem{wi: b})
	if s := g.surplusLocked(2); len(s) != 0 {
		t.Fatalf("surplus %v with a slot for every item", s)
	}
}

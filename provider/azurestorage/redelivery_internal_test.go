package azurestorage

import (
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/queues"
)

// TestRedeliveryWhileHeld: a control message whose visibility runs out
// while an episode holds it is received again by the partition's dequeue
// loop, which keeps the newer delivery for the holder. The loop used to
// swap the holder's message under its feet, a data race the race detector
// reported in a worker of the split-brain chaos test (a worker paused
// longer than the visibility). Here the redelivery is received while the
// holder deletes the message, and then, on a second message, before it
// does: the delete must use the newer pop receipt.
func TestRedeliveryWhileHeld(t *testing.T) {
	b, _, ctx := newCreatedHub(t)
	var err error
	q := b.control[0]
	p := &ownedPartition{name: q.Name(), queue: q, held: map[string]*pending{}}
	// held receives one message as the dequeue loop does, then again once
	// its visibility has run out.
	held := func(name string) (*pending, *queues.Message) {
		t.Helper()
		if err := b.SendMessages(ctx, &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "held"},
			Event: &history.EventRaisedEvent{Name: name, EventBase: history.EventBase{EventID: -1, Timestamp: time.Now()}}}); err != nil {
			t.Fatal(err)
		}
		var first []*queues.Message
		azuritetest.WaitFor(t, 3*time.Minute, "the message", func() (bool, error) {
			first, err = q.Receive(ctx, 1, time.Second)
			return len(first) == 1, err
		})
		pm := b.receive(ctx, p, first[0])
		if pm == nil {
			t.Fatal("the first delivery was not taken")
		}
		b.mu.Lock()
		p.held[pm.raw.ID] = pm
		b.mu.Unlock()
		var again []*queues.Message
		azuritetest.WaitFor(t, 3*time.Minute, "the redelivery", func() (bool, error) {
			again, err = q.Receive(ctx, 1, time.Minute)
			return len(again) == 1, err
		})
		if again[0].ID != pm.raw.ID {
			t.Fatalf("received %s, want the redelivery of %s", again[0].ID, pm.raw.ID)
		}
		return pm, again[0]
	}

	pm, again := held("concurrent")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = b.receive(ctx, p, again) }()
	go func() { defer wg.Done(); b.deleteMessages(ctx, []*pending{pm}) }()
	wg.Wait()

	pm, again = held("sequential")
	if got := b.receive(ctx, p, again); got != nil {
		t.Fatal("a redelivery of a held message was delivered a second time")
	}
	b.deleteMessages(ctx, []*pending{pm})
	// Only the concurrent message can be left: deleted with the pop
	// receipt that no longer worked if the redelivery came second.
	if n, err := q.ApproximateCount(ctx); err != nil || n > 1 {
		t.Fatalf("%d messages left (%v): the held message was deleted with a stale pop receipt", n, err)
	}
}

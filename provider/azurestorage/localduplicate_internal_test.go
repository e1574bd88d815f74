package azurestorage

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/queues"
)

// TestDuplicateLocalResultsKeepTheirWorkItem: an activity's work item stays
// on its queue, held (hidden, renewed), until the episode that records the
// result handed over in memory commits. When the hold lapses first (its
// renewals failed for a hold time on a loaded storage, or the process was
// paused), this process can receive the work item again, run the activity
// again, and both results wait in the instance's session for the same work
// item. The second is a duplicate; discarding it must not delete that work
// item, which the kept result still depends on: a process killed before
// the commit would then lose the result for good (a fan-out waited for
// ever for five of its results in make chaos on a loaded machine). Only
// the newer delivery's pop receipt works, so the kept result takes over
// its hold.
func TestDuplicateLocalResultsKeepTheirWorkItem(t *testing.T) {
	b, _, ctx := newCreatedHub(t)
	var err error
	q := b.workitems
	if _, err := q.SendQuiet(ctx, "work item", 0); err != nil {
		t.Fatal(err)
	}
	// The first hold lapses (received for a second only) and the work
	// item is received again.
	var first, again []*queues.Message
	azuritetest.WaitFor(t, 3*time.Minute, "the work item", func() (bool, error) {
		first, err = q.Receive(ctx, 1, time.Second)
		return len(first) == 1, err
	})
	h1 := b.keep.add(first[0], time.Now())
	azuritetest.WaitFor(t, 3*time.Minute, "the work item again", func() (bool, error) {
		again, err = q.Receive(ctx, 1, b.hold)
		return len(again) == 1, err
	})
	if again[0].ID != first[0].ID {
		t.Fatalf("received %s, want %s again", again[0].ID, first[0].ID)
	}
	h2 := b.keep.add(again[0], time.Now())

	inst := history.OrchestrationInstance{InstanceID: "local-duplicate", ExecutionID: "e1"}
	p := &ownedPartition{name: b.control[0].Name(), queue: b.control[0], held: map[string]*pending{}}
	result := func(h *hold) *pending {
		raw := h.snapshot()
		raw.InsertionTime = time.Now().UTC()
		return &pending{part: p, q: q, raw: &raw, local: true, h: h, data: &queues.MessageData{TaskMessage: &history.TaskMessage{
			OrchestrationInstance: inst, Event: &history.TaskCompletedEvent{TaskScheduledID: 0, Result: history.Str("1"),
				EventBase: history.EventBase{EventID: -1, Timestamp: time.Now()}}}}}
	}
	s := &session{id: inst.InstanceID, part: p, locked: true, known: true, execID: inst.ExecutionID,
		index: rules.NewHistoryIndex([]history.Event{
			&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
			&history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "O", EventBase: history.EventBase{EventID: -1}},
			&history.TaskScheduledEvent{Name: "A", EventBase: history.EventBase{EventID: 0}},
			&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}},
		})}
	wi, err := b.prepare(ctx, s, []*pending{result(h1), result(h2)})
	if err != nil {
		t.Fatal(err)
	}
	if wi == nil || len(wi.Messages) != 1 {
		t.Fatalf("work item %+v, want the one result", wi)
	}
	// The kept result can still put its work item back (what an abandoned
	// episode does) with the pop receipt that works: the work item is
	// still there.
	kept := wi.Private.(*lockState).msgs
	if len(kept) != 1 {
		t.Fatalf("the work item holds %d messages, want 1", len(kept))
	}
	if err := kept[0].h.release(ctx, 0); err != nil {
		t.Fatalf("the kept result's work item: %v", err)
	}
	azuritetest.WaitFor(t, 3*time.Minute, "the work item to be visible again", func() (bool, error) {
		msgs, err := q.Receive(ctx, 1, time.Minute)
		return len(msgs) == 1 && msgs[0].ID == first[0].ID, err
	})
	if n := b.keep.held(); n != 0 {
		t.Fatalf("%d holds still renewed, want none", n)
	}
}

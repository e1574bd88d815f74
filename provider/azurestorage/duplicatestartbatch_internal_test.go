package azurestorage

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/tables"
)

// TestDuplicateStartDoesNotHideTheCurrentExecution: a client's start
// whose episode continued as new at once, and whose message was not
// deleted (the worker was killed after the commit, or its delete carried
// a pop receipt a redelivery had replaced), comes back in one batch with
// the next generation's activity result. The start is a duplicate and is
// not run, but the batch's history was read for the start's execution:
// the current one looked absent, the result was put back as out of order
// and, once it had come back with the start 5 times, dropped as belonging
// to no instance; the instance waited for ever (make chaos under load).
func TestDuplicateStartDoesNotHideTheCurrentExecution(t *testing.T) {
	b, hub, ctx := newCreatedHub(t)
	const id = "duplicate-start-batch"
	at := time.Now().UTC()
	gen := int32(0)
	first := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: id, ExecutionID: "s0"},
		Name: "Counter", Input: history.Str("0"), Generation: &gen, EventBase: history.EventBase{EventID: -1, Timestamp: at}}
	if _, err := b.inst.Insert(ctx, tables.PendingInstanceRow(first, hub, "", at)); err != nil {
		t.Fatal(err)
	}
	if err := b.SendMessages(ctx, &history.TaskMessage{OrchestrationInstance: first.OrchestrationInstance, Event: first}); err != nil {
		t.Fatal(err)
	}
	q := b.control[0]
	p := &ownedPartition{name: q.Name(), queue: q, held: map[string]*pending{}}
	receive := func(want int, visibility time.Duration) []*pending {
		t.Helper()
		var got []*pending
		azuritetest.WaitFor(t, 3*time.Minute, "control messages", func() (bool, error) {
			msgs, err := q.Receive(ctx, 32, visibility)
			for _, m := range msgs {
				if pm := b.receive(ctx, p, m); pm != nil {
					got = append(got, pm)
				}
			}
			return len(got) >= want, err
		})
		return takeBatch(&session{pending: got})
	}

	// The start's episode continues as new into c at once; its message is
	// received again before the commit deletes it.
	wi, err := b.prepare(ctx, &session{id: id, part: p, locked: true}, receive(1, time.Second))
	if err != nil || wi == nil {
		t.Fatalf("first work item %+v: %v", wi, err)
	}
	again := receive(1, b.opts.ControlQueueVisibility)
	c := history.OrchestrationInstance{InstanceID: id, ExecutionID: "c"}
	if err := b.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewExecution: true, NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}},
		&history.ExecutionStartedEvent{OrchestrationInstance: c, Name: "Counter", Input: history.Str("1"), EventBase: history.EventBase{EventID: -1, Timestamp: at}},
		&history.TaskScheduledEvent{Name: "Add", EventBase: history.EventBase{EventID: 0, Timestamp: at}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}},
	}}); err != nil {
		t.Fatal(err)
	}

	// c's activity result comes; the start shows again with it.
	if err := b.SendMessages(ctx, &history.TaskMessage{OrchestrationInstance: c,
		Event: &history.TaskCompletedEvent{TaskScheduledID: 0, Result: history.Str("1"), EventBase: history.EventBase{EventID: -1, Timestamp: at}}}); err != nil {
		t.Fatal(err)
	}
	b.current(again)
	if _, _, err := q.UpdateVisibility(ctx, again[0].raw.ID, again[0].raw.PopReceipt, again[0].raw.Text, 0); err != nil {
		t.Fatalf("the start message: %v", err)
	}
	batch := receive(2, time.Minute)
	if _, ok := batch[0].data.TaskMessage.Event.(*history.ExecutionStartedEvent); !ok {
		t.Fatalf("batch starts with %s, want the start", batch[0].data.TaskMessage.Event.Type())
	}
	wi, err = b.prepare(ctx, &session{id: id, part: p, locked: true}, batch)
	if err != nil {
		t.Fatal(err)
	}
	if wi == nil || wi.ExecutionID != "c" || len(wi.Messages) != 1 {
		t.Fatalf("work item %+v, want c's result on c's history", wi)
	}
	if _, ok := wi.Messages[0].TaskMessage.Event.(*history.TaskCompletedEvent); !ok {
		t.Fatalf("work item runs %s, want c's TaskCompleted", wi.Messages[0].TaskMessage.Event.Type())
	}
}

package azurestorage_test

import (
	"context"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// TestMessagesOfAnOlderExecutionLoseNothing: an instance's control queue
// holds results for an execution that no longer exists (a sub-orchestration
// started twice by a parent that replayed its episode, or a continue-as-new
// generation whose commit was lost) next to results and events for the
// current one. Found by the chaos run: a batch led by such a stale result
// was judged against the stale execution's (absent) history, so the
// current execution's result looked out of order until it was dropped as
// "no such instance", and the instance waited for ever; and the session,
// left believing the instance had no history, then dropped client events.
func TestMessagesOfAnOlderExecutionLoseNothing(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	backend := func(worker string) *azurestorage.Backend {
		be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, WorkerID: worker,
			MaxPollingInterval: 200 * time.Millisecond, DisableAppLease: true, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return be
	}
	a, b, c := backend("a"), backend("b"), backend("client")
	t.Cleanup(func() { _ = c.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := func() history.EventBase { return history.EventBase{EventID: -1, Timestamp: time.Now().UTC()} }
	current := history.OrchestrationInstance{InstanceID: "mix", ExecutionID: "current"}
	stale := history.OrchestrationInstance{InstanceID: "mix", ExecutionID: "stale"}
	start := &history.ExecutionStartedEvent{OrchestrationInstance: current, Name: "X", Input: history.Str(`1`), EventBase: now()}
	if err := c.CreateInstance(ctx, &history.TaskMessage{Event: start, OrchestrationInstance: current}, nil); err != nil {
		t.Fatal(err)
	}
	// The current execution scheduled task 0.
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wi, err := a.LockNextOrchestration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := &history.TaskScheduledEvent{Name: "Act", EventBase: history.EventBase{EventID: 0, Timestamp: time.Now().UTC()}}
	if err := a.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: now()}, start, scheduled, &history.OrchestratorCompletedEvent{EventBase: now()}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	result := func(to history.OrchestrationInstance, task int32) *history.TaskMessage {
		return &history.TaskMessage{OrchestrationInstance: to,
			Event: &history.TaskCompletedEvent{TaskScheduledID: task, Result: history.Str(`2`), EventBase: now()}}
	}
	// While nobody receives, a stale result and the current one arrive:
	// one batch, the stale one first.
	if err := c.SendMessages(ctx, result(stale, 0)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessages(ctx, result(current, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background(), false)
	lock := func(d time.Duration) *provider.OrchestrationWorkItem {
		lctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		wi, err := b.LockNextOrchestration(lctx)
		if err != nil {
			return nil
		}
		return wi
	}
	wi = lock(3 * time.Minute)
	if wi == nil || len(wi.Messages) != 1 || wi.Messages[0].OrchestrationInstance.ExecutionID != "current" {
		t.Fatalf("the current execution's result was not handed out: %+v", wi)
	}
	if err := b.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: now()}, wi.Messages[0].Event, &history.OrchestratorCompletedEvent{EventBase: now()}}}); err != nil {
		t.Fatal(err)
	}
	// Another stale result alone, then a client event (no execution id).
	if err := c.SendMessages(ctx, result(stale, 1)); err != nil {
		t.Fatal(err)
	}
	// Nothing may come: the short wait only bounds how long the test
	// looks for a work item that must not exist.
	if wi := lock(3 * time.Second); wi != nil {
		t.Fatalf("a stale result was handed out: %+v", wi.Messages[0])
	}
	raise := &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "mix"},
		Event: &history.EventRaisedEvent{Name: "go", Input: history.Str(`3`), EventBase: now()}}
	if err := c.SendMessages(ctx, raise); err != nil {
		t.Fatal(err)
	}
	wi = lock(3 * time.Minute)
	if wi == nil || len(wi.Messages) != 1 || wi.Messages[0].Event.Type() != history.EventRaised {
		t.Fatalf("the event was not handed out: %+v", wi)
	}
	if err := b.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: now()}, wi.Messages[0].Event, &history.OrchestratorCompletedEvent{EventBase: now()}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	// A stale result and a client event in one batch (found by the
	// schedule's SIGKILL test: a schedule's delete, raised just after a
	// continue-as-new, came with a timer of the execution before it). The
	// batch named only the stale execution, its history read came back
	// empty, and the event was dropped as for an instance without history.
	if err := c.SendMessages(ctx, result(stale, 2)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessages(ctx, raise); err != nil {
		t.Fatal(err)
	}
	b = backend("d")
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background(), false)
	wi = lock(3 * time.Minute)
	if wi == nil || len(wi.Messages) != 1 || wi.Messages[0].Event.Type() != history.EventRaised {
		t.Fatalf("the event that came with a stale result was not handed out: %+v", wi)
	}
}

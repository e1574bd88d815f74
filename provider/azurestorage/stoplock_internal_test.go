package azurestorage

import (
	"context"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
)

// A worker that is stopping cancels the context it locks work with; a
// session that is ready then stays in the queue for the next owner, however
// many lock calls are made, instead of starting a new episode.
func TestCancelledLockTakesNoReadySession(t *testing.T) {
	be, _, _ := newCreatedHub(t)
	ctx, cancelAll := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelAll()
	if err := be.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer be.Stop(context.Background(), true)
	c := client.New(be, client.Options{})
	if _, err := c.ScheduleNew(ctx, "Anything", nil, client.WithInstanceID("ready")); err != nil {
		t.Fatal(err)
	}
	// A first episode, which waits, makes the session's history known to
	// the backend: the next one needs no storage read to be prepared.
	wi, err := be.LockNextOrchestration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := func() history.EventBase { return history.EventBase{EventID: -1, Timestamp: time.Now().UTC()} }
	events := []history.Event{&history.OrchestratorStartedEvent{EventBase: now()}}
	for _, m := range wi.Messages {
		m.Event.Base().IsPlayed = true
		events = append(events, m.Event)
	}
	events = append(events, &history.OrchestratorCompletedEvent{EventBase: now()})
	if err := be.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewEvents: events}); err != nil {
		t.Fatal(err)
	}
	if err := c.RaiseEvent(ctx, "ready", "go", nil); err != nil {
		t.Fatal(err)
	}
	azuritetest.WaitFor(t, 2*time.Minute, "the instance's session to be ready", func() (bool, error) {
		be.mu.Lock()
		defer be.mu.Unlock()
		return len(be.ready) > 0, nil
	})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 {
		if wi, err := be.LockNextOrchestration(cancelled); wi != nil || err == nil {
			t.Fatalf("LockNextOrchestration with a cancelled context: %v, %v; want no work item and the context's error", wi, err)
		}
	}
	wi, err = be.LockNextOrchestration(ctx)
	if err != nil || wi == nil || wi.InstanceID != "ready" {
		t.Fatalf("LockNextOrchestration afterwards: %+v, %v; want the ready instance", wi, err)
	}
	if err := be.AbandonOrchestration(ctx, wi, 0); err != nil {
		t.Fatal(err)
	}
}

// The same for activities: a work item waiting in memory is not handed to
// a cancelled caller.
func TestCancelledLockTakesNoWaitingActivity(t *testing.T) {
	be, _, _ := newCreatedHub(t)
	if err := be.ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	wi := &provider.ActivityWorkItem{}
	f := be.act
	f.mu.Lock()
	f.items = append(f.items, queuedItem{wi: wi, at: time.Now().Add(time.Hour)}) // never stale here
	f.mu.Unlock()
	t.Cleanup(func() {
		f.mu.Lock()
		f.items = nil
		f.mu.Unlock()
	})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := be.LockNextActivity(cancelled)
	if got != nil || err == nil {
		t.Fatalf("LockNextActivity with a cancelled context: %v, %v; want no work item and the context's error", got, err)
	}
	f.mu.Lock()
	left := len(f.items)
	f.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d work items wait after the cancelled call, want 1", left)
	}
}

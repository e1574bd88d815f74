package azurestorage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
)

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %s", d, what, state)
		}
		waitTick(50 * time.Millisecond)
	}
}

// callers starts n activity callers, as a worker's n free slots, and
// waits until all of them wait in LockNextActivity.
func (h *localHub) callers(n int) <-chan *provider.ActivityWorkItem {
	h.t.Helper()
	acts := make(chan *provider.ActivityWorkItem, n)
	for range n {
		go func() {
			if wi, err := h.be.LockNextActivity(h.ctx); err == nil {
				acts <- wi
			}
		}()
	}
	waitFor(h.t, time.Minute, fmt.Sprintf("%d activity callers to wait", n), func() (bool, string) {
		got := azurestorage.WaitingActivityCallers(h.be)
		return got == n, fmt.Sprintf("%d waiting", got)
	})
	return acts
}

// fanOut runs the first episode of a new instance: it schedules n
// SayHello activities at once.
func (h *localHub) fanOut(id string, n int) *provider.OrchestrationWorkItem {
	h.t.Helper()
	c := client.New(h.be, client.Options{})
	if _, err := c.ScheduleNew(h.ctx, "Orch", "in", client.WithInstanceID(id)); err != nil {
		h.t.Fatal(err)
	}
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	start := wi.Messages[0].Event.(*history.ExecutionStartedEvent)
	now := time.Now().UTC()
	events := []history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}, start}
	var outbox []*history.TaskMessage
	for i := range n {
		in := fmt.Sprintf(`["n%d"]`, i)
		ts := &history.TaskScheduledEvent{Name: "SayHello", Input: &in, EventBase: history.EventBase{EventID: int32(i), Timestamp: now}}
		stored := *ts
		stored.Input = nil
		events = append(events, &stored)
		outbox = append(outbox, &history.TaskMessage{Event: ts, OrchestrationInstance: start.OrchestrationInstance,
			OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: map[string]string{}}})
	}
	events = append(events, &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}})
	if err := h.be.CompleteOrchestration(h.ctx, wi, &provider.EpisodeResult{NewEvents: events, Outbox: outbox}); err != nil {
		h.t.Fatal(err)
	}
	return wi
}

// visible counts the visible messages of the work-item queue.
func (h *localHub) visible() int {
	h.t.Helper()
	msgs, err := h.work.Peek(h.ctx, queues.MaxBatch)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(msgs)
}

// TestKeepsBackOnlyFreeSlots: of a fan-out of 10 activities, a backend
// whose worker has 3 free activity slots holds exactly 3 (one for each
// slot, started at once) and leaves the other 7 visible on the work-item
// queue, where every worker of the hub can take them. (It used to hold up
// to 100 for its own slots, free or not.)
func TestKeepsBackOnlyFreeSlots(t *testing.T) {
	h := newLocalHub(t, nil)
	acts := h.callers(3)
	h.fanOut("keep-3", 10)
	for range 3 {
		a := h.activity(acts)
		if a.Event.Name != "SayHello" {
			t.Fatalf("work item %+v", a)
		}
	}
	waitFor(t, time.Minute, "7 visible work items and 3 held", func() (bool, string) {
		v, held := h.visible(), azurestorage.HeldWorkItems(h.be)
		_, total := h.depths()
		return v == 7 && held == 3 && total == 10, fmt.Sprintf("%d visible, %d held, %d on the queue", v, held, total)
	})
}

// TestNoFreeSlotNothingKept: with no activity caller waiting (every slot
// busy), a fan-out keeps nothing back: every activity is visible.
func TestNoFreeSlotNothingKept(t *testing.T) {
	h := newLocalHub(t, nil)
	// A caller that gave up: the fetcher runs, but no slot is free.
	early, cancel := context.WithTimeout(h.ctx, time.Millisecond)
	_, _ = h.be.LockNextActivity(early)
	cancel()
	h.fanOut("keep-0", 5)
	waitFor(t, time.Minute, "5 visible work items", func() (bool, string) {
		v, held := h.visible(), azurestorage.HeldWorkItems(h.be)
		return v == 5 && held == 0, fmt.Sprintf("%d visible, %d held", v, held)
	})
}

// TestHeldWorkItemsAreRenewed: a work item held longer than several hold
// times — by a running activity, then as a result waiting for its commit —
// stays hidden from every other receiver (the backend renews it), and the
// commit that records the result deletes it.
func TestHeldWorkItemsAreRenewed(t *testing.T) {
	const hold = 6 * time.Second
	h := newLocalHub(t, func(o *azurestorage.Options) { o.ActivityHold = hold })
	acts := h.callers(1)
	h.fanOut("renew-1", 1)
	a := h.activity(acts)
	// Another receiver polls the queue meanwhile: it must get nothing.
	var mu sync.Mutex
	var stolen []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			msgs, err := h.work.Receive(h.ctx, 1, time.Second)
			if err == nil && len(msgs) > 0 {
				mu.Lock()
				stolen = append(stolen, msgs[0].ID)
				mu.Unlock()
			}
		}
	}()
	// The activity runs for 2.5 holds, then its result waits in the
	// session for as long again.
	waitTick(5 * hold / 2)
	if err := h.be.RenewActivity(h.ctx, a); err != nil {
		t.Fatalf("the running activity's work item is no longer held: %v", err)
	}
	if err := h.be.CompleteActivity(h.ctx, a, completed(a)); err != nil {
		t.Fatal(err)
	}
	waitTick(5 * hold / 2)
	close(stop)
	<-done
	mu.Lock()
	if len(stolen) > 0 {
		t.Fatalf("another receiver got the held work item %v: its hold was not renewed", stolen)
	}
	mu.Unlock()
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(wi.Messages) != 1 || wi.Messages[0].Event.Type() != history.TaskCompleted {
		t.Fatalf("the result's work item: %d messages", len(wi.Messages))
	}
	h.finish(wi)
	if c, w := h.depths(); c != 0 || w != 0 || azurestorage.HeldWorkItems(h.be) != 0 {
		t.Fatalf("after the commit: control %d, work items %d, held %d", c, w, azurestorage.HeldWorkItems(h.be))
	}
}

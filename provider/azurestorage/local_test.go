package azurestorage_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
)

// localHub is a one-partition hub driven through the backend API alone, so
// that every queue message of an episode can be checked.
type localHub struct {
	t       *testing.T
	be      *azurestorage.Backend
	counter *storage.CallCounter
	control *queues.Queue
	work    *queues.Queue
	ctx     context.Context
}

func newLocalHub(t *testing.T, adjust func(*azurestorage.Options)) *localHub {
	t.Helper()
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	counter := storage.NewCallCounter(acct.Endpoints())
	o := azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, MaxPollingInterval: 200 * time.Millisecond,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}}, Logger: quiet()}
	if adjust != nil {
		adjust(&o)
	}
	be, err := azurestorage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if err := be.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Stop(context.Background(), true) })
	qs, _ := acct.QueueService(nil)
	return &localHub{t: t, be: be, counter: counter, ctx: ctx,
		control: queues.NewQueue(qs, be.Resources().ControlQueues[0], nil), work: queues.NewQueue(qs, be.Resources().WorkItemQueue, nil)}
}

// depths returns the approximate message counts of the control and the
// work-item queue, hidden messages included.
func (h *localHub) depths() (control, work int) {
	h.t.Helper()
	c, err := h.control.ApproximateCount(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := h.work.ApproximateCount(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return c, w
}

func (h *localHub) count(category, op string) int64 {
	return h.counter.Snapshot().Counts[storage.CallKey{Service: "queue", Category: category, Operation: op}]
}

// scheduleOne runs the first episode of a new instance: it schedules
// SayHello as task 0. An activity caller is waiting first, as a worker's
// would be.
func (h *localHub) scheduleOne(id string) (*provider.OrchestrationWorkItem, <-chan *provider.ActivityWorkItem) {
	h.t.Helper()
	c := client.New(h.be, client.Options{})
	if _, err := c.ScheduleNew(h.ctx, "Orch", "in", client.WithInstanceID(id)); err != nil {
		h.t.Fatal(err)
	}
	// A caller that gives up at once still starts the activity fetcher, so
	// the backend knows this process runs activities before the episode
	// commits (the goroutine below may not have called yet).
	early, cancel := context.WithTimeout(h.ctx, time.Millisecond)
	_, _ = h.be.LockNextActivity(early)
	cancel()
	acts := make(chan *provider.ActivityWorkItem, 1)
	go func() {
		wi, err := h.be.LockNextActivity(h.ctx)
		if err == nil {
			acts <- wi
		}
		close(acts)
	}()
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	start := wi.Messages[0].Event.(*history.ExecutionStartedEvent)
	self := start.OrchestrationInstance
	now := time.Now().UTC()
	in := `["x"]`
	ts := &history.TaskScheduledEvent{Name: "SayHello", Input: &in, EventBase: history.EventBase{EventID: 0, Timestamp: now}}
	stored := *ts
	stored.Input = nil
	res := &provider.EpisodeResult{NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}, start, &stored,
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}},
		Outbox: []*history.TaskMessage{{Event: ts, OrchestrationInstance: self,
			OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: map[string]string{}}}}}
	if err := h.be.CompleteOrchestration(h.ctx, wi, res); err != nil {
		h.t.Fatal(err)
	}
	return wi, acts
}

func (h *localHub) activity(acts <-chan *provider.ActivityWorkItem) *provider.ActivityWorkItem {
	h.t.Helper()
	select {
	case a, ok := <-acts:
		if !ok {
			h.t.Fatal("no activity work item")
		}
		return a
	case <-h.ctx.Done():
		h.t.Fatal("timed out waiting for the activity work item")
	}
	return nil
}

func completed(a *provider.ActivityWorkItem) history.Event {
	out := `"Hello x!"`
	return &history.TaskCompletedEvent{TaskScheduledID: a.Event.EventID, Result: &out,
		EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}}
}

// finish commits the episode that takes in the activity's result and
// completes the instance.
func (h *localHub) finish(wi *provider.OrchestrationWorkItem) {
	h.t.Helper()
	now := time.Now().UTC()
	out := `"Hello x!"`
	events := []history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}}
	for _, m := range wi.Messages {
		events = append(events, m.Event)
	}
	events = append(events, &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, Result: &out,
		EventBase: history.EventBase{EventID: 1, Timestamp: now}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}})
	if err := h.be.CompleteOrchestration(h.ctx, wi, &provider.EpisodeResult{NewEvents: events}); err != nil {
		h.t.Fatal(err)
	}
}

// TestLocalActivityAndResult: the activity an episode schedules is enqueued
// hidden and handed to this backend's waiting activity caller without a
// receive; its result goes to the session without a control-queue message;
// the work item stays on its queue (hidden) until the commit that records
// the result deletes it.
func TestLocalActivityAndResult(t *testing.T) {
	h := newLocalHub(t, nil)
	_, acts := h.scheduleOne("local-1")
	a := h.activity(acts)
	if a.Event.Name != "SayHello" || a.Event.Input == nil || *a.Event.Input != `["x"]` || a.DequeueCount != 1 {
		t.Fatalf("work item %+v", a)
	}
	if _, w := h.depths(); w != 1 {
		t.Fatalf("work-item queue holds %d messages, want the 1 hidden work item", w)
	}
	if msgs, err := h.work.Peek(h.ctx, 1); err != nil || len(msgs) != 0 {
		t.Fatalf("the work item is visible (%d, %v); it must stay hidden while this process runs it", len(msgs), err)
	}
	controlSends := h.count("control", "enqueue")
	if err := h.be.CompleteActivity(h.ctx, a, completed(a)); err != nil {
		t.Fatal(err)
	}
	if n := h.count("control", "enqueue"); n != controlSends {
		t.Fatalf("the result was sent to the control queue (%d enqueues, want %d)", n, controlSends)
	}
	if _, w := h.depths(); w != 1 {
		t.Fatalf("the work item was deleted before its result was committed (%d messages)", w)
	}
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(wi.Messages) != 1 || wi.Messages[0].Event.Type() != history.TaskCompleted || wi.History != nil {
		t.Fatalf("second work item: %d messages (%v), history loaded %v", len(wi.Messages), wi.Messages[0].Event.Type(), wi.History != nil)
	}
	h.finish(wi)
	if c, w := h.depths(); c != 0 || w != 0 {
		t.Fatalf("after the commit: control %d, work items %d; want both empty", c, w)
	}
}

// TestLocalActivityIsNeverReceived: the hidden work item reaches the
// activity caller without a receive (the queue's dequeue count is still 0:
// taken back after an abandon it is delivered for the first time), while
// without the shortcut the caller's item was received once already.
//
// The shortcut is taken only while the caller's slot is free; a receive
// the fetcher has in flight for that slot at the commit (likelier the
// busier the machine) rightly sends the activity through the queue. So
// the local case tries up to five fresh hubs and passes on the first
// whose activity was kept back; it fails if none was.
func TestLocalActivityIsNeverReceived(t *testing.T) {
	for _, tc := range []struct {
		name    string
		off     bool
		dequeue int64
	}{{"local", false, 1}, {"received", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			for attempt := 0; attempt < 5; attempt++ {
				h := newLocalHub(t, func(o *azurestorage.Options) { o.NoLocalActivities = tc.off })
				_, acts := h.scheduleOne("count-1")
				a := h.activity(acts)
				if err := h.be.AbandonActivity(h.ctx, a, 0); err != nil {
					t.Fatal(err)
				}
				msgs, err := h.work.Receive(h.ctx, 1, time.Minute)
				if err != nil || len(msgs) != 1 {
					t.Fatalf("receive after the abandon: %d, %v", len(msgs), err)
				}
				m, _, err := queues.DecodeBody(msgs[0].Text)
				if err != nil || m.TaskMessage.Event.Type() != history.TaskScheduled {
					t.Fatalf("the work item's body: %v", err)
				}
				got = append(got, msgs[0].DequeueCount)
				if msgs[0].DequeueCount == tc.dequeue {
					return
				}
				if tc.off {
					break
				}
			}
			t.Fatalf("dequeue counts %v, want %d", got, tc.dequeue)
		})
	}
}

// TestLocalResultSpillsOnAbandon: when the work item holding a local result
// is abandoned, the result is sent to the control queue after all and the
// activity's work item deleted, so that nothing runs twice and the result
// comes back with the message, as it would have without the shortcut.
func TestLocalResultSpillsOnAbandon(t *testing.T) {
	h := newLocalHub(t, nil)
	_, acts := h.scheduleOne("spill-1")
	a := h.activity(acts)
	if err := h.be.CompleteActivity(h.ctx, a, completed(a)); err != nil {
		t.Fatal(err)
	}
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.be.AbandonOrchestration(h.ctx, wi, 0); err != nil {
		t.Fatal(err)
	}
	if c, w := h.depths(); c != 1 || w != 0 {
		t.Fatalf("after the abandon: control %d, work items %d; want the result on the control queue and no work item", c, w)
	}
	again, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Messages) != 1 || again.Messages[0].Event.Type() != history.TaskCompleted || again.Messages[0].DequeueCount != 1 {
		t.Fatalf("redelivered work item: %+v", again.Messages)
	}
	h.finish(again)
	if c, w := h.depths(); c != 0 || w != 0 {
		t.Fatalf("after the commit: control %d, work items %d", c, w)
	}
}

// TestNoLocalShortcuts: with both shortcuts off the backend takes C#'s
// paths: the work item is received from its queue, the result travels
// through the control queue and the work item is deleted after it.
func TestNoLocalShortcuts(t *testing.T) {
	h := newLocalHub(t, func(o *azurestorage.Options) { o.NoLocalActivities, o.NoLocalResults = true, true })
	_, acts := h.scheduleOne("plain-1")
	a := h.activity(acts)
	if msgs, err := h.work.Peek(h.ctx, 1); err != nil || len(msgs) != 0 {
		t.Fatalf("peek: %d, %v (a received work item is hidden)", len(msgs), err)
	}
	sends := h.count("control", "enqueue")
	if err := h.be.CompleteActivity(h.ctx, a, completed(a)); err != nil {
		t.Fatal(err)
	}
	if n := h.count("control", "enqueue"); n != sends+1 {
		t.Fatalf("%d control enqueues for the result, want 1", n-sends)
	}
	// The work item's delete follows the result's send, in the background
	// (finish.go).
	azuritetest.WaitFor(t, 2*time.Minute, "the work item's delete after its result was sent", func() (bool, error) {
		_, w := h.depths()
		return w == 0, nil
	})
	wi, err := h.be.LockNextOrchestration(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.finish(wi)
	if c, w := h.depths(); c != 0 || w != 0 {
		t.Fatalf("after the commit: control %d, work items %d", c, w)
	}
}

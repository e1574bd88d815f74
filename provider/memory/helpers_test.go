package memory

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider"
)

// t0 is where every manual clock of these tests starts.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// wait bounds every blocking call of a test; nothing sleeps.
const wait = time.Minute

type fixture struct {
	t     *testing.T
	b     *Backend
	clock *ManualClock
	logs  *syncbuf.Buffer
	ctx   context.Context
}

// newFixture returns a started backend on a manual clock (unless opts has
// a clock) that logs into a buffer shown when the test fails.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &syncbuf.Buffer{}, ctx: context.Background()}
	if opts.Clock == nil {
		f.clock = NewManualClock(t0)
		opts.Clock = f.clock
	} else if mc, ok := opts.Clock.(*ManualClock); ok {
		f.clock = mc
	}
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.b = New(opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("backend log:\n%s", f.logs.String())
		}
	})
	if err := f.b.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) now() time.Time { return f.b.clock.Now() }

// lock waits (bounded) for the next orchestration work item.
func (f *fixture) lock() *provider.OrchestrationWorkItem {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, wait)
	defer cancel()
	wi, err := f.b.LockNextOrchestration(ctx)
	if err != nil {
		f.t.Fatalf("LockNextOrchestration: %v", err)
	}
	return wi
}

// tryLock forms the next orchestration work item now, without waiting:
// nil means none is available at the current time.
func (f *fixture) tryLock() *provider.OrchestrationWorkItem {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	if f.b.state != running {
		return nil
	}
	return f.b.nextOrchestrationLocked(f.b.clock.Now())
}

func (f *fixture) lockActivity() *provider.ActivityWorkItem {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, wait)
	defer cancel()
	wi, err := f.b.LockNextActivity(ctx)
	if err != nil {
		f.t.Fatalf("LockNextActivity: %v", err)
	}
	return wi
}

func (f *fixture) tryLockActivity() *provider.ActivityWorkItem {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	return f.b.nextActivityLocked(f.b.clock.Now())
}

// waitUntil waits (bounded) for cond, re-checking after every state change.
func (f *fixture) waitUntil(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		f.b.mu.Lock()
		ch := f.b.changed
		f.b.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (f *fixture) create(id, exec, name string, input *string, dedupe ...history.OrchestrationStatus) error {
	return f.b.CreateInstance(f.ctx, startMsg(id, exec, name, input, f.now()), dedupe)
}

func (f *fixture) mustCreate(id, exec string) {
	f.t.Helper()
	if err := f.create(id, exec, "Hello", history.Str(`"Tokyo"`)); err != nil {
		f.t.Fatalf("CreateInstance: %v", err)
	}
}

func (f *fixture) commit(wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult) {
	f.t.Helper()
	if err := f.b.CompleteOrchestration(f.ctx, wi, r); err != nil {
		f.t.Fatalf("CompleteOrchestration(%s): %v", wi.InstanceID, err)
	}
}

func (f *fixture) state(id string) *history.OrchestrationState {
	f.t.Helper()
	st, err := f.b.GetState(f.ctx, id, true)
	if err != nil {
		f.t.Fatalf("GetState(%s): %v", id, err)
	}
	return st
}

func (f *fixture) history(id string) []history.Event {
	f.t.Helper()
	evs, err := f.b.History(f.ctx, id, "")
	if err != nil {
		f.t.Fatalf("History(%s): %v", id, err)
	}
	return evs
}

// runActivity locks the next activity and completes it with result.
func (f *fixture) runActivity(result string) *provider.ActivityWorkItem {
	f.t.Helper()
	a := f.lockActivity()
	res := &history.TaskCompletedEvent{TaskScheduledID: a.Event.EventID, Result: history.Str(result),
		EventBase: history.EventBase{EventID: -1, Timestamp: f.now()}}
	if err := f.b.CompleteActivity(f.ctx, a, res); err != nil {
		f.t.Fatalf("CompleteActivity: %v", err)
	}
	return a
}

func base(ts time.Time) history.EventBase { return history.EventBase{EventID: -1, Timestamp: ts} }

func startMsg(id, exec, name string, input *string, ts time.Time) *history.TaskMessage {
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: exec}
	return &history.TaskMessage{OrchestrationInstance: inst,
		Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: name, Input: input,
			Tags: map[string]string{"team": "blue"}, EventBase: base(ts)}}
}

func scheduled(id int32, name string, ts time.Time) *history.TaskScheduledEvent {
	return &history.TaskScheduledEvent{Name: name, Input: history.Str(`["x"]`),
		EventBase: history.EventBase{EventID: id, Timestamp: ts}}
}

func timerCreated(id int32, fireAt, ts time.Time) *history.TimerCreatedEvent {
	return &history.TimerCreatedEvent{FireAt: fireAt, EventBase: history.EventBase{EventID: id, Timestamp: ts}}
}

func taskDone(id int32, result string, ts time.Time) *history.TaskCompletedEvent {
	return &history.TaskCompletedEvent{TaskScheduledID: id, Result: history.Str(result), EventBase: base(ts)}
}

func completedEv(result string, ts time.Time) *history.ExecutionCompletedEvent {
	return &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, Result: history.Str(result),
		EventBase: history.EventBase{EventID: 9, Timestamp: ts}}
}

// episode builds what a worker would commit for wi: OrchestratorStarted,
// the work item's messages, the actions, OrchestratorCompleted, with an
// outbox message for every TaskScheduled and TimerCreated action.
func (f *fixture) episode(wi *provider.OrchestrationWorkItem, actions ...history.Event) *provider.EpisodeResult {
	now := f.now()
	self := history.OrchestrationInstance{InstanceID: wi.InstanceID, ExecutionID: wi.ExecutionID}
	r := &provider.EpisodeResult{NewEvents: []history.Event{&history.OrchestratorStartedEvent{EventBase: base(now)}}}
	for _, m := range wi.Messages {
		if es, ok := m.Event.(*history.ExecutionStartedEvent); ok {
			self.ExecutionID = es.OrchestrationInstance.ExecutionID
		}
		r.NewEvents = append(r.NewEvents, m.Event)
	}
	for _, a := range actions {
		r.NewEvents = append(r.NewEvents, a)
		switch v := a.(type) {
		case *history.TaskScheduledEvent:
			r.Outbox = append(r.Outbox, &history.TaskMessage{Event: v, OrchestrationInstance: self,
				OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: map[string]string{"team": "blue"}}})
		case *history.TimerCreatedEvent:
			r.Outbox = append(r.Outbox, &history.TaskMessage{OrchestrationInstance: self,
				Event: &history.TimerFiredEvent{TimerID: v.EventID, FireAt: v.FireAt, EventBase: base(now)}})
		}
	}
	r.NewEvents = append(r.NewEvents, &history.OrchestratorCompletedEvent{EventBase: base(now)})
	return r
}

// types lists the event types of a history, for compact comparisons.
func types(evs []history.Event) []history.EventType {
	out := make([]history.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type()
	}
	return out
}

// countType counts events of one type.
func countType(evs []history.Event, t history.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type() == t {
			n++
		}
	}
	return n
}

package memory

import (
	"errors"
	"testing"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// An episode that the Azure backend's storage would refuse (here: one of
// the empty instance id, reached through a start another client sent) is
// refused with ErrInvalid before its outbox is sent, so that a retry
// repeats nothing; the work item is still held.
func TestInvalidEpisodeSendsNothing(t *testing.T) {
	f := newFixture(t, Options{})
	inst := history.OrchestrationInstance{InstanceID: "", ExecutionID: "e1"}
	start := &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst,
		Name: "Hello", ParentInstance: &history.ParentInstance{Name: "P", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}},
		EventBase: base(f.now())}}
	f.b.mu.Lock()
	f.b.enqueueLocked(start, false, history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}, nil, originOrchestration("p"), f.now())
	f.b.kickLocked()
	f.b.mu.Unlock()
	wi := f.lock()
	if wi.InstanceID != "" {
		t.Fatalf("work item for %q", wi.InstanceID)
	}
	sent := f.b.Stats().Sent
	err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi, scheduled(0, "Act", f.now())))
	if !errors.Is(err, provider.ErrInvalid) {
		t.Fatalf("commit of an episode of the empty id: %v, want ErrInvalid", err)
	}
	if s := f.b.Stats(); s.Sent != sent || s.ActivityMessages != 0 || s.LockedOrchestrations != 1 {
		t.Fatalf("something was sent or released: %+v", s)
	}

	// A child start to an id no table key can hold fails its parent's
	// episode the same way, before anything is sent.
	f.mustCreate("parent", "e1")
	pw := f.lock()
	child := history.OrchestrationInstance{InstanceID: string(make([]byte, 600)), ExecutionID: "c1"}
	r := f.episode(pw)
	r.Outbox = append(r.Outbox, &history.TaskMessage{OrchestrationInstance: child, Event: &history.ExecutionStartedEvent{
		OrchestrationInstance: child, Name: "Child", EventBase: base(f.now())}})
	sent = f.b.Stats().Sent
	if err := f.b.CompleteOrchestration(f.ctx, pw, r); !errors.Is(err, provider.ErrInvalid) {
		t.Fatalf("commit with an invalid child id: %v, want ErrInvalid", err)
	}
	if s := f.b.Stats(); s.Sent != sent {
		t.Fatalf("%d messages sent", s.Sent-sent)
	}
}

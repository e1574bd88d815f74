package azurestorage

import (
	"context"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestLocalStartIsHeldAndGivenBack: a start whose control queue a backend
// of this process owns is handed to that backend without being shown: it
// stays hidden on its queue, held by the owner's session. When the owner
// stops before running it, it is given back (visible at once) for the
// partition's next owner, not left hidden.
func TestLocalStartIsHeldAndGivenBack(t *testing.T) {
	b, hub, ctx := newCreatedHub(t)
	owner, err := New(Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1, WorkerID: "owner",
		MaxPollingInterval: 500 * time.Millisecond, Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = owner.Stop(context.Background(), false)
		}
	})
	q := b.control[0]
	azuritetest.WaitFor(t, 3*time.Minute, "the owner to take the partition", func() (bool, error) {
		return owner.partition(q.Name()) != nil, nil
	})

	const id = "held-start"
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: "0123456789abcdef0123456789abcdef"}
	start := &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{
		OrchestrationInstance: inst, Name: "Anything", EventBase: history.EventBase{EventID: -1}}}
	if err := b.CreateInstance(ctx, start, nil); err != nil {
		t.Fatal(err)
	}
	owner.mu.Lock()
	s := owner.sessions[id]
	held := s != nil && len(s.pending) == 1
	owner.mu.Unlock()
	if !held {
		t.Fatal("the start was not handed to the owner of its partition")
	}
	if visible, err := q.Peek(ctx, 32); err != nil || len(visible) != 0 {
		t.Fatalf("%d visible messages (%v), want the start hidden", len(visible), err)
	}

	if err := owner.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	stopped = true
	azuritetest.WaitFor(t, 3*time.Minute, "the start to be visible again", func() (bool, error) {
		visible, err := q.Peek(ctx, 32)
		return len(visible) == 1, err
	})
	if got := localOwners.get(b.queueKey(q.Name())); got != nil {
		t.Fatal("a stopped backend still takes the starts of its former partition")
	}
}

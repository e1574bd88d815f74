package azurestorage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/storage"
)

// holdWrites holds back, once armed, every request of one table whose URL
// or body names the key, until released: a commit in flight (a slow
// storage call, or a process paused or killed in the middle of it).
type holdWrites struct {
	table, key string
	mu         sync.Mutex
	armed      bool
	reached    chan struct{}
	release    chan struct{}
}

func newHoldWrites(table, key string) *holdWrites {
	return &holdWrites{table: table, key: key, reached: make(chan struct{}, 16), release: make(chan struct{})}
}

func (h *holdWrites) arm() { h.mu.Lock(); h.armed = true; h.mu.Unlock() }

func (h *holdWrites) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	h.mu.Lock()
	armed := h.armed
	h.mu.Unlock()
	if !armed || r.Method == http.MethodGet || !strings.Contains(r.URL.Path, h.table) && !strings.Contains(r.URL.Path, "$batch") {
		return req.Next()
	}
	named := strings.Contains(r.URL.Path, h.key)
	if !named && req.Body() != nil {
		body, err := io.ReadAll(req.Body())
		if rerr := req.RewindBody(); err != nil || rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		named = bytes.Contains(body, []byte(h.table)) && bytes.Contains(body, []byte(h.key))
	}
	if !named {
		return req.Next()
	}
	h.reached <- struct{}{}
	select {
	case <-h.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return req.Next()
}

// TestGenerationInFlightKeepsItsResults: a continue-as-new is committed in
// C#'s order, its messages (the next generation's activity call) before
// its history. When the partition moves while that history write is in
// flight (the old owner's storage call is slow, or the process is paused),
// the new owner reads the history of the generation before, and the next
// generation's activity result reaches it in one batch with a redelivery of
// the result the old owner is consuming. That result names an execution
// the new owner's history does not hold yet; it was discarded as stale,
// the old owner's write then landed, and the instance waited for ever for
// a result already given (three instances of a make chaos run under load).
// Whichever commit wins, no generation may lose a message and no stale
// message may run: the result waits for the new owner's commit, is deleted
// with it if it wins, and runs in the next generation if the old owner's
// write lands first. A crash between the old owner's history write and
// its Instances row write (the row still names the generation before)
// changes nothing.
func TestGenerationInFlightKeepsItsResults(t *testing.T) {
	for _, c := range []struct {
		name string
		// blocked is the table whose write the old owner is stuck in.
		blocked string
		// newOwnerFirst: the new owner commits while the old owner's
		// history write is still held back.
		newOwnerFirst bool
	}{
		{"the old owner's history write lands first", "History", false},
		{"the new owner commits first", "History", true},
		{"the old owner dies before its Instances row", "Instances", false},
	} {
		t.Run(c.name, func(t *testing.T) { testGenerationInFlight(t, c.blocked, c.newOwnerFirst) })
	}
}

func testGenerationInFlight(t *testing.T, blocked string, newOwnerFirst bool) {
	hub := azuritetest.NewHub(t)
	const id = "generation-in-flight"
	hold := newHoldWrites(blocked, id)
	t.Cleanup(func() { close(hold.release) })
	mk := func(client *storage.ClientOptions) *Backend {
		b, err := New(Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	old := mk(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{hold}})
	nu := mk(nil)
	t.Cleanup(func() { _ = nu.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := nu.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	exec := func(e string) history.OrchestrationInstance {
		return history.OrchestrationInstance{InstanceID: id, ExecutionID: e}
	}
	generation := func(e string, i int) []history.Event {
		in := history.Str(strings.Repeat("i", i+1))
		return []history.Event{
			&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}},
			&history.ExecutionStartedEvent{OrchestrationInstance: exec(e), Name: "Counter", Input: in, EventBase: history.EventBase{EventID: -1, Timestamp: at}},
			&history.TaskScheduledEvent{Name: "Add", EventBase: history.EventBase{EventID: 0, Timestamp: at}},
			&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}},
		}
	}
	continued := func(from, to string, i int) *provider.EpisodeResult {
		return &provider.EpisodeResult{NewExecution: true, NewEvents: generation(to, i),
			Outbox: []*history.TaskMessage{{OrchestrationInstance: exec(to), Event: &history.TaskScheduledEvent{Name: "Add",
				Input: history.Str(from), EventBase: history.EventBase{EventID: 0, Timestamp: at}}}}}
	}
	result := func(e string) *history.TaskMessage {
		return &history.TaskMessage{OrchestrationInstance: exec(e),
			Event: &history.TaskCompletedEvent{TaskScheduledID: 0, Result: history.Str("1"), EventBase: history.EventBase{EventID: -1, Timestamp: at}}}
	}

	// Generation c waits for its activity; its result is on the queue.
	if _, err := nu.hist.Append(ctx, id, "c", 0, generation("c", 0), ""); err != nil {
		t.Fatal(err)
	}
	if err := nu.SendMessages(ctx, result("c")); err != nil {
		t.Fatal(err)
	}
	q := nu.control[0]
	receive := func(b *Backend, p *ownedPartition, want int, visibility time.Duration) []*pending {
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
		s := &session{pending: got}
		return takeBatch(s)
	}

	// The old owner consumes it and continues as new into generation e;
	// its commit sends e's activity call, then is stuck in a write.
	pOld := &ownedPartition{name: q.Name(), queue: q, held: map[string]*pending{}}
	sOld := &session{id: id, part: pOld, locked: true}
	wiOld, err := old.prepare(ctx, sOld, receive(old, pOld, 1, 2*time.Second))
	if err != nil || wiOld == nil || wiOld.ExecutionID != "c" {
		t.Fatalf("old owner's work item %+v: %v", wiOld, err)
	}
	hold.arm()
	oldDone := make(chan error, 1)
	go func() { oldDone <- old.CompleteOrchestration(ctx, wiOld, continued("c", "e", 1)) }()
	select {
	case <-hold.reached:
	case err := <-oldDone:
		t.Fatalf("the old owner's commit was not held back: %v", err)
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// e's activity ran; its result comes while the old owner is stuck.
	if err := nu.SendMessages(ctx, result("e")); err != nil {
		t.Fatal(err)
	}

	// The new owner gets c's result again (its visibility ran out) and e's.
	pNew := &ownedPartition{name: q.Name(), queue: q, held: map[string]*pending{}}
	sNew := &session{id: id, part: pNew, locked: true}
	batch := receive(nu, pNew, 2, time.Minute)
	wiNew, err := nu.prepare(ctx, sNew, batch)
	if err != nil || wiNew == nil {
		t.Fatalf("new owner's work item %+v: %v", wiNew, err)
	}
	held := map[string]bool{}
	for _, m := range wiNew.Private.(*lockState).msgs {
		held[m.data.TaskMessage.OrchestrationInstance.ExecutionID] = true
	}
	if blocked == "Instances" {
		// e's history is stored: c's result is the stale one now.
		if wiNew.ExecutionID != "e" || len(wiNew.Messages) != 1 || wiNew.Messages[0].TaskMessage.OrchestrationInstance.ExecutionID != "e" {
			t.Fatalf("new owner's work item runs execution %q with %d messages, want e's result", wiNew.ExecutionID, len(wiNew.Messages))
		}
		if err := nu.CompleteOrchestration(ctx, wiNew, continued("e", "f", 2)); err != nil {
			t.Fatal(err)
		}
		if n, err := q.ApproximateCount(ctx); err != nil || n != 0 {
			t.Fatalf("%d control messages left (%v), want none: the stale result goes with the commit", n, err)
		}
		return
	}
	if wiNew.ExecutionID != "c" || len(wiNew.Messages) != 1 {
		t.Fatalf("new owner's work item runs execution %q with %d messages, want c's result alone", wiNew.ExecutionID, len(wiNew.Messages))
	}
	if !held["e"] {
		t.Fatal("the next generation's activity result was discarded before the commit that would prove it stale")
	}

	if newOwnerFirst {
		// The new owner's own continue-as-new wins; the old owner's write
		// is then refused, so e never runs and its result is stale.
		if err := nu.CompleteOrchestration(ctx, wiNew, continued("c", "f", 1)); err != nil {
			t.Fatal(err)
		}
		hold.release <- struct{}{}
		if err := <-oldDone; !errors.Is(err, provider.ErrLockLost) {
			t.Fatalf("the old owner's commit after the new owner's: %v, want a lost lock", err)
		}
		h, err := nu.hist.Load(ctx, id, "")
		if err != nil || h.ExecutionID != "f" {
			t.Fatalf("history of execution %q (%v), want f", h.ExecutionID, err)
		}
		if n, err := q.ApproximateCount(ctx); err != nil || n != 0 {
			t.Fatalf("%d control messages left (%v), want none", n, err)
		}
		return
	}

	// The old owner's write lands: e is the current generation, and the
	// new owner's commit (from c's history) is refused.
	hold.release <- struct{}{}
	if err := <-oldDone; err != nil {
		t.Fatalf("the old owner's commit: %v", err)
	}
	if err := nu.CompleteOrchestration(ctx, wiNew, continued("c", "f", 1)); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("the new owner's commit after the old owner's: %v, want a lost lock", err)
	}
	if err := nu.AbandonOrchestration(ctx, wiNew, 0); err != nil {
		t.Fatal(err)
	}
	// e's result comes back and runs against e's history.
	var again []*pending
	azuritetest.WaitFor(t, 3*time.Minute, "e's result again", func() (bool, error) {
		msgs, err := q.Receive(ctx, 32, time.Minute)
		for _, m := range msgs {
			pm := nu.receive(ctx, pNew, m)
			if pm == nil {
				continue
			}
			if pm.data.TaskMessage.OrchestrationInstance.ExecutionID == "e" {
				again = append(again, pm)
			} else {
				nu.deleteMessages(ctx, []*pending{pm}) // c's result: the old owner's commit consumed it
			}
		}
		return len(again) > 0, err
	})
	s := &session{id: id, part: pNew, locked: true}
	wi, err := nu.prepare(ctx, s, again)
	if err != nil || wi == nil || wi.ExecutionID != "e" || len(wi.Messages) != 1 {
		t.Fatalf("work item %+v (%v), want e's result on e's history", wi, err)
	}
	if _, ok := wi.Messages[0].TaskMessage.Event.(*history.TaskCompletedEvent); !ok {
		t.Fatalf("work item holds %s, want e's TaskCompleted", wi.Messages[0].TaskMessage.Event.Type())
	}
}

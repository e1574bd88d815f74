package durable_test

import (
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/samples/counter"
)

// TestEntityRequestsOfARerunKeepTheirKeys runs the Counting orchestration's
// first episode twice, at two times, as a worker does when the first run
// sent its requests and died before writing its history: the ids change
// with the time, the delivery keys do not.
func TestEntityRequestsOfARerunKeepTheirKeys(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	first := countingEpisode(t, t0)
	rerun := countingEpisode(t, t0.Add(7*time.Second))
	if len(first) != 2 || len(rerun) != 2 {
		t.Fatalf("%d and %d requests, want 2 each", len(first), len(rerun))
	}
	for i := range first {
		a, b := first[i], rerun[i]
		if a.ID == b.ID {
			t.Fatalf("request %d: the same id %s in both runs (the test does not run the episode at two times)", i, a.ID)
		}
		if a.Key == "" || a.Key != b.Key || a.Key != entity.OrchestrationKey("x1", i) {
			t.Fatalf("request %d: keys %q and %q, want %q", i, a.Key, b.Key, entity.OrchestrationKey("x1", i))
		}
	}
}

func countingEngine(t *testing.T) *replay.Engine {
	t.Helper()
	reg := registry.New(nil)
	if err := registry.Add(reg, counter.Counting); err != nil {
		t.Fatal(err)
	}
	fn, _ := reg.Orchestrator("Counting", "")
	return replay.New(fn, replay.Options{})
}

func countingEpisode(t *testing.T, at time.Time) []*entity.Request {
	t.Helper()
	eng := countingEngine(t)
	defer eng.Evict()
	res, err := eng.Apply(nil, []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}},
		&history.ExecutionStartedEvent{Name: "Counting", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "o", ExecutionID: "x1"},
			EventBase: history.EventBase{EventID: -1, Timestamp: at}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return requestsOf(t, res)
}

func requestsOf(t *testing.T, res *replay.Result) []*entity.Request {
	t.Helper()
	var out []*entity.Request
	for _, a := range res.Actions {
		es, ok := a.(*history.EventSentEvent)
		if !ok || !entity.IsRequestEvent(es.Name) {
			continue
		}
		r, err := entity.DecodeRequest(*es.Input)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestCopyAnswersWaitForTheOriginal is a rerun's call and lock request
// answered by the entity as copies (CopyOfMember naming the first run's
// ids): the orchestration waits for the answers to the first run's
// requests, whichever comes first (or takes a copy's grant at once), and
// releases the lock under the first run's lock id.
func TestCopyAnswersWaitForTheOriginal(t *testing.T) {
	for _, originalFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy answer first", true: "original answer first"}[originalFirst], func(t *testing.T) {
			at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
			eng := countingEngine(t)
			defer eng.Evict()
			started := func() history.Event {
				at = at.Add(time.Second)
				return &history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: at}}
			}
			raised := func(name, input string) history.Event {
				return &history.EventRaisedEvent{Name: name, Input: &input, EventBase: history.EventBase{EventID: -1, Timestamp: at}}
			}
			copyOf := func(id string) string { return (&entity.Response{CopyOf: id}).Encode() }
			res, err := eng.Apply(nil, []history.Event{started(),
				&history.ExecutionStartedEvent{Name: "Counting", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "o", ExecutionID: "x1"},
					EventBase: history.EventBase{EventID: -1, Timestamp: at}}})
			if err != nil {
				t.Fatal(err)
			}
			call := requestsOf(t, res)[1]
			// The call's answers: the copy notice and the original's result.
			answers := []history.Event{raised(call.ID, copyOf("call-1")), raised("call-1", `{"result":null}`)}
			if originalFirst {
				answers[0], answers[1] = answers[1], answers[0]
			}
			if res, err = eng.Apply(nil, []history.Event{started(), answers[0]}); err != nil {
				t.Fatal(err)
			}
			if n := len(requestsOf(t, res)); !originalFirst && n != 0 {
				t.Fatalf("the copy notice alone let the call finish (%d requests sent)", n)
			}
			if res, err = eng.Apply(nil, []history.Event{started(), answers[1]}); err != nil {
				t.Fatal(err)
			}
			lock := requestsOf(t, res)
			if len(lock) != 1 || !lock[0].IsLock() {
				t.Fatalf("after the call: %d requests, want the lock request", len(lock))
			}
			// The lock: the copy notice, then the grant of the first run's;
			// or at once the grant of the copy, naming the first run's.
			grant := (&entity.Response{Typed: true, Result: ptr(entity.LockAcquired)}).Encode()
			lockAnswers := []history.Event{raised(lock[0].ID, copyOf("lock-1")), raised("lock-1", grant)}
			if originalFirst {
				lockAnswers = []history.Event{raised(lock[0].ID, (&entity.Response{Typed: true, Result: ptr(entity.LockAcquired), CopyOf: "lock-1"}).Encode())}
			}
			if res, err = eng.Apply(nil, append([]history.Event{started()}, lockAnswers...)); err != nil {
				t.Fatal(err)
			}
			inner := requestsOf(t, res)
			if len(inner) != 1 || *inner[0].Op != "add" {
				t.Fatalf("inside the section: %d requests", len(inner))
			}
			res, err = eng.Apply(nil, []history.Event{started(), raised(inner[0].ID, `{"result":null}`)})
			if err != nil {
				t.Fatal(err)
			}
			released := false
			for _, a := range res.Actions {
				if es, ok := a.(*history.EventSentEvent); ok && es.Name == entity.ReleaseEvent {
					released = true
					if !strings.Contains(*es.Input, `"id":"lock-1"`) {
						t.Fatalf("the release names another lock: %s", *es.Input)
					}
				}
			}
			if !released {
				t.Fatal("no release")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

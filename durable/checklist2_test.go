package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/internal/replay/replaytest"
)

var failAct = durable.NewActivity("Fail", func(_ context.Context, s string) (string, error) {
	return "", fmt.Errorf("card declined: %s", s)
})

// 6. Fail-fast WhenAll (microsoft/durabletask-js PR #302).
func TestChecklist06_WhenAllWaitsForEveryFailure(t *testing.T) {
	var joined error
	orch := durable.NewOrchestration("Both", func(ctx durable.Context, _ string) (string, error) {
		a := failAct.Call(ctx, "a")
		b := failAct.Call(ctx, "b")
		joined = durable.WhenAll(ctx, a, b)
		if !a.IsDone() || !b.IsDone() {
			return "", errors.New("WhenAll returned before both siblings finished")
		}
		return "", joined
	})
	s := sim(t, orch, "Both", failAct)
	s.OneAtATime = true // the failures arrive in separate episodes
	s.Start(str(`""`))
	c := s.Run()
	if c.Status != history.StatusFailed {
		t.Fatalf("completion %+v", c)
	}
	if msg := joined.Error(); !strings.Contains(msg, "card declined: a") || !strings.Contains(msg, "card declined: b") {
		t.Errorf("WhenAll error %q lacks a sibling", msg)
	}
}

func TestChecklist06_LegacyRewindReschedulesBoth(t *testing.T) {
	orch := durable.NewOrchestration("Both", func(ctx durable.Context, _ string) (string, error) {
		a := sayHello.Call(ctx, "a")
		b := sayHello.Call(ctx, "b")
		return "", durable.WhenAll(ctx, a, b)
	})
	reg := registry.New(nil)
	if err := registry.Add(reg, orch); err != nil {
		t.Fatal(err)
	}
	fn, _ := reg.Orchestrator("Both", "")
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := func(id int32) history.EventBase { return history.EventBase{EventID: id, Timestamp: ts} }
	rewound := func(id int32, what string) history.Event {
		return &history.GenericEvent{Data: str("Rewound: " + what), EventBase: b(id)}
	}
	// What C#'s table-rewriting rewind leaves of a failed run.
	past := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: b(-1)},
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "r", ExecutionID: "e"}, Name: "Both", Input: str(`""`), EventBase: b(-1)},
		rewound(0, "TaskScheduled"), rewound(1, "TaskScheduled"),
		&history.OrchestratorCompletedEvent{EventBase: b(-1)},
		&history.OrchestratorStartedEvent{EventBase: b(-1)},
		rewound(-1, "TaskFailed"), rewound(-1, "TaskFailed"), rewound(2, "ExecutionCompleted"),
		&history.OrchestratorCompletedEvent{EventBase: b(-1)},
	}
	e := replay.New(fn, replay.Options{})
	defer e.Evict()
	res, err := e.Apply(past, []history.Event{&history.OrchestratorStartedEvent{EventBase: b(-1)},
		&history.GenericEvent{Data: str("rewind"), EventBase: b(-1)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) != 2 || res.Actions[0].Base().EventID != 0 || res.Actions[1].Base().EventID != 1 {
		t.Fatalf("rewind re-scheduled %v", res.Actions)
	}
}

// 7. Inline cascade terminate (dapr/durabletask-go PRs #111/#112): the
// children to terminate come with the terminal result.
func TestChecklist07_RecursiveTerminateListsChildren(t *testing.T) {
	orch := durable.NewOrchestration("Parent", func(ctx durable.Context, _ string) (string, error) {
		a := durable.CallSubOrchestrator[string](ctx, "Child", "a")
		b := durable.CallSubOrchestrator[string](ctx, "Child", "b", durable.WithInstanceID("child-b"))
		return "", durable.WhenAll(ctx, a, b)
	})
	s := sim(t, orch, "Parent")
	s.Sub = func(string, string, *string) (*string, error) { return nil, replaytest.NoAnswer }
	s.Start(str(`""`))
	if _, err := s.Episode(); err != nil {
		t.Fatal(err)
	}
	s.Deliver(&history.ExecutionTerminatedEvent{Input: str("stop"), Recursive: true, EventBase: history.EventBase{EventID: -1}})
	res, err := s.Episode()
	if err != nil {
		t.Fatal(err)
	}
	c := res.Completion
	if c == nil || c.Status != history.StatusTerminated || history.Deref(c.Output) != "stop" || c.ID != 2 {
		t.Fatalf("completion %+v", c)
	}
	want := s.ExecutionID + ":0,child-b"
	if got := strings.Join(c.TerminateChildren, ","); got != want {
		t.Errorf("children %s, want %s", got, want)
	}
}

type cardError struct{ code string }

func (e *cardError) Error() string { return "card declined with code " + e.code }

// 9. Typed failure lost (dapr/durabletask-go PR #13).
func TestChecklist09_TypedFailureThroughChildAndCSharpJSON(t *testing.T) {
	charge := durable.NewActivity("Charge", func(_ context.Context, s string) (string, error) {
		return "", fmt.Errorf("charging %s: %w", s, &cardError{code: "51"})
	})
	child := durable.NewOrchestration("Child", func(ctx durable.Context, s string) (string, error) {
		return charge.Call(ctx, s).Await(ctx)
	})
	cs := sim(t, child, "Child", charge)
	cs.Start(str(`"x"`))
	cc := cs.Run()
	if cc.Status != history.StatusFailed {
		t.Fatalf("child %+v", cc)
	}
	var parentErr error
	parent := durable.NewOrchestration("Parent", func(ctx durable.Context, _ string) (string, error) {
		_, parentErr = child.CallSub(ctx, "x").Await(ctx)
		return "", nil
	})
	ps := sim(t, parent, "Parent")
	ps.Sub = func(name, id string, input *string) (*string, error) { return nil, replaytest.NoAnswer }
	ps.Start(str(`""`))
	if _, err := ps.Episode(); err != nil {
		t.Fatal(err)
	}
	// The child's failure travels as a C# queue message.
	failed := &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: 0, Reason: cc.Output, FailureDetails: cc.Failure,
		EventBase: history.EventBase{EventID: -1}}
	wire := history.AppendEvent(nil, failed, history.TypeNames)
	back, err := history.UnmarshalEvent(wire)
	if err != nil {
		t.Fatal(err)
	}
	ps.Deliver(back)
	if _, err := ps.Episode(); err != nil {
		t.Fatal(err)
	}
	var tf *durable.TaskFailedError
	if !errors.As(parentErr, &tf) || tf.Kind != history.SubOrchestrationInstanceCreated || tf.Name != "Child" {
		t.Fatalf("parent error %#v", parentErr)
	}
	var fe *durable.FailureError
	if !errors.As(parentErr, &fe) || fe.ErrorType() != "*durable_test.cardError" && fe.ErrorType() != "*fmt.wrapError" {
		t.Fatalf("inner failure %#v", fe)
	}
	// The chain reaches the card error's own details.
	found := false
	for err := error(tf); err != nil; err = errors.Unwrap(err) {
		if f, ok := err.(*durable.FailureError); ok && f.ErrorType() == "*durable_test.cardError" && strings.Contains(f.Error(), "code 51") {
			found = true
		}
	}
	if !found {
		t.Errorf("the card error is not in the chain of %v", parentErr)
	}
}

// 10. Wall-clock readiness (azure-functions-durable-extension#680).
func TestChecklist10_FirstInHistoryWins(t *testing.T) {
	orch := durable.NewOrchestration("Race", func(ctx durable.Context, _ string) (string, error) {
		timer := durable.NewTimer(ctx, time.Minute)
		ev := durable.WaitForEvent[string](ctx, "go")
		i, err := durable.WhenAny(ctx, timer, ev)
		if err != nil {
			return "", err
		}
		return []string{"timer", "event"}[i], nil
	})
	for run := 0; run < 1000; run++ {
		eventFirst := run%2 == 0
		s := sim(t, orch, "Race")
		s.Start(str(`""`))
		if _, err := s.Episode(); err != nil {
			t.Fatal(err)
		}
		fired := &history.TimerFiredEvent{TimerID: 0, FireAt: s.Now.Add(time.Minute), EventBase: history.EventBase{EventID: -1}}
		raised := &history.EventRaisedEvent{Name: "go", Input: str(`"x"`), EventBase: history.EventBase{EventID: -1}}
		if eventFirst {
			s.Deliver(raised)
			s.Deliver(fired)
		} else {
			s.Deliver(fired)
			s.Deliver(raised)
		}
		res, err := s.Episode()
		if err != nil {
			t.Fatal(err)
		}
		want := `"timer"`
		if eventFirst {
			want = `"event"`
		}
		if got := history.Deref(res.Completion.Output); got != want {
			t.Fatalf("run %d: %s won, want %s", run, got, want)
		}
	}
}

// 11. Long timers (azure-functions-durable-extension #14, #749, #1538).
func TestChecklist11_LongTimersAreSplit(t *testing.T) {
	orch := durable.NewOrchestration("Long", func(ctx durable.Context, _ string) (string, error) {
		return "", durable.Sleep(ctx, 10*24*time.Hour)
	})
	s := sim(t, orch, "Long")
	s.Start(str(`""`))
	start := s.Now
	c := s.Run()
	if c.Status != history.StatusCompleted {
		t.Fatalf("completion %+v", c)
	}
	var fireAts []time.Time
	created := map[int]time.Time{}
	for i, ev := range s.History {
		if tc, ok := ev.(*history.TimerCreatedEvent); ok {
			fireAts = append(fireAts, tc.FireAt)
			created[len(fireAts)-1] = s.History[i].Base().Timestamp
		}
	}
	if len(fireAts) != 4 {
		t.Fatalf("%d timer pieces, want 4: %v", len(fireAts), fireAts)
	}
	if last := fireAts[3]; !last.Equal(start.Add(10 * 24 * time.Hour)) {
		t.Errorf("last piece fires at %v, want the target %v", last, start.Add(10*24*time.Hour))
	}
	for i, at := range fireAts {
		if d := at.Sub(created[i]); d > 3*24*time.Hour || d > 7*24*time.Hour {
			t.Errorf("piece %d is %v long", i, d)
		}
	}
	// A piece processed at or after the target ends the chain.
	s = sim(t, orch, "Long")
	s.Start(str(`""`))
	if _, err := s.Episode(); err != nil {
		t.Fatal(err)
	}
	s.Now = start.Add(11 * 24 * time.Hour)
	s.Deliver(&history.TimerFiredEvent{TimerID: 0, FireAt: start.Add(3 * 24 * time.Hour), EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
	res, err := s.Episode()
	if err != nil || res.Completion == nil || len(res.Actions) != 0 {
		t.Fatalf("late piece: %v %+v", err, res)
	}
}

// A timer at the zero time.Time (a deadline that was never set) is long
// past: it fires at once, and its FireAt is one an Azure table stores
// (from 1601 on; the emulator takes year 1, a real account refuses it).
func TestTimerAtTheZeroTimeFiresAtOnce(t *testing.T) {
	orch := durable.NewOrchestration("Zero", func(ctx durable.Context, _ string) (string, error) {
		_, err := durable.NewTimerAt(ctx, time.Time{}).Await(ctx)
		return "fired", err
	})
	s := sim(t, orch, "Zero")
	s.Start(str(`""`))
	c := s.Run()
	if c.Status != history.StatusCompleted {
		t.Fatalf("completion %+v", c)
	}
	n := 0
	for _, ev := range s.History {
		if tc, ok := ev.(*history.TimerCreatedEvent); ok {
			n++
			if want := time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC); !tc.FireAt.Equal(want) {
				t.Errorf("FireAt %v, want %v", tc.FireAt, want)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d timers, want 1", n)
	}
}

// 12. Completed instance unchecked (temporalio/sdk-go#876).
func TestChecklist12_ChangedCodeAgainstCompletedHistory(t *testing.T) {
	s := sim(t, helloCities, "HelloCities", sayHello)
	s.Start(str(`""`))
	s.Run()
	full := s.History
	for name, changed := range map[string]func(durable.Context, string) ([]string, error){
		"returns early": func(ctx durable.Context, _ string) ([]string, error) {
			a, _ := sayHello.Call(ctx, "Tokyo").Await(ctx)
			return []string{a}, nil
		},
		"skips a task": func(ctx durable.Context, _ string) ([]string, error) {
			a, _ := sayHello.Call(ctx, "Tokyo").Await(ctx)
			b, _ := sayHello.Call(ctx, "London").Await(ctx)
			return []string{a, b}, nil
		},
		"calls another activity": func(ctx durable.Context, _ string) ([]string, error) {
			a, _ := sayHello.Call(ctx, "Tokyo").Await(ctx)
			_, err := failAct.Call(ctx, "x").Await(ctx)
			return []string{a}, err
		},
	} {
		reg := registry.New(nil)
		if err := registry.Add(reg, durable.NewOrchestration("HelloCities", changed)); err != nil {
			t.Fatal(err)
		}
		fn, _ := reg.Orchestrator("HelloCities", "")
		e := replay.New(fn, replay.Options{})
		_, err := e.Apply(full, nil)
		e.Evict()
		var nde *replay.NonDeterminismError
		if !errors.As(err, &nde) {
			t.Errorf("%s: replay gave %v, want a NonDeterminismError", name, err)
		}
	}
}

// 13. Defers emit during unwind (temporalio/sdk-go PR #2228).
func TestChecklist13_DefersAtEvictionAreInert(t *testing.T) {
	var deferErr error
	orch := durable.NewOrchestration("Defer", func(ctx durable.Context, _ string) (string, error) {
		defer func() {
			_, deferErr = sayHello.Call(ctx, "late").Await(ctx)
		}()
		return durable.WaitForEvent[string](ctx, "never").Await(ctx)
	})
	reg := registry.New(nil)
	_ = registry.Add(reg, orch)
	fn, _ := reg.Orchestrator("Defer", "")
	s := replaytest.New(t, fn)
	s.Start(str(`""`))
	res, err := s.Episode()
	if err != nil || len(res.Actions) != 0 {
		t.Fatalf("episode: %v %v", err, res.Actions)
	}
	e := replay.New(fn, replay.Options{})
	res, err = e.Apply(s.History, nil)
	if err != nil || len(res.Actions) != 0 {
		t.Fatal(err)
	}
	e.Evict()
	if deferErr == nil {
		t.Fatal("the deferred call during eviction succeeded; it must be inert")
	}
	if _, err := e.Apply(nil, []history.Event{&history.OrchestratorStartedEvent{}}); err == nil {
		t.Error("an evicted engine accepted more events")
	}
}

// 15. Reflection names (durabletask-go).
func TestChecklist15_RegistrationRejectsBadNames(t *testing.T) {
	noop := func(durable.Context, string) (string, error) { return "", nil }
	for name, items := range map[string][]durable.Registrable{
		"empty":      {durable.NewOrchestration("", noop)},
		"duplicate":  {durable.NewOrchestration("A", noop), durable.NewOrchestration("A", noop)},
		"case only":  {durable.NewOrchestration("Order", noop), durable.NewOrchestration("order", noop)},
		"activity":   {sayHello, durable.NewActivity("sayhello", func(context.Context, string) (string, error) { return "", nil })},
		"call only":  {durable.ActivityRef[string, string]("Elsewhere")},
		"blank name": {durable.NewActivity("  ", func(context.Context, string) (string, error) { return "", nil })},
	} {
		if err := registry.Add(registry.New(nil), items...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := registry.Add(registry.New(nil), durable.NewOrchestration("A", noop), durable.NewOrchestration("A", noop, durable.Version("2"))); err != nil {
		t.Errorf("two versions of one name: %v", err)
	}
}

// 16. Panic crashes worker (durabletask-go 812d373).
func TestChecklist16_PanicsFailTheInstance(t *testing.T) {
	for name, fn := range map[string]func(durable.Context, string) (string, error){
		"root": func(ctx durable.Context, _ string) (string, error) {
			var m map[string]int
			m["x"] = 1 // nil map write
			return "", nil
		},
		"coroutine": func(ctx durable.Context, _ string) (string, error) {
			_ = durable.Go(ctx, func(ctx durable.Context) {
				_ = durable.Sleep(ctx, time.Second)
				panic("boom in a coroutine")
			})
			return durable.WaitForEvent[string](ctx, "never").Await(ctx)
		},
	} {
		orch := durable.NewOrchestration("P", fn)
		s := sim(t, orch, "P")
		s.Start(str(`""`))
		c := s.Run()
		if c == nil || c.Status != history.StatusFailed || c.Failure == nil || c.Failure.ErrorType != "panic" || c.Failure.StackTrace == nil {
			t.Errorf("%s: completion %+v", name, c)
		}
	}
}

// Decision test: returning completes the orchestration even with an open
// timer; its late TimerFired changes nothing.
func TestCompletionOnReturnWithOpenTimer(t *testing.T) {
	orch := durable.NewOrchestration("Open", func(ctx durable.Context, _ string) (string, error) {
		_ = durable.NewTimer(ctx, time.Hour)
		return "done", nil
	})
	s := sim(t, orch, "Open")
	s.Start(str(`""`))
	res, err := s.Episode()
	if err != nil || res.Completion == nil || res.Completion.Status != history.StatusCompleted || res.Completion.ID != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	// A late TimerFired in a replayed history is ignored.
	s.History = append(s.History, &history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.TimerFiredEvent{TimerID: 0, EventBase: history.EventBase{EventID: -1}})
	s.CheckReplay()
}

package durable_test

// The engine checklist of design/api-and-engine.md §10.2: one named test per
// pitfall that other durable engines hit.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
)

// 1. Panic as control flow (durabletask-go; dapr/durabletask-go PR #18).
func TestChecklist01_BlockingDoesNotUnwind(t *testing.T) {
	defers := 0
	orch := durable.NewOrchestration("Blocks", func(ctx durable.Context, _ string) (int, error) {
		defer func() { defers++ }()
		for i := 0; i < 5; i++ {
			// recover() around Await is harmless: blocking never panics.
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("Await panicked: %v", r)
					}
				}()
				if _, err := sayHello.Call(ctx, fmt.Sprint(i)).Await(ctx); err != nil {
					t.Errorf("await %d: %v", i, err)
				}
			}()
		}
		return defers, nil
	})
	s := sim(t, orch, "Blocks", sayHello)
	s.Start(str(`""`))
	// Drive the cached engine only (no replays), so that one function run
	// spans all six episodes.
	for s.Completion == nil {
		if _, err := s.Episode(); err != nil {
			t.Fatal(err)
		}
	}
	if s.Episodes != 6 {
		t.Fatalf("episodes %d", s.Episodes)
	}
	if c := s.Completion; c.Status != history.StatusCompleted || *c.Output != "0" {
		t.Fatalf("the defer ran before the function returned: %+v %s", c, history.Deref(c.Output))
	}
	if defers != 1 {
		t.Errorf("the defer ran %d times, want once", defers)
	}
}

func TestChecklist01_CallFromGoroutineFailsCleanly(t *testing.T) {
	called := make(chan error, 1)
	orch := durable.NewOrchestration("Foreign", func(ctx durable.Context, _ string) (string, error) {
		if !ctx.IsReplaying() {
			go func() {
				_, err := sayHello.Call(ctx, "x").Await(ctx)
				called <- err
			}()
		}
		return durable.WaitForEvent[string](ctx, "never").Await(ctx)
	})
	s := sim(t, orch, "Foreign", sayHello)
	s.Start(str(`""`))
	// The goroutine calls at some point during or after the first episode;
	// that episode or the next one fails with the foreign-call error.
	_, epErr := s.Episode()
	err := <-called
	if err == nil || !strings.Contains(err.Error(), "not an orchestration coroutine") {
		t.Fatalf("call from a goroutine returned %v", err)
	}
	if epErr == nil {
		s.Raise("other", str(`"x"`))
		_, epErr = s.Episode()
	}
	if epErr == nil || !strings.Contains(epErr.Error(), "durable.Go") {
		t.Fatalf("the episode should fail with the foreign-call error, got %v", epErr)
	}
}

// 2. Map-ordered output (durabletask-go).
func TestChecklist02_FanOutEmitsAscendingIDs(t *testing.T) {
	orch := durable.NewOrchestration("FanOut", func(ctx durable.Context, n int) (int, error) {
		items := map[string]bool{}
		for i := 0; i < n; i++ {
			items[fmt.Sprintf("k%04d", i)] = true
		}
		var fs []durable.Awaitable
		for _, k := range durable.DeterministicKeys(items) {
			fs = append(fs, sayHello.Call(ctx, k))
		}
		return len(fs), durable.WhenAll(ctx, fs...)
	})
	for run := 0; run < 100; run++ {
		s := sim(t, orch, "FanOut", sayHello)
		s.Start(str("1000"))
		res, err := s.Episode()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Actions) != 1000 {
			t.Fatalf("run %d: %d actions", run, len(res.Actions))
		}
		for i, a := range res.Actions {
			ts := a.(*history.TaskScheduledEvent)
			if ts.EventID != int32(i) || history.Deref(ts.Input) != fmt.Sprintf(`["k%04d"]`, i) {
				t.Fatalf("run %d: action %d is id %d input %s", run, i, ts.EventID, history.Deref(ts.Input))
			}
		}
	}
}

func TestChecklist02_CarryOverKeepsArrivalOrder(t *testing.T) {
	orch := durable.NewOrchestration("Carry", func(ctx durable.Context, gen int) (string, error) {
		if gen == 0 {
			if _, err := durable.WaitForEvent[string](ctx, "go").Await(ctx); err != nil {
				return "", err
			}
			return "", durable.ContinueAsNew(ctx, 1, durable.KeepUnprocessedEvents())
		}
		return "", nil
	})
	s := sim(t, orch, "Carry", sayHello)
	s.Start(str("0"))
	s.Raise("b", str(`"1"`))
	s.Raise("a", str(`"2"`))
	s.Raise("go", str(`"3"`))
	s.Raise("c", str(`"4"`))
	// Generation 1 runs in the same episode (as on a worker) and ends.
	if c := s.Run(); c.Status != history.StatusCompleted || len(s.ContinuedAsNew) != 1 {
		t.Fatalf("completion %+v after %d continue-as-new", c, len(s.ContinuedAsNew))
	}
	var names []string
	for _, ev := range s.ContinuedAsNew[0].ContinueAsNew.Carry {
		names = append(names, ev.Name+"="+history.Deref(ev.Input))
	}
	if got := strings.Join(names, ","); got != `b="1",a="2",c="4"` {
		t.Errorf("carried %s", got)
	}
	// The stored history of generation 1 holds them in that order.
	names = nil
	for _, ev := range s.History {
		if er, ok := ev.(*history.EventRaisedEvent); ok {
			names = append(names, er.Name+"="+history.Deref(er.Input))
		}
	}
	if got := strings.Join(names, ","); got != `b="1",a="2",c="4"` {
		t.Errorf("stored %s", got)
	}
}

// 3. Stale timeout timer (dapr/durabletask-go PR #114).
func TestChecklist03_StaleTimeoutTimer(t *testing.T) {
	orch := durable.NewOrchestration("Stale", func(ctx durable.Context, _ string) (string, error) {
		first, err := durable.WaitForEvent[string](ctx, "approve", durable.WithTimeout(time.Hour)).Await(ctx)
		if err != nil {
			return "", err
		}
		second, err := durable.WaitForEvent[string](ctx, "approve").Await(ctx)
		return first + "+" + second, err
	})
	s := sim(t, orch, "Stale", sayHello)
	s.Start(str(`""`))
	s.Raise("approve", str(`"one"`))
	s.RunUntilIdle()
	// The event won; now the first wait's timer fires, then a new event.
	s.FireTimers(2 * time.Hour)
	s.RunUntilIdle()
	if s.Completion != nil {
		t.Fatalf("the stale timer completed the second wait: %+v", s.Completion)
	}
	s.Raise("approve", str(`"two"`))
	c := s.Run()
	if c == nil || *c.Output != `"one+two"` {
		t.Fatalf("completion %+v %s", c, history.Deref(c.Output))
	}
}

// 4. Duplicate completions (dapr/durabletask-go PR #96; Azure/durabletask PR #290).
func TestChecklist04_DuplicateCompletionsIgnored(t *testing.T) {
	s := sim(t, helloCities, "HelloCities", sayHello)
	s.Start(str(`""`))
	if _, err := s.Episode(); err != nil {
		t.Fatal(err)
	}
	// Deliver the first result twice in one batch, and again later.
	dup := &history.TaskCompletedEvent{TaskScheduledID: 0, Result: str(`"Hello Tokyo!"`), EventBase: history.EventBase{EventID: -1}}
	s.Deliver(dup)
	res, err := s.Episode()
	if err != nil {
		t.Fatalf("duplicate in new events: %v", err)
	}
	if len(res.Actions) != 1 {
		t.Fatalf("episode with duplicates emitted %d actions, want 1", len(res.Actions))
	}
	s.Deliver(dup)
	res, err = s.Episode()
	if err != nil || len(res.Actions) != 1 || res.Actions[0].Base().EventID != 2 {
		t.Fatalf("a late duplicate beside the next result: %v, %d actions", err, len(res.Actions))
	}
	c := s.Run() // also replays the history holding the duplicates from scratch
	if c.Status != history.StatusCompleted {
		t.Fatalf("completion %+v", c)
	}
}

// 5. No WhenAny, so users poll (dapr/dapr#10447; dapr/durabletask-go PR #131).
func TestChecklist05_SelectorAddsOneTimerPerWait(t *testing.T) {
	orch := durable.NewOrchestration("Select", func(ctx durable.Context, _ string) (string, error) {
		ch := durable.NewEventChannel[string](ctx, "ping")
		act := sayHello.Call(ctx, "a")
		var got []string
		for len(got) < 3 {
			timer := durable.NewTimer(ctx, time.Minute)
			sel := durable.NewSelector(ctx)
			sel.AddFuture(act, func(f durable.Awaitable) { got = append(got, "activity") })
			sel.AddFuture(timer, func(durable.Awaitable) { got = append(got, "timer") })
			durable.AddReceive(sel, ch, func(v string, err error) { got = append(got, "event:"+v) })
			if err := sel.Select(ctx); err != nil {
				return "", err
			}
			if got[len(got)-1] == "activity" {
				act = durable.CallActivity[string](ctx, "SayHello", "never-done-in-time")
			}
		}
		return strings.Join(got, ","), nil
	})
	s := sim(t, orch, "Select", sayHello)
	s.Activity = nil
	s.Start(str(`""`))
	if _, err := s.Episode(); err != nil {
		t.Fatal(err)
	}
	timers := 0
	for _, ev := range s.History {
		if ev.Type() == history.TimerCreated {
			timers++
		}
	}
	if timers != 1 {
		t.Fatalf("the first wait created %d timers, want 1", timers)
	}
	s.Raise("ping", str(`"p"`))
	s.RunUntilIdle()
	s.FireTimers(time.Minute)
	s.RunUntilIdle()
	timers = 0
	for _, ev := range s.History {
		if ev.Type() == history.TimerCreated {
			timers++
		}
	}
	if timers != 3 {
		t.Errorf("three waits created %d timers, want 3", timers)
	}
}

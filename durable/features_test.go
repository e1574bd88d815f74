package durable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/internal/replay/replaytest"
)

// 14. Quadratic replay (azure-functions-durable-python PR #302): count work,
// not time. Allocations per history event must not grow with the history.
func TestChecklist14_ReplayIsLinear(t *testing.T) {
	if testing.Short() {
		t.Log("short mode: measuring 2k and 20k events instead of 10k and 100k")
	}
	chain := durable.NewOrchestration("Chain", func(ctx durable.Context, n int) (int, error) {
		for i := 0; i < n; i++ {
			if _, err := sayHello.Call(ctx, "x").Await(ctx); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	reg := registry.New(nil)
	_ = registry.Add(reg, chain)
	fn, _ := reg.Orchestrator("Chain", "")
	historyOf := func(events int) []history.Event {
		n := events / 4
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		b := history.EventBase{EventID: -1, Timestamp: ts}
		h := []history.Event{&history.OrchestratorStartedEvent{EventBase: b},
			&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "c", ExecutionID: "e"},
				Name: "Chain", Input: str(fmt.Sprint(n + 1)), EventBase: b}}
		for i := 0; i < n; i++ {
			h = append(h, &history.TaskScheduledEvent{Name: "SayHello", EventBase: history.EventBase{EventID: int32(i), Timestamp: ts}},
				&history.OrchestratorCompletedEvent{EventBase: b}, &history.OrchestratorStartedEvent{EventBase: b},
				&history.TaskCompletedEvent{TaskScheduledID: int32(i), Result: str(`"x"`), EventBase: b})
		}
		return h
	}
	perEvent := func(events int) float64 {
		h := historyOf(events)
		allocs := testing.AllocsPerRun(1, func() {
			e := replay.New(fn, replay.Options{})
			if _, err := e.Apply(h, nil); err != nil {
				t.Fatal(err)
			}
			e.Evict()
		})
		return allocs / float64(len(h))
	}
	small, large := 10_000, 100_000
	if testing.Short() {
		small, large = 2_000, 20_000
	}
	a, b := perEvent(small), perEvent(large)
	t.Logf("allocations per event: %.2f at %d events, %.2f at %d events", a, small, b, large)
	if b > 2*a {
		t.Errorf("replay work per event grew from %.2f to %.2f allocations", a, b)
	}
}

func TestSuspendBuffersEventsUntilResume(t *testing.T) {
	orch := durable.NewOrchestration("Waiter", func(ctx durable.Context, _ string) (string, error) {
		return durable.WaitForEvent[string](ctx, "Go").Await(ctx)
	})
	s := sim(t, orch, "Waiter")
	s.Start(str(`""`))
	s.RunUntilIdle()
	s.Deliver(&history.ExecutionSuspendedEvent{Reason: str("pause"), EventBase: history.EventBase{EventID: -1}})
	s.RunUntilIdle()
	s.Raise("Go", str(`"resumed-data"`))
	s.RunUntilIdle()
	if s.Completion != nil {
		t.Fatal("a suspended orchestration ran")
	}
	s.Deliver(&history.ExecutionResumedEvent{Reason: str("continue"), EventBase: history.EventBase{EventID: -1}})
	c := s.Run()
	if c == nil || history.Deref(c.Output) != `"resumed-data"` || c.ID != 0 {
		t.Fatalf("completion %+v", c)
	}
}

func TestContinueAsNewCounter(t *testing.T) {
	counter := durable.NewOrchestration("Counter", func(ctx durable.Context, n int) (int, error) {
		if n < 2 {
			return 0, durable.ContinueAsNew(ctx, n+1)
		}
		return n, nil
	})
	s := sim(t, counter, "Counter")
	s.Start(str("0"))
	c := s.Run()
	// The generations run in one episode and only the last one is stored,
	// as a worker commits them.
	if c.Status != history.StatusCompleted || history.Deref(c.Output) != "2" || s.Episodes != 1 {
		t.Fatalf("completion %+v after %d episodes", c, s.Episodes)
	}
	if len(s.ContinuedAsNew) != 2 {
		t.Fatalf("%d generations continued as new, want 2", len(s.ContinuedAsNew))
	}
	for i, can := range s.ContinuedAsNew {
		if can.Status != history.StatusContinuedAsNew || history.Deref(can.ContinueAsNew.Input) != fmt.Sprint(i+1) || can.ID != 0 {
			t.Errorf("generation %d: %+v", i, can)
		}
	}
	es, ok := s.History[1].(*history.ExecutionStartedEvent)
	if !ok || history.Deref(es.Input) != "2" || es.OrchestrationInstance.ExecutionID != s.ExecutionID {
		t.Fatalf("stored history does not start the last generation:\n%s", replaytest.Describe(s.History))
	}
}

func TestSubOrchestrationDefaultID(t *testing.T) {
	orch := durable.NewOrchestration("Parent", func(ctx durable.Context, s string) (string, error) {
		_ = ctx.SetCustomStatus("starting")
		out, err := durable.CallSubOrchestrator[string](ctx, "Child", s+"-child").Await(ctx)
		_ = ctx.SetCustomStatus("done")
		return out, err
	})
	var ids []string
	s := sim(t, orch, "Parent")
	s.Sub = func(name, id string, input *string) (*string, error) {
		ids = append(ids, id)
		return str(`"Hello kid-child!"`), nil
	}
	s.Start(str(`"kid"`))
	c := s.Run()
	if len(ids) != 1 || ids[0] != s.ExecutionID+":0" {
		t.Errorf("child ids %v", ids)
	}
	if history.Deref(c.Output) != `"Hello kid-child!"` || history.Deref(s.CustomStatus) != `"done"` {
		t.Errorf("output %s status %s", history.Deref(c.Output), history.Deref(s.CustomStatus))
	}
	in := history.Deref(s.SentOf(history.ExecutionStarted)[0].Event.(*history.ExecutionStartedEvent).Input)
	if in != `"kid-child"` {
		t.Errorf("sub-orchestration input %s: it is a single value, not an array", in)
	}
}

func TestEventWaits(t *testing.T) {
	orch := durable.NewOrchestration("Events", func(ctx durable.Context, _ string) (string, error) {
		// Two waiters of one name are served first in, first out; names
		// match without regard to case; a zero timeout takes only what has
		// arrived; a negative one is an error.
		a := durable.WaitForEvent[string](ctx, "x")
		b := durable.WaitForEvent[string](ctx, "X")
		if err := durable.WhenAll(ctx, a, b); err != nil {
			return "", err
		}
		va, _ := a.Await(ctx)
		vb, _ := b.Await(ctx)
		_, errNone := durable.WaitForEvent[string](ctx, "y", durable.WithTimeout(0)).Await(ctx)
		_, errNeg := durable.WaitForEvent[string](ctx, "y", durable.WithTimeout(-time.Second)).Await(ctx)
		early, errEarly := durable.WaitForEvent[string](ctx, "early", durable.WithTimeout(0)).Await(ctx)
		_, errTimeout := durable.WaitForEvent[string](ctx, "late", durable.WithTimeout(time.Minute)).Await(ctx)
		return fmt.Sprintf("%s %s %v %v %s %v %v", va, vb, errors.Is(errNone, durable.ErrTimeout), errNeg != nil,
			early, errEarly, errors.Is(errTimeout, durable.ErrTimeout)), nil
	})
	s := sim(t, orch, "Events")
	s.Start(str(`""`))
	s.Raise("early", str(`"e"`))
	s.Raise("X", str(`"1"`))
	s.Raise("x", str(`"2"`))
	c := s.Run()
	if got := history.Deref(c.Output); got != `"1 2 true true e <nil> true"` {
		t.Errorf("got %s", got)
	}
}

// With MatchCase, a wait takes only events spelled exactly as asked, as
// an orchestration on C#'s DurableTask.Core does: "go" and "GO" stay
// buffered (for a later wait that ignores case) while the wait for "Go"
// takes the event named "Go", even one that came later.
func TestMatchCaseComparesNamesExactly(t *testing.T) {
	orch := durable.NewOrchestration("Exact", func(ctx durable.Context, _ string) (string, error) {
		_, errNone := durable.WaitForEvent[string](ctx, "Go", durable.MatchCase(), durable.WithTimeout(0)).Await(ctx)
		exact, err := durable.WaitForEvent[string](ctx, "Go", durable.MatchCase()).Await(ctx)
		if err != nil {
			return "", err
		}
		_, errLater := durable.WaitForEvent[string](ctx, "go", durable.MatchCase(), durable.WithTimeout(time.Minute)).Await(ctx)
		anyCase, err := durable.WaitForEvent[string](ctx, "GO").Await(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%v %s %v %s", errors.Is(errNone, durable.ErrTimeout), exact, errLater, anyCase), nil
	})
	s := sim(t, orch, "Exact")
	s.Start(str(`""`))
	s.Raise("go", str(`"lower"`))
	s.Raise("GO", str(`"upper"`))
	s.Raise("Go", str(`"exact"`))
	c := s.Run()
	if got := history.Deref(c.Output); got != `"true exact <nil> upper"` {
		t.Errorf("got %s, want the exact spelling for the MatchCase waits and the first of the rest for the other", got)
	}
}

func TestRetriesAreEagerAndNumberedLikeCSharp(t *testing.T) {
	attempts := map[string]int{}
	flaky := durable.NewActivity("Flaky", func(_ context.Context, s string) (string, error) {
		attempts[s]++
		if attempts[s] < 3 {
			return "", fmt.Errorf("attempt %d of %s failed", attempts[s], s)
		}
		return "ok " + s, nil
	})
	policy := durable.RetryPolicy{MaxAttempts: 5, FirstRetryInterval: time.Second, BackoffCoefficient: 2}
	orch := durable.NewOrchestration("Retry", func(ctx durable.Context, _ string) (string, error) {
		a := flaky.Call(ctx, "a", durable.WithRetry(policy))
		b := flaky.Call(ctx, "b", durable.WithRetry(policy))
		res, err := durable.WhenAllOf(ctx, a, b)
		return strings.Join(res, ","), err
	})
	s := sim(t, orch, "Retry", flaky)
	s.Start(str(`""`))
	start := s.Now
	c := s.Run()
	if history.Deref(c.Output) != `"ok a,ok b"` {
		t.Fatalf("completion %+v %s", c, history.Deref(c.Output))
	}
	// Both first attempts, then both retry timers, in one episode each: the
	// retries of a fan-out run in parallel.
	var kinds []string
	for _, ev := range s.History {
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			kinds = append(kinds, fmt.Sprintf("T%d", v.EventID))
		case *history.TimerCreatedEvent:
			kinds = append(kinds, fmt.Sprintf("W%d@%v", v.EventID, v.FireAt.Sub(start)))
		}
	}
	want := "T0 T1 W2@1s W3@1s T4 T5 W6@3s W7@3s T8 T9"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("actions %s\n   want %s", got, want)
	}
	// A non-retriable failure stops at once.
	fatal := durable.NewActivity("Fatal", func(_ context.Context, s string) (string, error) {
		return "", durable.NonRetryable(errors.New("no"))
	})
	orch2 := durable.NewOrchestration("Retry2", func(ctx durable.Context, _ string) (string, error) {
		return fatal.Call(ctx, "x", durable.WithRetry(policy)).Await(ctx)
	})
	s = sim(t, orch2, "Retry2", fatal)
	s.Start(str(`""`))
	if c := s.Run(); c.Status != history.StatusFailed || s.Episodes != 2 {
		t.Errorf("non-retriable: %+v after %d episodes", c, s.Episodes)
	}
}

func TestDeadlockIsDetected(t *testing.T) {
	release := make(chan struct{})
	orch := durable.NewOrchestration("Stuck", func(ctx durable.Context, _ string) (string, error) {
		<-release // blocks outside any durable call
		return "", nil
	})
	s := sim(t, orch, "Stuck")
	s.Options.DeadlockTimeout = 50 * time.Millisecond
	s.Start(str(`""`))
	_, err := s.Episode()
	close(release)
	if !errors.Is(err, replay.ErrDeadlock) {
		t.Fatalf("got %v, want ErrDeadlock", err)
	}
}

func TestLoggerIsSilentWhileReplaying(t *testing.T) {
	var buf bytes.Buffer
	orch := durable.NewOrchestration("Log", func(ctx durable.Context, _ string) (string, error) {
		ctx.Logger().Info("before")
		_, _ = sayHello.Call(ctx, "x").Await(ctx)
		ctx.Logger().Info("after")
		return "", nil
	})
	s := sim(t, orch, "Log", sayHello)
	s.Options.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	s.NoCache = true
	s.Start(str(`""`))
	for s.Completion == nil {
		if _, err := s.Episode(); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "msg=before"); n != 1 {
		t.Errorf("'before' logged %d times over a replay, want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "msg=after"); n != 1 {
		t.Errorf("'after' logged %d times, want 1", n)
	}
}

func TestNewGUIDIsDeterministic(t *testing.T) {
	var first []string
	orch := durable.NewOrchestration("G", func(ctx durable.Context, _ string) ([]string, error) {
		ids := []string{ctx.NewGUID(), ctx.NewGUID()}
		_, _ = sayHello.Call(ctx, "x").Await(ctx)
		ids = append(ids, ctx.NewGUID())
		if first == nil {
			first = ids
		}
		return ids, nil
	})
	s := sim(t, orch, "G", sayHello)
	s.Start(str(`""`))
	c := s.Run()
	out := history.Deref(c.Output)
	for _, id := range first {
		if !strings.Contains(out, id) {
			t.Errorf("GUID %s of the first run missing from the final output %s", id, out)
		}
	}
	if first[0] == first[1] || len(first[0]) != 36 || first[0][14] != '5' {
		t.Errorf("GUIDs %v are not distinct UUIDv5 values", first)
	}
}

func TestActivityInputForms(t *testing.T) {
	type item struct{ Name string }
	for text, want := range map[string]string{
		`["Tokyo"]`:      "Tokyo",
		`"Tokyo"`:        "Tokyo",
		`[["a","b"]]`:    "[a b]",
		`{"Name":"x"}`:   "{x}",
		`[{"Name":"x"}]`: "{x}",
		`[5]`:            "5",
	} {
		var got string
		switch {
		case strings.Contains(text, "Name"):
			v, err := payload.DecodeActivityInput[item](payload.JSON{}, &text)
			got = fmt.Sprint(v, err)
			got = strings.TrimSuffix(got, " <nil>")
		case strings.HasPrefix(text, "[["):
			v, err := payload.DecodeActivityInput[[]string](payload.JSON{}, &text)
			got = strings.TrimSuffix(fmt.Sprint(v, " ", err), "  <nil>")
			got = strings.TrimSuffix(got, " <nil>")
		case text == "[5]":
			v, err := payload.DecodeActivityInput[int](payload.JSON{}, &text)
			got = strings.TrimSuffix(fmt.Sprint(v, " ", err), " <nil>")
		default:
			v, err := payload.DecodeActivityInput[string](payload.JSON{}, &text)
			got = strings.TrimSuffix(fmt.Sprint(v, " ", err), " <nil>")
		}
		if strings.TrimSpace(got) != want {
			t.Errorf("%s decoded as %q, want %q", text, got, want)
		}
	}
	// A single list sent by a writer without the parameter array still works.
	p := `["a","b"]`
	if v, err := payload.DecodeActivityInput[[]string](payload.JSON{}, &p); err != nil || len(v) != 2 {
		t.Errorf("whole-list text: %v %v", v, err)
	}
	if in, _ := payload.EncodeActivityInput(payload.JSON{}, struct{}{}); *in != "[]" {
		t.Errorf("no-input call writes %s", *in)
	}
}

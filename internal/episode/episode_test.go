package episode_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// host returns a Host over the orchestrations of handles, with a fixed
// clock and numbered execution ids.
func host(t *testing.T, max int, handles ...durable.Registrable) *episode.Host {
	t.Helper()
	reg := registry.New(nil)
	if err := registry.Add(reg, handles...); err != nil {
		t.Fatal(err)
	}
	n := 0
	return &episode.Host{Orchestrator: reg.Orchestrator, Now: func() time.Time { return t0 },
		NewExecutionID: func() string { n++; return fmt.Sprintf("exec-%d", n) }, MaxGenerations: max}
}

func startOf(name, input string, parent *history.ParentInstance) *history.ExecutionStartedEvent {
	return &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "exec-0"},
		Name: name, Input: &input, ParentInstance: parent, EventBase: history.EventBase{EventID: -1, Timestamp: t0}}
}

func run(t *testing.T, h *episode.Host, start *history.ExecutionStartedEvent) *episode.Output {
	t.Helper()
	code, ok := h.Orchestrator(start.Name, "")
	if !ok {
		t.Fatalf("no code for %s", start.Name)
	}
	out, err := episode.New(h, episode.Work{Start: start, Code: code, Messages: []history.Event{start}}).Run()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func types(events []history.Event) string {
	s := ""
	for _, ev := range events {
		s += ev.Type().String() + " "
	}
	return s
}

var act = durable.NewActivity("Act", func(_ context.Context, s string) (string, error) { return s, nil })

// The history holds what C# stores (no activity or child input); the
// messages carry the inputs, the trace parent, tags and the parent.
func TestEpisodeStoresWhatCSharpStores(t *testing.T) {
	orch := durable.NewOrchestration("Shape", func(ctx durable.Context, _ string) (string, error) {
		_ = act.Call(ctx, "to-activity")
		_ = durable.CallSubOrchestrator[string](ctx, "Child", "to-child", durable.WithInstanceID("kid"))
		_ = durable.NewTimer(ctx, time.Hour)
		if err := durable.SendEvent(ctx, "other", "ping", "to-other"); err != nil {
			return "", err
		}
		return durable.WaitForEvent[string](ctx, "never").Await(ctx)
	})
	out := run(t, host(t, 0, orch, act), startOf("Shape", `""`, nil))
	if got, want := types(out.NewEvents), "OrchestratorStarted ExecutionStarted TaskScheduled SubOrchestrationInstanceCreated TimerCreated EventSent OrchestratorCompleted "; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	if out.NewEvents[2].(*history.TaskScheduledEvent).Input != nil || out.NewEvents[3].(*history.SubOrchestrationInstanceCreatedEvent).Input != nil {
		t.Error("an input is stored in the history")
	}
	if out.Done || out.NewExecution || out.Engine == nil {
		t.Errorf("done %v, new execution %v, engine %v", out.Done, out.NewExecution, out.Engine)
	}
	defer out.Release()
	if len(out.Outbox) != 4 {
		t.Fatalf("%d messages", len(out.Outbox))
	}
	ts := out.Outbox[0].Event.(*history.TaskScheduledEvent)
	if history.Deref(ts.Input) != `["to-activity"]` || out.Outbox[0].OrchestrationInstance.ExecutionID != "exec-0" ||
		out.Outbox[0].OrchestrationExecutionContext == nil || out.Outbox[0].OrchestrationExecutionContext.OrchestrationTags == nil {
		t.Errorf("activity call %+v", out.Outbox[0])
	}
	child := out.Outbox[1].Event.(*history.ExecutionStartedEvent)
	if history.Deref(child.Input) != `"to-child"` || child.OrchestrationInstance.InstanceID != "kid" ||
		child.OrchestrationInstance.ExecutionID != rules.ChildExecutionID(history.OrchestrationInstance{InstanceID: "i", ExecutionID: "exec-0"}, 1, 0) || child.ParentInstance == nil || child.ParentInstance.TaskScheduleID != 1 {
		t.Errorf("child start %+v", child)
	}
	if tf, ok := out.Outbox[2].Event.(*history.TimerFiredEvent); !ok || tf.TimerID != 2 || !tf.FireAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("timer %+v", out.Outbox[2].Event)
	}
	if er, ok := out.Outbox[3].Event.(*history.EventRaisedEvent); !ok || er.Name != "ping" || out.Outbox[3].OrchestrationInstance.InstanceID != "other" {
		t.Errorf("event %+v", out.Outbox[3])
	}
}

var counter = durable.NewOrchestration("Counter", func(ctx durable.Context, n int) (int, error) {
	if n < 5 {
		return 0, durable.ContinueAsNew(ctx, n+1)
	}
	return n, nil
})

// Continue-as-new runs the next generations in the same episode and only
// the last one is committed, whole; a child tells its parent.
func TestEpisodeContinuesAsNewInOneEpisode(t *testing.T) {
	parent := &history.ParentInstance{Name: "P", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}, TaskScheduleID: 7}
	out := run(t, host(t, 0, counter), startOf("Counter", "0", parent))
	if !out.Done || !out.NewExecution || len(out.ContinuedAsNew) != 5 || out.Engine != nil {
		t.Fatalf("done %v, new execution %v, %d generations continued, engine %v", out.Done, out.NewExecution, len(out.ContinuedAsNew), out.Engine)
	}
	if got, want := types(out.NewEvents), "OrchestratorStarted ExecutionStarted OrchestratorCompleted ExecutionCompleted OrchestratorCompleted "; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	es := out.NewEvents[1].(*history.ExecutionStartedEvent)
	if history.Deref(es.Input) != "5" || es.OrchestrationInstance.ExecutionID != "exec-5" || es.ParentInstance != parent || out.Start != es {
		t.Errorf("last generation's start %+v", es)
	}
	if len(out.Outbox) != 1 {
		t.Fatalf("%d messages", len(out.Outbox))
	}
	if done, ok := out.Outbox[0].Event.(*history.SubOrchestrationInstanceCompletedEvent); !ok || done.TaskScheduledID != 7 ||
		history.Deref(done.Result) != "5" || out.Outbox[0].OrchestrationInstance != parent.OrchestrationInstance {
		t.Errorf("parent notification %+v", out.Outbox[0])
	}
}

// Past MaxGenerations the last generation run is committed with a
// ContinueAsNew event and the next one is sent as a start message.
func TestEpisodeHandsOffPastMaxGenerations(t *testing.T) {
	out := run(t, host(t, 2, counter), startOf("Counter", "0", nil))
	if out.Done || !out.NewExecution || out.Engine != nil || len(out.ContinuedAsNew) != 2 {
		t.Fatalf("done %v, new execution %v, engine %v, %d continued", out.Done, out.NewExecution, out.Engine, len(out.ContinuedAsNew))
	}
	if got, want := types(out.NewEvents), "OrchestratorStarted ExecutionStarted OrchestratorCompleted ContinueAsNew OrchestratorCompleted "; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
	next, ok := out.Outbox[0].Event.(*history.ExecutionStartedEvent)
	if len(out.Outbox) != 1 || !ok || history.Deref(next.Input) != "2" || next.IsPlayed ||
		out.Outbox[0].OrchestrationInstance != next.OrchestrationInstance {
		t.Fatalf("hand-off %+v", out.Outbox)
	}
}

// Fail ends the instance with the engine's next task id; Terminate ends an
// instance without its code and terminates its children recursively.
func TestEpisodeFailAndTerminate(t *testing.T) {
	h := host(t, 0, counter)
	code, _ := h.Orchestrator("Counter", "")
	start := startOf("Counter", "0", nil)
	out := episode.New(h, episode.Work{Start: start, Code: code, Messages: []history.Event{start}}).Fail(fmt.Errorf("wrong version"))
	done, ok := out.NewEvents[len(out.NewEvents)-2].(*history.ExecutionCompletedEvent)
	if !out.Done || !ok || done.OrchestrationStatus != history.StatusFailed || history.Deref(done.Result) != "wrong version" {
		t.Fatalf("fail: %s", types(out.NewEvents))
	}

	past := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}}, start,
		&history.SubOrchestrationInstanceCreatedEvent{InstanceID: "kid-0", EventBase: history.EventBase{EventID: 0}},
		&history.SubOrchestrationInstanceCreatedEvent{InstanceID: "kid-1", EventBase: history.EventBase{EventID: 1}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 0, EventBase: history.EventBase{EventID: -1}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}},
	}
	term := &history.ExecutionTerminatedEvent{Input: history.Str("stop"), Recursive: true, EventBase: history.EventBase{EventID: -1}}
	out = episode.Terminate(h, episode.Work{Start: start, Past: past, Messages: []history.Event{term}}, term)
	done, ok = out.NewEvents[len(out.NewEvents)-2].(*history.ExecutionCompletedEvent)
	if !out.Done || !ok || done.OrchestrationStatus != history.StatusTerminated || done.EventID != 2 {
		t.Fatalf("terminate: %s", types(out.NewEvents))
	}
	if len(out.Outbox) != 1 || out.Outbox[0].OrchestrationInstance.InstanceID != "kid-1" {
		t.Fatalf("children terminated: %+v", out.Outbox)
	}
}

// A cached engine that no longer matches a fresh replay of the stored
// history fails Verify with a non-determinism error.
func TestEpisodeVerifyComparesWithAFreshReplay(t *testing.T) {
	calls := 0
	orch := durable.NewOrchestration("Drift", func(ctx durable.Context, _ string) (string, error) {
		calls++
		if calls > 1 { // every run after the first schedules something else
			_ = durable.NewTimer(ctx, time.Minute)
		}
		return durable.WaitForEvent[string](ctx, "go").Await(ctx)
	})
	h := host(t, 0, orch)
	start := startOf("Drift", `""`, nil)
	first := run(t, h, start)
	code, _ := h.Orchestrator("Drift", "")
	raised := &history.EventRaisedEvent{Name: "other", EventBase: history.EventBase{EventID: -1}}
	_, err := episode.New(h, episode.Work{Start: start, Code: code, Engine: first.Engine, Messages: []history.Event{raised},
		Verify: true, Stored: first.NewEvents}).Run()
	if _, ok := err.(*replay.NonDeterminismError); !ok {
		t.Fatalf("verify: %v", err)
	}
}

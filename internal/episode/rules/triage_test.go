package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// A start whose own execution the row shows Terminated is dropped (the
// terminate came first); the other rules are C#'s.
func TestDedupeStartTerminatedBeforeStart(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := int32(0)
	start := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "E1"},
		Name: "Orch", Generation: &g, EventBase: history.EventBase{Timestamp: ts}}
	row := func(exec string, st history.OrchestrationStatus) *history.OrchestrationState {
		return &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: exec},
			Status: st, Generation: &g, CreatedTime: ts}
	}
	if v, why := DedupeStart(row("e1", history.StatusTerminated), start, 1, ts); v != Drop || !strings.Contains(why, "terminated") {
		t.Errorf("terminated before it started: %s (%s)", v, why)
	}
	if v, _ := DedupeStart(row("E1", history.StatusPending), start, 1, ts); v != Keep {
		t.Errorf("pending: %s", v)
	}
	if v, _ := DedupeStart(row("", history.StatusTerminated), start, 1, ts); v != Keep {
		t.Errorf("a row without an execution id: %s", v)
	}
	if v, _ := DedupeStart(row("E0", history.StatusTerminated), start, 1, ts); v != Abandon {
		t.Errorf("another execution's terminated row: %s", v)
	}
}

// A terminate that comes in one batch with the top-level start of an
// instance without history ends it before it runs; with a child's start,
// the child runs (its parent waits for its result).
func TestTriageTerminateWithTheFirstStart(t *testing.T) {
	inst := history.OrchestrationInstance{InstanceID: "i", ExecutionID: "E1"}
	start := Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: inst,
		Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "Orch"}}, DequeueCount: 1}
	term := Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"},
		Event: &history.ExecutionTerminatedEvent{Input: history.Str("stop")}}, DequeueCount: 1}
	batch := []Incoming{start, term}
	res := Triage(NewHistoryIndex(nil), batch)
	if res.TerminateWithoutHistory == nil || len(res.Kept) != 0 || res.NewExecution {
		t.Fatalf("top-level start with a terminate: %+v", res)
	}
	for _, d := range res.Decisions {
		if d.Verdict != Drop {
			t.Errorf("%s: %s", batch[d.Index].Event.Type(), d.Verdict)
		}
	}

	child := Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: inst,
		Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "Orch",
			ParentInstance: &history.ParentInstance{Name: "P", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}}}}, DequeueCount: 1}
	if res := Triage(NewHistoryIndex(nil), []Incoming{child, term}); res.TerminateWithoutHistory != nil || len(res.Kept) != 2 {
		t.Fatalf("child start with a terminate: %+v", res)
	}
	if res := Triage(NewHistoryIndex(nil), []Incoming{start}); res.TerminateWithoutHistory != nil || len(res.Kept) != 1 {
		t.Fatalf("start alone: %+v", res)
	}
}

// A message for another execution than the one in history may be for a
// newer execution whose history an earlier owner is still writing: it is
// stale only once the batch's own commit succeeds (DropOnCommit), put back
// when nothing of the batch runs, and dropped after more than 5 deliveries.
func TestTriageStaleWaitsForTheCommit(t *testing.T) {
	inst := history.OrchestrationInstance{InstanceID: "i", ExecutionID: "C"}
	events := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "Orch", EventBase: history.EventBase{EventID: -1}},
		&history.TaskScheduledEvent{Name: "A", EventBase: history.EventBase{EventID: 0}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}},
	}
	waiting := NewHistoryIndex(events)
	done := NewHistoryIndex(append(append([]history.Event(nil), events...),
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.TaskCompletedEvent{TaskScheduledID: 0, EventBase: history.EventBase{EventID: -1}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}}))
	result := func(exec string, deliveries int) Incoming {
		return Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: exec},
			Event: &history.TaskCompletedEvent{TaskScheduledID: 0, EventBase: history.EventBase{EventID: -1}}}, DequeueCount: deliveries}
	}
	for _, c := range []struct {
		name  string
		x     *HistoryIndex
		batch []Incoming
		want  []Verdict
	}{
		{"with a kept message", waiting, []Incoming{result("C", 2), result("N", 1)}, []Verdict{Keep, DropOnCommit}},
		{"with nothing kept", done, []Incoming{result("C", 2), result("N", 1)}, []Verdict{Drop, Abandon}},
		{"alone", done, []Incoming{result("N", 3)}, []Verdict{Abandon}},
		{"after 6 deliveries", done, []Incoming{result("N", 6)}, []Verdict{Drop}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := Triage(c.x, c.batch)
			got := make([]Verdict, len(res.Decisions))
			for i, d := range res.Decisions {
				got[i] = d.Verdict
			}
			if len(got) != len(c.want) {
				t.Fatalf("verdicts %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("verdicts %v, want %v", got, c.want)
				}
			}
		})
	}
}

// A completion of another kind than the scheduling event with its task id
// comes from an episode that was run and never recorded (its rerun, at a
// later time, scheduled an activity where the first run had set a timer):
// it is dropped, so that it neither marks the task completed nor makes
// the task's real result a duplicate. A schedule's orchestration hung
// this way after a worker was killed between its sends and its history
// write.
func TestTriageCompletionOfTheWrongKindIsStale(t *testing.T) {
	inst := history.OrchestrationInstance{InstanceID: "i", ExecutionID: "C"}
	x := NewHistoryIndex([]history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1}},
		&history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "Orch", EventBase: history.EventBase{EventID: -1}},
		&history.TaskScheduledEvent{Name: "A", EventBase: history.EventBase{EventID: 4}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1}},
	})
	msg := func(ev history.Event) Incoming {
		return Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: inst, Event: ev}, DequeueCount: 1}
	}
	fired := msg(&history.TimerFiredEvent{TimerID: 4, EventBase: history.EventBase{EventID: -1}})
	done := msg(&history.TaskCompletedEvent{TaskScheduledID: 4, EventBase: history.EventBase{EventID: -1}})
	res := Triage(x, []Incoming{fired, done})
	if len(res.Decisions) != 2 || res.Decisions[0].Verdict != Drop || res.Decisions[1].Verdict != Keep {
		t.Fatalf("decisions %+v: want the TimerFired dropped and the TaskCompleted kept", res.Decisions)
	}
	if len(res.Kept) != 1 || res.Kept[0] != 1 {
		t.Fatalf("kept %v, want the TaskCompleted only", res.Kept)
	}
	subDone := msg(&history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 4, EventBase: history.EventBase{EventID: -1}})
	if res := Triage(x, []Incoming{subDone}); res.Decisions[0].Verdict != Drop {
		t.Fatalf("a sub-orchestration's result for an activity's id: %+v", res.Decisions)
	}
}

package rules

import (
	"regexp"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

func TestChildExecutionID(t *testing.T) {
	p := history.OrchestrationInstance{InstanceID: "p", ExecutionID: "abc"}
	id := ChildExecutionID(p, 3, 12)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("%q is not 32 hex digits", id)
	}
	if again := ChildExecutionID(history.OrchestrationInstance{InstanceID: "p", ExecutionID: "ABC"}, 3, 12); again != id {
		t.Errorf("a retry of the episode gets %s, want %s", again, id)
	}
	for name, other := range map[string]string{
		"another task":            ChildExecutionID(p, 4, 12),
		"a later episode":         ChildExecutionID(p, 3, 16),
		"another parent":          ChildExecutionID(history.OrchestrationInstance{InstanceID: "q", ExecutionID: "abc"}, 3, 12),
		"another parent run":      ChildExecutionID(history.OrchestrationInstance{InstanceID: "p", ExecutionID: "abd"}, 3, 12),
		"ambiguous concatenation": ChildExecutionID(history.OrchestrationInstance{InstanceID: "p", ExecutionID: "abc"}, 31, 2),
	} {
		if other == id {
			t.Errorf("%s: same id %s", name, id)
		}
	}
}

// A sub-orchestration start from the call that started the running
// execution is a duplicate whatever its execution id; once that execution
// has ended, a start under another id runs (a rewind creates the child
// again), and one under the same id is still a duplicate.
func TestTriageDuplicateChildStart(t *testing.T) {
	parent := history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}
	call := &history.ParentInstance{Name: "P", OrchestrationInstance: parent, TaskScheduleID: 2}
	childStart := func(exec string, p *history.ParentInstance) Incoming {
		inst := history.OrchestrationInstance{InstanceID: "c", ExecutionID: exec}
		return Incoming{TaskMessage: &history.TaskMessage{OrchestrationInstance: inst,
			Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "C", ParentInstance: p}},
			DequeueCount: 1, Sender: parent}
	}
	running := NewHistoryIndex([]history.Event{
		&history.OrchestratorStartedEvent{},
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "c", ExecutionID: "E1"}, Name: "C", ParentInstance: call},
		&history.TaskScheduledEvent{EventBase: history.EventBase{EventID: 0}, Name: "A"},
		&history.OrchestratorCompletedEvent{},
	})
	verdict := func(x *HistoryIndex, m Incoming) (Verdict, bool) {
		res := Triage(x, []Incoming{m})
		return res.Decisions[0].Verdict, res.NewExecution
	}
	if v, _ := verdict(running, childStart("E2", call)); v != Drop {
		t.Errorf("the same call while the child runs: %s, want drop", v)
	}
	if v, _ := verdict(running, childStart("E1", call)); v != Drop {
		t.Errorf("the same execution: %s, want drop", v)
	}
	other := *call
	other.TaskScheduleID = 5
	if v, fresh := verdict(running, childStart("E2", &other)); v != Keep || !fresh {
		t.Errorf("another call of the parent: %s (new execution %v), want keep", v, fresh)
	}

	done := NewHistoryIndex(nil)
	done.Add([]history.Event{
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "c", ExecutionID: "E1"}, Name: "C", ParentInstance: call},
		&history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted},
	})
	if v, _ := verdict(done, childStart("E1", call)); v != Drop {
		t.Errorf("the same execution after it completed: %s, want drop", v)
	}
	if v, fresh := verdict(done, childStart("E3", call)); v != Keep || !fresh {
		t.Errorf("the same call under another id after the child ended: %s (new execution %v), want keep", v, fresh)
	}

	// A generation the child hands to itself (continue-as-new) carries its
	// parent along and is never a duplicate of it.
	can := NewHistoryIndex([]history.Event{
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "c", ExecutionID: "E1"}, Name: "C", ParentInstance: call},
	})
	self := childStart("E2", call)
	self.Sender = history.OrchestrationInstance{InstanceID: "c", ExecutionID: "E1"}
	if v, _ := verdict(can, self); v != Keep {
		t.Errorf("a hand-off to the next generation: %s, want keep", v)
	}
}

// A child's end answers its parent's task: Completed with the output;
// Failed, with the output as the reason, when it failed or was terminated.
func TestParentAnswer(t *testing.T) {
	p := &history.ParentInstance{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "e"}, TaskScheduleID: 3}
	out, now := `"x"`, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	fd := &history.FailureDetails{ErrorType: "E", ErrorMessage: "m"}
	m := ParentAnswer(p, history.StatusCompleted, &out, fd, now)
	if c, ok := m.Event.(*history.SubOrchestrationInstanceCompletedEvent); !ok || c.TaskScheduledID != 3 || *c.Result != out ||
		c.EventID != -1 || !c.Timestamp.Equal(now) || m.OrchestrationInstance != p.OrchestrationInstance {
		t.Errorf("completed: %#v", m)
	}
	for _, st := range []history.OrchestrationStatus{history.StatusFailed, history.StatusTerminated} {
		m := ParentAnswer(p, st, &out, fd, now)
		if f, ok := m.Event.(*history.SubOrchestrationInstanceFailedEvent); !ok || f.TaskScheduledID != 3 || *f.Reason != out ||
			f.FailureDetails != fd || m.OrchestrationInstance != p.OrchestrationInstance {
			t.Errorf("%v: %#v", st, m)
		}
	}
}

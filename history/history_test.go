package history

import (
	"strings"
	"testing"
	"time"
)

func TestEventTypeNumbersAndNames(t *testing.T) {
	// The numbers are C#'s enum values; a change here breaks every queue body.
	want := map[EventType]string{
		0: "ExecutionStarted", 1: "ExecutionCompleted", 2: "ExecutionFailed", 3: "ExecutionTerminated",
		4: "TaskScheduled", 5: "TaskCompleted", 6: "TaskFailed", 7: "SubOrchestrationInstanceCreated",
		8: "SubOrchestrationInstanceCompleted", 9: "SubOrchestrationInstanceFailed", 10: "TimerCreated",
		11: "TimerFired", 12: "OrchestratorStarted", 13: "OrchestratorCompleted", 14: "EventSent",
		15: "EventRaised", 16: "ContinueAsNew", 17: "GenericEvent", 18: "HistoryState",
		19: "ExecutionSuspended", 20: "ExecutionResumed", 21: "ExecutionRewound",
	}
	for n, name := range want {
		if n.String() != name {
			t.Errorf("%d.String() = %s, want %s", n, n.String(), name)
		}
		if p, err := ParseEventType(name); err != nil || p != n {
			t.Errorf("ParseEventType(%s) = %v, %v", name, p, err)
		}
		ev := NewEvent(n)
		if n == ExecutionFailed {
			if ev != nil {
				t.Error("ExecutionFailed has no event class")
			}
			continue
		}
		if ev.Type() != n || ev.Base().EventID != -1 {
			t.Errorf("NewEvent(%s) = %T", n, ev)
		}
		tn := TypeName(n)
		if got, ok := eventTypeForTypeName(tn); !ok || got != n {
			t.Errorf("type name %s does not map back", tn)
		}
	}
	if TypeName(GenericEventType) != "DurableTask.Core.History.GenericEvent" ||
		TypeName(HistoryState) != "DurableTask.Core.History.HistoryStateEvent" {
		t.Error("irregular class names")
	}
	if _, err := ParseEventType("NoSuchEvent"); err == nil {
		t.Error("accepted an unknown event type")
	}
}

func TestStatusNames(t *testing.T) {
	names := []string{"Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending", "Suspended"}
	for i, s := range Statuses() {
		if int(s) != i || s.String() != names[i] {
			t.Errorf("status %d = %s", i, s)
		}
		if p, _ := ParseStatus(names[i]); p != s {
			t.Errorf("ParseStatus(%s)", names[i])
		}
	}
	terminal := map[OrchestrationStatus]bool{StatusCompleted: true, StatusFailed: true, StatusCanceled: true, StatusTerminated: true}
	for _, s := range Statuses() {
		if s.IsTerminal() != terminal[s] {
			t.Errorf("%s.IsTerminal() = %v", s, s.IsTerminal())
		}
	}
}

func TestPlainColumns(t *testing.T) {
	// Shapes of the JSON columns C# stores in the History table.
	oi := OrchestrationInstance{InstanceID: "capture-parent", ExecutionID: "99c91641e2be472792e856ae3adba372"}
	if got := string(AppendOrchestrationInstance(nil, oi, Plain)); got != `{"InstanceId":"capture-parent","ExecutionId":"99c91641e2be472792e856ae3adba372"}` {
		t.Errorf("instance %s", got)
	}
	p := &ParentInstance{Name: "Parent", OrchestrationInstance: oi, TaskScheduleID: 0, Version: ""}
	if got := string(AppendParentInstance(nil, p, Plain)); got != `{"Name":"Parent","OrchestrationInstance":{"InstanceId":"capture-parent","ExecutionId":"99c91641e2be472792e856ae3adba372"},"TaskScheduleId":0,"Version":""}` {
		t.Errorf("parent %s", got)
	}
	if got := string(AppendParentInstance(nil, nil, Plain)); got != "null" {
		t.Errorf("nil parent %s", got)
	}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tc := &DistributedTraceContext{TraceParent: "00-a-b-01", ActivityStartTime: &at}
	if got := string(AppendTraceContext(nil, tc, Plain)); got != `{"TraceParent":"00-a-b-01","TraceState":null,"Id":null,"SpanId":null,"ActivityStartTime":"2024-05-01T12:00:00+00:00"}` {
		t.Errorf("trace %s", got)
	}
	fd := &FailureDetails{ErrorType: "E", ErrorMessage: "m", InnerFailure: &FailureDetails{ErrorType: "I", ErrorMessage: "n"}}
	if got := string(AppendFailureDetails(nil, fd, Plain)); got != `{"ErrorType":"E","ErrorMessage":"m","StackTrace":null,"InnerFailure":{"ErrorType":"I","ErrorMessage":"n","StackTrace":null,"InnerFailure":null,"IsNonRetriable":false,"Properties":null},"IsNonRetriable":false,"Properties":null}` {
		t.Errorf("failure %s", got)
	}
	if got := string(AppendTags(nil, map[string]string{"b": "2", "a": "1"})); got != `{"a":"1","b":"2"}` {
		t.Errorf("tags %s", got)
	}
	back, err := UnmarshalFailureDetails(AppendFailureDetails(nil, fd, TypeNames))
	if err != nil || back.InnerFailure == nil || back.InnerFailure.ErrorType != "I" {
		t.Errorf("failure round trip %+v %v", back, err)
	}
}

func TestTimesAndEscaping(t *testing.T) {
	ev := &TimerFiredEvent{TimerID: 1, FireAt: time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC),
		EventBase: EventBase{EventID: -1, Timestamp: time.Date(2024, 5, 1, 12, 36, 10, 500000099, time.UTC)}}
	got := string(AppendEvent(nil, ev, Plain))
	want := `{"EventType":11,"TimerId":1,"FireAt":"2024-05-01T13:00:00Z","EventId":-1,"IsPlayed":false,"Timestamp":"2024-05-01T12:36:10.5Z"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	s := "a\"\\\b\f\n\r\t\x01\x7f\u0085\u2028\u2029<>&'/é"
	raised := &EventRaisedEvent{Name: "n", Input: Str(s)}
	out := string(AppendEvent(nil, raised, TypeNames))
	if !strings.Contains(out, `"Input":"a\"\\\b\f\n\r\t\u0001`+"\x7f"+`\u0085\u2028\u2029<>&'/é"`) {
		t.Errorf("escaping: %s", out)
	}
	back, err := UnmarshalEvent([]byte(out))
	if err != nil || Deref(back.(*EventRaisedEvent).Input) != s {
		t.Errorf("escaping round trip: %v", err)
	}
	terminated := &ExecutionTerminatedEvent{Input: Str("r"), Recursive: true, EventBase: EventBase{EventID: -1}}
	if out := string(AppendEvent(nil, terminated, TypeNames)); !strings.HasSuffix(out, `"Timestamp":"0001-01-01T00:00:00Z","Recursive":true}`) {
		t.Errorf("Recursive member: %s", out)
	}
	terminated.Recursive = false
	if out := string(AppendEvent(nil, terminated, TypeNames)); strings.Contains(out, "Recursive") {
		t.Errorf("Recursive written when false: %s", out)
	}
}

func TestStripAssembly(t *testing.T) {
	for in, want := range map[string]string{
		"DurableTask.Core.History.TaskScheduledEvent, DurableTask.Core":                                          "DurableTask.Core.History.TaskScheduledEvent",
		"System.Collections.Generic.Dictionary`2[[System.String, mscorlib],[System.String, mscorlib]], mscorlib": "System.Collections.Generic.Dictionary`2[[System.String, mscorlib],[System.String, mscorlib]]",
		"Plain": "Plain",
	} {
		if got := StripAssembly(in); got != want {
			t.Errorf("StripAssembly(%q) = %q", in, got)
		}
	}
}

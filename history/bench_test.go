package history

import (
	"encoding/json"
	"testing"
	"time"
)

// benchEvents is one event of every class with its optional members set, as
// a busy history holds them.
func benchEvents() []Event {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC)
	fd := &FailureDetails{ErrorType: "System.InvalidOperationException", ErrorMessage: "card declined", StackTrace: Str("at X.Y()"),
		InnerFailure: &FailureDetails{ErrorType: "I", ErrorMessage: "i"}, Properties: json.RawMessage(`{"k":1}`)}
	tc := &DistributedTraceContext{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: Str("x=1"), ActivityStartTime: &ts}
	gen := int32(3)
	events := []Event{
		&ExecutionStartedEvent{
			OrchestrationInstance: OrchestrationInstance{InstanceID: "order-42", ExecutionID: "99c91641e2be472792e856ae3adba372"},
			ParentInstance: &ParentInstance{Name: "Parent", TaskScheduleID: 4,
				OrchestrationInstance: OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}},
			Name: "ProcessOrder", Version: "1", Input: Str(`{"id":42,"items":["a","b"]}`),
			Tags: map[string]string{"b": "2", "a": "1"}, ParentTraceContext: tc, ScheduledStartTime: &ts, Generation: &gen,
		},
		&OrchestratorStartedEvent{},
		&TaskScheduledEvent{Name: "Charge", Input: Str(`{"amount":12.5}`), ParentTraceContext: tc},
		&TaskCompletedEvent{TaskScheduledID: 0, Result: Str(`"ok"`)},
		&TaskFailedEvent{TaskScheduledID: 1, Reason: Str("card declined"), Details: Str("d"), FailureDetails: fd},
		&SubOrchestrationInstanceCreatedEvent{Name: "Ship", InstanceID: "order-42:1", Input: Str("1"), ClientSpanID: Str("0123456789abcdef")},
		&SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 2, Result: Str("1")},
		&SubOrchestrationInstanceFailedEvent{TaskScheduledID: 2, Reason: Str("r"), FailureDetails: fd},
		&TimerCreatedEvent{FireAt: ts},
		&TimerFiredEvent{TimerID: 3, FireAt: ts},
		&EventSentEvent{InstanceID: "x", Name: "n", Input: Str("1")},
		&EventRaisedEvent{Name: "Approval", Input: Str("true")},
		&ExecutionSuspendedEvent{Reason: Str("pause")},
		&ExecutionResumedEvent{Reason: Str("go")},
		&ExecutionTerminatedEvent{Input: Str("why")},
		&GenericEvent{Data: Str("Rewound: TaskFailed")},
		&HistoryStateEvent{State: json.RawMessage(`{"a":[1,2]}`)},
		&ExecutionRewoundEvent{Reason: Str("r"), ParentExecutionID: Str("pe"), InstanceID: Str("i"), ParentTraceContext: tc},
		&ContinueAsNewEvent{OrchestrationStatus: StatusContinuedAsNew, Result: Str("2")},
		&ExecutionCompletedEvent{OrchestrationStatus: StatusCompleted, Result: Str(`{"total":12.5}`)},
		&OrchestratorCompletedEvent{},
	}
	for i, ev := range events {
		ev.Base().EventID = int32(i)
		ev.Base().Timestamp = ts
	}
	return events
}

func benchmarkAppend(b *testing.B, f Format) {
	events := benchEvents()
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		for _, ev := range events {
			buf = AppendEvent(buf[:0], ev, f)
		}
	}
}

func BenchmarkAppendEventTypeNames(b *testing.B) { benchmarkAppend(b, TypeNames) }

func BenchmarkAppendEventPlain(b *testing.B) { benchmarkAppend(b, Plain) }

func BenchmarkUnmarshalEvent(b *testing.B) {
	var bodies [][]byte
	for _, ev := range benchEvents() {
		bodies = append(bodies, AppendEvent(nil, ev, TypeNames))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			if _, err := UnmarshalEvent(body); err != nil {
				b.Fatal(err)
			}
		}
	}
}

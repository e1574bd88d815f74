package httpapi

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// BenchmarkHistoryJSON renders a ten-activity chain with inputs and outputs.
func BenchmarkHistoryJSON(b *testing.B) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC)
	base := func(id int32) history.EventBase { return history.EventBase{EventID: id, Timestamp: ts} }
	events := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: base(-1)},
		&history.ExecutionStartedEvent{Name: "Chain", Input: history.Str(`"in"`), Tags: map[string]string{"a": "1"},
			OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e"}, EventBase: base(-1)},
	}
	for i := range int32(10) {
		events = append(events,
			&history.TaskScheduledEvent{Name: "Step", Input: history.Str(`{"n":1}`), EventBase: base(i)},
			&history.OrchestratorCompletedEvent{EventBase: base(-1)},
			&history.OrchestratorStartedEvent{EventBase: base(-1)},
			&history.TaskCompletedEvent{TaskScheduledID: i, Result: history.Str(`{"n":2}`), EventBase: base(-1)})
	}
	events = append(events, &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, Result: history.Str(`"done"`), EventBase: base(-1)})
	b.ReportAllocs()
	for b.Loop() {
		historyJSON(events, true, true)
	}
}

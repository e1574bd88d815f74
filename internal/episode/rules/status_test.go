package rules

import (
	"reflect"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// firstPlaces returns the written fields in the order of their first
// write: the column order of the Instances row.
func firstPlaces(c Change) []Field {
	var out []Field
	seen := map[Field]bool{}
	for _, w := range c.Writes {
		if !seen[w.Field] {
			seen[w.Field] = true
			out = append(out, w.Field)
		}
	}
	return out
}

// One episode that starts and fails an execution: the status keeps what
// the start does not carry (the generation), shows the failure as
// history.FailureOutput and no details, and lists its writes in C#'s
// column order.
func TestCheckpointStartAndFail(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := int32(3)
	st := &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"}, Generation: &gen,
		Output: history.Str("old"), Status: history.StatusPending}
	events := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: t0}},
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e"},
			Name: "N", Input: history.Str(`"in"`), EventBase: history.EventBase{EventID: -1, Timestamp: t0}},
		&history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusFailed,
			FailureDetails: &history.FailureDetails{ErrorType: "T", ErrorMessage: "m"}, EventBase: history.EventBase{EventID: 0, Timestamp: t0.Add(time.Second)}},
	}
	now := t0.Add(time.Minute)
	c := Checkpoint(st, "i", events, history.Str(`"cs"`), now)
	got := c.State
	if got != st || got.Status != history.StatusFailed || history.Deref(got.Output) != "T: m" || got.FailureDetails != nil ||
		got.Generation != &gen || !got.CompletedTime.Equal(now) || !got.LastUpdatedTime.Equal(t0.Add(time.Second)) ||
		got.OrchestrationInstance.ExecutionID != "e" || history.Deref(got.Input) != `"in"` || history.Deref(got.CustomStatus) != `"cs"` {
		t.Fatalf("status %+v", got)
	}
	want := []Field{FieldCustomStatus, FieldExecutionID, FieldLastUpdatedTime, FieldTaskHub, FieldParentInstanceID,
		FieldName, FieldVersion, FieldCreatedTime, FieldRuntimeStatus, FieldTags, FieldGeneration, FieldInput,
		FieldCompletedTime, FieldOutput}
	if order := firstPlaces(c); !reflect.DeepEqual(order, want) {
		t.Errorf("column order %v, want %v", order, want)
	}
	last := c.Writes[len(c.Writes)-1]
	if last != (Write{Field: FieldOutput, Event: 2, From: "Result"}) {
		t.Errorf("output written from %+v", last)
	}
}

func TestNeedsRepairAndNextGeneration(t *testing.T) {
	row := func(exec string, s history.OrchestrationStatus) *history.OrchestrationState {
		return &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{ExecutionID: exec}, Status: s}
	}
	for _, c := range []struct {
		st   *history.OrchestrationState
		want bool
	}{
		{nil, true},
		{row("E", history.StatusRunning), true},
		{row("e", history.StatusCompleted), false},
		{row("other", history.StatusRunning), false},
	} {
		if got := NeedsRepair(c.st, "e", history.StatusCompleted); got != c.want {
			t.Errorf("NeedsRepair(%+v) = %v", c.st, got)
		}
	}
	gen := int32(4)
	if NextGeneration(nil) != 0 || NextGeneration(&history.OrchestrationState{}) != 0 || NextGeneration(&history.OrchestrationState{Generation: &gen}) != 5 {
		t.Error("NextGeneration")
	}
}

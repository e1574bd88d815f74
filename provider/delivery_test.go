package provider_test

import (
	"errors"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

func TestDeliverAt(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ev   history.Event
		want time.Time
	}{
		{&history.TimerFiredEvent{FireAt: at}, at},
		{&history.ExecutionStartedEvent{ScheduledStartTime: &at}, at},
		{&history.ExecutionStartedEvent{}, time.Time{}},
		{&history.EventRaisedEvent{Name: "op@2026-12-06T12:00:00.0000000Z"}, at},
		{&history.EventRaisedEvent{Name: "op"}, time.Time{}},
		{&history.EventRaisedEvent{Name: "op@not a time"}, time.Time{}},
	} {
		if got := provider.DeliverAt(&history.TaskMessage{Event: tc.ev}); !got.Equal(tc.want) {
			t.Errorf("%s %v: %v, want %v", tc.ev.Type(), tc.ev, got, tc.want)
		}
	}
}

// An orchestration may not start at an entity's instance id.
func TestStartAtAnEntityIDIsRefused(t *testing.T) {
	now := time.Now()
	start := func(id string) *history.TaskMessage {
		inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: "e"}
		return &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "Counting"}}
	}
	if err := provider.ValidateOrchestrationID("@counter@k1"); !errors.Is(err, provider.ErrInvalid) {
		t.Fatalf("entity id accepted: %v", err)
	}
	if err := provider.ValidateOrchestrationID("counter@k1"); err != nil {
		t.Fatal(err)
	}
	// An episode may not start a child at an entity's id.
	r := &provider.EpisodeResult{Outbox: []*history.TaskMessage{start("@counter@k1")}}
	if err := provider.ValidateEpisode("parent", r, now); !errors.Is(err, provider.ErrInvalid) {
		t.Fatalf("child start at an entity id accepted: %v", err)
	}
}

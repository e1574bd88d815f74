package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay/replaytest"
)

// A control event that arrives in the same batch as the activity result
// after which the schedule continues as new is not lost: it is carried
// into the next execution.
func TestControlEventAtContinueAsNewIsCarried(t *testing.T) {
	reg := registry.New(nil)
	if err := registry.Add(reg, Registrations(func(context.Context, Tick) (bool, error) { return true, nil })...); err != nil {
		t.Fatal(err)
	}
	fn, _ := reg.Orchestrator(OrchestrationName, "")
	s := replaytest.New(t, fn)
	s.Now = t0
	s.Activity = func(string, *string) (*string, error) { return nil, replaytest.NoAnswer }
	d := mustNew(t, Options{Cron: "0 * * * *"})
	input, err := StartInput(d, t0, "rev", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := string(input)
	s.Start(&in)
	s.RunUntilIdle()
	// Each tick is three steps: the timer, and a batch of one start.
	for tick := 1; tick <= stepsPerGeneration/3; tick++ {
		s.FireTimers(time.Hour)
		s.RunUntilIdle()
		ts, ok := s.History[len(s.History)-2].(*history.TaskScheduledEvent)
		if !ok || ts.Name != StartActivityName {
			t.Fatalf("tick %d: no start scheduled:\n%s", tick, replaytest.Describe(s.History))
		}
		result := `{"started":true}`
		s.Deliver(&history.TaskCompletedEvent{TaskScheduledID: ts.EventID, Result: &result,
			EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
		if tick == stepsPerGeneration/3 {
			pause := `{"op":"pause"}`
			s.Raise(ControlEventName, &pause)
		}
		s.RunUntilIdle()
	}
	// The next generation runs in the same episode, as on a worker: the
	// stored history is its own, with the control event carried into it.
	if len(s.ContinuedAsNew) != 1 {
		t.Fatalf("%d continue-as-new after %d steps, want 1\n%s", len(s.ContinuedAsNew), stepsPerGeneration, replaytest.Describe(s.History))
	}
	c := s.ContinuedAsNew[0]
	if es, ok := s.History[1].(*history.ExecutionStartedEvent); !ok || history.Deref(es.Input) != history.Deref(c.ContinueAsNew.Input) {
		t.Fatalf("the stored history is not the next generation's:\n%s", replaytest.Describe(s.History))
	}
	if ev, ok := s.History[2].(*history.EventRaisedEvent); !ok || ev.Name != ControlEventName {
		t.Fatalf("the control event was not carried into the next generation:\n%s", replaytest.Describe(s.History))
	}
	if len(c.ContinueAsNew.Carry) != 1 || c.ContinueAsNew.Carry[0].Name != ControlEventName {
		t.Fatalf("carried %+v", c.ContinueAsNew.Carry)
	}
	var next state
	if err := (payload.JSON{}).Unmarshal(*c.ContinueAsNew.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Progress.Started != int64(stepsPerGeneration/3) || !next.After.Equal(t0.Add(time.Duration(stepsPerGeneration/3)*time.Hour)) {
		t.Errorf("next execution's state %+v", next)
	}
}

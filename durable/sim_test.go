package durable_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay/replaytest"
)

// sim builds a simulator for one orchestration handle; activities are
// answered by the registered activities of the same registry.
func sim(t *testing.T, orch durable.Registrable, name string, acts ...durable.Registrable) *replaytest.Sim {
	t.Helper()
	reg := registry.New(nil)
	if err := registry.Add(reg, append([]durable.Registrable{orch}, acts...)...); err != nil {
		t.Fatal(err)
	}
	fn, ok := reg.Orchestrator(name, "")
	if !ok {
		t.Fatalf("orchestration %s not registered", name)
	}
	s := replaytest.New(t, fn)
	s.Activity = func(n string, input *string) (*string, error) {
		a, ok := reg.Activity(n, "")
		if !ok {
			return nil, fmt.Errorf("unknown activity %s", n)
		}
		return a(context.Background(), input)
	}
	return s
}

func str(s string) *string { return &s }

func jsonOf(t *testing.T, v any) *string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return str(string(b))
}

var sayHello = durable.NewActivity("SayHello", func(_ context.Context, name string) (string, error) {
	return "Hello " + name + "!", nil
})

var helloCities = durable.NewOrchestration("HelloCities", func(ctx durable.Context, _ string) ([]string, error) {
	var out []string
	for _, city := range []string{"Tokyo", "Seattle", "London"} {
		s, err := sayHello.Call(ctx, city).Await(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
})

func TestHelloCitiesShape(t *testing.T) {
	s := sim(t, helloCities, "HelloCities", sayHello)
	s.Start(str(`"cities"`))
	c := s.Run()
	if c == nil || c.Status != history.StatusCompleted || *c.Output != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Fatalf("completion %+v", c)
	}
	if c.ID != 3 {
		t.Errorf("completion id %d, want 3 (after tasks 0,1,2)", c.ID)
	}
	want := []history.EventType{
		history.OrchestratorStarted, history.ExecutionStarted, history.TaskScheduled, history.OrchestratorCompleted,
		history.OrchestratorStarted, history.TaskCompleted, history.TaskScheduled, history.OrchestratorCompleted,
		history.OrchestratorStarted, history.TaskCompleted, history.TaskScheduled, history.OrchestratorCompleted,
		history.OrchestratorStarted, history.TaskCompleted, history.ExecutionCompleted, history.OrchestratorCompleted,
	}
	got := replaytest.Types(s.History)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history shape\n got %v\nwant %v", got, want)
	}
	// Activity input is C#'s parameter array. It travels in the message;
	// the stored TaskScheduled has none, as C# stores it.
	if in := history.Deref(s.SentOf(history.TaskScheduled)[0].Event.(*history.TaskScheduledEvent).Input); in != `["Tokyo"]` {
		t.Errorf("activity input %s", in)
	}
	if in := s.History[2].(*history.TaskScheduledEvent).Input; in != nil {
		t.Errorf("the stored TaskScheduled keeps the input %s", *in)
	}
}

func TestFailureIsTyped(t *testing.T) {
	fail := durable.NewActivity("Fail", func(_ context.Context, s string) (string, error) {
		return "", fmt.Errorf("card declined: %s", s)
	})
	caught := durable.NewOrchestration("Caught", func(ctx durable.Context, s string) (string, error) {
		_, err := fail.Call(ctx, s).Await(ctx)
		var tf *durable.TaskFailedError
		if !errors.As(err, &tf) {
			return "", fmt.Errorf("not a TaskFailedError: %v", err)
		}
		return "caught: " + tf.Reason, nil
	})
	s := sim(t, caught, "Caught", fail)
	s.Start(str(`"order-1"`))
	c := s.Run()
	if c.Status != history.StatusCompleted || *c.Output != `"caught: card declined: order-1"` {
		t.Fatalf("completion %+v %s", c, history.Deref(c.Output))
	}
	uncaught := durable.NewOrchestration("Uncaught", func(ctx durable.Context, s string) (string, error) {
		return fail.Call(ctx, s).Await(ctx)
	})
	s = sim(t, uncaught, "Uncaught", fail)
	s.Start(str(`"order-2"`))
	c = s.Run()
	if c.Status != history.StatusFailed || *c.Output != "card declined: order-2" {
		t.Fatalf("completion %+v %s", c, history.Deref(c.Output))
	}
	if c.Failure == nil || c.Failure.InnerFailure == nil || !strings.Contains(c.Failure.InnerFailure.ErrorMessage, "card declined") {
		t.Errorf("failure details %+v", c.Failure)
	}
}

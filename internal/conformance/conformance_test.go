package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/registry"
)

func newEnv(t *testing.T) *durabletest.Env {
	t.Helper()
	env := durabletest.New(t, durabletest.Options{})
	env.Register(Registrations()...)
	// The cases start instances by name, so the worker is run here rather
	// than by durabletest.Start.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Worker.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
	return env
}

// finish starts c's instance, raises its events and waits for the end.
func finish(t *testing.T, env *durabletest.Env, c Case) *client.State {
	t.Helper()
	ctx, cancel := env.Context()
	defer cancel()
	if !json.Valid([]byte(c.Input)) {
		t.Fatalf("%s: input %s is not JSON", c.ID, c.Input)
	}
	if _, err := env.Client.ScheduleNew(ctx, c.Name, json.RawMessage(c.Input), client.WithInstanceID(c.ID)); err != nil {
		t.Fatalf("%s: start: %v", c.ID, err)
	}
	for _, r := range c.Raise {
		// An event for an instance that has not started is dropped (as in
		// C#), so wait until the target runs: ParentOfWaiter's child starts
		// only once the parent ran.
		if _, err := env.Client.WaitForStart(ctx, r.InstanceID, client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
			t.Fatalf("%s: waiting for %s to start before raising %s: %v", c.ID, r.InstanceID, r.Event, err)
		}
		env.RaiseEvent(r.InstanceID, r.Event, json.RawMessage(r.Data))
	}
	st, err := env.Client.WaitForCompletion(ctx, c.ID, client.PollInterval(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatalf("%s: waiting for %s to finish: %v", c.ID, c.Name, err)
	}
	return st
}

// checkOutcome compares a final state with the case: status by name, output
// as JSON (or as text for a failure).
func checkOutcome(t *testing.T, c Case, status string, output *string) {
	t.Helper()
	if status != c.Status {
		t.Errorf("%s (%s): status %s, want %s (output %v)", c.ID, c.Name, status, c.Status, show(output))
		return
	}
	if output == nil {
		t.Errorf("%s (%s): no output, want %s", c.ID, c.Name, c.Output)
		return
	}
	if !c.OutputIsJSON() {
		if *output != c.Output {
			t.Errorf("%s (%s): output %q, want the bare reason %q", c.ID, c.Name, *output, c.Output)
		}
		return
	}
	if !JSONEqual(*output, c.Output) {
		t.Errorf("%s (%s): output %s, want %s", c.ID, c.Name, *output, c.Output)
	}
}

func show(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// Every case of the catalog gives the README's output and task-id sequence.
func TestCatalog(t *testing.T) {
	env := newEnv(t)
	for _, c := range Catalog("unit") {
		t.Run(c.Name+"/"+c.ID, func(t *testing.T) {
			st := finish(t, env, c)
			checkOutcome(t, c, st.Status.String(), st.Output)
			if got := Actions(env.History(c.ID), st.ExecutionID); !slices.Equal(got, c.Actions) {
				t.Errorf("actions %q, want %q", got, c.Actions)
			}
		})
	}
}

func TestOutputIsJSONText(t *testing.T) {
	for _, c := range Catalog("x") {
		if c.OutputIsJSON() && !json.Valid([]byte(c.Output)) {
			t.Errorf("%s: output %q is not JSON", c.ID, c.Output)
		}
	}
}

// Retried's first timer waits 1 s from the episode's time; the second,
// created after the last attempt, fires at the episode's time, as C#'s
// retry loop writes it.
func TestRetriedTimers(t *testing.T) {
	env := newEnv(t)
	c := Case{ID: "retried", Name: "Retried", Input: `"s"`}
	st := finish(t, env, c)
	checkOutcome(t, Case{ID: c.ID, Name: c.Name, Status: "Completed", Output: `"retried: card declined: s"`}, st.Status.String(), st.Output)
	var now time.Time
	var delays []time.Duration
	for _, ev := range env.History(c.ID) {
		switch v := ev.(type) {
		case *history.OrchestratorStartedEvent:
			now = v.Timestamp
		case *history.TimerCreatedEvent:
			delays = append(delays, v.FireAt.Sub(now))
		}
	}
	if want := []time.Duration{time.Second, 0}; !slices.Equal(delays, want) {
		t.Errorf("timer delays %v, want %v", delays, want)
	}
}

// The Reason of each failed Fail is the bare message, which C#'s Caught
// and Retried concatenate.
func TestFailReason(t *testing.T) {
	env := newEnv(t)
	finish(t, env, Case{ID: "u", Name: "Uncaught", Input: `"card 1"`})
	var reasons []string
	for _, ev := range env.History("u") {
		if f, ok := ev.(*history.TaskFailedEvent); ok {
			reasons = append(reasons, show(f.Reason))
		}
	}
	if want := []string{"card declined: card 1"}; !slices.Equal(reasons, want) {
		t.Errorf("TaskFailed reasons %q, want %q", reasons, want)
	}
}

// Ticker(1) waits 20 s in its first generation and 1 s in the next two.
func TestTickerGenerations(t *testing.T) {
	env := newEnv(t)
	start := env.Clock.Now()
	st := finish(t, env, Case{ID: "t", Name: "Ticker", Input: "1"})
	checkOutcome(t, Case{ID: "t", Name: "Ticker", Status: "Completed", Output: "3"}, st.Status.String(), st.Output)
	if d := env.Clock.Now().Sub(start); d < 22*time.Second {
		t.Errorf("Ticker(1) took %v of virtual time, want at least 20 s + 1 s + 1 s", d)
	}
	var in string
	if st.Input != nil {
		in = *st.Input
	}
	if in != "3" {
		t.Errorf("last generation's input %s, want 3", in)
	}
}

// InteropFlow reports the input's length in UTF-16 code units, as .NET
// counts it; the large input of the C# snapshot (102 400 × "z") too.
func TestInteropFlowLength(t *testing.T) {
	env := newEnv(t)
	big := string(bytes.Repeat([]byte("z"), 102400))
	for _, tc := range []struct{ id, in, want string }{
		{"ascii", "x", "1"}, {"astral", "a\U0001F600", "3"}, {"large", big, "102400"},
	} {
		in, _ := json.Marshal(tc.in)
		c := Case{ID: tc.id, Name: "InteropFlow", Input: string(in), Status: "Completed",
			Raise:  []Raise{{InstanceID: tc.id, Event: "Continue", Data: `"from-go"`}},
			Output: `["Hello Tokyo!","from-go","Hello Seattle!","Hello London!","` + tc.want + `"]`}
		st := finish(t, env, c)
		checkOutcome(t, c, st.Status.String(), st.Output)
	}
}

// An event that arrives before the wait is taken by it, and an event whose
// name nobody waits for is ignored.
func TestEventsBeforeTheWait(t *testing.T) {
	env := newEnv(t)
	c := Case{ID: "early", Name: "Waiter", Input: `""`, Status: "Completed", Output: `"first"`,
		Raise: []Raise{{"early", "Other", `"no"`}, {"early", "Ping", `"first"`}, {"early", "Go", `"second"`}}}
	st := finish(t, env, c)
	checkOutcome(t, c, st.Status.String(), st.Output)
}

// Parent ends with custom status "done".
func TestParentCustomStatus(t *testing.T) {
	env := newEnv(t)
	c := Catalog("cs")[9]
	if c.Name != "Parent" {
		t.Fatalf("catalog order changed: %s", c.Name)
	}
	st := finish(t, env, c)
	checkOutcome(t, c, st.Status.String(), st.Output)
	if got := show(st.CustomStatus); got != `"done"` {
		t.Errorf("custom status %s, want \"done\"", got)
	}
}

func TestJSONEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		eq   bool
	}{
		{`[1, "a"]`, `[1,"a"]`, true}, {`{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{`"1"`, `1`, false}, {`2`, `2.0`, true}, {`not json`, `not json`, false},
	} {
		if got := JSONEqual(tc.a, tc.b); got != tc.eq {
			t.Errorf("JSONEqual(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestRegistrations(t *testing.T) {
	newEnv(t) // registering twice would fail; once must not
	reg := registry.New(nil)
	if err := registry.Add(reg, Registrations()...); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range Catalog("r") {
		names[c.Name] = true
	}
	for name := range names {
		if _, ok := reg.Orchestrator(name, ""); !ok {
			t.Errorf("orchestration %s is not registered", name)
		}
	}
	for _, a := range []string{"SayHello", "Fail", "Big", "Slow"} {
		if _, ok := reg.Activity(a, ""); !ok {
			t.Errorf("activity %s is not registered", a)
		}
	}
}

// Names are compared exactly, as DurableTask.Core compares them: the C#
// Waiter ignores "go" and "PING" and takes "Ping" (what dtfx-ref did when
// given the same events).
func TestEventNamesMatchExactly(t *testing.T) {
	env := newEnv(t)
	c := Case{ID: "exact", Name: "Waiter", Input: `""`, Status: "Completed", Output: `"exact"`,
		Raise: []Raise{{"exact", "go", `"lower"`}, {"exact", "PING", `"upper"`}, {"exact", "Ping", `"exact"`}}}
	st := finish(t, env, c)
	checkOutcome(t, c, st.Status.String(), st.Output)
}

// Event data is read as Newtonsoft reads a JSON value into a string (what
// dtfx-ref's Waiter returned for the same data).
func TestEventDataReadAsString(t *testing.T) {
	env := newEnv(t)
	for i, tc := range []struct{ data, status, output string }{
		{`"s"`, "Completed", `"s"`}, {`5`, "Completed", `"5"`}, {`true`, "Completed", `"true"`},
		{`null`, "Completed", `null`}, {`1.50`, "Completed", `"1.5"`}, {`1e3`, "Completed", `"1000"`},
	} {
		id := fmt.Sprintf("data-%d", i)
		c := Case{ID: id, Name: "Waiter", Input: `""`, Status: tc.status, Output: tc.output,
			Raise: []Raise{{id, "Go", tc.data}}}
		st := finish(t, env, c)
		checkOutcome(t, c, st.Status.String(), st.Output)
	}
	c := Case{ID: "data-object", Name: "Waiter", Input: `""`, Raise: []Raise{{"data-object", "Go", `{"a":1}`}}}
	if st := finish(t, env, c); st.Status != client.Failed {
		t.Errorf("an object as event data: %s %s, want Failed (C# cannot read it as a string)", st.Status, show(st.Output))
	}
}

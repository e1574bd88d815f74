package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/registry"
)

// entityState waits until the entity's state is want ("" for no state).
func entityState(t *testing.T, c *client.Client, key, want string) {
	t.Helper()
	id := durable.NewEntityID("Counter", key)
	azuritetest.WaitFor(t, 2*time.Minute, "Counter@"+key+" to have state "+want, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		md, err := c.GetEntity(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			return want == "", nil
		}
		if err != nil {
			return false, err
		}
		if want == "" {
			return !md.Exists, nil
		}
		return md.Exists && md.State != nil && JSONEqual(*md.State, want) && md.LockedBy == "", nil
	})
}

func signal(t *testing.T, c *client.Client, key, op string, input any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.SignalEntity(ctx, durable.NewEntityID("Counter", key), op, input); err != nil {
		t.Fatalf("signal %s %s: %v", key, op, err)
	}
}

// The entity Counter and the orchestration Counter are both registered:
// entity names live in a namespace of their own.
func TestCounterEntityBesideCounterOrchestration(t *testing.T) {
	reg := registry.New(nil)
	if err := registry.Add(reg, Registrations()...); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Entity("counter"); !ok {
		t.Error("the entity Counter is not registered")
	}
	if _, ok := reg.Orchestrator("Counter", ""); !ok {
		t.Error("the orchestration Counter is not registered")
	}
	if _, ok := reg.Orchestrator("Counting", ""); !ok {
		t.Error("the orchestration Counting is not registered")
	}
}

// Counting on a fresh Counter@k1 returns 8 and leaves k1 at 8, unlocked;
// a second run adds 8 more.
func TestCountingReturnsEight(t *testing.T) {
	env := newEnv(t)
	for _, want := range []string{"8", "16"} {
		c := Case{ID: "counting-" + want, Name: "Counting", Input: "null", Status: "Completed", Output: want}
		st := finish(t, env, c)
		checkOutcome(t, c, st.Status.String(), st.Output)
		entityState(t, env.Client, "k1", want)
	}
}

// The operations answer as dfx-ref's Counter (established through its HTTP
// API): add adds, reset sets 0, get on a key without state creates it
// with 0, delete removes the state, and add and reset answer null.
func TestCounterOperations(t *testing.T) {
	env := newEnv(t)
	signal(t, env.Client, "a", "add", 3)
	entityState(t, env.Client, "a", "3")
	signal(t, env.Client, "a", "add", 4)
	entityState(t, env.Client, "a", "7")
	signal(t, env.Client, "a", "reset", nil)
	entityState(t, env.Client, "a", "0")
	signal(t, env.Client, "a", "add", 2)
	entityState(t, env.Client, "a", "2")
	signal(t, env.Client, "a", "delete", nil)
	entityState(t, env.Client, "a", "")
	signal(t, env.Client, "fresh", "get", nil)
	entityState(t, env.Client, "fresh", "0")
	signal(t, env.Client, "r", "reset", nil)
	entityState(t, env.Client, "r", "0")

	// Results as an orchestration reads them.
	calls := durable.NewOrchestration("CounterCalls", func(ctx durable.Context, _ any) ([]json.RawMessage, error) {
		id := durable.NewEntityID("Counter", "calls")
		var out []json.RawMessage
		for _, op := range []struct {
			name  string
			input any
		}{{"get", nil}, {"add", 5}, {"get", nil}, {"reset", nil}, {"get", nil}} {
			r, err := durable.CallEntity[json.RawMessage](ctx, id, op.name, op.input).Await(ctx)
			if err != nil {
				return nil, err
			}
			if r == nil {
				r = json.RawMessage("null")
			}
			out = append(out, r)
		}
		return out, nil
	})
	env.Register(calls)
	c := Case{ID: "counter-calls", Name: "CounterCalls", Input: "null", Status: "Completed", Output: `[0,null,5,null,0]`}
	st := finish(t, env, c)
	checkOutcome(t, c, st.Status.String(), st.Output)
}

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/worker"
)

// The extension's reference Counter entity: add, reset, get, delete.
var counter = durable.NewEntity[int]("Counter",
	durable.Op("add", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
		ctx.SetState(ctx.State() + n)
		return struct{}{}, nil
	}),
	durable.Op("reset", func(ctx *durable.EntityContext[int], _ any) (struct{}, error) {
		ctx.SetState(0)
		return struct{}{}, nil
	}),
	durable.Op("get", func(ctx *durable.EntityContext[int], _ any) (int, error) { return ctx.State(), nil }),
	durable.Op("fail", func(ctx *durable.EntityContext[int], _ any) (struct{}, error) {
		ctx.SetState(-1000) // rolled back
		return struct{}{}, errors.New("no such luck")
	}),
)

// The extension's reference Counting orchestration.
var counting = durable.NewOrchestration("Counting", func(ctx durable.Context, _ any) (int, error) {
	k1 := durable.NewEntityID("Counter", "k1")
	if err := durable.SignalEntity(ctx, k1, "add", 5); err != nil {
		return 0, err
	}
	if _, err := durable.CallEntity[any](ctx, k1, "add", 2).Await(ctx); err != nil {
		return 0, err
	}
	cs, err := durable.LockEntities(ctx, k1)
	if err != nil {
		return 0, err
	}
	if _, err := durable.CallEntity[any](ctx, k1, "add", 1).Await(ctx); err != nil {
		return 0, err
	}
	if err := cs.Release(); err != nil {
		return 0, err
	}
	return durable.CallEntity[int](ctx, k1, "get", nil).Await(ctx)
})

func entityValue(t *testing.T, c *client.Client, ctx context.Context, id durable.EntityID) (int, bool) {
	t.Helper()
	m, err := c.GetEntity(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if m.Exists {
		if err := m.DecodeState(&v); err != nil {
			t.Fatal(err)
		}
	}
	return v, m.Exists
}

func TestCountingEntityOnMemory(t *testing.T) {
	f := run(t, worker.Options{}, counter, counting)
	ctx := f.ctx(t)
	k1 := durable.NewEntityID("Counter", "k1")
	if err := f.c.SignalEntity(ctx, k1, "reset", nil); err != nil {
		t.Fatal(err)
	}
	until(t, "the entity to exist", func() bool { _, ok := entityValue(t, f.c, ctx, k1); return ok })
	id, err := f.c.ScheduleNew(ctx, "Counting", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.c.WaitForCompletion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.Completed || st.Output == nil || *st.Output != "8" {
		t.Fatalf("Counting ended %v with %v", st.Status, deref(st.Output))
	}
	until(t, "the lock to be released", func() bool {
		m, err := f.c.GetEntity(ctx, k1)
		return err == nil && m.LockedBy == ""
	})
	es, err := f.c.GetState(ctx, k1.InstanceID())
	if err != nil {
		t.Fatal(err)
	}
	if es.Name != "@counter@k1" || es.Status != client.Running || deref(es.CustomStatus) != `{"entityExists":true}` {
		t.Fatalf("entity instance %s %v %s", es.Name, es.Status, deref(es.CustomStatus))
	}
	if v, _ := entityValue(t, f.c, ctx, k1); v != 8 {
		t.Fatalf("counter %d, want 8", v)
	}
}

var failing = durable.NewOrchestration("CallsFail", func(ctx durable.Context, key string) (string, error) {
	id := durable.NewEntityID("counter", key)
	_, err := durable.CallEntity[any](ctx, id, "fail", nil).Await(ctx)
	var f *durable.EntityOperationFailedError
	if !errors.As(err, &f) {
		return "", fmt.Errorf("want an EntityOperationFailedError, got %v", err)
	}
	v, err := durable.CallEntity[int](ctx, id, "get", nil).Await(ctx)
	return fmt.Sprintf("%s|%s|%d", f.Operation, f.Message, v), err
})

// A failed operation reaches its caller as a typed error, and its state
// change is rolled back.
func TestEntityFailureIsTypedAndRolledBack(t *testing.T) {
	f := run(t, worker.Options{}, counter, failing)
	ctx := f.ctx(t)
	id, err := f.c.ScheduleNew(ctx, "CallsFail", "f1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.c.WaitForCompletion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.Completed || deref(st.Output) != `"fail|no such luck|0"` {
		t.Fatalf("%v %s", st.Status, deref(st.Output))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

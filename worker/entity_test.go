package worker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/provider/memory"
	countersample "github.com/azdurable/azdurable/samples/counter"
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
	f := run(t, worker.Options{}, counter, countersample.Counting)
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

// Transfer moves an amount between two counters inside a critical section
// over both; its input is "from,to,amount".
var transfer = durable.NewOrchestration("Transfer", func(ctx durable.Context, in [3]string) (int, error) {
	from, to := durable.NewEntityID("Counter", in[0]), durable.NewEntityID("Counter", in[1])
	var amount int
	if _, err := fmt.Sscan(in[2], &amount); err != nil {
		return 0, err
	}
	cs, err := durable.LockEntities(ctx, from, to)
	if err != nil {
		return 0, err
	}
	defer cs.Release()
	// Calls outside the lock set, and second locks, are refused inside.
	var v *durable.LockingRulesViolationError
	if _, err := durable.CallEntity[int](ctx, durable.NewEntityID("Counter", "other"), "get", nil).Await(ctx); !errors.As(err, &v) {
		return 0, fmt.Errorf("call outside the lock set: %v", err)
	}
	if _, err := durable.LockEntities(ctx, from); !errors.As(err, &v) {
		return 0, fmt.Errorf("second lock: %v", err)
	}
	a := durable.CallEntity[any](ctx, from, "add", -amount)
	b := durable.CallEntity[any](ctx, to, "add", amount)
	if err := durable.WhenAll(ctx, a, b); err != nil {
		return 0, err
	}
	return durable.CallEntity[int](ctx, from, "get", nil).Await(ctx)
})

// Orchestrations that lock the same pair in opposite orders do not
// deadlock (locks are taken in one global order), every transfer happens
// exactly once, and no lock is left behind.
func TestCriticalSectionsOverPairs(t *testing.T) {
	f := run(t, worker.Options{}, counter, transfer)
	ctx := f.ctx(t)
	var ids []string
	for i := 0; i < 6; i++ {
		in := [3]string{"a", "b", "1"}
		if i%2 == 1 {
			in = [3]string{"b", "a", "2"}
		}
		id, err := f.c.ScheduleNew(ctx, "Transfer", in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		st, err := f.c.WaitForCompletion(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != client.Completed {
			t.Fatalf("%s ended %v: %s", id, st.Status, deref(st.Output))
		}
	}
	a, b := durable.NewEntityID("Counter", "a"), durable.NewEntityID("Counter", "b")
	until(t, "both locks to be released", func() bool {
		ma, err1 := f.c.GetEntity(ctx, a)
		mb, err2 := f.c.GetEntity(ctx, b)
		return err1 == nil && err2 == nil && ma.LockedBy == "" && mb.LockedBy == ""
	})
	va, _ := entityValue(t, f.c, ctx, a)
	vb, _ := entityValue(t, f.c, ctx, b)
	if va != 3 || vb != -3 {
		t.Fatalf("a=%d b=%d, want 3 and -3", va, vb)
	}
}

var lockThenFail = durable.NewOrchestration("LockThenFail", func(ctx durable.Context, mode string) (int, error) {
	id := durable.NewEntityID("Counter", "held")
	if _, err := durable.LockEntities(ctx, id); err != nil {
		return 0, err
	}
	if mode == "can" {
		return 0, durable.ContinueAsNew(ctx, "done")
	}
	if mode == "done" {
		return 1, nil
	}
	if mode == "panic" {
		panic("panicked while holding the lock")
	}
	return 0, errors.New("failed while holding the lock")
})

// A critical section is released when the orchestration fails or
// continues as new without releasing it.
func TestLocksReleasedOnFailureAndContinueAsNew(t *testing.T) {
	f := run(t, worker.Options{}, counter, lockThenFail)
	ctx := f.ctx(t)
	held := durable.NewEntityID("Counter", "held")
	for _, mode := range []string{"fail", "can", "panic"} {
		id, err := f.c.ScheduleNew(ctx, "LockThenFail", mode)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.c.WaitForCompletion(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]client.Status{"fail": client.Failed, "can": client.Completed, "panic": client.Failed}[mode]; st.Status != want {
			t.Fatalf("%s: %v", mode, st.Status)
		}
		until(t, "the lock to be released after "+mode, func() bool {
			m, err := f.c.GetEntity(ctx, held)
			return err == nil && m.LockedBy == ""
		})
	}
}

var signalLater = durable.NewOrchestration("SignalLater", func(ctx durable.Context, _ any) (string, error) {
	id := durable.NewEntityID("Counter", "later")
	return "sent", durable.SignalEntity(ctx, id, "add", 1, durable.SignalAt(ctx.Now().Add(time.Hour)))
})

// A signal scheduled for later waits in the queue (an "op@<time>" event)
// until its time, from an orchestration and from a client.
func TestScheduledSignalsWaitForTheirTime(t *testing.T) {
	clock := memory.NewManualClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	be := memory.New(memory.Options{Clock: clock})
	w := worker.New(be, worker.Options{Clock: clock})
	if err := w.Register(counter, signalLater); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := client.New(be, client.Options{Clock: clock})
	ctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	later := durable.NewEntityID("Counter", "later")
	if err := c.SignalEntity(ctx, later, "add", 10, durable.SignalAt(clock.Now().Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	id, err := c.ScheduleNew(ctx, "SignalLater", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.WaitForCompletion(ctx, id); err != nil || st.Status != client.Completed {
		t.Fatalf("%v %v", st, err)
	}
	if _, err := c.GetEntity(ctx, later); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the entity ran before its time: %v", err)
	}
	clock.Advance(time.Hour + time.Second)
	until(t, "the orchestration's signal", func() bool { v, _ := entityValue(t, c, ctx, later); return v == 1 })
	clock.Advance(time.Hour)
	until(t, "the client's signal", func() bool { v, _ := entityValue(t, c, ctx, later); return v == 11 })
}

var greeter = durable.NewEntity[string]("Greeter",
	durable.Op("start", func(ctx *durable.EntityContext[string], id string) (string, error) {
		return ctx.StartOrchestration("Chain", id, "entity")
	}),
	durable.Op("relay", func(ctx *durable.EntityContext[string], key string) (struct{}, error) {
		return struct{}{}, ctx.SignalEntity(durable.NewEntityID("Counter", key), "add", 3)
	}),
)

// An entity operation starts orchestrations and signals other entities.
func TestEntityStartsAndSignals(t *testing.T) {
	f := run(t, worker.Options{}, counter, greeter, chain, hello)
	ctx := f.ctx(t)
	g := durable.NewEntityID("Greeter", "g")
	if err := f.c.SignalEntity(ctx, g, "start", "from-entity"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.SignalEntity(ctx, g, "relay", "r"); err != nil {
		t.Fatal(err)
	}
	until(t, "the started orchestration", func() bool {
		st, err := f.c.GetState(ctx, "from-entity")
		return err == nil && st.Status == client.Completed && deref(st.Output) == `"hi hi entity"`
	})
	until(t, "the relayed signal", func() bool { v, _ := entityValue(t, f.c, ctx, durable.NewEntityID("Counter", "r")); return v == 3 })
}

var holdLock = durable.NewOrchestration("HoldLock", func(ctx durable.Context, key string) (int, error) {
	if _, err := durable.LockEntities(ctx, durable.NewEntityID("Counter", key)); err != nil {
		return 0, err
	}
	_, err := durable.WaitForEvent[string](ctx, "never").Await(ctx)
	return 0, err
})

// Listing pages through entities by name, leaves deleted ones out, and
// cleaning removes empty entities and releases locks whose holder ended.
func TestListAndCleanEntities(t *testing.T) {
	f := run(t, worker.Options{}, counter, holdLock)
	ctx := f.ctx(t)
	for _, k := range []string{"l1", "l2", "l3", "gone"} {
		if err := f.c.SignalEntity(ctx, durable.NewEntityID("Counter", k), "add", 1); err != nil {
			t.Fatal(err)
		}
	}
	gone := durable.NewEntityID("Counter", "gone")
	until(t, "four counters", func() bool {
		n := 0
		for _, err := range f.c.ListEntities(ctx, client.EntityQuery{ExactName: "counter"}) {
			if err == nil {
				n++
			}
		}
		return n == 4
	})
	if err := f.c.DeleteEntity(ctx, gone); err != nil {
		t.Fatal(err)
	}
	until(t, "the deleted counter to be left out", func() bool {
		var keys []string
		for m, err := range f.c.ListEntities(ctx, client.EntityQuery{NamePrefix: "coun", PageSize: 1, FetchState: true}) {
			if err != nil || m.State == nil || *m.State != "1" {
				return false
			}
			keys = append(keys, m.ID.Key)
		}
		return fmt.Sprint(keys) == "[l1 l2 l3]"
	})
	id, err := f.c.ScheduleNew(ctx, "HoldLock", "l1")
	if err != nil {
		t.Fatal(err)
	}
	l1 := durable.NewEntityID("Counter", "l1")
	until(t, "the lock", func() bool { m, err := f.c.GetEntity(ctx, l1); return err == nil && m.LockedBy == id })
	// While the holder runs, the lock is not orphaned.
	res, err := f.c.CleanEntityStorage(ctx, true, true, time.Now().Add(time.Hour))
	if err != nil || res.OrphanedLocksRemoved != 0 || res.EmptyEntitiesRemoved != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := f.c.GetEntity(ctx, gone); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("empty entity kept: %v", err)
	}
	if err := f.c.Terminate(ctx, id, "stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.WaitForCompletion(ctx, id); err != nil {
		t.Fatal(err)
	}
	res, err = f.c.CleanEntityStorage(ctx, true, true, time.Now().Add(time.Hour))
	if err != nil || res.OrphanedLocksRemoved != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	until(t, "the orphaned lock to be released", func() bool { m, err := f.c.GetEntity(ctx, l1); return err == nil && m.LockedBy == "" })
}

// A terminated entity's instance ends Terminated, as DurableTask.Core ends
// it; its last state stays readable.
func TestTerminatedEntity(t *testing.T) {
	f := run(t, worker.Options{}, counter)
	ctx := f.ctx(t)
	id := durable.NewEntityID("Counter", "t")
	if err := f.c.SignalEntity(ctx, id, "add", 4); err != nil {
		t.Fatal(err)
	}
	until(t, "the counter", func() bool { v, _ := entityValue(t, f.c, ctx, id); return v == 4 })
	if err := f.c.Terminate(ctx, id.InstanceID(), "enough"); err != nil {
		t.Fatal(err)
	}
	st, err := f.c.WaitForCompletion(ctx, id.InstanceID())
	if err != nil || st.Status != client.Terminated {
		t.Fatalf("%v %v", st, err)
	}
	if v, ok := entityValue(t, f.c, ctx, id); !ok || v != 4 {
		t.Fatalf("state after the terminate: %d %v", v, ok)
	}
}

// An orchestration may not be started at an entity's instance id.
func TestStartAtEntityIDRefused(t *testing.T) {
	f := run(t, worker.Options{}, counter, countersample.Counting)
	if _, err := f.c.ScheduleNew(f.ctx(t), "Counting", nil, client.WithInstanceID("@counter@x")); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("start at an entity id: %v", err)
	}
}

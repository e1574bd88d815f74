// Package counter is the entity sample, and the Go twin of the Durable
// Functions extension's reference Counter entity and Counting
// orchestration: the same entity name, operations and state, and the same
// requests in the same order, so that either side can run what the other
// started.
package counter

import (
	"github.com/azdurable/azdurable/durable"
)

// Counter is an entity whose state is an int: add (an int), reset, get,
// and delete (built in).
var Counter = durable.NewEntity[int]("Counter",
	durable.Op("add", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
		ctx.SetState(ctx.State() + n)
		return struct{}{}, nil
	}),
	durable.Op("reset", func(ctx *durable.EntityContext[int], _ any) (struct{}, error) {
		ctx.SetState(0)
		return struct{}{}, nil
	}),
	// get creates the entity with 0 when it has no state, as the C# entity's
	// GetState does: a get on a new key leaves state 0, not a missing entity.
	durable.Op("get", func(ctx *durable.EntityContext[int], _ any) (int, error) {
		n := ctx.State()
		ctx.SetState(n)
		return n, nil
	}),
)

// K1 is the entity the Counting orchestration works on.
var K1 = durable.NewEntityID("Counter", "k1")

// Counting signals Counter@k1 "add" 5, calls "add" 2, locks the entity and
// calls "add" 1 inside the critical section, then returns "get".
var Counting = durable.NewOrchestration("Counting", func(ctx durable.Context, _ any) (int, error) {
	if err := durable.SignalEntity(ctx, K1, "add", 5); err != nil {
		return 0, err
	}
	if _, err := durable.CallEntity[any](ctx, K1, "add", 2).Await(ctx); err != nil {
		return 0, err
	}
	cs, err := durable.LockEntities(ctx, K1)
	if err != nil {
		return 0, err
	}
	if _, err := durable.CallEntity[any](ctx, K1, "add", 1).Await(ctx); err != nil {
		return 0, err
	}
	if err := cs.Release(); err != nil {
		return 0, err
	}
	return durable.CallEntity[int](ctx, K1, "get", nil).Await(ctx)
})

// Registrations returns the entity and the orchestration.
func Registrations() []durable.Registrable { return []durable.Registrable{Counter, Counting} }

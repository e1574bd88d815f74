package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
)

// upper is a converter that upper-cases what it writes, so that the test
// sees whose converter an entity's code uses.
type upper struct{}

func (upper) Marshal(v any) (string, error) {
	s, err := (payload.JSON{}).Marshal(v)
	return strings.ToUpper(s), err
}
func (upper) Unmarshal(s string, v any) error { return (payload.JSON{}).Unmarshal(s, v) }

// Entities have a namespace of their own, are found in any case, are
// refused twice, and run with the registry's converter.
func TestEntityKind(t *testing.T) {
	greeter := durable.NewEntity[string]("Greeter",
		durable.Op("set", func(ctx *durable.EntityContext[string], s string) (struct{}, error) {
			ctx.SetState(s)
			return struct{}{}, nil
		}))
	orch := durable.NewOrchestration("Greeter", func(durable.Context, any) (any, error) { return nil, nil })
	r := registry.New(upper{})
	if err := registry.Add[durable.Registrable](r, greeter, orch); err != nil {
		t.Fatalf("an entity and an orchestration of one name: %v", err)
	}
	if err := registry.Add(r, durable.NewEntity[int]("GREETER")); err == nil {
		t.Error("an entity registered twice (in another case) was accepted")
	}
	fn, ok := r.Entity("gReEtEr")
	if !ok {
		t.Fatal("the entity is not found in another case")
	}
	in := `"hi"`
	op := &entity.Operation{Entity: entity.NewID("greeter", "k"), Name: "set", Input: &in}
	if err := fn(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	if !op.Exists || op.Value == nil || *op.Value != `"HI"` {
		t.Errorf("state %v %v, want the registry converter's \"HI\"", op.Exists, op.Value)
	}
	if _, ok := r.Orchestrator("Greeter", ""); !ok {
		t.Error("the orchestration of the entity's name is not found")
	}
}

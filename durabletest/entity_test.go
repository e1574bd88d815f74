package durabletest_test

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/samples/counter"
)

var signalTomorrow = durable.NewOrchestration("SignalTomorrow", func(ctx durable.Context, _ any) (int, error) {
	if err := durable.SignalEntity(ctx, counter.K1, "add", 100, durable.SignalAt(ctx.Now().Add(24*time.Hour))); err != nil {
		return 0, err
	}
	if _, err := durable.NewTimer(ctx, 25*time.Hour).Await(ctx); err != nil {
		return 0, err
	}
	return durable.CallEntity[int](ctx, counter.K1, "get", nil).Await(ctx)
})

// Entities run in the test environment: replay verification of the
// orchestrations that call them holds (their request ids and clocks are
// deterministic), and a signal scheduled for tomorrow arrives when the
// virtual clock skips there.
func TestEntitiesInTheEnvironment(t *testing.T) {
	env := durabletest.New(t, durabletest.Options{})
	env.Register(append(counter.Registrations(), signalTomorrow)...)
	got, err := durabletest.Start(env, counter.Counting, nil).Result()
	if err != nil || got != 8 {
		t.Fatalf("Counting: %d %v", got, err)
	}
	got, err = durabletest.Start(env, signalTomorrow, nil).Result()
	if err != nil || got != 108 {
		t.Fatalf("SignalTomorrow: %d %v", got, err)
	}
}

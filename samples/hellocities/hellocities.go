// Package hellocities is the chaining sample: three activity calls, one
// after another. It is also the conformance set's HelloCities: the same
// names, task ids and output as the C# reference orchestration.
package hellocities

import (
	"context"

	"github.com/azdurable/azdurable/durable"
)

// SayHello greets a city.
var SayHello = durable.NewActivity("SayHello", func(_ context.Context, name string) (string, error) {
	return "Hello " + name + "!", nil
})

// HelloCities greets Tokyo, Seattle and London in sequence; its input is
// ignored.
var HelloCities = durable.NewOrchestration("HelloCities", func(ctx durable.Context, _ string) ([]string, error) {
	var out []string
	for _, city := range []string{"Tokyo", "Seattle", "London"} {
		s, err := SayHello.Call(ctx, city).Await(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
})

// Registrations returns the sample's orchestration and activity.
func Registrations() []durable.Registrable { return []durable.Registrable{HelloCities, SayHello} }

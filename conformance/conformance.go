// Package conformance holds Go versions of the reference orchestrations and
// activities that the C# interop program registers (same names, task ids,
// inputs and outputs), so that Go and C# workers can finish each other's
// instances on one task hub.
package conformance

import (
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/samples/hellocities"
)

// Registrations returns every conformance orchestration and activity.
func Registrations() []durable.Registrable {
	return []durable.Registrable{hellocities.HelloCities, hellocities.SayHello}
}

// Package samples holds runnable orchestrations that show the patterns of
// durable workflows: chaining (hellocities), fan-out/fan-in (indexing),
// compensation with retries (orders), human interaction with a timeout
// (approval) and a monitor that continues as new each round (monitor).
// Register them all with All; azdurable worker hosts them.
package samples

import (
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
)

// All returns every sample's orchestrations and activities. store receives
// the indexing sample's summaries (nil: kept in memory).
func All(store indexing.Store) []durable.Registrable {
	if store == nil {
		store = indexing.NewMemoryStore()
	}
	var out []durable.Registrable
	out = append(out, hellocities.Registrations()...)
	out = append(out, indexing.Registrations(store)...)
	out = append(out, orders.Registrations()...)
	out = append(out, approval.Registrations()...)
	out = append(out, monitor.Registrations()...)
	return out
}

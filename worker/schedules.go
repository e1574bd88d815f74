package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/schedule"
)

// registerSchedules registers the schedule orchestration and its start
// activity (internal/schedule), so that every worker runs the schedules of
// its hub without its user registering anything. Ticks are started through
// a client on the worker's own backend and clock.
func (w *Worker) registerSchedules() {
	c := client.New(w.be, client.Options{Clock: w.clock})
	start := func(ctx context.Context, t schedule.Tick) (bool, error) {
		var input any
		if t.Input != nil {
			input = json.RawMessage(*t.Input)
		}
		_, err := c.ScheduleNew(ctx, t.Orchestration, input, client.WithInstanceID(t.InstanceID),
			client.WithVersion(t.Version), client.WithDedupeStatuses(schedule.TickDedupeStatuses()...))
		if errors.Is(err, client.ErrInstanceExists) {
			return false, nil
		}
		return err == nil, err
	}
	if err := registry.Add(w.reg, schedule.Registrations(start)...); err != nil {
		panic("worker: registering the schedule orchestration: " + err.Error())
	}
}

// builtIn reports whether an orchestration is one of azdurable's own (the
// schedule orchestration). Every worker runs them whatever its Versioning:
// their code belongs to azdurable, not to the application's versions.
func builtIn(name string) bool { return strings.EqualFold(name, schedule.OrchestrationName) }

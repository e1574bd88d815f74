package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/azdurable/azdurable/durable"
)

// The orchestrations and the activity the scenarios run. Chain and FanOut
// have the names, task ids, inputs and outputs of the C# reference program's
// (dtfx-ref) Chain and FanOut, so that both sides do the same work.

// activityName is the one activity every scenario calls.
const activityName = "SayHello"

// activityStart is when an activity invocation began, as recorded by the
// process that ran it.
type activityStart struct {
	Instance string    `json:"i"`
	TaskID   int32     `json:"t"`
	At       time.Time `json:"at"`
}

// recorder collects activity start times in one process.
type recorder struct {
	mu     sync.Mutex
	starts []activityStart
}

func (r *recorder) add(s activityStart) {
	r.mu.Lock()
	r.starts = append(r.starts, s)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []activityStart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]activityStart(nil), r.starts...)
}

// registrations returns the scenario code, with the activity reporting its
// start times to rec. Each activity takes activityTime (0: none), sleeping
// and so costing no CPU, so that a scale-out run is limited by activity
// slots and storage, not by the cores of the machine; a cancelled context
// ends the sleep with an error.
func registrations(rec *recorder, activityTime time.Duration) []durable.Registrable {
	sayHello := durable.NewActivity(activityName, func(ctx context.Context, name string) (string, error) {
		if info, ok := durable.ActivityInfoFrom(ctx); ok {
			rec.add(activityStart{Instance: info.InstanceID, TaskID: info.TaskID, At: time.Now().UTC()})
		}
		if activityTime > 0 {
			t := time.NewTimer(activityTime)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return "", context.Cause(ctx)
			}
		}
		return "Hello " + name + "!", nil
	})
	// Chain(n): SayHello("c0") … SayHello("c{n-1}") one after another.
	chain := durable.NewOrchestration("Chain", func(ctx durable.Context, n int) (string, error) {
		last := ""
		for i := 0; i < n; i++ {
			s, err := sayHello.Call(ctx, fmt.Sprintf("c%d", i)).Await(ctx)
			if err != nil {
				return "", err
			}
			last = s
		}
		return last, nil
	})
	// FanOut(n): SayHello("n0") … SayHello("n{n-1}") at once, then all
	// awaited; the output is n.
	fanOut := durable.NewOrchestration("FanOut", func(ctx durable.Context, n int) (int, error) {
		fs := make([]durable.Future[string], n)
		for i := range fs {
			fs[i] = sayHello.Call(ctx, fmt.Sprintf("n%d", i))
		}
		res, err := durable.WhenAllOf(ctx, fs...)
		return len(res), err
	})
	// Waiter(n): waits for n events named "Go", one after another, and
	// returns the last one's data.
	waiter := durable.NewOrchestration("BenchWaiter", func(ctx durable.Context, n int) (string, error) {
		last := ""
		for i := 0; i < n; i++ {
			s, err := durable.WaitForEvent[string](ctx, "Go").Await(ctx)
			if err != nil {
				return "", err
			}
			last = s
		}
		return last, nil
	})
	return []durable.Registrable{sayHello, chain, fanOut, waiter}
}

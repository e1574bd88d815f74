package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// An approval with a timeout: the orchestration waits up to three days for
// a Decision event. The client raises the event for the first request; the
// second gets none and is escalated when its timer fires. The in-memory
// backend runs on a manual clock here, so the three days pass at once.
func ExampleClient_RaiseEvent() {
	approval := durable.NewOrchestration("Approval", func(ctx durable.Context, request string) (string, error) {
		decision, err := durable.WaitForEvent[string](ctx, "Decision", durable.WithTimeout(72*time.Hour)).Await(ctx)
		if errors.Is(err, durable.ErrTimeout) {
			return request + ": escalated", nil
		}
		if err != nil {
			return "", err
		}
		return request + ": " + decision, nil
	})

	clock := memory.NewManualClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	be := memory.New(memory.Options{Clock: clock})
	w := worker.New(be, worker.Options{Clock: clock})
	if err := w.Register(approval); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	workerCtx, stopWorker := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(workerCtx) }()
	defer func() { stopWorker(); <-stopped }()

	c := client.New(be, client.Options{Clock: clock})
	for _, id := range []string{"r1", "r2"} {
		if _, err := c.ScheduleNew(ctx, approval.Name(), id, client.WithInstanceID(id)); err != nil {
			panic(err)
		}
		// Running means the first episode is stored: the event wait and
		// its timer are armed.
		if _, err := c.WaitForStart(ctx, id); err != nil {
			panic(err)
		}
	}
	if err := c.RaiseEvent(ctx, "r1", "Decision", "approved"); err != nil {
		panic(err)
	}
	r1, err := c.WaitForCompletion(ctx, "r1")
	if err != nil {
		panic(err)
	}
	clock.Advance(72 * time.Hour)
	r2, err := c.WaitForCompletion(ctx, "r2")
	if err != nil {
		panic(err)
	}
	for _, s := range []*client.State{r1, r2} {
		var out string
		if err := s.DecodeOutput(&out); err != nil {
			panic(err)
		}
		fmt.Println(s.Status, out)
	}
	// Output:
	// Completed r1: approved
	// Completed r2: escalated
}

package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// lingering is an activity that runs until its context is cancelled or
// it is released, and an orchestration that returns its result.
type lingering struct {
	started  chan struct{} // receives once per run
	release  chan struct{}
	causes   chan error // the context.Cause of each cancelled run
	runs     atomic.Int32
	activity *durable.Activity[string, string]
	orch     *durable.Orchestration[string, string]
}

func newLingering(name string) *lingering {
	l := &lingering{started: make(chan struct{}, 16), release: make(chan struct{}), causes: make(chan error, 16)}
	l.activity = durable.NewActivity(name+"Activity", func(ctx context.Context, in string) (string, error) {
		l.runs.Add(1)
		l.started <- struct{}{}
		select {
		case <-l.release:
			return "done " + in, nil
		case <-ctx.Done():
			l.causes <- context.Cause(ctx)
			return "", ctx.Err()
		}
	})
	l.orch = durable.NewOrchestration(name, func(ctx durable.Context, in string) (string, error) {
		return l.activity.Call(ctx, in).Await(ctx)
	})
	return l
}

// waitChan waits for one value of ch with a generous deadline.
func waitChan[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Minute):
		t.Fatalf("timed out after 2m waiting for %s", what)
	}
	var zero T
	return zero
}

func countEvents(h []history.Event, typ history.EventType) int {
	n := 0
	for _, ev := range h {
		if ev.Type() == typ {
			n++
		}
	}
	return n
}

// startWorker runs a worker on be until the returned stop is called; stop
// returns what Run returned.
func startWorker(t *testing.T, be provider.Backend, opts worker.Options, items ...durable.Registrable) (*worker.Worker, func() error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := worker.New(be, opts)
	if err := w.Register(items...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var result error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return w, stop
}

// A worker whose Run context is cancelled while an activity that honours
// its context outlives the drain gives the work item back instead of
// failing the task; the next worker runs the activity again and the
// instance completes with its output and no TaskFailed in its history.
func TestStopGivesActivitiesBack(t *testing.T) {
	be := memory.New(memory.Options{Logger: slog.New(slog.DiscardHandler)})
	l := newLingering("Lingering")
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	logs := &syncbuf.Buffer{}
	w1, stop1 := startWorker(t, be, worker.Options{ShutdownTimeout: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}, l.activity, l.orch)
	id, err := c.ScheduleNew(ctx, l.orch.Name(), "x")
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, "the activity to start", l.started)
	// The activity message is sent before the episode writes its history
	// and row (commit order: messages, history, row), so the activity can
	// start while that commit still runs; a stop then would cancel the
	// commit once the 50 ms drain is over. Stop once the row says Running.
	until(t, "the episode that scheduled the activity to be committed", func() bool {
		st, err := c.GetState(ctx, id)
		return err == nil && st.Status == client.Running
	})
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	if cause := waitChan(t, "the cancellation", l.causes); !errors.Is(cause, worker.ErrStopping) {
		t.Errorf("the activity's context was cancelled with cause %v, want worker.ErrStopping", cause)
	}
	if w1.Stats().ActivitiesReturned.Load() != 1 || w1.Stats().Activities.Load() != 0 {
		t.Errorf("returned %d, reported %d activities; want 1 and 0\n%s", w1.Stats().ActivitiesReturned.Load(), w1.Stats().Activities.Load(), logs)
	}
	h, err := c.History(ctx, id, "")
	if err != nil || countEvents(h, history.TaskFailed) != 0 {
		t.Fatalf("history after the stop has %d TaskFailed (%v)", countEvents(h, history.TaskFailed), err)
	}
	if st, err := c.GetState(ctx, id); err != nil || st.Status != client.Running {
		t.Fatalf("after the stop the instance is %+v (%v), want Running", st, err)
	}

	close(l.release)
	startWorker(t, be, worker.Options{}, l.activity, l.orch)
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 100*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `"done x"` {
		t.Fatalf("state %+v %v", st, err)
	}
	h, _ = c.History(ctx, id, "")
	if countEvents(h, history.TaskFailed) != 0 || countEvents(h, history.TaskCompleted) != 1 || l.runs.Load() != 2 {
		t.Errorf("%d TaskFailed, %d TaskCompleted, %d runs; want 0, 1, 2", countEvents(h, history.TaskFailed),
			countEvents(h, history.TaskCompleted), l.runs.Load())
	}
}

// An activity that returns success although the stop cancelled its
// context still completes, and one that fails for its own reasons before
// the stop still fails the task.
func TestStopKeepsOwnResults(t *testing.T) {
	be := memory.New(memory.Options{Logger: slog.New(slog.DiscardHandler)})
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := make(chan struct{}, 1)
	stubborn := durable.NewActivity("Stubborn", func(ctx context.Context, in string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		return "finished anyway", nil
	})
	orch := durable.NewOrchestration("CallsStubborn", func(ctx durable.Context, in string) (string, error) {
		return stubborn.Call(ctx, in).Await(ctx)
	})
	w, stop := startWorker(t, be, worker.Options{ShutdownTimeout: 50 * time.Millisecond}, stubborn, orch)
	id, _ := c.ScheduleNew(ctx, orch.Name(), "")
	waitChan(t, "the activity to start", started)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Activities.Load() != 1 || w.Stats().ActivitiesReturned.Load() != 0 {
		t.Errorf("reported %d, returned %d; want 1 and 0", w.Stats().Activities.Load(), w.Stats().ActivitiesReturned.Load())
	}
	startWorker(t, be, worker.Options{}, stubborn, orch)
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 100*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `"finished anyway"` {
		t.Fatalf("state %+v %v", st, err)
	}
}

package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/worker"
)

// testLog logs errors only, or everything from the level in
// AZDURABLE_TEST_LOG (debug, info, warn) when debugging a test.
func testLog() *slog.Logger {
	level := slog.LevelError
	if v := os.Getenv("AZDURABLE_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// A terminate cancels the context of the instance's activity that runs in
// the process that commits the terminate, at that commit (the lock
// renewal, which would also notice, is an hour away), and the activity's
// late result is dropped.
func TestTerminateCancelsLocalActivities(t *testing.T) {
	be := memory.New(memory.Options{Logger: slog.New(slog.DiscardHandler)})
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := newLingering("Terminated")
	w, _ := startWorker(t, be, worker.Options{ActivityRenewInterval: time.Hour}, l.activity, l.orch)
	id, _ := c.ScheduleNew(ctx, l.orch.Name(), "x")
	waitChan(t, "the activity to start", l.started)
	if err := c.Terminate(ctx, id, "enough"); err != nil {
		t.Fatal(err)
	}
	if cause := waitChan(t, "the activity's cancellation", l.causes); !errors.Is(cause, worker.ErrInstanceEnded) {
		t.Errorf("cancelled with cause %v, want worker.ErrInstanceEnded", cause)
	}
	until(t, "the late result to be reported", func() bool { return w.Stats().Activities.Load() == 1 })
	if err := be.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.GetState(ctx, id)
	if err != nil || st.Status != client.Terminated {
		t.Fatalf("state %+v %v", st, err)
	}
	h, _ := c.History(ctx, id, "")
	if n := countEvents(h, history.TaskFailed) + countEvents(h, history.TaskCompleted); n != 0 {
		t.Errorf("the late result was recorded: %d results in history", n)
	}
	// The worker cancels the activity after the terminate's commit and
	// counts it after that: the activity can finish first.
	until(t, "the cancellation to be counted", func() bool { return w.Stats().ActivitiesCancelled.Load() >= 1 })
	if w.Stats().ActivitiesCancelled.Load() != 1 {
		t.Errorf("ActivitiesCancelled = %d", w.Stats().ActivitiesCancelled.Load())
	}
}

// azureWorker runs a worker on a backend of hub; the backend's options are
// adjusted by adjust.
func azureWorker(t *testing.T, hub, workerID string, opts worker.Options, adjust func(*azurestorage.Options), items ...durable.Registrable) (*worker.Worker, *azurestorage.Backend, func() error) {
	t.Helper()
	o := azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1, WorkerID: workerID,
		MaxPollingInterval: 200 * time.Millisecond, Logger: testLog()}
	if adjust != nil {
		adjust(&o)
	}
	be, err := azurestorage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = o.Logger
	}
	w, stop := startWorker(t, be, opts, items...)
	return w, be, stop
}

// newAzureHub returns a fresh hub with one partition, deleted (app lease
// included) after the test and after its workers stopped.
func newAzureHub(t *testing.T) (string, *client.Client, *azurestorage.Backend) {
	t.Helper()
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1,
		WorkerID: "test-client", Logger: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	return hub, client.New(be, client.Options{}), be
}

// waitOwner waits until workerID owns the hub's only partition.
func waitOwner(t *testing.T, be *azurestorage.Backend, workerID string) {
	t.Helper()
	svc, err := azuritetest.Account(t).TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	azuritetest.WaitFor(t, 2*time.Minute, workerID+" to own the partition", func() (bool, error) {
		rows, err := partition.ReadTable(context.Background(), svc, be.Resources().TaskHub)
		return err == nil && len(rows) == 1 && rows[0].CurrentOwner == workerID, nil
	})
}

// waitQueuesEmpty waits until the hub's queues hold no message, visible
// or not: every result has been consumed or dropped.
func waitQueuesEmpty(t *testing.T, be *azurestorage.Backend) {
	t.Helper()
	qsvc, err := azuritetest.Account(t).QueueService(nil)
	if err != nil {
		t.Fatal(err)
	}
	azuritetest.WaitFor(t, 2*time.Minute, "the queues to be empty", func() (bool, error) {
		for _, name := range append(be.Resources().ControlQueues, be.Resources().WorkItemQueue) {
			n, err := queues.NewQueue(qsvc, name, nil).ApproximateCount(context.Background())
			if err != nil || n != 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// On Azure Storage, a terminate cancels the instance's running activity in
// the process that commits it, and in a process that does not own the
// instance's partition (it learns it with its lock renewal); either way
// the late result is dropped.
func TestTerminateCancelsActivitiesOnAzure(t *testing.T) {
	for _, where := range []string{"same process", "other process"} {
		t.Run(where, func(t *testing.T) {
			hub, c, cbe := newAzureHub(t)
			l := newLingering("Terminated")
			var runner *worker.Worker
			if where == "same process" {
				runner, _, _ = azureWorker(t, hub, "owner", worker.Options{ActivityRenewInterval: time.Hour}, nil, l.activity, l.orch)
			} else {
				// The owner hosts the orchestration only (and gives the
				// activity back); the other worker, started once the owner
				// holds the only partition, never owns it and runs the
				// activity, renewing its lock every half second.
				azureWorker(t, hub, "owner", worker.Options{ActivityRenewInterval: time.Hour}, nil, l.orch)
				waitOwner(t, cbe, "owner")
				runner, _, _ = azureWorker(t, hub, "other", worker.Options{ActivityRenewInterval: 500 * time.Millisecond}, nil, l.activity)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			id, err := c.ScheduleNew(ctx, l.orch.Name(), "x")
			if err != nil {
				t.Fatal(err)
			}
			waitChan(t, "the activity to start", l.started)
			if err := c.Terminate(ctx, id, "enough"); err != nil {
				t.Fatal(err)
			}
			if cause := waitChan(t, "the activity's cancellation", l.causes); !errors.Is(cause, worker.ErrInstanceEnded) {
				t.Errorf("cancelled with cause %v, want worker.ErrInstanceEnded", cause)
			}
			azuritetest.WaitFor(t, 2*time.Minute, "the late result to be reported", func() (bool, error) {
				return runner.Stats().Activities.Load() == 1, nil
			})
			waitQueuesEmpty(t, cbe)
			st, err := c.GetState(ctx, id)
			if err != nil || st.Status != client.Terminated {
				t.Fatalf("state %+v %v", st, err)
			}
			h, _ := c.History(ctx, id, "")
			if n := countEvents(h, history.TaskFailed) + countEvents(h, history.TaskCompleted); n != 0 {
				t.Errorf("the late result was recorded: %d results in history", n)
			}
		})
	}
}

// On Azure Storage, a worker whose Run context is cancelled mid-activity
// gives the work item back, and the next worker completes the instance.
func TestStopGivesActivitiesBackOnAzure(t *testing.T) {
	hub, c, _ := newAzureHub(t)
	l := newLingering("Lingering")
	w1, _, stop1 := azureWorker(t, hub, "first", worker.Options{ShutdownTimeout: 100 * time.Millisecond}, nil, l.activity, l.orch)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := c.ScheduleNew(ctx, l.orch.Name(), "x")
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, "the activity to start", l.started)
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	if cause := waitChan(t, "the cancellation", l.causes); !errors.Is(cause, worker.ErrStopping) {
		t.Errorf("cancelled with cause %v, want worker.ErrStopping", cause)
	}
	if w1.Stats().ActivitiesReturned.Load() != 1 || w1.Stats().Activities.Load() != 0 {
		t.Errorf("returned %d, reported %d; want 1 and 0", w1.Stats().ActivitiesReturned.Load(), w1.Stats().Activities.Load())
	}
	close(l.release)
	azureWorker(t, hub, "second", worker.Options{}, nil, l.activity, l.orch)
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `"done x"` {
		t.Fatalf("state %+v %v", st, err)
	}
	h, _ := c.History(ctx, id, "")
	if countEvents(h, history.TaskFailed) != 0 || countEvents(h, history.TaskCompleted) != 1 {
		t.Errorf("%d TaskFailed, %d TaskCompleted; want 0 and 1", countEvents(h, history.TaskFailed), countEvents(h, history.TaskCompleted))
	}
}

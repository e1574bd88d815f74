package memory_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
)

var onceRuns atomic.Int32

var onceActivity = durable.NewActivity("MemOnceActivity", func(context.Context, string) (string, error) {
	onceRuns.Add(1)
	return "ran", nil
})

var onceOrchestration = durable.NewOrchestration("MemOnce", func(ctx durable.Context, in string) (string, error) {
	return onceActivity.Call(ctx, in).Await(ctx)
})

// idle reports whether the backend holds no message at all.
func idle(be *memory.Backend) bool {
	s := be.Stats()
	n := s.ActivityMessages
	for _, c := range s.ControlMessages {
		n += c
	}
	return n == 0 && s.LockedOrchestrations == 0 && s.LockedActivities == 0
}

// A start scheduled a minute ahead and terminated at once never runs, on
// the virtual clock: when the clock passes its time the start is dropped,
// the instance stays Terminated with no history, and the activity never
// runs.
func TestTerminateBeforeScheduledStartSticks(t *testing.T) {
	onceRuns.Store(0)
	env := durabletest.New(t, durabletest.Options{Manual: true})
	env.Register(onceOrchestration, onceActivity)
	at := env.Clock.Now().Add(time.Minute)
	run := durabletest.Start(env, onceOrchestration, "x", client.WithInstanceID("later"), client.WithStartAt(at))
	ctx, cancel := env.Context()
	defer cancel()
	if err := env.Client.Terminate(ctx, run.ID, "not wanted"); err != nil {
		t.Fatal(err)
	}
	run.WaitFor("the terminate", func(s *client.State) bool { return s.Status == client.Terminated })
	env.Advance(2 * time.Minute)
	deadline := time.Now().Add(3 * time.Minute)
	for !idle(env.Backend) {
		if time.Now().After(deadline) {
			t.Fatalf("the start was not consumed: %+v", env.Backend.Stats())
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_ = env.Backend.WaitIdle(wctx)
		wcancel()
	}
	if st := run.State(); st.Status != client.Terminated || st.Output == nil || *st.Output != "not wanted" {
		t.Fatalf("after the start's time: %s %v", st.Status, st.Output)
	}
	if h := env.History(run.ID); len(h) != 0 {
		t.Fatalf("history written: %d events", len(h))
	}
	if n := onceRuns.Load(); n != 0 {
		t.Fatalf("the activity of a terminated instance ran %d times", n)
	}
}

// Of 40 concurrent starts of one id exactly one succeeds; the others get
// ErrInstanceExists, and only one start message is sent.
func TestConcurrentStartsOneWins(t *testing.T) {
	be := memory.New(memory.Options{})
	c := client.New(be, client.Options{})
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, errs[i] = c.ScheduleNew(context.Background(), "X", nil, client.WithInstanceID("contested"))
		}()
	}
	close(gate)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, client.ErrInstanceExists):
			t.Errorf("a losing start: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d starts succeeded", won, n)
	}
	if s := be.Stats(); s.Sent != 1 {
		t.Fatalf("%d messages sent", s.Sent)
	}
}

// Starts and messages that the Azure backend's storage would refuse are
// refused here too, with ErrInvalid and nothing sent.
func TestInvalidStartsSendNothing(t *testing.T) {
	be := memory.New(memory.Options{})
	c := client.New(be, client.Options{})
	ctx := context.Background()
	for _, id := range []string{"", strings.Repeat("a", 600), strings.Repeat("#", 257), "\xffid"} {
		if _, err := c.ScheduleNew(ctx, "X", nil, client.WithInstanceID(id)); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("client start of %q: %v", id, err)
		}
		inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: "e1"}
		start := &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "X"}}
		if err := be.CreateInstance(ctx, start, nil); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("backend start of %q: %v", id, err)
		}
		if err := c.Terminate(ctx, id, "x"); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("terminate of %q: %v", id, err)
		}
	}
	if _, err := c.ScheduleNew(ctx, " ", nil); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("a start without a name: %v", err)
	}
	if s := be.Stats(); s.Sent != 0 {
		t.Fatalf("%d messages sent", s.Sent)
	}
}

// A start and a terminate sent while no worker runs reach the worker in
// one batch: the instance is terminated without running and without
// history.
func TestTerminateWithTheStartInOneBatch(t *testing.T) {
	onceRuns.Store(0)
	env := durabletest.New(t, durabletest.Options{Manual: true})
	env.Register(onceOrchestration, onceActivity)
	ctx, cancel := env.Context()
	defer cancel()
	if _, err := env.Client.ScheduleNew(ctx, onceOrchestration.Name(), "x", client.WithInstanceID("both")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Terminate(ctx, "both", "not wanted"); err != nil {
		t.Fatal(err)
	}
	// Starting another instance starts the worker.
	other := durabletest.Start(env, onceOrchestration, "y")
	if _, err := other.Result(); err != nil {
		t.Fatal(err)
	}
	for !idle(env.Backend) {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Millisecond)
		_ = env.Backend.WaitIdle(wctx)
		wcancel()
		if ctx.Err() != nil {
			t.Fatalf("not idle: %+v", env.Backend.Stats())
		}
	}
	st, err := env.Client.GetState(ctx, "both")
	if err != nil || st.Status != client.Terminated || st.Output == nil || *st.Output != "not wanted" {
		t.Fatalf("state %+v %v", st, err)
	}
	if h := env.History("both"); len(h) != 0 {
		t.Fatalf("history written: %d events", len(h))
	}
	if n := onceRuns.Load(); n != 1 {
		t.Fatalf("the activity ran %d times for the one instance that was not terminated", n)
	}
}

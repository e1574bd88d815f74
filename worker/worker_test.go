package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

type fixture struct {
	be   *memory.Backend
	w    *worker.Worker
	c    *client.Client
	logs *syncbuf.Buffer
}

func run(t *testing.T, opts worker.Options, items ...durable.Registrable) *fixture {
	t.Helper()
	be := memory.New(memory.Options{})
	logs := &syncbuf.Buffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w := worker.New(be, opts)
	if err := w.Register(items...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{be: be, w: w, c: client.New(be, client.Options{}), logs: logs}
}

func (f *fixture) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		tm := time.NewTimer(10 * time.Millisecond)
		<-tm.C
	}
}

var hello = durable.NewActivity("Hello", func(_ context.Context, s string) (string, error) { return "hi " + s, nil })

var chain = durable.NewOrchestration("Chain", func(ctx durable.Context, s string) (string, error) {
	a, err := hello.Call(ctx, s).Await(ctx)
	if err != nil {
		return "", err
	}
	return hello.Call(ctx, a).Await(ctx)
})

// Decision test: an unknown orchestration name is given back with
// back-off and logged; the instance stays Pending and is never failed.
func TestUnknownNamesAreAbandoned(t *testing.T) {
	f := run(t, worker.Options{}, hello)
	ctx := f.ctx(t)
	id, err := f.c.ScheduleNew(ctx, "Missing", "x")
	if err != nil {
		t.Fatal(err)
	}
	until(t, "the give-back", func() bool { return strings.Contains(f.logs.String(), "gave an orchestration work item back") })
	st, err := f.c.GetState(ctx, id)
	if err != nil || st.Status != client.Pending {
		t.Fatalf("state %+v %v", st, err)
	}
	if l := f.logs.String(); !strings.Contains(l, `orchestration \"Missing\" is not registered on this worker`) || !strings.Contains(l, "instance="+id) {
		t.Errorf("log: %s", l)
	}
	// An unknown activity: the orchestration runs and waits, Running.
	missingAct := durable.NewOrchestration("CallsMissing", func(ctx durable.Context, _ string) (string, error) {
		return durable.CallActivity[string](ctx, "NoSuchActivity", "x").Await(ctx)
	})
	g := run(t, worker.Options{}, missingAct)
	id2, _ := g.c.ScheduleNew(ctx, "CallsMissing", "x")
	until(t, "the activity abandon", func() bool { return g.w.Stats().UnknownNames.Load() > 0 })
	// The activity message is sent before the instance's row says Running
	// (commit order: messages, history, row), so the activity can be given
	// back while the row still says Pending: wait for the row.
	until(t, "the instance calling an unknown activity to be Running", func() bool {
		st, err := g.c.GetState(ctx, id2)
		return err == nil && st.Status == client.Running
	})
}

var version = 1

// Decision test: non-determinism fails the instance by default; with
// BlockAndRetry the instance keeps its status and the work item is retried
// with growing back-off, counted in the stats.
func TestNonDeterminismPolicies(t *testing.T) {
	for _, policy := range []worker.NonDeterminismPolicy{worker.FailOrchestration, worker.BlockAndRetry} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			calls := 0
			changing := durable.NewOrchestration("Changing", func(ctx durable.Context, _ string) (string, error) {
				calls++
				name := "Hello"
				if calls > 1 {
					name = "Other" // the code changes between the first run and the replay
				}
				if _, err := durable.CallActivity[string](ctx, name, "x").Await(ctx); err != nil {
					return "", err
				}
				return durable.WaitForEvent[string](ctx, "go").Await(ctx)
			})
			f := run(t, worker.Options{OnNonDeterminism: policy, Cache: worker.CacheOptions{Disabled: true}}, changing, hello)
			ctx := f.ctx(t)
			id, _ := f.c.ScheduleNew(ctx, "Changing", "x")
			until(t, "the non-determinism", func() bool { return f.w.Stats().NonDeterminism.Load() > 0 })
			if policy == worker.FailOrchestration {
				st, err := f.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
				if err != nil || st.Status != client.Failed || !strings.Contains(*st.Output, "non-deterministic") {
					t.Fatalf("state %+v %v", st, err)
				}
				return
			}
			st, _ := f.c.GetState(ctx, id)
			if st.Status != client.Running {
				t.Errorf("with BlockAndRetry the instance is %s", st.Status)
			}
			// The worker counts the non-determinism before it gives the
			// work item back, and counts the give-back after the backend
			// took it: wait for that count.
			until(t, "the work item to be given back", func() bool { return f.w.Stats().Abandoned.Load() > 0 })
		})
	}
}

// Checklist 16 (activity part): a panicking activity gives TaskFailed with
// the panic as failure details, and the worker keeps serving.
func TestActivityPanicFailsTheTask(t *testing.T) {
	boom := durable.NewActivity("Boom", func(context.Context, string) (string, error) { panic("kaboom") })
	orch := durable.NewOrchestration("CallsBoom", func(ctx durable.Context, _ string) (string, error) {
		_, err := boom.Call(ctx, "x").Await(ctx)
		var tf *durable.TaskFailedError
		if !errors.As(err, &tf) || tf.Failure == nil || tf.Failure.ErrorType != "panic" || !strings.Contains(tf.Failure.ErrorMessage, "kaboom") {
			return "", fmt.Errorf("unexpected failure %#v", err)
		}
		return hello.Call(ctx, "after").Await(ctx)
	})
	f := run(t, worker.Options{}, orch, boom, hello)
	ctx := f.ctx(t)
	id, _ := f.c.ScheduleNew(ctx, "CallsBoom", "x")
	st, err := f.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `"hi after"` {
		t.Fatalf("state %+v %v", st, err)
	}
	if f.w.Stats().ActivityPanics.Load() != 1 {
		t.Errorf("activity panics %d", f.w.Stats().ActivityPanics.Load())
	}
}

// Checklist 7: the children to terminate ride in the parent's terminal
// commit; a crash after that commit's messages were sent retries the whole
// commit, and both end Terminated.
func TestRecursiveTerminateSurvivesACrashedCommit(t *testing.T) {
	waiter := durable.NewOrchestration("W", func(ctx durable.Context, _ string) (string, error) {
		return durable.WaitForEvent[string](ctx, "never").Await(ctx)
	})
	parent := durable.NewOrchestration("P", func(ctx durable.Context, _ string) (string, error) {
		return waiter.CallSub(ctx, "", durable.WithInstanceID("child-of-p")).Await(ctx)
	})
	f := run(t, worker.Options{}, waiter, parent)
	ctx := f.ctx(t)
	id, _ := f.c.ScheduleNew(ctx, "P", "")
	until(t, "the child", func() bool {
		st, err := f.c.GetState(ctx, "child-of-p")
		return err == nil && st.Status == client.Running
	})
	f.be.CrashNext(memory.AfterOutbox)
	if err := f.c.Terminate(ctx, id, "stop", client.Recursive()); err != nil {
		t.Fatal(err)
	}
	// The child was told in the crashed commit and again in its retry.
	st, err := f.c.WaitForCompletion(ctx, "child-of-p", client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil || st.Status != client.Terminated || *st.Output != "stop" {
		t.Fatalf("child: %+v %v", st, err)
	}
	// The parent ends too: Terminated, or Failed with the child's reason
	// when the child's answer is applied before the retried terminate (the
	// crash put the terminate back behind it).
	st, err = f.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil || (st.Status != client.Terminated && st.Status != client.Failed) || *st.Output != "stop" {
		t.Fatalf("parent: %+v %v", st, err)
	}
	if f.be.Stats().Crashes != 1 {
		t.Errorf("crashes %d", f.be.Stats().Crashes)
	}
}

// Trace context is carried from the start to every activity.
func TestTraceContextIsCarried(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	probe := durable.NewActivity("Probe", func(ctx context.Context, _ string) (string, error) {
		info, _ := durable.ActivityInfoFrom(ctx)
		mu.Lock()
		seen = append(seen, info.TraceParent)
		mu.Unlock()
		return "", nil
	})
	child := durable.NewOrchestration("TChild", func(ctx durable.Context, _ string) (string, error) {
		return probe.Call(ctx, "").Await(ctx)
	})
	root := durable.NewOrchestration("TRoot", func(ctx durable.Context, _ string) (string, error) {
		if _, err := probe.Call(ctx, "").Await(ctx); err != nil {
			return "", err
		}
		return child.CallSub(ctx, "").Await(ctx)
	})
	f := run(t, worker.Options{}, probe, child, root)
	ctx := f.ctx(t)
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	id, _ := f.c.ScheduleNew(ctx, "TRoot", "", client.WithTraceParent(tp))
	if _, err := f.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != tp || seen[1] != tp {
		t.Errorf("activities saw trace parents %v", seen)
	}
	h, _ := f.c.History(ctx, id, "")
	for _, ev := range h {
		if ts, ok := ev.(*history.TaskScheduledEvent); ok && (ts.ParentTraceContext == nil || ts.ParentTraceContext.TraceParent != tp) {
			t.Errorf("TaskScheduled without the trace context")
		}
	}
}

// Graceful shutdown lets an in-flight activity finish and report.
func TestGracefulShutdownDrainsActivities(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	slow := durable.NewActivity("Slow", func(ctx context.Context, _ string) (string, error) {
		close(started)
		<-release
		return "done", nil
	})
	orch := durable.NewOrchestration("S", func(ctx durable.Context, _ string) (string, error) {
		return slow.Call(ctx, "").Await(ctx)
	})
	be := memory.New(memory.Options{})
	w := worker.New(be, worker.Options{Logger: slog.New(slog.DiscardHandler)})
	_ = w.Register(slow, orch)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	c := client.New(be, client.Options{})
	ctx, cc := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cc()
	id, _ := c.ScheduleNew(ctx, "S", "")
	<-started
	cancel() // shut down while the activity runs
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if be.Stats().ActivityMessages != 0 {
		t.Errorf("the activity's work item was not completed before shutdown: %+v", be.Stats())
	}
	h, _ := c.History(ctx, id, "")
	_ = h
	// A new worker finishes the orchestration from the reported result.
	w2 := worker.New(be, worker.Options{Logger: slog.New(slog.DiscardHandler)})
	_ = w2.Register(slow, orch)
	w2ctx, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = w2.Run(w2ctx) }()
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil || *st.Output != `"done"` {
		t.Fatalf("%+v %v", st, err)
	}
}

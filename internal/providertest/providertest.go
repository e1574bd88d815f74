// Package providertest is the contract test suite that every backend runs:
// real workers and clients drive the samples and every client operation
// through the provider.Backend contract, and every history they leave
// behind must replay against the code that wrote it.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
	"github.com/azdurable/azdurable/worker"
)

// Factory returns a fresh backend (a new task hub) for one test.
type Factory func(t *testing.T) provider.Backend

// Waiter waits for the "Go" event and returns its data.
var Waiter = durable.NewOrchestration("PTWaiter", func(ctx durable.Context, _ string) (string, error) {
	return durable.WaitForEvent[string](ctx, "Go").Await(ctx)
})

// ParentOfWaiter starts a Waiter child and waits for it.
var ParentOfWaiter = durable.NewOrchestration("PTParent", func(ctx durable.Context, childID string) (string, error) {
	out, err := Waiter.CallSub(ctx, "", durable.WithInstanceID(childID)).Await(ctx)
	return "parent:" + out, err
})

// Counter continues as new until 3.
var Counter = durable.NewOrchestration("PTCounter", func(ctx durable.Context, n int) (int, error) {
	if n < 3 {
		return 0, durable.ContinueAsNew(ctx, n+1)
	}
	return n, nil
})

// EchoLen returns the length of its input.
var EchoLen = durable.NewActivity("PTEchoLen", func(_ context.Context, s string) (int, error) { return len(s), nil })

// Big passes a large input through an activity and returns a large output.
var Big = durable.NewOrchestration("PTBig", func(ctx durable.Context, s string) (string, error) {
	n, err := EchoLen.Call(ctx, s).Await(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%s", n, s), nil
})

var failing = durable.NewActivity("PTFail", func(_ context.Context, s string) (string, error) {
	return "", fmt.Errorf("card declined: %s", s)
})

// Uncaught fails with its activity's failure.
var Uncaught = durable.NewOrchestration("PTUncaught", func(ctx durable.Context, s string) (string, error) {
	return failing.Call(ctx, s).Await(ctx)
})

func registrations() []durable.Registrable {
	return append(samples.All(indexing.NewMemoryStore()), Waiter, ParentOfWaiter, Counter, EchoLen, Big, failing, Uncaught)
}

type fixture struct {
	t  *testing.T
	be provider.Backend
	c  *client.Client
	// regs are what the worker hosts, for replaying histories.
	regs []durable.Registrable
}

func start(t *testing.T, f Factory) *fixture {
	t.Helper()
	be := f(t)
	w := worker.New(be, worker.Options{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ShutdownTimeout: 10 * time.Second})
	regs := registrations()
	if err := w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &fixture{t: t, be: be, c: client.New(be, client.Options{}), regs: regs}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (f *fixture) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	f.t.Cleanup(cancel)
	return ctx
}

func (f *fixture) wait(id string) *client.State {
	f.t.Helper()
	st, err := f.c.WaitForCompletion(f.ctx(), id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		f.t.Fatalf("waiting for %s: %v", id, err)
	}
	f.replays(id)
	return st
}

func (f *fixture) waitFor(id, what string, cond func(*client.State) bool) *client.State {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	delay := 20 * time.Millisecond
	for {
		st, err := f.c.GetState(context.Background(), id)
		if err == nil && cond(st) {
			return st
		}
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			f.t.Fatalf("state of %s: %v", id, err)
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: timed out waiting for %s (last state %+v)", id, what, st)
		}
		t := time.NewTimer(delay)
		<-t.C
		if delay < 300*time.Millisecond {
			delay *= 2
		}
	}
}

// replays checks the instance's stored history against the code.
func (f *fixture) replays(id string) {
	f.t.Helper()
	events, err := f.c.History(context.Background(), id, "")
	if err != nil {
		f.t.Fatalf("history of %s: %v", id, err)
	}
	if err := durabletest.ReplayEvents(events, f.regs); err != nil {
		f.t.Errorf("the stored history of %s does not replay: %v", id, err)
	}
}

func (f *fixture) schedule(name string, in any, opts ...client.StartOption) string {
	f.t.Helper()
	id, err := f.c.ScheduleNew(f.ctx(), name, in, opts...)
	if err != nil {
		f.t.Fatalf("starting %s: %v", name, err)
	}
	return id
}

func output(st *client.State) string {
	if st.Output == nil {
		return "<nil>"
	}
	return *st.Output
}

// Run runs the whole suite.
func Run(t *testing.T, f Factory) {
	t.Run("Samples", func(t *testing.T) { testSamples(t, f) })
	t.Run("ClientOperations", func(t *testing.T) { testClientOperations(t, f) })
	t.Run("Payloads", func(t *testing.T) { testPayloads(t, f) })
}

func testSamples(t *testing.T, f Factory) {
	x := start(t, f)
	ids := map[string]string{
		"hello":    x.schedule(hellocities.HelloCities.Name(), "cities"),
		"indexing": x.schedule(indexing.IndexRepositories.Name(), "contoso"),
		"shipped":  x.schedule(orders.ProcessOrder.Name(), orders.Order{ID: "o1", Item: "widget", Quantity: 1, Amount: 3}),
		"refunded": x.schedule(orders.ProcessOrder.Name(), orders.Order{ID: "o2", Item: "widget", Quantity: 1, Amount: 3, ShippingFails: true}),
		"monitor":  x.schedule(monitor.Monitor.Name(), monitor.Job{ID: "j", ReadyAfterChecks: 2, IntervalSeconds: 1}),
		"approval": x.schedule(approval.Approval.Name(), approval.Request{ID: "r", Requester: "ann", TimeoutSeconds: 120}),
		"counter":  x.schedule(Counter.Name(), 0),
		"failed":   x.schedule(Uncaught.Name(), "order-2"),
	}
	x.waitFor(ids["approval"], "the approval wait", func(s *client.State) bool {
		return s.CustomStatus != nil && strings.Contains(*s.CustomStatus, "waiting")
	})
	if err := x.c.RaiseEvent(x.ctx(), ids["approval"], "Approval", approval.Decision{Approved: true, By: "bob"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]func(*client.State) bool{
		"hello": func(s *client.State) bool {
			return s.Status == client.Completed && output(s) == `["Hello Tokyo!","Hello Seattle!","Hello London!"]`
		},
		"indexing": func(s *client.State) bool {
			return s.Status == client.Completed && strings.Contains(output(s), `"frontend":27`)
		},
		"shipped":  func(s *client.State) bool { return strings.Contains(output(s), `"status":"shipped"`) },
		"refunded": func(s *client.State) bool { return strings.Contains(output(s), `"status":"refunded"`) },
		"monitor":  func(s *client.State) bool { return strings.Contains(output(s), `"status":"ready","checks":2`) },
		"approval": func(s *client.State) bool { return strings.Contains(output(s), `"status":"approved","by":"bob"`) },
		"counter":  func(s *client.State) bool { return s.Status == client.Completed && output(s) == "3" },
		"failed":   func(s *client.State) bool { return s.Status == client.Failed && output(s) == "card declined: order-2" },
	}
	for name, id := range ids {
		st := x.wait(id)
		if !want[name](st) {
			t.Errorf("%s: %s %s", name, st.Status, output(st))
		}
	}
	// Continue-as-new keeps only the last generation: one ExecutionStarted.
	h, _ := x.c.History(x.ctx(), ids["counter"], "")
	starts := 0
	for _, ev := range h {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			starts++
			if history.Deref(es.Input) != "3" || es.Generation != nil {
				t.Errorf("the last generation starts with input %s, generation %v", history.Deref(es.Input), es.Generation)
			}
		}
	}
	if starts != 1 {
		t.Errorf("continue-as-new history has %d ExecutionStarted events", starts)
	}
}

func testClientOperations(t *testing.T, f Factory) {
	x := start(t, f)
	ctx := x.ctx()

	// Terminate a waiting instance.
	term := x.schedule(Waiter.Name(), "")
	x.waitFor(term, "running", func(s *client.State) bool { return s.Status == client.Running })
	if err := x.c.Terminate(ctx, term, "operator request"); err != nil {
		t.Fatal(err)
	}
	if st := x.wait(term); st.Status != client.Terminated || output(st) != "operator request" {
		t.Errorf("terminate: %s %s", st.Status, output(st))
	}

	// Recursive terminate reaches the child.
	parent := x.schedule(ParentOfWaiter.Name(), "pt-child-"+term)
	child := "pt-child-" + term
	x.waitFor(child, "the child running", func(s *client.State) bool { return s.Status == client.Running })
	if err := x.c.Terminate(ctx, parent, "stop all", client.Recursive()); err != nil {
		t.Fatal(err)
	}
	if st := x.wait(parent); st.Status != client.Terminated {
		t.Errorf("recursive terminate: parent %s", st.Status)
	}
	if st := x.wait(child); st.Status != client.Terminated || output(st) != "stop all" {
		t.Errorf("recursive terminate: child %s %s", st.Status, output(st))
	}

	// Suspend: an event raised while suspended is applied after resume.
	susp := x.schedule(Waiter.Name(), "")
	x.waitFor(susp, "running", func(s *client.State) bool { return s.Status == client.Running })
	if err := x.c.Suspend(ctx, susp, "pause"); err != nil {
		t.Fatal(err)
	}
	x.waitFor(susp, "suspended", func(s *client.State) bool { return s.Status == client.Suspended })
	if err := x.c.RaiseEvent(ctx, susp, "Go", "resumed-data"); err != nil {
		t.Fatal(err)
	}
	// The event is recorded but the instance stays suspended.
	x.waitFor(susp, "the event recorded while suspended", func(s *client.State) bool {
		h, _ := x.c.History(ctx, susp, "")
		for _, ev := range h {
			if ev.Type() == history.EventRaised {
				return s.Status == client.Suspended
			}
		}
		return false
	})
	if err := x.c.Resume(ctx, susp, "continue"); err != nil {
		t.Fatal(err)
	}
	if st := x.wait(susp); st.Status != client.Completed || output(st) != `"resumed-data"` {
		t.Errorf("suspend/resume: %s %s", st.Status, output(st))
	}

	// Scheduled start: Pending until its time, then runs.
	at := time.Now().UTC().Add(3 * time.Second)
	sched := x.schedule(hellocities.HelloCities.Name(), "later", client.WithStartAt(at))
	if st, err := x.c.GetState(ctx, sched); err != nil || st.Status != client.Pending || st.ScheduledStartAt == nil {
		t.Errorf("scheduled start: %+v %v", st, err)
	}
	st := x.wait(sched)
	if st.Status != client.Completed {
		t.Errorf("scheduled start: %s", st.Status)
	}
	h, _ := x.c.History(ctx, sched, "")
	if started := h[0].Base().Timestamp; started.Before(at.Add(-time.Second)) {
		t.Errorf("the scheduled instance ran at %v, before its start time %v", started, at)
	}

	// Terminate before a scheduled start: Terminated without running.
	later := x.schedule(hellocities.HelloCities.Name(), "x", client.WithStartAt(time.Now().Add(time.Hour)))
	if err := x.c.Terminate(ctx, later, "never mind"); err != nil {
		t.Fatal(err)
	}
	x.waitFor(later, "terminated before it started", func(s *client.State) bool { return s.Status == client.Terminated })

	// Dedupe and re-creation.
	if _, err := x.c.ScheduleNew(ctx, Waiter.Name(), "", client.WithInstanceID(susp+"-again")); err != nil {
		t.Fatal(err)
	}
	x.waitFor(susp+"-again", "running", func(s *client.State) bool { return s.Status == client.Running })
	if _, err := x.c.ScheduleNew(ctx, Waiter.Name(), "", client.WithInstanceID(susp+"-again")); !errors.Is(err, client.ErrInstanceExists) {
		t.Errorf("a second start of a running id gave %v", err)
	}
	if _, err := x.c.ScheduleNew(ctx, hellocities.HelloCities.Name(), "", client.WithInstanceID(term)); err != nil {
		t.Fatalf("re-creating a terminated id: %v", err)
	}
	if st := x.wait(term); st.Status != client.Completed || st.Generation == nil || *st.Generation != 1 {
		t.Errorf("re-created instance: %s generation %v", st.Status, st.Generation)
	}

	// Query by status and prefix, one per page.
	var seen []string
	for s, err := range x.c.Query(ctx, client.Query{Statuses: []client.Status{client.Terminated}, PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, s.InstanceID)
	}
	if len(seen) != 3 {
		t.Errorf("terminated instances: %v", seen)
	}
	n := 0
	for s, err := range x.c.Query(ctx, client.Query{InstanceIDPrefix: "pt-child-"}) {
		if err != nil || !strings.HasPrefix(s.InstanceID, "pt-child-") {
			t.Fatalf("prefix query: %v %v", s, err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("prefix query found %d", n)
	}

	// Purge one, then by filter.
	res, err := x.c.Purge(ctx, sched)
	if err != nil || res.InstancesDeleted != 1 || res.RowsDeleted == 0 {
		t.Errorf("purge: %+v %v", res, err)
	}
	if _, err := x.c.GetState(ctx, sched); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("state after purge: %v", err)
	}
	if h, err := x.c.History(ctx, sched, ""); err == nil && len(h) > 0 {
		t.Errorf("history after purge: %d events", len(h))
	}
	if _, err := x.c.PurgeWhere(ctx, client.PurgeFilter{}); !errors.Is(err, provider.ErrPurgeNeedsStatuses) {
		t.Errorf("purge without statuses: %v", err)
	}
	res, err = x.c.PurgeWhere(ctx, client.PurgeFilter{Statuses: []client.Status{client.Terminated}})
	if err != nil || res.InstancesDeleted != 3 {
		t.Errorf("purge terminated: %+v %v", res, err)
	}
	if _, err := x.c.GetState(ctx, susp+"-again"); err != nil {
		t.Errorf("a running instance was purged: %v", err)
	}
}

func testPayloads(t *testing.T, f Factory) {
	x := start(t, f)
	big := strings.Repeat("z", 1<<20)
	id := x.schedule(Big.Name(), big)
	st := x.wait(id)
	if st.Status != client.Completed || output(st) != fmt.Sprintf(`"%d:%s"`, len(big), big) {
		t.Fatalf("1 MiB round trip: %s, output of %d bytes", st.Status, len(output(st)))
	}
	if st.Input == nil || *st.Input != `"`+big+`"` {
		t.Errorf("the 1 MiB input does not read back (%d bytes)", len(history.Deref(st.Input)))
	}
}

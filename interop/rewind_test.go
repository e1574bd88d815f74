//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/worker"
)

// Rewind across the languages: instances that failed on a C# worker are
// rewound by the Go client and finished by a Go worker, and instances that
// failed on a Go worker are rewound by `dtfx-ref rewind` and finished by a
// C# worker.
func TestRewindInterop(t *testing.T) {
	dtfxRef(t)
	t.Run("FailedOnCSharp", func(t *testing.T) { t.Parallel(); rewindFailedOnCSharp(t) })
	t.Run("FailedOnGo", func(t *testing.T) { t.Parallel(); rewindFailedOnGo(t) })
}

// retriedUncaught is the reference Retried (#0 Fail, #1 timer 1 s, #2
// Fail, #3 timer) without its catch: the instance fails after the retries.
// Registered under C#'s name, it leaves a history the C# Retried replays.
var retriedUncaught = durable.NewOrchestration("Retried", func(ctx durable.Context, s string) (string, error) {
	var last error
	for _, wait := range []time.Duration{time.Second, 0} {
		_, err := conformance.Fail.Call(ctx, s).Await(ctx)
		if err == nil {
			return "", errors.New("Fail succeeded")
		}
		last = err
		if err := durable.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
	return "", last
})

// startGoWorkerWith starts a Go worker with the given registrations, and
// the replacements registered in place of those of their names.
func startGoWorkerWith(t *testing.T, st store, hub string, partitions int, id string, regs []durable.Registrable, replace ...durable.Registrable) *goWorker {
	t.Helper()
	g := &goWorker{id: id, logs: newTail(400), done: make(chan error, 1)}
	dumpOnFailure(t, "Go worker "+id, g.logs)
	log := slog.New(&recorder{t: g.logs})
	var err error
	if g.be, err = azurestorage.New(goOptions(st.acct, hub, partitions, id, log)); err != nil {
		t.Fatal(err)
	}
	g.w = worker.New(g.be, worker.Options{Logger: log, ShutdownTimeout: time.Minute})
	if err := g.w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	if err := g.w.Replace(replace...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { g.done <- g.w.Run(ctx) }()
	t.Cleanup(func() { g.stop(t) })
	return g
}

func waitStatus(t *testing.T, gc *client.Client, timeout time.Duration, id string, want client.Status) *client.State {
	t.Helper()
	var last *client.State
	poll(t, timeout, id+" to be "+want.String(), func() (bool, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := gc.GetState(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			return false, "not found", nil
		}
		if err != nil {
			return false, "", err
		}
		last = st
		return st.Status == want, describeState(gc, id), nil
	})
	return last
}

func rewindFailedOnCSharp(t *testing.T) {
	const partitions = 4
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	names := taskhub.MustNames(hub)
	tsvc, err := st.acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	gc := goClient(t, st.acct, hub, partitions)
	c := newCS(t, st, hub, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := c.run(3*time.Minute, false, nil, "create"); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote

	// On C#: Uncaught fails in its activity; ParentOfWaiter fails because
	// its Waiter child is terminated (the parent gets a
	// SubOrchestrationInstanceFailed).
	if err := c.start("Uncaught", "a-uncaught", q("a1")); err != nil {
		t.Fatal(err)
	}
	if err := c.start("ParentOfWaiter", "a-pow", q("a-pow-w")); err != nil {
		t.Fatal(err)
	}
	w := startCSWorker(t, c, "cs-rewind-a")
	waitStatus(t, gc, 2*time.Minute, "a-pow-w", client.Running)
	if err := c.run(3*time.Minute, false, nil, "terminate", "--id", "a-pow-w", "--reason", "operator"); err != nil {
		t.Fatal(err)
	}
	waitCS(t, c, 2*time.Minute, []expect{{id: "a-uncaught", status: "Failed", output: conformance.FailReason("a1"), waitsFor: "C# to fail it"}})
	waitStatus(t, gc, 2*time.Minute, "a-pow", client.Failed)
	w.stop(t)
	before := historyRows(t, ctx, tsvc, names, "a-uncaught")

	// The Go client's rewind, with no worker running: it rewrites C#'s rows
	// exactly as C# does.
	for id, reason := range map[string]string{"a-uncaught": "fixed", "a-pow": ""} {
		if err := gc.Rewind(ctx, id, reason); err != nil {
			t.Fatalf("rewind %s: %v", id, err)
		}
	}
	after := historyRows(t, ctx, tsvc, names, "a-uncaught")
	checkRewoundRows(t, "a-uncaught", before, after, map[string]bool{"TaskScheduled": true, "TaskFailed": true, "ExecutionCompleted": true})

	// A Go worker whose Fail now succeeds finishes both.
	g := startGoWorkerWith(t, st, hub, partitions, "go-rewind-a", conformance.Registrations(),
		durable.NewActivity("Fail", func(_ context.Context, s string) (string, error) { return "paid: " + s, nil }))

	waitStatus(t, gc, 2*time.Minute, "a-pow-w", client.Running)
	if err := gc.RaiseEvent(ctx, "a-pow-w", "Ping", json.RawMessage(q("pinged"))); err != nil {
		t.Fatal(err)
	}
	exps := []expect{
		{id: "a-uncaught", status: "Completed", output: q("paid: a1"), waitsFor: "the Go worker to run Fail again"},
		{id: "a-pow", status: "Completed", output: q("parent:pinged"), waitsFor: "the Go worker to create its child again"},
	}
	waitGo(t, gc, 2*time.Minute, exps)
	g.stop(t)
	waitCS(t, c, 3*time.Minute, exps)

	// C# reads the rewound history: the failure is a GenericEvent.
	_, evs, err := c.history("a-uncaught")
	if err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(evs); !strings.HasPrefix(got, "[OrchestratorStarted ExecutionStarted GenericEvent OrchestratorCompleted OrchestratorStarted GenericEvent GenericEvent OrchestratorCompleted OrchestratorStarted GenericEvent TaskScheduled") {
		t.Errorf("a-uncaught as C# reads it: %s", got)
	}
}

// checkRewoundRows compares an instance's History rows before and after a
// rewind: the rows of the given types became GenericEvents marked
// "Rewound: <type>" with every other column unchanged, and the other rows
// did not change.
func checkRewoundRows(t *testing.T, id string, before, after []map[string]any, rewound map[string]bool) {
	t.Helper()
	key := func(r map[string]any) string { return fmt.Sprint(r["RowKey"]) }
	byKey := map[string]map[string]any{}
	for _, r := range after {
		byKey[key(r)] = r
	}
	if len(before) != len(after) {
		t.Errorf("%s: %d rows before the rewind, %d after", id, len(before), len(after))
	}
	for _, b := range before {
		a := byKey[key(b)]
		want := map[string]any{}
		for k, v := range b {
			want[k] = v
		}
		if typ, _ := b["EventType"].(string); rewound[typ] {
			want["EventType"] = "GenericEvent"
			want["Reason"] = "Rewound: " + typ
		}
		for _, k := range []string{"Timestamp", "odata.etag"} {
			delete(want, k)
			delete(a, k)
		}
		if !reflect.DeepEqual(want, a) {
			t.Errorf("%s row %s after the rewind:\n got %v\nwant %v", id, key(b), a, want)
		}
	}
}

func rewindFailedOnGo(t *testing.T) {
	const partitions = 4
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	gc := goClient(t, st.acct, hub, partitions)
	c := newCS(t, st, hub, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := c.run(3*time.Minute, false, nil, "create"); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote

	// On Go: SayHello fails, so HelloCities fails in its first activity
	// and Parent in its child; Retried fails after its retries.
	var regs []durable.Registrable
	for _, r := range conformance.Registrations() {
		if r != conformance.Retried {
			regs = append(regs, r)
		}
	}
	regs = append(regs, retriedUncaught)
	g := startGoWorkerWith(t, st, hub, partitions, "go-rewind-b", regs,
		durable.NewActivity("SayHello", func(_ context.Context, s string) (string, error) { return "", errors.New("no greeting for " + s) }))
	for _, k := range []struct{ name, id, input string }{
		{"HelloCities", "b-hello", q("b")}, {"Parent", "b-parent", q("kid")}, {"Retried", "b-retried", q("r")},
		{"Retried", "b-retried-go", q("g")},
	} {
		if _, err := gc.ScheduleNew(ctx, k.name, json.RawMessage(k.input), client.WithInstanceID(k.id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"b-hello", "b-parent", "b-retried", "b-retried-go"} {
		waitStatus(t, gc, 2*time.Minute, id, client.Failed)
	}
	g.stop(t)
	// One instance that failed after retries is rewound by the Go client:
	// it removes the retries' timers too, and C# replays the result.
	if err := gc.Rewind(ctx, "b-retried-go", "go"); err != nil {
		t.Fatal(err)
	}

	// C# rewinds, and a C# worker finishes.
	for _, id := range []string{"b-hello", "b-parent", "b-retried"} {
		if err := c.run(3*time.Minute, false, nil, "rewind", "--id", id, "--reason", "csharp"); err != nil {
			t.Fatal(err)
		}
	}
	w := startCSWorker(t, c, "cs-rewind-b")
	if err := c.raise("b-parent", "Approval", q("yes")); err != nil {
		t.Fatal(err)
	}
	exps := []expect{
		{id: "b-hello", status: "Completed", output: `["Hello Tokyo!","Hello Seattle!","Hello London!"]`, waitsFor: "C# to run SayHello again"},
		{id: "b-parent", status: "Completed", output: q("Hello kid-child!|yes"), waitsFor: "C# to run the child again, then Approval"},
		{id: "b-retried-go", status: "Completed", output: q("retried: " + conformance.FailReason("g")), waitsFor: "C# to run Retried again"},
	}
	waitCS(t, c, 2*time.Minute, exps)
	waitGo(t, gc, 3*time.Minute, exps)

	// C#'s rule keeps the retry timers: its own worker then fails the
	// instance again for non-determinism.
	again, err := c.wait("b-retried", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != "Failed" || again.Output == nil || !strings.Contains(*again.Output, "Non-Deterministic") {
		t.Fatalf("b-retried after C#'s rewind: %s %v; C# was expected to fail it again for non-determinism", again.Status, again.Output)
	}
	// The Go client's rewind also removes the retries' timers; the C#
	// worker then replays the history and finishes the instance.
	if err := gc.Rewind(ctx, "b-retried", "go"); err != nil {
		t.Fatal(err)
	}
	retried := []expect{{id: "b-retried", status: "Completed", output: q("retried: " + conformance.FailReason("r")),
		waitsFor: "C# to run Retried again after the Go client's rewind"}}
	waitCS(t, c, 2*time.Minute, retried)
	waitGo(t, gc, 3*time.Minute, retried)
	w.stop(t)
}

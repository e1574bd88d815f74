package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/tracing"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The caller's trace: the client continues it.
const callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
const callerParent = "00-" + callerTraceID + "-00f067aa0ba902b7-01"

var hello = durable.NewActivity("Hello", func(_ context.Context, s string) (string, error) { return "hi " + s, nil })

var chain = durable.NewOrchestration("Chain", func(ctx durable.Context, s string) (string, error) {
	a, err := hello.Call(ctx, s).Await(ctx)
	if err != nil {
		return "", err
	}
	b, err := hello.Call(ctx, a).Await(ctx)
	if err != nil {
		return "", err
	}
	if _, err := durable.NewTimer(ctx, time.Millisecond).Await(ctx); err != nil {
		return "", err
	}
	return hello.Call(ctx, b).Await(ctx)
})

var fanOut = durable.NewOrchestration("FanOut", func(ctx durable.Context, n int) (int, error) {
	var fs []durable.Future[string]
	for i := range n {
		fs = append(fs, hello.Call(ctx, strings.Repeat("x", i)))
	}
	for _, f := range fs {
		if _, err := f.Await(ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
})

var parent = durable.NewOrchestration("Parent", func(ctx durable.Context, s string) (string, error) {
	return durable.CallSubOrchestrator[string](ctx, "Chain", s).Await(ctx)
})

// recorder turns tracing on for one test, with the in-memory recorder.
func recorder(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := tracing.NewProvider(sdktrace.WithSpanProcessor(rec))
	tracing.Set(tp)
	t.Cleanup(func() { tracing.Set(nil); _ = tp.Shutdown(context.Background()) })
	return rec
}

type hub struct {
	c *client.Client
	w *worker.Worker
}

func start(t *testing.T, opts worker.Options) *hub {
	t.Helper()
	be := memory.New(memory.Options{})
	w := worker.New(be, opts)
	if err := w.Register(hello, chain, fanOut, parent, boom, failing, waiter); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &hub{c: client.New(be, client.Options{}), w: w}
}

func (h *hub) run(t *testing.T, name string, in any, opts ...client.StartOption) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := h.c.ScheduleNew(ctx, name, in, opts...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil || st.Status != client.Completed {
		t.Fatalf("%s: %+v %v", name, st, err)
	}
	return id
}

// exported waits until the orchestration span of instance id has been
// exported: the worker exports it after the commit that the client sees.
func exported(t *testing.T, rec *tracetest.SpanRecorder, name, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for _, sp := range rec.Ended() {
			if sp.Name() == name && sp.SpanKind() == trace.SpanKindServer && (id == "" || attr(sp, tracing.AttrInstanceID) == id) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the span %s of %q was never exported", name, id)
		}
		tm := time.NewTimer(5 * time.Millisecond)
		<-tm.C
	}
}

// spans indexes the ended spans of one trace.
type spans struct {
	t    *testing.T
	all  []sdktrace.ReadOnlySpan
	byID map[trace.SpanID]sdktrace.ReadOnlySpan
}

func ended(t *testing.T, rec *tracetest.SpanRecorder, traceID string) *spans {
	s := &spans{t: t, byID: map[trace.SpanID]sdktrace.ReadOnlySpan{}}
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID().String() != traceID {
			continue
		}
		if _, dup := s.byID[sp.SpanContext().SpanID()]; dup {
			t.Errorf("span %s (%s) exported twice", sp.Name(), sp.SpanContext().SpanID())
		}
		s.byID[sp.SpanContext().SpanID()] = sp
		s.all = append(s.all, sp)
	}
	return s
}

func (s *spans) named(name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.all {
		if sp.Name() == name && sp.SpanKind() == kind {
			out = append(out, sp)
		}
	}
	return out
}

func (s *spans) one(name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	s.t.Helper()
	got := s.named(name, kind)
	if len(got) != 1 {
		s.t.Fatalf("%d spans %q (%s), want 1; all: %v", len(got), name, kind, s.names())
	}
	return got[0]
}

func (s *spans) names() []string {
	var out []string
	for _, sp := range s.all {
		out = append(out, sp.Name()+"/"+sp.SpanKind().String())
	}
	return out
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func childOf(t *testing.T, c, p sdktrace.ReadOnlySpan) {
	t.Helper()
	if c.Parent().SpanID() != p.SpanContext().SpanID() {
		t.Errorf("%s (%s) has parent %s, want %s (%s)", c.Name(), c.SpanKind(), c.Parent().SpanID(), p.Name(), p.SpanContext().SpanID())
	}
}

// checkChain checks the spans of one Chain instance under orch.
func checkChain(t *testing.T, s *spans, orch sdktrace.ReadOnlySpan, id string) {
	t.Helper()
	clients := s.named("activity:Hello", trace.SpanKindClient)
	servers := s.named("activity:Hello", trace.SpanKindServer)
	var mine []sdktrace.ReadOnlySpan
	for _, c := range clients {
		if attr(c, tracing.AttrInstanceID) == id {
			mine = append(mine, c)
		}
	}
	if len(mine) != 3 {
		t.Fatalf("%d activity client spans of %s, want 3: %v", len(mine), id, s.names())
	}
	for _, c := range mine {
		childOf(t, c, orch)
		if attr(c, tracing.AttrType) != "activity" || attr(c, tracing.AttrName) != "Hello" || attr(c, tracing.AttrTaskID) == "" {
			t.Errorf("activity client span attributes %v", c.Attributes())
		}
		n := 0
		for _, sv := range servers {
			if sv.Parent().SpanID() == c.SpanContext().SpanID() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d activity executions under the client span %s, want 1", n, c.SpanContext().SpanID())
		}
	}
	timers := 0
	for _, tm := range s.named("orchestration:Chain:timer", trace.SpanKindInternal) {
		if attr(tm, tracing.AttrInstanceID) == id {
			timers++
			childOf(t, tm, orch)
			if attr(tm, tracing.AttrFireAt) == "" || attr(tm, tracing.AttrType) != "timer" {
				t.Errorf("timer attributes %v", tm.Attributes())
			}
		}
	}
	if timers != 1 {
		t.Errorf("%d timer spans, want 1", timers)
	}
}

// A chain started under a caller's traceparent: create_orchestration is
// the caller's child, the orchestration the create span's, each activity
// a client span of the orchestration with its execution under it; every
// span once, although the worker replays the history at each episode
// (the cache is off).
func TestChainContinuesTheCallersTrace(t *testing.T) {
	for _, cache := range []bool{true, false} {
		rec := recorder(t)
		h := start(t, worker.Options{Cache: worker.CacheOptions{Disabled: !cache}})
		id := h.run(t, "Chain", "a", client.WithTraceParent(callerParent))
		exported(t, rec, "orchestration:Chain", id)
		s := ended(t, rec, callerTraceID)
		create := s.one("create_orchestration:Chain", trace.SpanKindProducer)
		if create.Parent().SpanID().String() != "00f067aa0ba902b7" || attr(create, tracing.AttrInstanceID) != id {
			t.Errorf("create span: parent %s, attributes %v", create.Parent().SpanID(), create.Attributes())
		}
		orch := s.one("orchestration:Chain", trace.SpanKindServer)
		childOf(t, orch, create)
		if attr(orch, tracing.AttrStatus) != "Completed" || attr(orch, tracing.AttrType) != "orchestration" {
			t.Errorf("orchestration attributes %v", orch.Attributes())
		}
		checkChain(t, s, orch, id)
		if len(s.all) != 2+3+3+1 {
			t.Errorf("cache %v: %d spans, want 9: %v", cache, len(s.all), s.names())
		}
	}
}

// A fan-out: each parallel activity has its own client span and its
// execution under it.
func TestFanOut(t *testing.T) {
	rec := recorder(t)
	h := start(t, worker.Options{})
	id := h.run(t, "FanOut", 5, client.WithTraceParent(callerParent))
	exported(t, rec, "orchestration:FanOut", id)
	s := ended(t, rec, callerTraceID)
	orch := s.one("orchestration:FanOut", trace.SpanKindServer)
	clients := s.named("activity:Hello", trace.SpanKindClient)
	servers := s.named("activity:Hello", trace.SpanKindServer)
	if len(clients) != 5 || len(servers) != 5 {
		t.Fatalf("%d client and %d server activity spans, want 5 each", len(clients), len(servers))
	}
	for i, c := range clients {
		childOf(t, c, orch)
		_ = i
	}
	parents := map[trace.SpanID]bool{}
	for _, sv := range servers {
		parents[sv.Parent().SpanID()] = true
		if _, ok := s.byID[sv.Parent().SpanID()]; !ok {
			t.Errorf("an activity execution's parent %s is not among the spans", sv.Parent().SpanID())
		}
	}
	if len(parents) != 5 {
		t.Errorf("activity executions share parents: %v", parents)
	}
}

// A sub-orchestration: the parent's client span for the child, the
// child's orchestration span under it, the child's activities under that.
func TestSubOrchestration(t *testing.T) {
	rec := recorder(t)
	h := start(t, worker.Options{})
	id := h.run(t, "Parent", "p")
	exported(t, rec, "orchestration:Parent", id)
	exported(t, rec, "orchestration:Chain", "") // the child exports after its commit, maybe after the parent
	var traceID string
	for _, sp := range rec.Ended() {
		if sp.Name() == "create_orchestration:Parent" {
			traceID = sp.SpanContext().TraceID().String()
		}
	}
	s := ended(t, rec, traceID)
	porch := s.one("orchestration:Parent", trace.SpanKindServer)
	call := s.one("orchestration:Chain", trace.SpanKindClient)
	childOf(t, call, porch)
	corch := s.one("orchestration:Chain", trace.SpanKindServer)
	childOf(t, corch, call)
	checkChain(t, s, corch, attr(corch, tracing.AttrInstanceID))
}

// Off (no provider): no span, and the history is what it was without
// tracing: no trace context where the caller gave none.
func TestOffLeavesHistoryAlone(t *testing.T) {
	tracing.Set(nil)
	h := start(t, worker.Options{})
	id := h.run(t, "Chain", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	evs, err := h.c.History(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			if v.ParentTraceContext != nil {
				t.Errorf("ExecutionStarted carries %+v", v.ParentTraceContext)
			}
		case *history.TaskScheduledEvent:
			if v.ParentTraceContext != nil {
				t.Errorf("TaskScheduled carries %+v", v.ParentTraceContext)
			}
		}
	}
}

var boom = durable.NewActivity("Boom", func(_ context.Context, _ string) (string, error) { return "", errors.New("no luck") })

var failing = durable.NewOrchestration("Failing", func(ctx durable.Context, s string) (string, error) {
	return boom.Call(ctx, s).Await(ctx)
})

// A failed activity and the orchestration it fails carry error status and
// the failure's message; the orchestration's status attribute says Failed.
func TestFailureStatus(t *testing.T) {
	rec := recorder(t)
	h := start(t, worker.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := h.c.ScheduleNew(ctx, "Failing", "x", client.WithTraceParent(callerParent))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := h.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond)); err != nil || st.Status != client.Failed {
		t.Fatalf("%+v %v", st, err)
	}
	exported(t, rec, "orchestration:Failing", id)
	s := ended(t, rec, callerTraceID)
	for _, sp := range []sdktrace.ReadOnlySpan{s.one("activity:Boom", trace.SpanKindServer), s.one("activity:Boom", trace.SpanKindClient),
		s.one("orchestration:Failing", trace.SpanKindServer)} {
		if sp.Status().Code != codes.Error || !strings.Contains(sp.Status().Description, "no luck") {
			t.Errorf("%s (%s): status %+v", sp.Name(), sp.SpanKind(), sp.Status())
		}
	}
	if got := attr(s.one("orchestration:Failing", trace.SpanKindServer), tracing.AttrStatus); got != "Failed" {
		t.Errorf("status attribute %q", got)
	}
}

var waiter = durable.NewOrchestration("Waiter", func(ctx durable.Context, _ string) (string, error) {
	return durable.WaitForEvent[string](ctx, "go").Await(ctx)
})

// An event raised by the client is a producer span under the caller's
// span, naming the target instance.
func TestRaiseEventSpan(t *testing.T) {
	rec := recorder(t)
	h := start(t, worker.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := h.c.ScheduleNew(ctx, "Waiter", "")
	if err != nil {
		t.Fatal(err)
	}
	caller, _ := tracing.ParseTraceParent(callerParent, "")
	if err := h.c.RaiseEvent(trace.ContextWithRemoteSpanContext(ctx, caller), id, "go", "now"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	sp := ended(t, rec, callerTraceID).one("orchestration_event:go", trace.SpanKindProducer)
	if sp.Parent().SpanID() != caller.SpanID() || attr(sp, tracing.AttrEventTargetID) != id || attr(sp, tracing.AttrType) != "event" {
		t.Errorf("event span under %s, attributes %v", sp.Parent().SpanID(), sp.Attributes())
	}
}

package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/tracing"
	"go.opentelemetry.io/otel/trace"
)

// A history as a C# worker leaves it after the first episode, in
// DurableTask.Core's JSON: the ExecutionStarted names the caller's span
// (TraceParent, TraceState) and the orchestration span C# picked (Id,
// SpanId, ActivityStartTime); the TaskScheduled names the activity's
// client span. The fixture is written by hand: the recorded C# rows carry
// no trace context.
const (
	fxTrace      = "0af7651916cd43dd8448eb211c80319c"
	fxCaller     = "b7ad6b7169203331"
	fxOrch       = "53995c3f42cd8ad8"
	fxClientSpan = "c0ffee0123456789"
	fxStarted    = `{"$type":"DurableTask.Core.History.ExecutionStartedEvent, DurableTask.Core",` +
		`"OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance, DurableTask.Core","InstanceId":"fx","ExecutionId":"e1"},` +
		`"EventType":0,"ParentInstance":null,"Name":"Chain","Version":"","Input":"\"a\"","Tags":null,` +
		`"ParentTraceContext":{"$type":"DurableTask.Core.Tracing.DistributedTraceContext, DurableTask.Core",` +
		`"TraceParent":"00-` + fxTrace + `-` + fxCaller + `-01","TraceState":"congo=t61rcWkgMzE",` +
		`"Id":"00-` + fxTrace + `-` + fxOrch + `-01","SpanId":"` + fxOrch + `","ActivityStartTime":"2024-05-01T12:00:00.5+00:00"},` +
		`"ScheduledStartTime":null,"Generation":0,"EventId":-1,"IsPlayed":false,"Timestamp":"2024-05-01T12:00:00.1Z"}`
	fxScheduled = `{"$type":"DurableTask.Core.History.TaskScheduledEvent, DurableTask.Core","EventType":4,"Name":"Hello","Version":"","Input":null,` +
		`"ParentTraceContext":{"$type":"DurableTask.Core.Tracing.DistributedTraceContext, DurableTask.Core",` +
		`"TraceParent":"00-` + fxTrace + `-` + fxClientSpan + `-01","TraceState":"congo=t61rcWkgMzE","Id":null,"SpanId":null,"ActivityStartTime":null},` +
		`"EventId":0,"IsPlayed":false,"Timestamp":"2024-05-01T12:00:01Z"}`
	fxCompleted = `{"$type":"DurableTask.Core.History.TaskCompletedEvent, DurableTask.Core","EventType":5,"TaskScheduledId":0,"Result":"\"hi a\"",` +
		`"EventId":-1,"IsPlayed":false,"Timestamp":"2024-05-01T12:00:02Z"}`
)

func decode(t *testing.T, s string) history.Event {
	t.Helper()
	ev, err := history.UnmarshalEvent([]byte(s))
	if err != nil {
		t.Fatalf("%v in %s", err, s)
	}
	return ev
}

// Go continues a trace that C# began: the activity's execution is the
// child of C#'s client span, the client span keeps C#'s id under C#'s
// orchestration span, and the orchestration span is the one C# named,
// from the start time C# recorded.
func TestContinuesDurableTaskCoreTraceContext(t *testing.T) {
	rec := recorder(t)
	start := decode(t, fxStarted).(*history.ExecutionStartedEvent)
	scheduled := decode(t, fxScheduled).(*history.TaskScheduledEvent)
	completed := decode(t, fxCompleted)

	// The activity, executed by a Go worker.
	_, end := tracing.StartActivity(context.Background(), scheduled, start.OrchestrationInstance)
	end(nil)

	// The episode that receives the result and completes.
	now := time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC)
	done := &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, EventBase: history.EventBase{EventID: 1, Timestamp: now}}
	past := []history.Event{start, scheduled}
	tracing.PrepareEpisode(start, []history.Event{completed, done}, nil, now)
	tracing.EmitEpisode(start, past, []history.Event{completed, done}, now)

	s := ended(t, rec, fxTrace)
	exec := s.one("activity:Hello", trace.SpanKindServer)
	if exec.Parent().SpanID().String() != fxClientSpan || !exec.Parent().IsRemote() {
		t.Errorf("activity execution parent %s, want C#'s client span %s", exec.Parent().SpanID(), fxClientSpan)
	}
	if attr(exec, tracing.AttrInstanceID) != "fx" || attr(exec, tracing.AttrTaskID) != "0" {
		t.Errorf("activity attributes %v", exec.Attributes())
	}
	cl := s.one("activity:Hello", trace.SpanKindClient)
	if cl.SpanContext().SpanID().String() != fxClientSpan || cl.Parent().SpanID().String() != fxOrch {
		t.Errorf("activity client span %s under %s, want %s under %s", cl.SpanContext().SpanID(), cl.Parent().SpanID(), fxClientSpan, fxOrch)
	}
	if !cl.StartTime().Equal(scheduled.Timestamp) {
		t.Errorf("activity client span starts %v, want the TaskScheduled time %v", cl.StartTime(), scheduled.Timestamp)
	}
	orch := s.one("orchestration:Chain", trace.SpanKindServer)
	if orch.SpanContext().SpanID().String() != fxOrch || orch.Parent().SpanID().String() != fxCaller {
		t.Errorf("orchestration span %s under %s, want %s under %s", orch.SpanContext().SpanID(), orch.Parent().SpanID(), fxOrch, fxCaller)
	}
	if want := time.Date(2024, 5, 1, 12, 0, 0, 5e8, time.UTC); !orch.StartTime().Equal(want) || !orch.EndTime().Equal(now) {
		t.Errorf("orchestration span %v..%v, want %v..%v", orch.StartTime(), orch.EndTime(), want, now)
	}
	if got := orch.SpanContext().TraceState().String(); got != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q", got)
	}
	// The history C# wrote is not rewritten: its context stays C#'s.
	if *start.ParentTraceContext.SpanID != fxOrch || !strings.HasSuffix(scheduled.ParentTraceContext.TraceParent, fxClientSpan+"-01") {
		t.Errorf("the C# trace context changed: %+v %+v", start.ParentTraceContext, scheduled.ParentTraceContext)
	}
}

// A new execution started by C# with only the caller's context gets its
// orchestration span picked by Go, in C#'s fields, and activities it
// schedules carry client spans under it, in the message and the history.
func TestFirstEpisodeWritesDurableTaskCoreFields(t *testing.T) {
	recorder(t)
	start := decode(t, strings.Replace(fxStarted,
		`"Id":"00-`+fxTrace+`-`+fxOrch+`-01","SpanId":"`+fxOrch+`","ActivityStartTime":"2024-05-01T12:00:00.5+00:00"`,
		`"Id":null,"SpanId":null,"ActivityStartTime":null`, 1)).(*history.ExecutionStartedEvent)
	if start.ParentTraceContext.ID != nil {
		t.Fatal("fixture still names an orchestration span")
	}
	stored := &history.TaskScheduledEvent{Name: "Hello", ParentTraceContext: start.ParentTraceContext, EventBase: history.EventBase{EventID: 0}}
	sent := *stored
	outbox := []*history.TaskMessage{{Event: &sent, OrchestrationInstance: start.OrchestrationInstance}}
	tracing.PrepareEpisode(start, []history.Event{start, stored}, outbox, time.Now())
	tc := start.ParentTraceContext
	if tc.ID == nil || tc.SpanID == nil || tc.ActivityStartTime == nil || !strings.HasPrefix(*tc.ID, "00-"+fxTrace+"-"+*tc.SpanID) {
		t.Fatalf("orchestration span not recorded in C#'s fields: %+v", tc)
	}
	if tc.TraceParent != "00-"+fxTrace+"-"+fxCaller+"-01" {
		t.Errorf("the caller's traceparent changed: %s", tc.TraceParent)
	}
	got := string(history.AppendTraceContext(nil, stored.ParentTraceContext, history.Plain))
	if stored.ParentTraceContext != sent.ParentTraceContext || !strings.Contains(got, `"TraceParent":"00-`+fxTrace+`-`) ||
		strings.Contains(got, fxCaller) || !strings.Contains(got, `"TraceState":"congo=t61rcWkgMzE"`) {
		t.Errorf("TaskScheduled trace context %s", got)
	}
}

package tracing

import (
	"context"
	"time"

	"github.com/azdurable/azdurable/history"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// contextOf reads a DistributedTraceContext's traceparent.
func contextOf(tc *history.DistributedTraceContext) (trace.SpanContext, bool) {
	if tc == nil {
		return trace.SpanContext{}, false
	}
	state := ""
	if tc.TraceState != nil {
		state = *tc.TraceState
	}
	return ParseTraceParent(tc.TraceParent, state)
}

// traceContext is the history form of a span context.
func traceContext(sc trace.SpanContext) *history.DistributedTraceContext {
	tc := &history.DistributedTraceContext{TraceParent: TraceParent(sc)}
	if s := sc.TraceState().String(); s != "" {
		tc.TraceState = &s
	}
	return tc
}

// child is a span context under parent with the given span id.
func child(parent trace.SpanContext, id trace.SpanID) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: parent.TraceID(), SpanID: id,
		TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState()})
}

// StartCreate starts the client's create_orchestration span for start
// when tracing is on. Its parent is the caller's trace context already in
// start.ParentTraceContext (a traceparent the caller passed), else the
// span in ctx; start.ParentTraceContext then names the new span, the
// parent of the orchestration. The returned function ends the span.
func StartCreate(ctx context.Context, start *history.ExecutionStartedEvent) func(error) {
	tr := tracer()
	if tr == nil {
		return func(error) {}
	}
	if sc, ok := contextOf(start.ParentTraceContext); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	attrs := []attribute.KeyValue{attribute.String(AttrType, typeOrchestration), attribute.String(AttrName, start.Name),
		attribute.String(AttrInstanceID, start.OrchestrationInstance.InstanceID),
		attribute.String(AttrExecutionID, start.OrchestrationInstance.ExecutionID)}
	if start.Version != "" {
		attrs = append(attrs, attribute.String(AttrVersion, start.Version))
	}
	_, span := tr.Start(ctx, spanName(prefixCreate, start.Name, start.Version),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	if sc := span.SpanContext(); sc.IsValid() {
		start.ParentTraceContext = traceContext(sc)
	}
	return func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// StartActivity starts the worker's span of one activity execution, the
// child of the client span its TaskScheduled names; ctx gains the span,
// so that the activity's own spans are its children. Without tracing, or
// without a trace context in the event, it returns ctx and does nothing.
func StartActivity(ctx context.Context, ev *history.TaskScheduledEvent, inst history.OrchestrationInstance) (context.Context, func(error)) {
	tr := tracer()
	parent, ok := contextOf(ev.ParentTraceContext)
	if tr == nil || !ok {
		return ctx, func(error) {}
	}
	attrs := []attribute.KeyValue{attribute.String(AttrType, typeActivity), attribute.String(AttrName, ev.Name),
		attribute.String(AttrInstanceID, inst.InstanceID), attribute.Int(AttrTaskID, int(ev.EventID))}
	if ev.Version != "" {
		attrs = append(attrs, attribute.String(AttrVersion, ev.Version))
	}
	ctx, span := tr.Start(trace.ContextWithRemoteSpanContext(ctx, parent), spanName(prefixActivity, ev.Name, ev.Version),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// PrepareEpisode writes the trace context into an episode's new events and
// messages before they are committed, when tracing is on: the orchestration
// span of a new execution (id and start time, in its ExecutionStarted), a
// client span id for each activity and sub-orchestration scheduled, which
// the TaskScheduled message and the child's ExecutionStarted carry as the
// parent. start is the committed execution's ExecutionStarted. Events of an
// orchestration without a trace context are left alone.
func PrepareEpisode(start *history.ExecutionStartedEvent, newEvents []history.Event, outbox []*history.TaskMessage, now time.Time) {
	if !Enabled() || start == nil {
		return
	}
	for _, ev := range newEvents {
		s, ok := ev.(*history.ExecutionStartedEvent)
		if !ok {
			continue
		}
		parent, ok := contextOf(s.ParentTraceContext)
		if !ok {
			continue
		}
		// A new execution (also the next generation of a continue-as-new,
		// which shares its predecessor's context) gets a span of its own.
		tc := &history.DistributedTraceContext{TraceParent: s.ParentTraceContext.TraceParent, TraceState: s.ParentTraceContext.TraceState}
		sc := child(parent, newSpanID())
		id, sid, at := TraceParent(sc), sc.SpanID().String(), now.UTC()
		tc.ID, tc.SpanID, tc.ActivityStartTime = &id, &sid, &at
		s.ParentTraceContext = tc
		start = s
	}
	self := start.OrchestrationInstance.InstanceID
	for _, m := range outbox {
		if s, ok := m.Event.(*history.ExecutionStartedEvent); ok && m.OrchestrationInstance.InstanceID == self && s.ParentTraceContext != nil {
			// The next generation, handed off as a message: it picks its
			// own span when it runs.
			s.ParentTraceContext = &history.DistributedTraceContext{TraceParent: s.ParentTraceContext.TraceParent,
				TraceState: s.ParentTraceContext.TraceState}
		}
	}
	orch, _ := orchestrationContext(start)
	if !orch.IsValid() {
		return
	}
	for _, ev := range newEvents {
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			tc := traceContext(child(orch, newSpanID()))
			v.ParentTraceContext = tc
			for _, m := range outbox {
				if s, ok := m.Event.(*history.TaskScheduledEvent); ok && s.EventID == v.EventID {
					s.ParentTraceContext = tc
				}
			}
		case *history.SubOrchestrationInstanceCreatedEvent:
			id := newSpanID()
			hexID := id.String()
			v.ClientSpanID = &hexID
			for _, m := range outbox {
				if s, ok := m.Event.(*history.ExecutionStartedEvent); ok && s.ParentInstance != nil &&
					s.ParentInstance.TaskScheduleID == v.EventID && s.OrchestrationInstance.InstanceID == v.InstanceID {
					s.ParentTraceContext = traceContext(child(orch, id))
				}
			}
		}
	}
}

// EmitEpisode exports the spans that a committed episode's new events
// complete: the client span of each activity, sub-orchestration and timer
// whose result arrived, a producer span for each event sent, and the
// orchestration's span when the execution completed. past is the history
// before the episode. Nothing is emitted for events replayed from past, so
// no span is exported twice.
func EmitEpisode(start *history.ExecutionStartedEvent, past, newEvents []history.Event, now time.Time) {
	tr := tracer()
	if tr == nil || start == nil {
		return
	}
	for _, ev := range newEvents {
		if s, ok := ev.(*history.ExecutionStartedEvent); ok {
			start, past = s, nil
		}
	}
	orch, parent := orchestrationContext(start)
	if !orch.IsValid() {
		return
	}
	inst := start.OrchestrationInstance
	octx := trace.ContextWithRemoteSpanContext(context.Background(), orch)
	scheduled := func(id int32) history.Event {
		for _, list := range [][]history.Event{past, newEvents} {
			for _, e := range list {
				switch e.(type) {
				case *history.TaskScheduledEvent, *history.SubOrchestrationInstanceCreatedEvent, *history.TimerCreatedEvent:
					if e.Base().EventID == id {
						return e
					}
				}
			}
		}
		return nil
	}
	end := trace.WithTimestamp(now)
	for _, ev := range newEvents {
		switch v := ev.(type) {
		case *history.TaskCompletedEvent, *history.TaskFailedEvent:
			var id int32
			var failure *string
			if c, ok := v.(*history.TaskCompletedEvent); ok {
				id = c.TaskScheduledID
			} else {
				f := v.(*history.TaskFailedEvent)
				id, failure = f.TaskScheduledID, f.Reason
				if failure == nil {
					s := "Unspecified task activity failure"
					failure = &s
				}
			}
			ts, ok := scheduled(id).(*history.TaskScheduledEvent)
			if !ok {
				continue
			}
			sc, ok := contextOf(ts.ParentTraceContext)
			if !ok || sc.TraceID() != orch.TraceID() || sc.SpanID() == parent.SpanID() {
				continue // no client span was picked when it was scheduled
			}
			attrs := []attribute.KeyValue{attribute.String(AttrType, typeActivity), attribute.String(AttrName, ts.Name),
				attribute.String(AttrInstanceID, inst.InstanceID), attribute.Int(AttrTaskID, int(ts.EventID))}
			if ts.Version != "" {
				attrs = append(attrs, attribute.String(AttrVersion, ts.Version))
			}
			_, span := tr.Start(withSpanID(octx, sc.SpanID()), spanName(prefixActivity, ts.Name, ts.Version),
				trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(ts.Timestamp), trace.WithAttributes(attrs...))
			if failure != nil {
				span.SetStatus(codes.Error, *failure)
			}
			span.End(end)
		case *history.SubOrchestrationInstanceCompletedEvent, *history.SubOrchestrationInstanceFailedEvent:
			var id int32
			var failure *string
			if c, ok := v.(*history.SubOrchestrationInstanceCompletedEvent); ok {
				id = c.TaskScheduledID
			} else {
				f := v.(*history.SubOrchestrationInstanceFailedEvent)
				id, failure = f.TaskScheduledID, f.Reason
				if failure == nil {
					s := "Unspecified sub-orchestration failure"
					failure = &s
				}
			}
			cr, ok := scheduled(id).(*history.SubOrchestrationInstanceCreatedEvent)
			if !ok || cr.ClientSpanID == nil {
				continue
			}
			sid, err := trace.SpanIDFromHex(*cr.ClientSpanID)
			if err != nil {
				continue
			}
			attrs := []attribute.KeyValue{attribute.String(AttrType, typeOrchestration), attribute.String(AttrName, cr.Name),
				attribute.String(AttrInstanceID, inst.InstanceID)}
			if cr.Version != "" {
				attrs = append(attrs, attribute.String(AttrVersion, cr.Version))
			}
			_, span := tr.Start(withSpanID(octx, sid), spanName(prefixOrchestration, cr.Name, cr.Version),
				trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(cr.Timestamp), trace.WithAttributes(attrs...))
			if failure != nil {
				span.SetStatus(codes.Error, *failure)
			}
			span.End(end)
		case *history.TimerFiredEvent:
			tc, ok := scheduled(v.TimerID).(*history.TimerCreatedEvent)
			if !ok {
				continue
			}
			_, span := tr.Start(octx, timerSpanName(start.Name), trace.WithSpanKind(trace.SpanKindInternal),
				trace.WithTimestamp(tc.Timestamp), trace.WithAttributes(
					attribute.String(AttrType, typeTimer), attribute.String(AttrName, start.Name),
					attribute.String(AttrInstanceID, inst.InstanceID),
					attribute.String(AttrFireAt, v.FireAt.UTC().Format(time.RFC3339Nano)),
					attribute.Int(AttrTaskID, int(v.TimerID))))
			span.End(end)
		case *history.EventSentEvent:
			_, span := tr.Start(octx, spanName(prefixOrchestrationEv, v.Name, ""), trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithTimestamp(v.Timestamp), trace.WithAttributes(
					attribute.String(AttrType, typeEvent), attribute.String(AttrName, v.Name),
					attribute.String(AttrInstanceID, inst.InstanceID), attribute.String(AttrExecutionID, inst.ExecutionID),
					attribute.String(AttrEventTargetID, v.InstanceID)))
			span.End(end)
		case *history.ExecutionCompletedEvent:
			emitOrchestration(tr, start, orch, parent, v, now)
		}
	}
}

// emitOrchestration exports the orchestration's one span, from the start
// time its ExecutionStarted records to its completion.
func emitOrchestration(tr trace.Tracer, start *history.ExecutionStartedEvent, orch, parent trace.SpanContext,
	done *history.ExecutionCompletedEvent, now time.Time) {
	begin := now
	if at := start.ParentTraceContext.ActivityStartTime; at != nil {
		begin = *at
	}
	attrs := []attribute.KeyValue{attribute.String(AttrType, typeOrchestration), attribute.String(AttrName, start.Name),
		attribute.String(AttrInstanceID, start.OrchestrationInstance.InstanceID),
		attribute.String(AttrStatus, done.OrchestrationStatus.String())}
	if start.Version != "" {
		attrs = append(attrs, attribute.String(AttrVersion, start.Version))
	}
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	_, span := tr.Start(withSpanID(ctx, orch.SpanID()), spanName(prefixOrchestration, start.Name, start.Version),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(begin), trace.WithAttributes(attrs...))
	if done.OrchestrationStatus == history.StatusFailed {
		msg := "orchestration failed"
		if done.FailureDetails != nil {
			msg = done.FailureDetails.ErrorMessage
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End(trace.WithTimestamp(now))
}

// orchestrationContext is the orchestration span an ExecutionStarted names
// (Id, SpanId), with its parent (TraceParent).
func orchestrationContext(s *history.ExecutionStartedEvent) (orch trace.SpanContext, parent trace.SpanContext) {
	tc := s.ParentTraceContext
	if tc == nil || tc.ID == nil {
		return trace.SpanContext{}, trace.SpanContext{}
	}
	parent, _ = contextOf(tc)
	orch, _ = ParseTraceParent(*tc.ID, "")
	if tc.SpanID != nil {
		if sid, err := trace.SpanIDFromHex(*tc.SpanID); err == nil && orch.IsValid() {
			orch = orch.WithSpanID(sid)
		}
	}
	if orch.IsValid() {
		orch = orch.WithTraceState(parent.TraceState()).WithRemote(true)
	}
	return orch, parent
}

// Scheduled returns known followed by the scheduling events (activities,
// sub-orchestrations, timers) of newEvents: what EmitEpisode needs of the
// past when the history is not at hand (a worker keeps it beside a cached
// engine). A new execution in newEvents starts the list afresh. Without
// tracing it returns nil.
func Scheduled(known, newEvents []history.Event) []history.Event {
	if !Enabled() {
		return nil
	}
	var out []history.Event
	keep := func(list []history.Event) {
		for _, ev := range list {
			switch ev.(type) {
			case *history.ExecutionStartedEvent:
				out = out[:0]
			case *history.TaskScheduledEvent, *history.SubOrchestrationInstanceCreatedEvent, *history.TimerCreatedEvent:
				out = append(out, ev)
			}
		}
	}
	keep(known)
	keep(newEvents)
	return out
}

// StartRaise starts the client's orchestration_event span for an event
// raised to instanceID, a child of the span in ctx, when tracing is on. The
// returned function ends it.
func StartRaise(ctx context.Context, name, instanceID string) func(error) {
	tr := tracer()
	if tr == nil {
		return func(error) {}
	}
	_, span := tr.Start(ctx, spanName(prefixOrchestrationEv, name, ""), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String(AttrType, typeEvent), attribute.String(AttrName, name),
			attribute.String(AttrEventTargetID, instanceID)))
	return func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Package tracing emits OpenTelemetry spans in the shape DurableTask.Core
// emits them, and carries the W3C trace context in the fields C# uses, so a
// trace begun by a caller continues through Go and C# workers on one hub.
//
// Design: the trace context lives in history, not in memory. The client's
// create_orchestration span becomes ExecutionStarted.ParentTraceContext
// (TraceParent, TraceState). The first episode picks the orchestration
// span's id and start time and stores them in the same object (Id, SpanId,
// ActivityStartTime), so every later episode, on any worker, knows the one
// orchestration span; it is exported once, by the episode that completes
// the orchestration. Each TaskScheduled gets a ParentTraceContext naming a
// fresh client span id under the orchestration span (the activity's server
// span is its child), each SubOrchestrationInstanceCreated a ClientSpanId
// (the child's ExecutionStarted carries it as its parent). The client spans
// (activity, sub-orchestration, timer) are exported by the episode whose
// new events complete them, so a replay emits nothing twice.
//
// Spans with an id chosen in advance need the IDGenerator of this package
// in the SDK provider (NewProvider installs it). Tracing is off until Set
// or SetupFromEnv installs a provider: then no span is made and no byte
// of history changes.
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of the spans, DurableTask.Core's
// ActivitySource name.
const Scope = "DurableTask.Core"

// Attribute keys, as DurableTask.Core's Schema names them.
const (
	AttrType              = "durabletask.type"
	AttrName              = "durabletask.task.name"
	AttrVersion           = "durabletask.task.version"
	AttrInstanceID        = "durabletask.task.instance_id"
	AttrExecutionID       = "durabletask.task.execution_id"
	AttrStatus            = "durabletask.task.status"
	AttrTaskID            = "durabletask.task.task_id"
	AttrEventTargetID     = "durabletask.event.target_instance_id"
	AttrFireAt            = "durabletask.fire_at"
	typeOrchestration     = "orchestration"
	typeActivity          = "activity"
	typeTimer             = "timer"
	typeEvent             = "event"
	prefixCreate          = "create_orchestration"
	prefixOrchestration   = "orchestration"
	prefixActivity        = "activity"
	prefixOrchestrationEv = "orchestration_event"
)

type holder struct{ tp trace.TracerProvider }

var current atomic.Pointer[holder]

// Set installs the provider the spans go to; nil turns tracing off.
func Set(tp trace.TracerProvider) {
	if tp == nil {
		current.Store(nil)
		return
	}
	current.Store(&holder{tp: tp})
}

// Enabled reports whether a provider is installed.
func Enabled() bool { return current.Load() != nil }

func tracer() trace.Tracer {
	h := current.Load()
	if h == nil {
		return nil
	}
	return h.tp.Tracer(Scope)
}

// spanName is DurableTask.Core's "prefix:name" or "prefix:name@(version)".
func spanName(prefix, name, version string) string {
	if version != "" {
		return prefix + ":" + name + "@(" + version + ")"
	}
	return prefix + ":" + name
}

// timerSpanName is DurableTask.Core's name of a timer span.
func timerSpanName(orchestration string) string {
	return prefixOrchestration + ":" + orchestration + ":" + typeTimer
}

type forcedKey struct{}

// withSpanID asks the IDGenerator for this span id for the next span
// started with ctx.
func withSpanID(ctx context.Context, id trace.SpanID) context.Context {
	return context.WithValue(ctx, forcedKey{}, id)
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		_, _ = rand.Read(id[:])
	}
	return id
}

func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		_, _ = rand.Read(id[:])
	}
	return id
}

// TraceParent formats a W3C traceparent header value.
func TraceParent(sc trace.SpanContext) string {
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}

// ParseTraceParent reads a W3C traceparent (version 00 and later versions'
// first four fields) and tracestate into a remote span context.
func ParseTraceParent(traceParent, traceState string) (trace.SpanContext, bool) {
	if len(traceParent) < 55 || traceParent[2] != '-' || traceParent[35] != '-' || traceParent[52] != '-' {
		return trace.SpanContext{}, false
	}
	if traceParent[:2] == "ff" || (traceParent[:2] == "00" && len(traceParent) != 55) || (len(traceParent) > 55 && traceParent[55] != '-') {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(traceParent[3:35])
	if err != nil {
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(traceParent[36:52])
	if err != nil {
		return trace.SpanContext{}, false
	}
	fl, err := hex.DecodeString(traceParent[53:55])
	if err != nil {
		return trace.SpanContext{}, false
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(fl[0]) & trace.FlagsSampled, Remote: true}
	if traceState != "" {
		if ts, err := trace.ParseTraceState(traceState); err == nil {
			cfg.TraceState = ts
		}
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

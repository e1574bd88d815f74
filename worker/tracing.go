package worker

import (
	"context"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/tracing"
	"github.com/azdurable/azdurable/provider"
)

// Traces: package tracing owns the spans and the trace context in history;
// the worker calls it at three points: before a commit (the context goes
// into the new events and messages), after it (the spans the new events
// complete), and around each activity. With tracing off these cost a
// pointer load.

// traceBeforeCommit writes the trace context into the episode's output.
func (w *Worker) traceBeforeCommit(out *episode.Output) {
	tracing.PrepareEpisode(out.Start, out.NewEvents, out.Outbox, w.clock.Now())
}

// traceCommitted exports the spans of a committed episode and returns the
// scheduling events to keep beside a cached engine. known is the history
// before the episode, or what the cache kept of it.
func (w *Worker) traceCommitted(out *episode.Output, known []history.Event) []history.Event {
	if !tracing.Enabled() {
		return nil
	}
	tracing.EmitEpisode(out.Start, known, out.NewEvents, w.clock.Now())
	return tracing.Scheduled(known, out.NewEvents)
}

// traceActivity starts the span of an activity's execution.
func traceActivity(ctx context.Context, wi *provider.ActivityWorkItem) (context.Context, func(error)) {
	return tracing.StartActivity(ctx, wi.Event, wi.Instance)
}

// TracesFromEnv turns on OpenTelemetry traces for the workers and clients
// of this process when the standard OTEL_* variables name an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, ...; see the
// README's "Traces"), as the azdurable command does; without one it does
// nothing and tracing stays off. Call the returned function before the
// process exits to flush the spans still buffered.
func TracesFromEnv(ctx context.Context) (shutdown func(context.Context) error, err error) {
	return tracing.SetupFromEnv(ctx)
}

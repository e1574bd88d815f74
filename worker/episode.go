package worker

import (
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/provider"
)

// The step from a work item to its commit is package episode's: the worker
// does the I/O around it (loading history, committing, abandoning) and
// keeps the engine it hands back.

// episodeHost is what the episode step needs from this worker.
func (w *Worker) episodeHost() *episode.Host {
	return &episode.Host{Orchestrator: w.orchestrator, Engine: w.engineOptions(), Now: w.clock.Now,
		NewExecutionID: history.NewID, MaxGenerations: w.opts.MaxGenerationsPerWorkItem}
}

// messageEvents returns the events of a work item's messages, in order.
func messageEvents(wi *provider.OrchestrationWorkItem) []history.Event {
	out := make([]history.Event, len(wi.Messages))
	for i, m := range wi.Messages {
		out[i] = m.Event
	}
	return out
}

// commitOf is the backend's form of an episode's output.
func commitOf(out *episode.Output) *provider.EpisodeResult {
	return &provider.EpisodeResult{NewEvents: out.NewEvents, NewExecution: out.NewExecution, Outbox: out.Outbox,
		CustomStatus: out.CustomStatus}
}

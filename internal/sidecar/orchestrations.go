package sidecar

import (
	"context"
	"errors"
	"log/slog"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
)

// runOrchestration runs one orchestration work item through the episode
// step (package episode), whose code runs in an SDK worker (sdkRunner),
// and commits it, or gives the work item back. It is the I/O shell the Go
// worker is for Go code: the past events (cache, or storage), the commit,
// and what becomes of a work item that cannot run.
func (d *dispatcher) runOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem) {
	if id, ok := entity.Parse(wi.InstanceID); ok {
		d.runEntity(ctx, wi, id)
		return
	}
	log := d.log.With("instance", wi.InstanceID)
	msgs := make([]history.Event, len(wi.Messages))
	for i, m := range wi.Messages {
		msgs[i] = m.Event
	}
	newExecution := wi.NewExecution || episode.StartsNewExecution(wi.ExecutionID, msgs)
	cached := d.cache.take(wi.InstanceID)
	var past []history.Event
	var pastProto []*pb.HistoryEvent
	switch {
	case newExecution:
	case cached.matches(wi):
		past, pastProto = cached.events, cached.proto
		d.stats.CacheHits.Add(1)
	default:
		if wi.History == nil {
			if err := d.be.LoadHistory(ctx, wi); err != nil {
				d.giveBackOrchestration(ctx, wi, log, nil, "loading its history", err)
				return
			}
		}
		past = wi.History
	}
	start := episode.FindStart(past, msgs)
	if start == nil {
		d.abandonOrchestration(ctx, wi, log, "no ExecutionStarted in its history or messages", nil)
		return
	}
	log = log.With("orchestration", start.Name, "execution", start.OrchestrationInstance.ExecutionID)
	if err := d.hosted(kindOrchestration, start.Name, start.Version); err != nil {
		if t := terminateIn(wi.Messages); t != nil {
			// Nothing of the code can run after a terminate: carry it out
			// without a worker, as the Go worker does for a name it lacks.
			out := episode.Terminate(d.episodeHost(ctx, nil), episode.Work{Start: start, Past: past, Messages: msgs}, t)
			d.commit(ctx, wi, log, start, out, nil, false)
			return
		}
		d.orchestrationNotRun(ctx, wi, log, start, err)
		return
	}

	var first *sdkRunner
	ep := episode.New(d.episodeHost(ctx, func(r *sdkRunner) {
		if first == nil {
			first, r.pastProto = r, pastProto
		}
	}), episode.Work{Start: start, Past: past, Messages: msgs, HistoryLen: wi.HistoryLen})
	out, err := ep.Run()
	if err == nil {
		// An answer whose commit storage would refuse (a version longer
		// than a table column, say) fails the instance with the reason,
		// as every other answer that cannot be committed, rather than
		// being quarantined with the instance left waiting.
		if verr := provider.ValidateEpisode(wi.InstanceID, episodeResult(out), d.now()); errors.Is(verr, provider.ErrInvalid) {
			err = invalidAnswer("%v", verr)
		}
	}
	if err != nil {
		var re *responseError
		if !errors.As(err, &re) {
			d.orchestrationNotRun(ctx, wi, log, start, err)
			return
		}
		log.Error("sidecar: failing an instance whose SDK worker answered with what cannot be committed", "err", err)
		d.stats.Failed.Add(1)
		out = ep.Fail(err)
	}
	var keep *cachedHistory
	if !out.Done && first != nil {
		// The history after the commit, in both forms: what the first
		// runner sent as past (none after a continue-as-new), and this
		// episode's new events.
		var pastEvents []history.Event
		var pastPB []*pb.HistoryEvent
		if !out.NewExecution {
			pastEvents, pastPB = first.past, first.pastProto
		}
		if newProto, cerr := workItemEventsProto(pastEvents, out.NewEvents); cerr == nil {
			keep = &cachedHistory{instanceID: wi.InstanceID,
				events: append(append(make([]history.Event, 0, len(pastEvents)+len(out.NewEvents)), pastEvents...), out.NewEvents...),
				proto:  append(append(make([]*pb.HistoryEvent, 0, len(pastPB)+len(newProto)), pastPB...), newProto...)}
		}
	}
	d.commit(ctx, wi, log, start, out, keep, true)
}

// episodeHost is what the episode step needs from the sidecar; each
// runner it creates is passed to made (nil: none is expected).
func (d *dispatcher) episodeHost(ctx context.Context, made func(*sdkRunner)) *episode.Host {
	return &episode.Host{Now: d.now, NewExecutionID: history.NewID, MaxGenerations: d.s.opts.MaxGenerations,
		Runner: func(start *history.ExecutionStartedEvent) (episode.Runner, error) {
			r := &sdkRunner{d: d, ctx: ctx, start: start}
			if made != nil {
				made(r)
			}
			return r, nil
		}}
}

// commit writes an episode; keep (nil: none) is the history to cache
// after it.
func (d *dispatcher) commit(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	start *history.ExecutionStartedEvent, out *episode.Output, keep *cachedHistory, ran bool) {
	r := episodeResult(out)
	// A commit that started goes on when the sidecar stops: the backend's
	// writes are ordered so that one cut short is repeated safely, but a
	// finished one costs nothing more.
	if err := d.be.CompleteOrchestration(context.WithoutCancel(ctx), wi, r); err != nil {
		switch _, again := provider.Repeatable(err); {
		case errors.Is(err, provider.ErrInvalid):
			// It can never succeed: running it again would send its
			// messages again. Quarantine its messages (listed by
			// `azdurable instances show`).
			if q, ok := d.be.(provider.Quarantiner); ok {
				d.stats.Abandoned.Add(1)
				if qerr := q.QuarantineOrchestration(context.WithoutCancel(ctx), wi, start.Name, "its commit is invalid and can never succeed: "+err.Error()); qerr != nil {
					log.Warn("sidecar: quarantining an episode failed; its messages were put back", "err", qerr)
				}
				return
			}
			d.abandonOrchestration(ctx, wi, log, "committing the episode", err)
		case again:
			d.abandonOrchestration(ctx, wi, log, "committing the episode", err)
		default:
			d.giveBackOrchestration(ctx, wi, log, nil, "committing the episode", err)
		}
		return
	}
	if ran {
		d.stats.Episodes.Add(1)
	}
	if keep != nil {
		keep.executionID, keep.etag, keep.length = wi.ExecutionID, wi.HistoryETag, wi.HistoryLen
		if keep.length == len(keep.events) {
			d.cache.put(keep)
		}
	}
}

// episodeResult is what the backend commits of an episode.
func episodeResult(out *episode.Output) *provider.EpisodeResult {
	return &provider.EpisodeResult{NewEvents: out.NewEvents, NewExecution: out.NewExecution, Outbox: out.Outbox,
		CustomStatus: out.CustomStatus}
}

// orchestrationNotRun decides what becomes of a work item whose episode
// did not run to its end.
func (d *dispatcher) orchestrationNotRun(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	start *history.ExecutionStartedEvent, err error) {
	var nw *noWorkerError
	switch {
	case errors.As(err, &nw) && nw.connected > 0:
		d.giveBackOrchestration(ctx, wi, log, &provider.Stalled{Kind: provider.StalledOrchestration, Name: start.Name,
			Version: start.Version, InstanceID: wi.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID,
			Reason: err.Error() + "; the instance waits for a worker that hosts it"}, "finding a worker", err)
	case errors.Is(err, errAbandoned):
		d.giveBackOrchestration(ctx, wi, log, &provider.Stalled{Kind: provider.StalledOrchestration, Name: start.Name,
			Version: start.Version, InstanceID: wi.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID,
			Reason: "an SDK worker abandoned the work item (its versioning rules, for one, may reject the instance's version)"}, "running the orchestrator", err)
	case nw != nil, ctx.Err() != nil, errors.Is(err, errReleased):
		// No worker, or the sidecar stops: no fault of the messages.
		d.giveBackOrchestration(ctx, wi, log, nil, "running the orchestrator", err)
	default:
		// The worker went away holding it (it may have crashed on it), or
		// the history could not be sent: this counts.
		d.abandonOrchestration(ctx, wi, log, "running the orchestrator", err)
	}
}

// giveBackOrchestration returns a work item uncounted (with a record of
// why when st is set), or abandons it where the backend cannot.
func (d *dispatcher) giveBackOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	st *provider.Stalled, what string, err error) {
	if q, ok := d.be.(provider.Quarantiner); ok {
		delay, gerr := q.GiveBackOrchestration(context.WithoutCancel(ctx), wi, st)
		if gerr == nil {
			d.stats.GivenBack.Add(1)
			level := slog.LevelInfo
			if st != nil {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "sidecar: gave an orchestration work item back", "step", what, "err", err, "retryIn", delay)
			return
		}
		err = errors.Join(err, gerr)
	}
	d.abandonOrchestration(ctx, wi, log, what, err)
}

// abandonOrchestration makes the messages visible again after C#'s
// back-off for their dequeue count.
func (d *dispatcher) abandonOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger, what string, err error) {
	n := 0
	for _, m := range wi.Messages {
		n = max(n, m.DequeueCount)
	}
	delay := provider.AbandonDelay(n)
	d.stats.Abandoned.Add(1)
	log.Warn("sidecar: abandoning an orchestration work item", "step", what, "err", err, "retryIn", delay)
	if aerr := d.be.AbandonOrchestration(context.WithoutCancel(ctx), wi, delay); aerr != nil {
		log.Warn("sidecar: abandoning failed; the messages reappear when their lock expires", "err", aerr)
	}
}

// terminateIn returns the first terminate among the messages.
func terminateIn(msgs []*provider.Message) *history.ExecutionTerminatedEvent {
	for _, m := range msgs {
		if t, ok := m.Event.(*history.ExecutionTerminatedEvent); ok {
			return t
		}
	}
	return nil
}

// sdkRunner runs one execution's episode in an SDK worker: the past and
// new events go out as an OrchestratorRequest, the answer's actions come
// back as the engine's result (resultOf). It is used once.
type sdkRunner struct {
	d     *dispatcher
	ctx   context.Context
	start *history.ExecutionStartedEvent
	// pastProto is the protocol form of the past events, when the cache
	// had it; past is what Apply was given.
	pastProto []*pb.HistoryEvent
	past      []history.Event
	// seen is every event of the execution the runner knows of, for the
	// task id of a failure.
	seen [][]history.Event
}

var _ episode.Runner = (*sdkRunner)(nil)

// Apply sends the events to a worker that hosts the orchestration and
// converts its answer.
func (r *sdkRunner) Apply(past, newEvents []history.Event) (*replay.Result, error) {
	r.past = past
	r.seen = [][]history.Event{past, newEvents}
	if r.pastProto == nil || len(r.pastProto) != len(past) {
		p, err := workItemEventsProto(nil, past)
		if err != nil {
			return nil, err
		}
		r.pastProto = p
	}
	newProto, err := workItemEventsProto(past, newEvents)
	if err != nil {
		return nil, err
	}
	inst := r.start.OrchestrationInstance
	req := &pb.OrchestratorRequest{InstanceId: inst.InstanceID, ExecutionId: textIfSet(inst.ExecutionID),
		PastEvents: r.pastProto, NewEvents: newProto}
	resp, err := r.d.call(r.ctx, kindOrchestration, r.start.Name, r.start.Version, inst.InstanceID, 0,
		&pb.WorkItem{Request: &pb.WorkItem_OrchestratorRequest{OrchestratorRequest: req}})
	if err != nil {
		return nil, err
	}
	or := resp.(*pb.OrchestratorResponse)
	if or.GetRequiresHistory() {
		// Every work item carries its whole history; a worker that asks
		// for it again wants something this sidecar does not give.
		return nil, errAbandoned
	}
	now := r.d.now()
	if len(newEvents) > 0 {
		now = newEvents[0].Base().Timestamp
	}
	res, err := resultOf(inst, or, past, newEvents, now)
	if err != nil {
		return nil, err
	}
	r.seen = append(r.seen, res.Actions)
	return res, nil
}

// FailureResult fails the execution with the task id after every one the
// runner knows of.
func (r *sdkRunner) FailureResult(err error) *replay.Result {
	msg := err.Error()
	return &replay.Result{Completion: &replay.Completion{ID: episode.NextTaskID(r.seen...), Status: history.StatusFailed,
		Output: &msg, Failure: replay.FailureDetailsOf(err)}}
}

// Evict releases nothing: the runner holds no engine.
func (r *sdkRunner) Evict() {}

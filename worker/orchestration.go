package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/provider"
)

// processOrchestration runs one episode of one instance and commits it, or
// abandons the work item. The episode itself is package episode's pure
// step; what happens here is I/O: the cached engine or the history, the
// commit, and giving the work item back.
func (w *Worker) processOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem) {
	log := w.log.With("instance", wi.InstanceID)
	obs := w.observeEpisode()
	defer obs.done()
	entry, release := w.cache.take(ctx, wi.InstanceID)
	defer release()
	msgs := messageEvents(wi)
	newExecution := wi.NewExecution || episode.StartsNewExecution(wi.ExecutionID, msgs)
	if entry != nil && (newExecution || entry.executionID != wi.ExecutionID || entry.etag != wi.HistoryETag || entry.length != wi.HistoryLen) {
		entry.engine.Evict()
		entry = nil
	}
	var past []history.Event
	if entry == nil {
		w.stats.CacheMisses.Add(1)
		if wi.History == nil && !newExecution {
			if err := w.be.LoadHistory(ctx, wi); err != nil {
				w.retryLater(ctx, wi, log, "loading history", err)
				return
			}
		}
		if !newExecution {
			past = wi.History
		}
	} else {
		w.stats.CacheHits.Add(1)
	}

	if id, ok := entity.Parse(wi.InstanceID); ok {
		w.processEntity(ctx, wi, log, id, past, msgs)
		return
	}
	start := episode.FindStart(past, msgs)
	if start == nil && entry != nil {
		start = entry.start
	}
	if start == nil {
		w.abandon(ctx, wi, log, "no ExecutionStarted in history or messages", nil)
		return
	}
	log = log.With("orchestration", start.Name, "execution", start.OrchestrationInstance.ExecutionID)
	fn, ok := w.orchestrator(start.Name, start.Version)
	if ok {
		obs.name = start.Name // only registered names reach the Observer
	}
	if !ok {
		w.stats.UnknownNames.Add(1)
		if t := terminateIn(wi.Messages); t != nil {
			w.terminateWithoutCode(ctx, wi, log, start, past, t)
			return
		}
		w.giveBack(ctx, wi, log, start, unknownName("orchestration", start.Name, start.Version)+
			"; the instance waits for a worker that hosts it (every worker of a hub must host every name it may receive), or for a terminate")
		return
	}
	allowed, why := w.versionAllowed(start.Version)
	allowed = allowed || builtIn(start.Name)
	if !allowed && w.opts.Versioning.OnMismatch == Reject {
		w.giveBack(ctx, wi, log, start, why+"; the instance waits for a worker that may run its version")
		return
	}

	work := episode.Work{Start: start, Code: fn, Past: past, Messages: msgs, HistoryLen: wi.HistoryLen}
	if entry != nil {
		work.Engine = entry.engine
	}
	if allowed && w.opts.VerifyReplay && past == nil {
		// The check of a cached (or new) engine replays the stored history.
		probe := &provider.OrchestrationWorkItem{InstanceID: wi.InstanceID, ExecutionID: wi.ExecutionID,
			HistoryETag: wi.HistoryETag, HistoryLen: wi.HistoryLen, Partition: wi.Partition, Private: wi.Private}
		if err := w.be.LoadHistory(ctx, probe); err != nil {
			if work.Engine != nil {
				work.Engine.Evict()
			}
			w.stats.OrchestrationErrors.Add(1)
			w.abandon(ctx, wi, log, "running the orchestrator", fmt.Errorf("verify replay: loading history: %w", err))
			return
		}
		work.Verify, work.Stored = true, probe.History
	}
	ep := episode.New(w.episodeHost(), work)
	var out *episode.Output
	var err error
	if allowed {
		out, err = ep.Run()
	} else {
		log.Error("worker: failing an instance of a version this worker may not run", "why", why)
		out = ep.Fail(errors.New(why))
	}
	if err != nil {
		var nde *replay.NonDeterminismError
		switch {
		case errors.As(err, &nde):
			w.stats.NonDeterminism.Add(1)
			if w.opts.OnNonDeterminism == BlockAndRetry {
				w.giveBack(ctx, wi, log, start, "its history no longer matches the orchestration's code ("+err.Error()+
					"); with BlockAndRetry the instance waits for a deployment that matches its history")
				return
			}
			log.Error("worker: non-deterministic orchestration; failing the instance", "err", err)
			out, err = ep.Fail(err), nil
		case errors.Is(err, replay.ErrDeadlock):
			w.stats.Deadlocks.Add(1)
			log.Error("worker: orchestrator code blocked outside a durable call", "err", err, "stacks", ep.DeadlockStack())
		default:
			w.stats.OrchestrationErrors.Add(1)
		}
		if err != nil {
			w.abandon(ctx, wi, log, "running the orchestrator", err)
			return
		}
	}
	known := past
	if entry != nil {
		known = entry.traced
	}
	w.traceBeforeCommit(out)
	if err := w.be.CompleteOrchestration(ctx, wi, commitOf(out)); err != nil {
		out.Release()
		if errors.Is(err, provider.ErrLockLost) {
			w.stats.LockLost.Add(1)
		}
		if reason, poison := w.failures.failed(wi.InstanceID, err); poison {
			w.quarantineEpisode(ctx, wi, log, start.Name, reason, err)
			return
		}
		if _, again := provider.Repeatable(err); again {
			w.abandon(ctx, wi, log, "committing the episode", err)
		} else {
			w.retryLater(ctx, wi, log, "committing the episode", err)
		}
		return
	}
	w.failures.succeeded(wi.InstanceID)
	w.stats.Episodes.Add(1)
	obs.committed = true
	w.cancelEndedActivities(wi, out.Done)
	traced := w.traceCommitted(out, known)
	if out.Engine == nil {
		return
	}
	w.cache.put(&cacheEntry{instanceID: wi.InstanceID, executionID: wi.ExecutionID, etag: wi.HistoryETag,
		length: wi.HistoryLen, engine: out.Engine, start: out.Start, traced: traced, lastUsed: w.clock.Now()})
}

func (w *Worker) engineOptions() replay.Options {
	return replay.Options{Logger: w.log, DeadlockTimeout: w.opts.DeadlockTimeout}
}

// orchestrator finds the code for a name and version; an instance of a
// version that is not registered runs the unversioned registration, if any.
func (w *Worker) orchestrator(name, version string) (replay.Orchestrator, bool) {
	if fn, ok := w.reg.Orchestrator(name, version); ok {
		return fn, true
	}
	if version != "" {
		return w.reg.Orchestrator(name, "")
	}
	return nil, false
}

func (w *Worker) versionAllowed(v string) (bool, string) {
	vs := w.opts.Versioning
	switch vs.Match {
	case MatchStrict:
		if v != vs.Version {
			return false, fmt.Sprintf("version %q does not match the worker's version %q (strict)", v, vs.Version)
		}
	case MatchCurrentOrOlder:
		if compareVersions(v, vs.Version) > 0 {
			return false, fmt.Sprintf("version %q is newer than the worker's version %q", v, vs.Version)
		}
	}
	return true, ""
}

// compareVersions compares dotted numeric versions ("1.10" > "1.9"); other
// strings compare as text.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, errx := strconv.Atoi(x)
		yn, erry := strconv.Atoi(y)
		if errx == nil && erry == nil {
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
			continue
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func (w *Worker) abandon(ctx context.Context, wi *provider.OrchestrationWorkItem, log interface {
	Warn(string, ...any)
}, what string, err error) {
	w.stats.Abandoned.Add(1)
	delay := provider.AbandonDelay(maxDequeue(wi))
	if errors.Is(context.Cause(ctx), ErrStopping) {
		// A stop is no fault of the messages: where the backend can, they
		// go back as fresh copies, so that rolling deployments never add
		// up to poison.
		if q, ok := w.be.(provider.Quarantiner); ok {
			if d, gerr := q.GiveBackOrchestration(context.WithoutCancel(ctx), wi, nil); gerr == nil {
				log.Warn("worker: stopping; gave the orchestration work item back", "step", what, "err", err, "message", messageIDs(wi), "retryIn", d)
				return
			}
		}
		delay = stopAbandonDelay
	}
	log.Warn("worker: abandoning orchestration work item", "step", what, "err", err, "message", messageIDs(wi), "retryIn", delay)
	if aerr := w.be.AbandonOrchestration(context.WithoutCancel(ctx), wi, delay); aerr != nil {
		log.Warn("worker: abandoning failed; the messages reappear when their lock expires", "err", aerr)
	}
}

func maxDequeue(wi *provider.OrchestrationWorkItem) int {
	n := 0
	for _, m := range wi.Messages {
		if m.DequeueCount > n {
			n = m.DequeueCount
		}
	}
	return n
}

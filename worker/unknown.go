package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/provider"
)

// Work this worker cannot run, and episodes that cannot be committed.
//
// A work item whose orchestration or activity name (or version) this
// worker does not host is given back through provider.Quarantiner: the
// backend replaces its messages by fresh copies (so that the give-back
// never counts towards poison, and a worker that hosts the name runs it
// whatever its dequeue count), records why (an instance that stays
// Pending shows it as its custom status; `azdurable instances show` lists
// the records) and logs it at WARN. A terminate of an instance whose
// orchestration this worker does not host is carried out without its
// code: nothing of the code can run after a terminate anyway. An episode
// whose commit is refused as invalid, or refused the same way twice, is
// quarantined instead of being run (and its messages sent) again.

// unknownName describes a name this worker does not register.
func unknownName(kind, name, version string) string {
	s := fmt.Sprintf("%s %q", kind, name)
	if version != "" {
		s += fmt.Sprintf(" version %q", version)
	}
	return s + " is not registered on this worker"
}

func messageIDs(wi *provider.OrchestrationWorkItem) string {
	ids := make([]string, len(wi.Messages))
	for i, m := range wi.Messages {
		ids[i] = m.ID
	}
	return strings.Join(ids, ",")
}

// giveBack returns an orchestration work item this worker cannot run,
// uncounted, with the reason recorded; without a Quarantiner it is
// abandoned with back-off.
func (w *Worker) giveBack(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	start *history.ExecutionStartedEvent, reason string) {
	q, ok := w.be.(provider.Quarantiner)
	if !ok {
		w.abandon(ctx, wi, log, reason, nil)
		return
	}
	st := &provider.Stalled{Kind: provider.StalledOrchestration, Name: start.Name, Version: start.Version,
		InstanceID: wi.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID, Reason: reason}
	delay, err := q.GiveBackOrchestration(context.WithoutCancel(ctx), wi, st)
	if err != nil {
		w.abandon(ctx, wi, log, reason, err)
		return
	}
	w.stats.Abandoned.Add(1)
	log.Warn("worker: gave an orchestration work item back without running it", "reason", reason,
		"message", messageIDs(wi), "retryIn", delay)
}

// retryLater gives back an orchestration work item that failed for a
// reason that is not its own (a storage read or commit that failed, a lost
// lock), so that the failure does not count towards poison; without a
// Quarantiner it is abandoned.
func (w *Worker) retryLater(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger, what string, err error) {
	q, ok := w.be.(provider.Quarantiner)
	if !ok {
		w.abandon(ctx, wi, log, what, err)
		return
	}
	w.stats.Abandoned.Add(1)
	delay, gerr := q.GiveBackOrchestration(context.WithoutCancel(ctx), wi, nil)
	if gerr != nil {
		w.abandon(ctx, wi, log, what, errors.Join(err, gerr))
		return
	}
	log.Warn("worker: giving an orchestration work item back to retry it later", "step", what, "err", err,
		"message", messageIDs(wi), "retryIn", delay)
}

// retryActivityLater gives back an activity work item whose result could
// not be reported, uncounted, to run it again later; without a Quarantiner
// it is abandoned.
func (w *Worker) retryActivityLater(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger, err error) {
	if q, ok := w.be.(provider.Quarantiner); ok {
		if delay, gerr := q.GiveBackActivity(context.WithoutCancel(ctx), wi, nil); gerr == nil {
			log.Warn("worker: reporting the activity result failed; it will run again", "err", err, "retryIn", delay)
			return
		}
	}
	log.Warn("worker: reporting the activity result failed; it will run again", "err", err)
	if aerr := w.be.AbandonActivity(context.WithoutCancel(ctx), wi, 0); aerr != nil {
		log.Warn("worker: abandoning the activity failed", "err", aerr)
	}
}

// giveBackActivity does the same for an activity work item.
func (w *Worker) giveBackActivity(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger, reason string) {
	ev := wi.Event
	if q, ok := w.be.(provider.Quarantiner); ok {
		task := ev.EventID
		st := &provider.Stalled{Kind: provider.StalledActivity, Name: ev.Name, Version: ev.Version,
			InstanceID: wi.Instance.InstanceID, ExecutionID: wi.Instance.ExecutionID, TaskID: &task, Reason: reason}
		delay, err := q.GiveBackActivity(context.WithoutCancel(ctx), wi, st)
		if err == nil {
			log.Warn("worker: gave an activity work item back without running it", "reason", reason, "retryIn", delay)
			return
		}
		log.Warn("worker: giving an activity work item back failed; abandoning it", "err", err)
	}
	delay := provider.AbandonDelay(wi.DequeueCount)
	log.Warn("worker: abandoning an activity work item without running it", "reason", reason,
		"dequeueCount", wi.DequeueCount, "retryIn", delay)
	if err := w.be.AbandonActivity(context.WithoutCancel(ctx), wi, delay); err != nil {
		log.Warn("worker: abandoning the activity failed", "err", err)
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

// terminateWithoutCode commits the termination of an instance whose
// orchestration this worker does not host: the batch's events, then the
// Terminated completion (with the task id the code would have given it),
// the failure of a sub-orchestration reported to its parent, and for a
// recursive terminate the termination of the children in its history.
func (w *Worker) terminateWithoutCode(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	start *history.ExecutionStartedEvent, past []history.Event, t *history.ExecutionTerminatedEvent) {
	out := episode.Terminate(w.episodeHost(), episode.Work{Start: start, Past: past, Messages: messageEvents(wi)}, t)
	err := w.be.CompleteOrchestration(ctx, wi, commitOf(out))
	if err != nil {
		w.retryLater(ctx, wi, log, "terminating an instance whose orchestration this worker does not host", err)
		return
	}
	w.stats.Episodes.Add(1)
	log.Warn("worker: terminated an instance whose orchestration this worker does not host, without running its code",
		"reason", history.Deref(t.Input))
}

// quarantineEpisode quarantines the messages of an episode whose commit
// will fail again; the backend logs it once. Without a Quarantiner it is
// abandoned.
func (w *Worker) quarantineEpisode(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	orchestration, reason string, err error) {
	q, ok := w.be.(provider.Quarantiner)
	if !ok {
		w.abandon(ctx, wi, log, "committing the episode", err)
		return
	}
	w.stats.Abandoned.Add(1)
	if qerr := q.QuarantineOrchestration(context.WithoutCancel(ctx), wi, orchestration, reason); qerr != nil {
		log.Warn("worker: quarantining an episode failed; its messages were put back", "reason", reason, "err", qerr)
	}
}

// commitFailures remembers the last repeatable commit failure of each
// instance, so that an episode refused the same way twice is quarantined.
type commitFailures struct {
	mu   sync.Mutex
	last map[string]string
}

// failed records a commit failure and reports whether the episode is
// poison: its failure is ErrInvalid, or it is repeatable and the instance's
// previous commit failed the same way. reason says why.
func (f *commitFailures) failed(instanceID string, err error) (reason string, poison bool) {
	sig, ok := provider.Repeatable(err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !ok {
		delete(f.last, instanceID)
		return "", false
	}
	if errors.Is(err, provider.ErrInvalid) {
		delete(f.last, instanceID)
		return "its commit is invalid and can never succeed: " + err.Error(), true
	}
	if f.last[instanceID] == sig {
		delete(f.last, instanceID)
		return "its commit failed the same way twice: " + err.Error(), true
	}
	if f.last == nil {
		f.last = map[string]string{}
	}
	if len(f.last) > 10000 {
		clear(f.last)
	}
	f.last[instanceID] = sig
	return "", false
}

// succeeded forgets the instance's failure.
func (f *commitFailures) succeeded(instanceID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.last) > 0 {
		delete(f.last, instanceID)
	}
}

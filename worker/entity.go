package worker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/provider"
	"github.com/google/uuid"
)

// processEntity runs one batch of an entity's messages (package entity's
// Step) and commits it as the extension does: a fresh execution whose input
// is the new scheduler state, written from row 0, the custom status, and
// the responses and signals. Entities are not replayed: the scheduler state
// is the checkpoint, and operations run once per committed batch (again
// after a failed commit, as any episode).
func (w *Worker) processEntity(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger, id entity.ID,
	past []history.Event, msgs []history.Event) {
	start := episode.FindStart(past, msgs)
	now := w.clock.Now()
	self, input, startedAt := episode.EntityOrigin(wi.InstanceID, start, now, history.NewID)
	if t := terminateIn(wi.Messages); t != nil && start != nil {
		// DurableTask.Core ends a terminated entity's instance like any
		// other: Terminated, its state left as the input; later messages
		// are dropped until it is purged.
		w.terminateWithoutCode(ctx, wi, log, start, past, t)
		return
	}
	var events []*history.EventRaisedEvent
	for _, ev := range msgs {
		if er, ok := ev.(*history.EventRaisedEvent); ok {
			events = append(events, er)
		}
	}
	fn, hosted := w.reg.Entity(id.Name)
	if !hosted {
		w.stats.UnknownNames.Add(1)
		st := start
		if st == nil {
			st = &history.ExecutionStartedEvent{Name: wi.InstanceID, OrchestrationInstance: self}
		}
		w.giveBack(ctx, wi, log, st, unknownName("entity", id.Name, "")+
			"; the entity's messages wait for a worker that hosts it")
		return
	}
	res, err := entity.Step(&entity.Batch{Self: self, Input: input, StartedAt: startedAt, Events: events,
		Now: w.clock.Now, NewGUID: uuid.NewString, NewExecutionID: history.NewID,
		Run: func(op *entity.Operation) {
			runEntityOperation(ctx, fn, op)
			if op.Failure != nil {
				// A caller gets the failure; a signal's failure is only
				// logged, as the extension logs it.
				log.Warn("worker: entity operation failed; its changes were rolled back", "operation", op.Name,
					"signal", op.Signal, "caller", op.Caller, "failure", op.Failure.Payload)
			}
		}})
	if err != nil {
		w.stats.OrchestrationErrors.Add(1)
		w.abandon(ctx, wi, log, "reading the entity's scheduler state", err)
		return
	}
	for _, p := range res.Problems {
		log.Warn("worker: dropped an entity message that could not be read", "problem", p, "message", messageIDs(wi))
	}
	evs, next, status := entity.Commit(self, res.State, history.NewID(), w.clock.Now())
	out := &episode.Output{NewEvents: evs, NewExecution: true, Outbox: res.Outbox, CustomStatus: &status, Start: next}
	if err := w.be.CompleteOrchestration(ctx, wi, commitOf(out)); err != nil {
		if errors.Is(err, provider.ErrLockLost) {
			w.stats.LockLost.Add(1)
		}
		if reason, poison := w.failures.failed(wi.InstanceID, err); poison {
			w.quarantineEpisode(ctx, wi, log, wi.InstanceID, reason, err)
			return
		}
		if _, again := provider.Repeatable(err); again {
			w.abandon(ctx, wi, log, "committing the entity batch", err)
		} else {
			w.retryLater(ctx, wi, log, "committing the entity batch", err)
		}
		return
	}
	w.failures.succeeded(wi.InstanceID)
	w.stats.Episodes.Add(1)
}

// runEntityOperation runs one operation's code (the worker's registry
// entry for the entity); an error or a panic fails the operation, which
// leaves its state and actions as they were.
func runEntityOperation(ctx context.Context, fn registry.EntityFunc, op *entity.Operation) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = errors.New("entity operation panicked: " + panicText(r))
			}
		}()
		return fn(ctx, op)
	}()
	if err != nil {
		op.Failure = entity.NewFailure(durable.GoEntityFailureType, err.Error())
	}
}

func panicText(r any) string {
	if e, ok := r.(error); ok {
		return e.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return "a value that is not an error"
}

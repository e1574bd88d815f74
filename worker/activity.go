package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/provider"
)

// runActivity executes one activity work item and reports its result.
func (w *Worker) runActivity(ctx context.Context, wi *provider.ActivityWorkItem) {
	ev := wi.Event
	began := time.Now()
	log := w.log.With("activity", ev.Name, "instance", wi.Instance.InstanceID, "taskId", ev.EventID, "message", wi.ID)
	fn, ok := w.reg.Activity(ev.Name, ev.Version)
	if !ok && ev.Version != "" {
		fn, ok = w.reg.Activity(ev.Name, "")
	}
	if !ok {
		w.stats.UnknownNames.Add(1)
		w.giveBackActivity(ctx, wi, log, unknownName("activity", ev.Name, ev.Version)+
			"; it waits for a worker that hosts it (every worker of a hub must host every name it may receive), or for its orchestration to be terminated")
		return
	}
	actx, cancel := context.WithCancelCause(registry.WithActivityInfo(ctx, registry.ActivityInfo{
		InstanceID: wi.Instance.InstanceID, ExecutionID: wi.Instance.ExecutionID, Name: ev.Name,
		Version: ev.Version, TaskID: ev.EventID, Attempt: wi.DequeueCount, TraceParent: traceParent(ev)}))
	defer cancel(nil)
	forget := w.activities.add(wi.Instance, cancel)
	renewDone := make(chan struct{})
	go w.renewActivity(actx, cancel, wi, renewDone)

	tctx, endSpan := traceActivity(actx, wi)
	out, err := w.callActivity(tctx, fn, ev.Input)
	endSpan(err)
	forget()
	cause := context.Cause(actx)
	cancel(nil)
	<-renewDone

	if err != nil && errors.Is(cause, ErrStopping) {
		// The worker's own stop cancelled the activity: that is no failure
		// of the activity, so the work item goes back to its queue for the
		// next worker, at once.
		// A stop is no fault of the work item either: where the backend
		// can, it goes back as a fresh copy that does not count towards
		// poison.
		w.stats.ActivitiesReturned.Add(1)
		if q, ok := w.be.(provider.Quarantiner); ok {
			if d, gerr := q.GiveBackActivity(context.WithoutCancel(ctx), wi, nil); gerr == nil {
				log.Info("worker: stopping; gave the cancelled activity back to its queue", "err", err, "retryIn", d)
				return
			}
		}
		log.Info("worker: stopping; gave the cancelled activity back to its queue", "err", err)
		if aerr := w.be.AbandonActivity(context.WithoutCancel(ctx), wi, 0); aerr != nil {
			log.Warn("worker: giving the activity back failed; it runs again when its lock expires", "err", aerr)
		}
		return
	}
	if w.reportActivity(ctx, wi, log, out, err) {
		w.observeActivity(ev.Name, began, err != nil)
	}
}

// reportActivity sends the activity's result, or its failure, to its
// orchestration. The result of an activity whose execution has ended is
// sent all the same: the orchestration drops it, as it drops every late
// result. It says whether the result was sent.
func (w *Worker) reportActivity(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger, out *string, err error) bool {
	ev := wi.Event
	now := w.clock.Now()
	var result history.Event
	if err != nil {
		msg := err.Error()
		result = &history.TaskFailedEvent{TaskScheduledID: ev.EventID, Reason: &msg, FailureDetails: replay.FailureDetailsOf(err),
			EventBase: history.EventBase{EventID: -1, Timestamp: now}}
	} else {
		result = &history.TaskCompletedEvent{TaskScheduledID: ev.EventID, Result: out,
			EventBase: history.EventBase{EventID: -1, Timestamp: now}}
	}
	if err := w.be.CompleteActivity(context.WithoutCancel(ctx), wi, result); err != nil {
		w.retryActivityLater(ctx, wi, log, err)
		return false
	}
	w.stats.Activities.Add(1)
	return true
}

// callActivity runs fn, turning a panic into a failure.
func (w *Worker) callActivity(ctx context.Context, fn registry.ActivityFunc, input *string) (out *string, err error) {
	defer func() {
		if r := recover(); r != nil {
			w.stats.ActivityPanics.Add(1)
			stack := string(debug.Stack())
			err = &replay.FailureError{Details: &history.FailureDetails{ErrorType: "panic",
				ErrorMessage: fmt.Sprintf("panic in activity: %v", r), StackTrace: &stack}}
		}
	}()
	return fn(ctx, input)
}

// renewActivity renews the work item's lock every ActivityRenewInterval
// while the activity runs, and with each renewal checks whether the
// activity's execution has ended (see executionEnded); if so it cancels the
// activity's context with ErrInstanceEnded and stops renewing.
func (w *Worker) renewActivity(ctx context.Context, cancel context.CancelCauseFunc, wi *provider.ActivityWorkItem, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(w.opts.ActivityRenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.executionEnded(ctx, wi) {
				w.stats.ActivitiesCancelled.Add(1)
				w.log.Info("worker: the activity's orchestration execution has ended; cancelling the activity",
					"activity", wi.Event.Name, "instance", wi.Instance.InstanceID, "taskId", wi.Event.EventID)
				cancel(ErrInstanceEnded)
				return
			}
			if err := w.be.RenewActivity(context.WithoutCancel(ctx), wi); err != nil {
				w.log.Warn("worker: renewing an activity lock failed", "activity", wi.Event.Name, "err", err)
			}
		}
	}
}

func traceParent(ev *history.TaskScheduledEvent) string {
	if ev.ParentTraceContext == nil {
		return ""
	}
	return ev.ParentTraceContext.TraceParent
}

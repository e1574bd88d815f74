package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/provider"
)

type timeValue = time.Time

// runActivity executes one activity work item and reports its result.
func (w *Worker) runActivity(ctx context.Context, wi *provider.ActivityWorkItem) {
	ev := wi.Event
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
	actx, cancel := context.WithCancel(durable.WithActivityInfo(ctx, durable.ActivityInfo{
		InstanceID: wi.Instance.InstanceID, ExecutionID: wi.Instance.ExecutionID, Name: ev.Name,
		Version: ev.Version, TaskID: ev.EventID, Attempt: wi.DequeueCount, TraceParent: traceParent(ev)}))
	defer cancel()
	renewDone := make(chan struct{})
	go w.renewActivity(actx, wi, renewDone)

	out, err := w.callActivity(actx, fn, ev.Input)
	cancel()
	<-renewDone

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
		return
	}
	w.stats.Activities.Add(1)
}

// callActivity runs fn, turning a panic into a failure.
func (w *Worker) callActivity(ctx context.Context, fn durable.ActivityFunc, input *string) (out *string, err error) {
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

func (w *Worker) renewActivity(ctx context.Context, wi *provider.ActivityWorkItem, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(w.opts.ActivityRenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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

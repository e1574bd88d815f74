package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
)

// runActivity sends one activity work item to an SDK worker that hosts it
// and its answer to the orchestration, renewing the work item's lock
// meanwhile; a work item no worker answers is given back or abandoned.
//
// The input goes to the worker as the orchestration's SDK sent it (the
// JavaScript SDK: JSON.stringify of the one argument), and the result as
// the worker sent it: the SDKs read their own encoding back.
func (d *dispatcher) runActivity(ctx context.Context, wi *provider.ActivityWorkItem) {
	ev := wi.Event
	log := d.log.With("activity", ev.Name, "instance", wi.Instance.InstanceID, "taskId", ev.EventID)
	if err := d.hosted(kindActivity, ev.Name, ev.Version); err != nil {
		d.activityNotRun(ctx, wi, log, err)
		return
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		d.renewActivity(renewCtx, wi, log)
	}()
	req := &pb.ActivityRequest{Name: ev.Name, Version: textIfSet(ev.Version), Input: text(ev.Input),
		OrchestrationInstance: instanceProto(wi.Instance), TaskId: ev.EventID,
		ParentTraceContext: traceProto(ev.ParentTraceContext), Tags: tagsProto(ev.Tags)}
	resp, err := d.call(ctx, kindActivity, ev.Name, ev.Version, wi.Instance.InstanceID, ev.EventID,
		&pb.WorkItem{Request: &pb.WorkItem_ActivityRequest{ActivityRequest: req}})
	stopRenewing()
	<-renewed
	if err != nil {
		d.activityNotRun(ctx, wi, log, err)
		return
	}
	result := activityResult(resp.(*pb.ActivityResponse), ev.EventID, d.now())
	if err := d.be.CompleteActivity(context.WithoutCancel(ctx), wi, result); err != nil {
		// The worker ran it; the result could not be sent: it runs again.
		d.giveBackActivity(ctx, wi, log, nil, "sending the activity's result", err)
		return
	}
	d.stats.Activities.Add(1)
}

// renewActivity extends the work item's lock every ActivityRenewInterval
// until ctx ends.
func (d *dispatcher) renewActivity(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger) {
	t := time.NewTicker(d.s.opts.ActivityRenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.be.RenewActivity(context.WithoutCancel(ctx), wi); err != nil {
				log.Warn("sidecar: renewing an activity's lock failed", "err", err)
			}
		}
	}
}

// activityNotRun decides what becomes of an activity work item no worker
// answered.
func (d *dispatcher) activityNotRun(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger, err error) {
	ev := wi.Event
	stalled := func(reason string) *provider.Stalled {
		task := ev.EventID
		return &provider.Stalled{Kind: provider.StalledActivity, Name: ev.Name, Version: ev.Version,
			InstanceID: wi.Instance.InstanceID, ExecutionID: wi.Instance.ExecutionID, TaskID: &task, Reason: reason}
	}
	var nw *noWorkerError
	switch {
	case errors.As(err, &nw) && nw.connected > 0:
		d.giveBackActivity(ctx, wi, log, stalled(err.Error()+"; it waits for a worker that hosts it"), "finding a worker", err)
	case errors.Is(err, errAbandoned):
		d.giveBackActivity(ctx, wi, log, stalled("an SDK worker abandoned the work item"), "running the activity", err)
	case nw != nil, ctx.Err() != nil, errors.Is(err, errReleased):
		d.giveBackActivity(ctx, wi, log, nil, "running the activity", err)
	default:
		// Its worker went away holding it: that counts, as a worker that
		// dies holding a work item.
		delay := provider.AbandonDelay(wi.DequeueCount)
		d.stats.Abandoned.Add(1)
		log.Warn("sidecar: abandoning an activity work item", "err", err, "retryIn", delay)
		if aerr := d.be.AbandonActivity(context.WithoutCancel(ctx), wi, delay); aerr != nil {
			log.Warn("sidecar: abandoning an activity failed; it runs again when its lock expires", "err", aerr)
		}
	}
}

// giveBackActivity returns an activity work item uncounted (with a record
// of why when st is set), or abandons it at once where the backend cannot.
func (d *dispatcher) giveBackActivity(ctx context.Context, wi *provider.ActivityWorkItem, log *slog.Logger,
	st *provider.Stalled, what string, err error) {
	if q, ok := d.be.(provider.Quarantiner); ok {
		delay, gerr := q.GiveBackActivity(context.WithoutCancel(ctx), wi, st)
		if gerr == nil {
			d.stats.GivenBack.Add(1)
			level := slog.LevelInfo
			if st != nil {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "sidecar: gave an activity work item back", "step", what, "err", err, "retryIn", delay)
			return
		}
		err = errors.Join(err, gerr)
	}
	d.stats.Abandoned.Add(1)
	log.Warn("sidecar: abandoning an activity work item", "step", what, "err", err)
	if aerr := d.be.AbandonActivity(context.WithoutCancel(ctx), wi, 0); aerr != nil {
		log.Warn("sidecar: abandoning an activity failed; it runs again when its lock expires", "err", aerr)
	}
}

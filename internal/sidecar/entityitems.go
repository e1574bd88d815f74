package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"github.com/google/uuid"
)

// Entity work items. An entity is an orchestration instance of the hub
// ("@name@key") whose messages come with the orchestration work items; the
// sidecar runs each one through package entity's Step, the batch step a Go
// worker runs, with a BatchRunner that sends the operations the scheduler
// lets through to an SDK worker that hosts the entity, as an
// EntityBatchRequest (the JavaScript SDK turns an EntityRequest V2 into
// one before it runs it), and takes its EntityBatchResult back. So the
// scheduler state, the responses, the lock grants and the signals are
// written in the extension's format whoever runs the code.
//
// A worker with work-item filters gets the entities they name; a worker
// without filters gets every entity, and its answer that it hosts none
// (the JavaScript SDK answers every operation with EntityTaskNotFound) gives
// the batch back for a worker that does, as for a name no worker hosts. A
// batch the worker abandons, or holds when it goes away, runs again.

// entityTaskNotFound is the error type with which an SDK worker answers
// the operations of an entity it does not host.
const entityTaskNotFound = "EntityTaskNotFound"

// batchNotRun is why an entity batch did not run in an SDK worker.
type batchNotRun struct{ err error }

func (e *batchNotRun) Error() string { return e.err.Error() }
func (e *batchNotRun) Unwrap() error { return e.err }

// notHostedError: the worker that got the batch does not host the entity.
type notHostedError struct{ name string }

func (e *notHostedError) Error() string {
	return fmt.Sprintf("the SDK worker that got the batch does not host entity %q (it answered %s)", e.name, entityTaskNotFound)
}

// runEntity runs one batch of an entity's messages and commits it as the
// extension does (a fresh execution whose input is the scheduler state),
// or gives the work item back.
func (d *dispatcher) runEntity(ctx context.Context, wi *provider.OrchestrationWorkItem, id entity.ID) {
	log := d.log.With("entity", wi.InstanceID)
	msgs := make([]history.Event, len(wi.Messages))
	for i, m := range wi.Messages {
		msgs[i] = m.Event
	}
	var past []history.Event
	if !wi.NewExecution && !episode.StartsNewExecution(wi.ExecutionID, msgs) {
		if wi.History == nil {
			if err := d.be.LoadHistory(ctx, wi); err != nil {
				d.giveBackOrchestration(ctx, wi, log, nil, "loading the entity's history", err)
				return
			}
		}
		past = wi.History
	}
	start := episode.FindStart(past, msgs)
	now := d.now()
	self, input, startedAt := episode.EntityOrigin(wi.InstanceID, start, now, history.NewID)
	if t := terminateIn(wi.Messages); t != nil && start != nil {
		// A terminated entity ends like any instance, its state left as
		// its input (as a Go worker does).
		out := episode.Terminate(d.episodeHost(ctx, nil), episode.Work{Start: start, Past: past, Messages: msgs}, t)
		d.commit(ctx, wi, log, start, out, nil, false)
		return
	}
	named := start
	if named == nil {
		named = &history.ExecutionStartedEvent{Name: wi.InstanceID, OrchestrationInstance: self}
	}
	if err := d.hosted(kindEntity, id.Name, ""); err != nil {
		d.entityNotRun(ctx, wi, log, named, err)
		return
	}
	var events []*history.EventRaisedEvent
	for _, ev := range msgs {
		if er, ok := ev.(*history.EventRaisedEvent); ok {
			events = append(events, er)
		}
	}
	ran := false
	res, err := entity.Step(&entity.Batch{Self: self, Input: input, StartedAt: startedAt, Events: events,
		Now: d.now, NewGUID: uuid.NewString, NewExecutionID: history.NewID,
		RunBatch: func(ops []*entity.Operation) (*entity.BatchOutcome, error) {
			out, err := d.runBatch(ctx, id, ops, log)
			ran = err == nil
			return out, err
		}})
	if err != nil {
		var nr *batchNotRun
		if errors.As(err, &nr) {
			d.entityNotRun(ctx, wi, log, named, nr.err)
			return
		}
		d.abandonOrchestration(ctx, wi, log, "reading the entity's scheduler state", err)
		return
	}
	for _, p := range res.Problems {
		log.Warn("sidecar: dropped an entity message that could not be read", "problem", p)
	}
	evs, next, status := entity.Commit(self, res.State, history.NewID(), d.now())
	out := &episode.Output{NewEvents: evs, NewExecution: true, Outbox: res.Outbox, CustomStatus: &status, Start: next}
	d.commit(ctx, wi, log, named, out, nil, true)
	if ran {
		d.stats.EntityBatches.Add(1)
	}
}

// entityNotRun decides what becomes of an entity work item whose batch did
// not run: as for an orchestration, with the reason of an entity.
func (d *dispatcher) entityNotRun(ctx context.Context, wi *provider.OrchestrationWorkItem, log *slog.Logger,
	start *history.ExecutionStartedEvent, err error) {
	var nh *notHostedError
	if errors.As(err, &nh) {
		d.giveBackOrchestration(ctx, wi, log, &provider.Stalled{Kind: provider.StalledOrchestration, Name: start.Name,
			InstanceID: wi.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID,
			Reason: err.Error() + "; the entity's messages wait for a worker that hosts it"}, "running the entity batch", err)
		return
	}
	if errors.Is(err, errAbandoned) {
		d.giveBackOrchestration(ctx, wi, log, &provider.Stalled{Kind: provider.StalledOrchestration, Name: start.Name,
			InstanceID: wi.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID,
			Reason: "an SDK worker abandoned the entity batch"}, "running the entity batch", err)
		return
	}
	d.orchestrationNotRun(ctx, wi, log, start, err)
}

// runBatch sends the operations to a worker that hosts the entity and
// reads its answer. An answer that cannot be applied (a result missing, an
// action storage cannot hold) fails every operation of the batch with the
// reason and leaves the state as it was, rather than running the batch
// again for ever.
func (d *dispatcher) runBatch(ctx context.Context, id entity.ID, ops []*entity.Operation, log *slog.Logger) (*entity.BatchOutcome, error) {
	req := &pb.EntityBatchRequest{InstanceId: id.InstanceID()}
	before := &entity.BatchOutcome{Exists: ops[0].Exists, Value: ops[0].Value}
	if before.Exists {
		req.EntityState = text(before.Value)
	}
	for _, op := range ops {
		req.Operations = append(req.Operations, &pb.OperationRequest{Operation: op.Name, RequestId: op.RequestID, Input: text(op.Input)})
	}
	resp, err := d.call(ctx, kindEntity, id.Name, "", id.InstanceID(), 0,
		&pb.WorkItem{Request: &pb.WorkItem_EntityRequest{EntityRequest: req}})
	if err != nil {
		return nil, &batchNotRun{err}
	}
	r := resp.(*pb.EntityBatchResult)
	if r.GetRequiresState() {
		// Every batch carries the state already.
		return nil, &batchNotRun{errAbandoned}
	}
	if fd := r.GetFailureDetails(); fd != nil {
		// The worker failed the batch as a whole (not one operation): it
		// runs again, counted as a worker that failed on it.
		return nil, &batchNotRun{fmt.Errorf("the SDK worker failed the entity batch: %s: %s", fd.GetErrorType(), fd.GetErrorMessage())}
	}
	out, err := batchOutcome(r, ops, d.now)
	if err != nil {
		var nh *notHostedError
		if errors.As(err, &nh) {
			return nil, &batchNotRun{err}
		}
		log.Error("sidecar: failing the operations of an entity batch whose SDK worker answered with what cannot be applied", "err", err)
		d.stats.Failed.Add(1)
		for _, op := range ops {
			op.Result, op.Failure = nil, entity.NewFailure("azdurable.InvalidWorkerAnswer", err.Error())
		}
		return before, nil
	}
	return out, nil
}

// batchOutcome reads an EntityBatchResult: one result per operation, in
// order; the state after the batch; the signals and orchestration starts.
func batchOutcome(r *pb.EntityBatchResult, ops []*entity.Operation, now func() time.Time) (*entity.BatchOutcome, error) {
	results := r.GetResults()
	if len(results) != len(ops) {
		return nil, invalidAnswer("%d results for a batch of %d operations", len(results), len(ops))
	}
	notFound := 0
	for i, res := range results {
		op := ops[i]
		switch x := res.GetResultType().(type) {
		case *pb.OperationResult_Success:
			op.Result = payload(x.Success.GetResult())
		case *pb.OperationResult_Failure:
			fd := x.Failure.GetFailureDetails()
			if fd.GetErrorType() == entityTaskNotFound {
				notFound++
			}
			op.Failure = entity.NewFailure(fd.GetErrorType(), fd.GetErrorMessage())
		default:
			return nil, invalidAnswer("result %d is neither a success nor a failure", i)
		}
	}
	if notFound == len(ops) {
		return nil, &notHostedError{name: ops[0].Entity.Name}
	}
	out := &entity.BatchOutcome{Value: payload(r.GetEntityState())}
	out.Exists = out.Value != nil
	for _, a := range r.GetActions() {
		act, err := operationAction(a, now())
		if err != nil {
			return nil, err
		}
		out.Actions = append(out.Actions, act)
	}
	return out, nil
}

// operationAction converts an entity operation's action.
func operationAction(a *pb.OperationAction, now time.Time) (entity.Action, error) {
	switch x := a.GetOperationActionType().(type) {
	case *pb.OperationAction_SendSignal:
		s := x.SendSignal
		target, ok := entity.Parse(s.GetInstanceId())
		if !ok || target.Validate() != nil {
			return entity.Action{}, invalidAnswer("sendSignal #%d: %q is not an entity instance id (@name@key)", a.GetId(), s.GetInstanceId())
		}
		if s.GetName() == "" {
			return entity.Action{}, invalidAnswer("sendSignal #%d has no operation name", a.GetId())
		}
		act := entity.Action{Target: entity.NewID(target.Name, target.Key), Op: s.GetName(), Input: payload(s.GetInput())}
		if ts := s.GetScheduledTime(); ts != nil {
			if ts.CheckValid() != nil {
				return entity.Action{}, invalidAnswer("sendSignal #%d has an invalid scheduledTime", a.GetId())
			}
			at := ts.AsTime().UTC()
			act.At = &at
		}
		return act, nil
	case *pb.OperationAction_StartNewOrchestration:
		s := x.StartNewOrchestration
		if s.GetName() == "" {
			return entity.Action{}, invalidAnswer("startNewOrchestration #%d has no name", a.GetId())
		}
		if err := startableName("startNewOrchestration", a.GetId(), s.GetName()); err != nil {
			return entity.Action{}, err
		}
		if s.GetScheduledTime() != nil && s.GetScheduledTime().AsTime().After(now) {
			return entity.Action{}, invalidAnswer("startNewOrchestration #%d: entities start orchestrations at once (the extension's format has no scheduled start for them)", a.GetId())
		}
		inst := s.GetInstanceId()
		if inst == "" {
			inst = uuid.NewString()
		}
		if err := provider.ValidateInstanceID(inst); err != nil || entity.IsInstanceID(inst) {
			return entity.Action{}, invalidAnswer("startNewOrchestration #%d: instance id %q cannot be an orchestration's", a.GetId(), inst)
		}
		return entity.Action{Name: s.GetName(), InstanceID: inst, Input: payload(s.GetInput())}, nil
	}
	return entity.Action{}, invalidAnswer("entity action #%d has no type this sidecar knows", a.GetId())
}

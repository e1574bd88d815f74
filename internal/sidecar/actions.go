package sidecar

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// The conversions of an SDK worker's answers into what the episode step
// (package episode) and the backend take. An orchestrator's actions map to
// the same scheduling events the Go engine emits, with the SDK's task ids
// and payloads as sent:
//
//	scheduleTask            TaskScheduled (name, version, input, tags, trace parent)
//	createSubOrchestration  SubOrchestrationInstanceCreated (instance id, name, version, input, tags)
//	createTimer             TimerCreated (fireAt)
//	sendEvent               EventSent (instance id, name, data as input)
//	completeOrchestration   the completion: Completed, Failed (failure details; the
//	                        message is the result when none is given), Terminated
//	                        (its running children too when the terminate was
//	                        recursive) or ContinuedAsNew (the result is the new
//	                        input, newVersion the version, carryoverEvents the
//	                        carried EventRaised events)
//
// The rest of the episode (history rows as C# stores them, the messages,
// parent notification, continue-as-new) is package episode's, the same for
// Go and SDK code. sendEntityMessage becomes the EventSent of an entity
// message, as a Go orchestration sends it (entityorch.go). Actions the
// sidecar does not serve (terminateOrchestration, rewindOrchestration) and
// actions that storage cannot hold make the answer invalid: a
// *responseError, which fails the instance.

// responseError is an answer of an SDK worker that cannot be committed.
type responseError struct{ msg string }

func (e *responseError) Error() string {
	return "the SDK worker's answer cannot be committed: " + e.msg
}

// ErrorType names the failure in the instance's failure details.
func (e *responseError) ErrorType() string { return "azdurable.InvalidWorkerAnswer" }

func invalidAnswer(format string, args ...any) error {
	return &responseError{msg: fmt.Sprintf(format, args...)}
}

// resultOf converts an orchestrator's answer into the engine's result for
// an episode of self that applied newEvents after past; now is the
// episode's time.
func resultOf(self history.OrchestrationInstance, resp *pb.OrchestratorResponse, past, newEvents []history.Event, now time.Time) (*replay.Result, error) {
	res := &replay.Result{CustomStatus: payload(resp.GetCustomStatus())}
	ids := map[int32]bool{}
	var done *pb.CompleteOrchestrationAction
	doneID := int32(-1)
	// Entity messages are stamped with the message clock in the order of
	// their ids, as the code sent them.
	actions := slices.Clone(resp.GetActions())
	slices.SortStableFunc(actions, func(a, b *pb.OrchestratorAction) int { return int(a.GetId()) - int(b.GetId()) })
	var es *entitySender
	for _, a := range actions {
		if c, ok := a.GetOrchestratorActionType().(*pb.OrchestratorAction_CompleteOrchestration); ok {
			if done != nil {
				return nil, invalidAnswer("two completeOrchestration actions")
			}
			done, doneID = c.CompleteOrchestration, a.GetId()
			continue
		}
		var ev history.Event
		var err error
		if m := a.GetSendEntityMessage(); m != nil && a.GetId() >= 0 {
			if es == nil {
				es = newEntitySender(self, [][]history.Event{past, newEvents}, now)
			}
			ev, err = es.event(a.GetId(), m)
		} else {
			ev, err = actionEvent(a, now)
		}
		if err != nil {
			return nil, err
		}
		id := a.GetId()
		if id < 0 || ids[id] {
			return nil, invalidAnswer("action id %d is negative or used twice", id)
		}
		ids[id] = true
		res.Actions = append(res.Actions, ev)
	}
	slices.SortFunc(res.Actions, func(a, b history.Event) int { return int(a.Base().EventID) - int(b.Base().EventID) })
	if done != nil {
		c, err := completionOf(done, doneID, past, newEvents, res.Actions, now)
		if err != nil {
			return nil, err
		}
		res.Completion = c
		// The locks still held are released as the execution ends.
		next := max(episode.NextTaskID(past, newEvents, res.Actions), c.ID+1)
		res.Actions = append(res.Actions, releasesAtEnd(self, [][]history.Event{past, newEvents, res.Actions}, next)...)
	}
	return res, nil
}

// actionEvent is the scheduling event of an action (EventID = the action's
// id; the episode fills in the time).
func actionEvent(a *pb.OrchestratorAction, now time.Time) (history.Event, error) {
	base := history.EventBase{EventID: a.GetId()}
	switch x := a.GetOrchestratorActionType().(type) {
	case *pb.OrchestratorAction_ScheduleTask:
		t := x.ScheduleTask
		if t.GetName() == "" {
			return nil, invalidAnswer("scheduleTask #%d has no name", a.GetId())
		}
		return &history.TaskScheduledEvent{EventBase: base, Name: t.GetName(), Version: t.GetVersion().GetValue(),
			Input: payload(t.GetInput()), Tags: cloneTags(t.GetTags()), ParentTraceContext: traceOf(t.GetParentTraceContext())}, nil
	case *pb.OrchestratorAction_CreateSubOrchestration:
		c := x.CreateSubOrchestration
		if c.GetName() == "" {
			return nil, invalidAnswer("createSubOrchestration #%d has no name", a.GetId())
		}
		if err := startableName("createSubOrchestration", a.GetId(), c.GetName()); err != nil {
			return nil, err
		}
		if err := provider.ValidateInstanceID(c.GetInstanceId()); err != nil {
			return nil, invalidAnswer("createSubOrchestration #%d: %v", a.GetId(), err)
		}
		return &history.SubOrchestrationInstanceCreatedEvent{EventBase: base, InstanceID: c.GetInstanceId(), Name: c.GetName(),
			Version: c.GetVersion().GetValue(), Input: payload(c.GetInput()), Tags: cloneTags(c.GetTags())}, nil
	case *pb.OrchestratorAction_CreateTimer:
		ts := x.CreateTimer.GetFireAt()
		if ts == nil || ts.CheckValid() != nil {
			return nil, invalidAnswer("createTimer #%d has no valid fireAt", a.GetId())
		}
		at := taskhub.DueAtStorable(ts.AsTime().UTC())
		if taskhub.DelayTooLong(at.Sub(now)) {
			return nil, invalidAnswer("createTimer #%d fires at %s, more than %s ahead: Azure Storage queues cannot delay a message that long, and azdurable sidecar does not split long timers yet (wait in a loop of shorter timers)",
				a.GetId(), at.Format(time.RFC3339), taskhub.MaxVisibilityDelay)
		}
		return &history.TimerCreatedEvent{EventBase: base, FireAt: at}, nil
	case *pb.OrchestratorAction_SendEvent:
		e := x.SendEvent
		if e.GetName() == "" {
			return nil, invalidAnswer("sendEvent #%d has no event name", a.GetId())
		}
		if err := provider.ValidateInstanceID(e.GetInstance().GetInstanceId()); err != nil {
			return nil, invalidAnswer("sendEvent #%d: %v", a.GetId(), err)
		}
		return &history.EventSentEvent{EventBase: base, InstanceID: e.GetInstance().GetInstanceId(), Name: e.GetName(),
			Input: payload(e.GetData())}, nil
	case *pb.OrchestratorAction_TerminateOrchestration:
		return nil, invalidAnswer("terminateOrchestration #%d: orchestrations terminating other instances are not served by azdurable sidecar (the Azure Storage layout has no history event for it); terminate them from a client", a.GetId())
	case *pb.OrchestratorAction_SendEntityMessage:
		return nil, invalidAnswer("sendEntityMessage #%d: an action id must not be negative", a.GetId())
	case *pb.OrchestratorAction_RewindOrchestration:
		return nil, invalidAnswer("rewindOrchestration: azdurable sidecar rewinds as DurableTask.AzureStorage does (RewindInstance), and never asks a worker to rewrite a history")
	}
	return nil, invalidAnswer("action #%d has no type this sidecar knows", a.GetId())
}

// startableName refuses the name of an orchestration an action starts when
// no start could carry it (provider.ValidateOrchestrationName): the new
// instance's Instances row could not be written.
func startableName(action string, id int32, name string) error {
	if err := provider.ValidateOrchestrationName(name); err != nil {
		return invalidAnswer("%s #%d: %v", action, id, err)
	}
	return nil
}

// completionOf converts a completeOrchestration action.
func completionOf(a *pb.CompleteOrchestrationAction, id int32, past, newEvents, actions []history.Event, now time.Time) (*replay.Completion, error) {
	st := history.OrchestrationStatus(a.GetOrchestrationStatus())
	switch st {
	case history.StatusCompleted, history.StatusFailed, history.StatusTerminated, history.StatusContinuedAsNew:
	default:
		return nil, invalidAnswer("completeOrchestration with status %s: an orchestration ends Completed, Failed, Terminated or ContinuedAsNew", a.GetOrchestrationStatus())
	}
	if id < 0 {
		// An SDK that failed the orchestration outside its code (its
		// executor, its versioning rules) gives no task id.
		id = episode.NextTaskID(past, newEvents, actions)
	}
	c := &replay.Completion{ID: id, Status: st, Output: payload(a.GetResult()), Failure: failureOf(a.GetFailureDetails())}
	switch st {
	case history.StatusFailed:
		if c.Output == nil && c.Failure != nil {
			msg := c.Failure.ErrorMessage
			c.Output = &msg
		}
	case history.StatusTerminated:
		for _, ev := range newEvents {
			if t, ok := ev.(*history.ExecutionTerminatedEvent); ok {
				if t.Recursive {
					c.TerminateChildren = episode.OpenChildren(past, newEvents, actions)
				}
				break
			}
		}
	case history.StatusContinuedAsNew:
		can := &replay.ContinueAsNew{Input: c.Output}
		if v := a.GetNewVersion(); v != nil {
			s := v.GetValue()
			can.Version = &s
		}
		for _, ev := range a.GetCarryoverEvents() {
			r := ev.GetEventRaised()
			if r == nil {
				return nil, invalidAnswer("completeOrchestration carries over an event that is not an EventRaised")
			}
			can.Carry = append(can.Carry, &history.EventRaisedEvent{Name: r.GetName(), Input: payload(r.GetInput()),
				EventBase: history.EventBase{EventID: -1, Timestamp: now}})
		}
		c.Output, c.Failure, c.ContinueAsNew = nil, nil, can
	}
	return c, nil
}

// activityResult is the event an activity's answer sends to its
// orchestration.
func activityResult(resp *pb.ActivityResponse, taskID int32, now time.Time) history.Event {
	base := history.EventBase{EventID: -1, Timestamp: now}
	if fd := resp.GetFailureDetails(); fd != nil {
		msg := fd.GetErrorMessage()
		return &history.TaskFailedEvent{EventBase: base, TaskScheduledID: taskID, Reason: &msg, FailureDetails: failureOf(fd)}
	}
	return &history.TaskCompletedEvent{EventBase: base, TaskScheduledID: taskID, Result: payload(resp.GetResult())}
}

// maxFailureDepth bounds the inner failures taken from an answer.
const maxFailureDepth = 32

// failureOf converts failure details, inner failures included.
func failureOf(fd *pb.TaskFailureDetails) *history.FailureDetails {
	return failureAt(fd, 0)
}

func failureAt(fd *pb.TaskFailureDetails, depth int) *history.FailureDetails {
	if fd == nil || depth > maxFailureDepth {
		return nil
	}
	out := &history.FailureDetails{ErrorType: fd.GetErrorType(), ErrorMessage: fd.GetErrorMessage(),
		StackTrace: payload(fd.GetStackTrace()), InnerFailure: failureAt(fd.GetInnerFailure(), depth+1),
		IsNonRetriable: fd.GetIsNonRetriable()}
	if len(fd.GetProperties()) > 0 {
		if raw, err := protojson.Marshal(&structpb.Struct{Fields: fd.GetProperties()}); err == nil {
			out.Properties = raw
		}
	}
	return out
}

func traceOf(tc *pb.TraceContext) *history.DistributedTraceContext {
	if tc == nil || tc.GetTraceParent() == "" {
		return nil
	}
	out := &history.DistributedTraceContext{TraceParent: tc.GetTraceParent(), TraceState: payload(tc.GetTraceState())}
	if tc.GetSpanID() != "" {
		s := tc.GetSpanID()
		out.SpanID = &s
	}
	return out
}

func cloneTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	return maps.Clone(tags)
}

// eventsProto converts history events for a work item.
func eventsProto(events []history.Event) ([]*pb.HistoryEvent, error) {
	out := make([]*pb.HistoryEvent, 0, len(events))
	for _, ev := range events {
		p, err := eventProto(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

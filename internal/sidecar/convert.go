package sidecar

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The conversions between the protocol and azdurable's types. Rules:
//
//   - Text payloads (inputs, outputs, results, reasons, custom status) are
//     passed as they are, in both directions: a nil *string is an absent
//     StringValue and the reverse, and "" stays "".
//   - Names and versions that C# stores as plain strings ("" when there is
//     none) are sent as StringValues only when not empty.
//   - Times are UTC; a zero time.Time is an absent Timestamp.
//   - Statuses keep their numbers: the protocol's OrchestrationStatus is
//     DurableTask.Core's.

// text returns a StringValue for an optional payload.
func text(p *string) *wrapperspb.StringValue {
	if p == nil {
		return nil
	}
	return wrapperspb.String(*p)
}

// textIfSet returns a StringValue for a name, version or id, nil for "".
func textIfSet(s string) *wrapperspb.StringValue {
	if s == "" {
		return nil
	}
	return wrapperspb.String(s)
}

// payload returns the text of an optional StringValue.
func payload(v *wrapperspb.StringValue) *string {
	if v == nil {
		return nil
	}
	s := v.GetValue()
	return &s
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func stampPtr(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return stamp(*t)
}

// timeOf converts a Timestamp from a request; field names the field in the
// error. An absent Timestamp is the zero time.
func timeOf(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, statusf(codes.InvalidArgument, "%s: %v", field, err)
	}
	return ts.AsTime().UTC(), nil
}

// statusOf converts a status from a request.
func statusOf(field string, s pb.OrchestrationStatus) (history.OrchestrationStatus, error) {
	st := history.OrchestrationStatus(s)
	if !st.Valid() {
		return 0, statusf(codes.InvalidArgument, "%s: unknown orchestration status %d", field, int32(s))
	}
	return st, nil
}

func statusesOf(field string, in []pb.OrchestrationStatus) ([]history.OrchestrationStatus, error) {
	var out []history.OrchestrationStatus
	for _, s := range in {
		st, err := statusOf(field, s)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// stateProto is an instance's status as the protocol reports it; failure
// is the failed instance's failure details (nil for others).
func stateProto(st *client.State, failure *history.FailureDetails) *pb.OrchestrationState {
	out := &pb.OrchestrationState{
		InstanceId:              st.InstanceID,
		Name:                    st.Name,
		Version:                 textIfSet(st.Version),
		OrchestrationStatus:     pb.OrchestrationStatus(st.Status),
		ScheduledStartTimestamp: stampPtr(st.ScheduledStartAt),
		CreatedTimestamp:        stamp(st.CreatedAt),
		LastUpdatedTimestamp:    stamp(st.LastUpdatedAt),
		Input:                   text(st.Input),
		Output:                  text(st.Output),
		CustomStatus:            text(st.CustomStatus),
		FailureDetails:          failureProto(failure),
		ExecutionId:             textIfSet(st.ExecutionID),
		CompletedTimestamp:      stamp(st.CompletedAt),
		ParentInstanceId:        textIfSet(st.ParentInstanceID),
	}
	if len(st.Tags) > 0 {
		out.Tags = maps.Clone(st.Tags)
	}
	return out
}

// failureProto converts failure details, inner failures included.
func failureProto(fd *history.FailureDetails) *pb.TaskFailureDetails {
	if fd == nil {
		return nil
	}
	out := &pb.TaskFailureDetails{
		ErrorType:      fd.ErrorType,
		ErrorMessage:   fd.ErrorMessage,
		StackTrace:     text(fd.StackTrace),
		InnerFailure:   failureProto(fd.InnerFailure),
		IsNonRetriable: fd.IsNonRetriable,
	}
	if len(fd.Properties) > 0 {
		out.Properties = propertiesProto(fd.Properties)
	}
	return out
}

// propertiesProto converts the JSON object of C#'s failure properties;
// anything that is not an object gives none.
func propertiesProto(raw json.RawMessage) map[string]*structpb.Value {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return nil
	}
	out := make(map[string]*structpb.Value, len(m))
	for k, v := range m {
		if pv, err := structpb.NewValue(v); err == nil {
			out[k] = pv
		}
	}
	return out
}

// legacyFailure gives failure details to a task failure that C# recorded
// without them (its Reason is the message); nil when there is no reason
// either.
func legacyFailure(fd *history.FailureDetails, reason *string) *pb.TaskFailureDetails {
	if fd != nil {
		return failureProto(fd)
	}
	if reason == nil {
		return nil
	}
	return &pb.TaskFailureDetails{ErrorMessage: *reason}
}

func traceProto(tc *history.DistributedTraceContext) *pb.TraceContext {
	if tc == nil {
		return nil
	}
	out := &pb.TraceContext{TraceParent: tc.TraceParent, TraceState: text(tc.TraceState)}
	if tc.SpanID != nil {
		// An obsolete field, still read by older SDKs.
		out.SpanID = *tc.SpanID
	}
	return out
}

func instanceProto(in history.OrchestrationInstance) *pb.OrchestrationInstance {
	return &pb.OrchestrationInstance{InstanceId: in.InstanceID, ExecutionId: textIfSet(in.ExecutionID)}
}

func tagsProto(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	return maps.Clone(tags)
}

// eventProto converts a history event as C# stores it into the protocol's
// HistoryEvent. Every C# event type has a counterpart; the members the
// protocol lacks (C#'s Generation, Correlation, an EventRaised's trace
// context, a TaskFailed's Details) are not sent.
func eventProto(ev history.Event) (*pb.HistoryEvent, error) {
	b := ev.Base()
	out := &pb.HistoryEvent{EventId: b.EventID, Timestamp: stamp(b.Timestamp)}
	switch e := ev.(type) {
	case *history.ExecutionStartedEvent:
		es := &pb.ExecutionStartedEvent{
			Name:                    e.Name,
			Version:                 textIfSet(e.Version),
			Input:                   text(e.Input),
			OrchestrationInstance:   instanceProto(e.OrchestrationInstance),
			ScheduledStartTimestamp: stampPtr(e.ScheduledStartTime),
			ParentTraceContext:      traceProto(e.ParentTraceContext),
			Tags:                    tagsProto(e.Tags),
		}
		if p := e.ParentInstance; p != nil {
			es.ParentInstance = &pb.ParentInstanceInfo{TaskScheduledId: p.TaskScheduleID, Name: textIfSet(p.Name),
				Version: textIfSet(p.Version), OrchestrationInstance: instanceProto(p.OrchestrationInstance)}
		}
		out.EventType = &pb.HistoryEvent_ExecutionStarted{ExecutionStarted: es}
	case *history.ExecutionCompletedEvent:
		out.EventType = &pb.HistoryEvent_ExecutionCompleted{ExecutionCompleted: &pb.ExecutionCompletedEvent{
			OrchestrationStatus: pb.OrchestrationStatus(e.OrchestrationStatus), Result: text(e.Result),
			FailureDetails: failureProto(e.FailureDetails)}}
	case *history.ExecutionTerminatedEvent:
		out.EventType = &pb.HistoryEvent_ExecutionTerminated{ExecutionTerminated: &pb.ExecutionTerminatedEvent{
			Input: text(e.Input), Recurse: e.Recursive}}
	case *history.TaskScheduledEvent:
		out.EventType = &pb.HistoryEvent_TaskScheduled{TaskScheduled: &pb.TaskScheduledEvent{Name: e.Name,
			Version: textIfSet(e.Version), Input: text(e.Input), ParentTraceContext: traceProto(e.ParentTraceContext),
			Tags: tagsProto(e.Tags)}}
	case *history.TaskCompletedEvent:
		out.EventType = &pb.HistoryEvent_TaskCompleted{TaskCompleted: &pb.TaskCompletedEvent{
			TaskScheduledId: e.TaskScheduledID, Result: text(e.Result)}}
	case *history.TaskFailedEvent:
		out.EventType = &pb.HistoryEvent_TaskFailed{TaskFailed: &pb.TaskFailedEvent{
			TaskScheduledId: e.TaskScheduledID, FailureDetails: legacyFailure(e.FailureDetails, e.Reason)}}
	case *history.SubOrchestrationInstanceCreatedEvent:
		out.EventType = &pb.HistoryEvent_SubOrchestrationInstanceCreated{SubOrchestrationInstanceCreated: &pb.SubOrchestrationInstanceCreatedEvent{
			InstanceId: e.InstanceID, Name: e.Name, Version: textIfSet(e.Version), Input: text(e.Input),
			Tags: tagsProto(e.Tags)}}
	case *history.SubOrchestrationInstanceCompletedEvent:
		out.EventType = &pb.HistoryEvent_SubOrchestrationInstanceCompleted{SubOrchestrationInstanceCompleted: &pb.SubOrchestrationInstanceCompletedEvent{
			TaskScheduledId: e.TaskScheduledID, Result: text(e.Result)}}
	case *history.SubOrchestrationInstanceFailedEvent:
		out.EventType = &pb.HistoryEvent_SubOrchestrationInstanceFailed{SubOrchestrationInstanceFailed: &pb.SubOrchestrationInstanceFailedEvent{
			TaskScheduledId: e.TaskScheduledID, FailureDetails: legacyFailure(e.FailureDetails, e.Reason)}}
	case *history.TimerCreatedEvent:
		out.EventType = &pb.HistoryEvent_TimerCreated{TimerCreated: &pb.TimerCreatedEvent{FireAt: stamp(e.FireAt)}}
	case *history.TimerFiredEvent:
		out.EventType = &pb.HistoryEvent_TimerFired{TimerFired: &pb.TimerFiredEvent{FireAt: stamp(e.FireAt), TimerId: e.TimerID}}
	case *history.OrchestratorStartedEvent:
		out.EventType = &pb.HistoryEvent_OrchestratorStarted{OrchestratorStarted: &pb.OrchestratorStartedEvent{}}
	case *history.OrchestratorCompletedEvent:
		out.EventType = &pb.HistoryEvent_OrchestratorCompleted{OrchestratorCompleted: &pb.OrchestratorCompletedEvent{}}
	case *history.EventSentEvent:
		out.EventType = &pb.HistoryEvent_EventSent{EventSent: &pb.EventSentEvent{InstanceId: e.InstanceID, Name: e.Name,
			Input: text(e.Input)}}
	case *history.EventRaisedEvent:
		out.EventType = &pb.HistoryEvent_EventRaised{EventRaised: &pb.EventRaisedEvent{Name: e.Name, Input: text(e.Input)}}
	case *history.GenericEvent:
		out.EventType = &pb.HistoryEvent_GenericEvent{GenericEvent: &pb.GenericEvent{Data: text(e.Data)}}
	case *history.HistoryStateEvent:
		// C# keeps a whole OrchestrationState here; no backend of the
		// Azure Storage layout writes one.
		out.EventType = &pb.HistoryEvent_HistoryState{HistoryState: &pb.HistoryStateEvent{}}
	case *history.ContinueAsNewEvent:
		out.EventType = &pb.HistoryEvent_ContinueAsNew{ContinueAsNew: &pb.ContinueAsNewEvent{Input: text(e.Result)}}
	case *history.ExecutionSuspendedEvent:
		out.EventType = &pb.HistoryEvent_ExecutionSuspended{ExecutionSuspended: &pb.ExecutionSuspendedEvent{Input: text(e.Reason)}}
	case *history.ExecutionResumedEvent:
		out.EventType = &pb.HistoryEvent_ExecutionResumed{ExecutionResumed: &pb.ExecutionResumedEvent{Input: text(e.Reason)}}
	case *history.ExecutionRewoundEvent:
		out.EventType = &pb.HistoryEvent_ExecutionRewound{ExecutionRewound: &pb.ExecutionRewoundEvent{Reason: text(e.Reason),
			ParentExecutionId: text(e.ParentExecutionID), InstanceId: text(e.InstanceID),
			ParentTraceContext: traceProto(e.ParentTraceContext)}}
	default:
		return nil, fmt.Errorf("sidecar: no protocol counterpart for history event %T (%s)", ev, ev.Type())
	}
	return out, nil
}

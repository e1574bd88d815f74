package history

import (
	"encoding/json"
	"time"
)

// Event is one history event. The concrete types are the *XxxEvent structs of
// this package; switch on them or on Type().
type Event interface {
	// Type returns the C# EventType of the event.
	Type() EventType
	// Base returns the members every C# HistoryEvent has.
	Base() *EventBase
}

// EventBase holds the members of C#'s HistoryEvent base class. On the wire
// they come after the members of the concrete class.
type EventBase struct {
	// EventID is the orchestrator's task id on scheduling events
	// (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated,
	// EventSent, and the completion event), and -1 on most others.
	EventID int32
	// IsPlayed is informational; C# sets it on events applied during replay.
	IsPlayed bool
	// Timestamp is when the event was created (UTC).
	Timestamp time.Time
}

// Base returns b itself; embedding EventBase gives every event this method.
func (b *EventBase) Base() *EventBase { return b }

// ExecutionStartedEvent starts an execution (a client start, a
// sub-orchestration start, or a continue-as-new generation).
type ExecutionStartedEvent struct {
	OrchestrationInstance OrchestrationInstance
	ParentInstance        *ParentInstance
	Name                  string
	Version               string
	Input                 *string
	Tags                  map[string]string
	Correlation           *string // legacy Application Insights correlation
	ParentTraceContext    *DistributedTraceContext
	ScheduledStartTime    *time.Time
	Generation            *int32
	GenerateNewTrace      bool
	EventBase
}

// ExecutionCompletedEvent ends an execution with a final status.
type ExecutionCompletedEvent struct {
	OrchestrationStatus OrchestrationStatus
	Result              *string
	FailureDetails      *FailureDetails
	EventBase
}

// ContinueAsNewEvent has the members of ExecutionCompleted. C# no longer
// persists it, but readers must understand it.
type ContinueAsNewEvent struct {
	OrchestrationStatus OrchestrationStatus
	Result              *string
	FailureDetails      *FailureDetails
	EventBase
}

// ExecutionTerminatedEvent asks an instance to terminate; Input is the
// reason, which becomes the instance's output.
type ExecutionTerminatedEvent struct {
	Input *string
	// Recursive is azdurable's own member: when true, the instance also
	// terminates its running sub-orchestrations. It is written after the base
	// members and only when true; C# ignores it.
	Recursive bool
	EventBase
}

// TaskScheduledEvent schedules an activity; EventID is the task id.
type TaskScheduledEvent struct {
	Name               string
	Version            string
	Input              *string
	ParentTraceContext *DistributedTraceContext
	Tags               map[string]string
	EventBase
}

// TaskCompletedEvent is an activity's result.
type TaskCompletedEvent struct {
	TaskScheduledID int32
	Result          *string
	EventBase
}

// TaskFailedEvent is an activity's failure.
type TaskFailedEvent struct {
	TaskScheduledID int32
	Reason          *string
	Details         *string
	FailureDetails  *FailureDetails
	EventBase
}

// SubOrchestrationInstanceCreatedEvent records the start of a child.
type SubOrchestrationInstanceCreatedEvent struct {
	Name         string
	Version      string
	InstanceID   string
	Input        *string
	ClientSpanID *string
	Tags         map[string]string
	EventBase
}

// SubOrchestrationInstanceCompletedEvent is a child's result.
type SubOrchestrationInstanceCompletedEvent struct {
	TaskScheduledID int32
	Result          *string
	EventBase
}

// SubOrchestrationInstanceFailedEvent is a child's failure.
type SubOrchestrationInstanceFailedEvent struct {
	TaskScheduledID int32
	Reason          *string
	Details         *string
	FailureDetails  *FailureDetails
	EventBase
}

// TimerCreatedEvent records a durable timer; EventID is the timer id.
type TimerCreatedEvent struct {
	FireAt time.Time
	EventBase
}

// TimerFiredEvent is a due timer.
type TimerFiredEvent struct {
	TimerID int32
	FireAt  time.Time
	EventBase
}

// OrchestratorStartedEvent opens every episode; its Timestamp is the
// orchestration's current time.
type OrchestratorStartedEvent struct{ EventBase }

// OrchestratorCompletedEvent closes every episode.
type OrchestratorCompletedEvent struct{ EventBase }

// EventSentEvent records an event sent to another instance.
type EventSentEvent struct {
	InstanceID string
	Name       string
	Input      *string
	EventBase
}

// EventRaisedEvent is an external event delivered to an instance.
type EventRaisedEvent struct {
	Name               string
	Input              *string
	ParentTraceContext *DistributedTraceContext
	EventBase
}

// GenericEvent carries free text; the legacy rewind rewrites rows into it.
type GenericEvent struct {
	Data *string
	EventBase
}

// HistoryStateEvent is kept opaque: State is its raw JSON (or nil).
type HistoryStateEvent struct {
	State json.RawMessage
	EventBase
}

// ExecutionSuspendedEvent suspends an instance.
type ExecutionSuspendedEvent struct {
	Reason *string
	EventBase
}

// ExecutionResumedEvent resumes a suspended instance.
type ExecutionResumedEvent struct {
	Reason *string
	EventBase
}

// ExecutionRewoundEvent is DurableTask.Core's newer rewind request.
type ExecutionRewoundEvent struct {
	Reason             *string
	ParentExecutionID  *string
	InstanceID         *string
	ParentTraceContext *DistributedTraceContext
	EventBase
}

func (*ExecutionStartedEvent) Type() EventType                { return ExecutionStarted }
func (*ExecutionCompletedEvent) Type() EventType              { return ExecutionCompleted }
func (*ContinueAsNewEvent) Type() EventType                   { return ContinueAsNew }
func (*ExecutionTerminatedEvent) Type() EventType             { return ExecutionTerminated }
func (*TaskScheduledEvent) Type() EventType                   { return TaskScheduled }
func (*TaskCompletedEvent) Type() EventType                   { return TaskCompleted }
func (*TaskFailedEvent) Type() EventType                      { return TaskFailed }
func (*SubOrchestrationInstanceCreatedEvent) Type() EventType { return SubOrchestrationInstanceCreated }
func (*SubOrchestrationInstanceCompletedEvent) Type() EventType {
	return SubOrchestrationInstanceCompleted
}
func (*SubOrchestrationInstanceFailedEvent) Type() EventType { return SubOrchestrationInstanceFailed }
func (*TimerCreatedEvent) Type() EventType                   { return TimerCreated }
func (*TimerFiredEvent) Type() EventType                     { return TimerFired }
func (*OrchestratorStartedEvent) Type() EventType            { return OrchestratorStarted }
func (*OrchestratorCompletedEvent) Type() EventType          { return OrchestratorCompleted }
func (*EventSentEvent) Type() EventType                      { return EventSent }
func (*EventRaisedEvent) Type() EventType                    { return EventRaised }
func (*GenericEvent) Type() EventType                        { return GenericEventType }
func (*HistoryStateEvent) Type() EventType                   { return HistoryState }
func (*ExecutionSuspendedEvent) Type() EventType             { return ExecutionSuspended }
func (*ExecutionResumedEvent) Type() EventType               { return ExecutionResumed }
func (*ExecutionRewoundEvent) Type() EventType               { return ExecutionRewound }

// NewEvent returns a zero event of the given type (EventID -1), or nil for
// ExecutionFailed and unknown values, which have no C# class.
func NewEvent(t EventType) Event {
	var e Event
	switch t {
	case ExecutionStarted:
		e = &ExecutionStartedEvent{}
	case ExecutionCompleted:
		e = &ExecutionCompletedEvent{}
	case ContinueAsNew:
		e = &ContinueAsNewEvent{}
	case ExecutionTerminated:
		e = &ExecutionTerminatedEvent{}
	case TaskScheduled:
		e = &TaskScheduledEvent{}
	case TaskCompleted:
		e = &TaskCompletedEvent{}
	case TaskFailed:
		e = &TaskFailedEvent{}
	case SubOrchestrationInstanceCreated:
		e = &SubOrchestrationInstanceCreatedEvent{}
	case SubOrchestrationInstanceCompleted:
		e = &SubOrchestrationInstanceCompletedEvent{}
	case SubOrchestrationInstanceFailed:
		e = &SubOrchestrationInstanceFailedEvent{}
	case TimerCreated:
		e = &TimerCreatedEvent{}
	case TimerFired:
		e = &TimerFiredEvent{}
	case OrchestratorStarted:
		e = &OrchestratorStartedEvent{}
	case OrchestratorCompleted:
		e = &OrchestratorCompletedEvent{}
	case EventSent:
		e = &EventSentEvent{}
	case EventRaised:
		e = &EventRaisedEvent{}
	case GenericEventType:
		e = &GenericEvent{}
	case HistoryState:
		e = &HistoryStateEvent{}
	case ExecutionSuspended:
		e = &ExecutionSuspendedEvent{}
	case ExecutionResumed:
		e = &ExecutionResumedEvent{}
	case ExecutionRewound:
		e = &ExecutionRewoundEvent{}
	default:
		return nil
	}
	e.Base().EventID = -1
	return e
}

// TypeName returns the .NET full type name of an event class, as written in
// "$type" (for example "DurableTask.Core.History.TaskScheduledEvent").
func TypeName(t EventType) string {
	if !t.Valid() {
		return ""
	}
	return typeNames[t]
}

// typeNames holds TypeName's answers, built once: every queue message
// needs one.
var typeNames = func() (names [len(eventTypeNames)]string) {
	for i, n := range eventTypeNames {
		switch EventType(i) {
		case ExecutionFailed: // no class
		case GenericEventType:
			names[i] = "DurableTask.Core.History.GenericEvent"
		default:
			names[i] = "DurableTask.Core.History." + n + "Event"
		}
	}
	return names
}()

// eventTypeForTypeName maps a "$type" value (assembly suffix already removed)
// to an event type.
func eventTypeForTypeName(name string) (EventType, bool) {
	for i, n := range typeNames {
		if n != "" && n == name {
			return EventType(i), true
		}
	}
	return 0, false
}

// CompletedKind returns the kind of scheduling event that ev completes,
// and whether ev is a completion at all: a task's result or failure
// completes a TaskScheduled, a sub-orchestration's a
// SubOrchestrationInstanceCreated, a timer's firing a TimerCreated.
func CompletedKind(ev Event) (EventType, bool) {
	switch ev.(type) {
	case *TaskCompletedEvent, *TaskFailedEvent:
		return TaskScheduled, true
	case *SubOrchestrationInstanceCompletedEvent, *SubOrchestrationInstanceFailedEvent:
		return SubOrchestrationInstanceCreated, true
	case *TimerFiredEvent:
		return TimerCreated, true
	}
	return 0, false
}

// Str returns a pointer to s, for the nullable string members of events.
func Str(s string) *string { return &s }

// Deref returns *p, or "" when p is nil.
func Deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

package history

import (
	"fmt"
	"strconv"
	"strings"
)

// EventType is DurableTask.Core's EventType enum. The numbers are part of the
// wire format (queue messages carry them as integers) and the names are part
// of the History table (the EventType column holds the name).
type EventType int

// The C# EventType values, in declaration order.
const (
	ExecutionStarted                  EventType = 0
	ExecutionCompleted                EventType = 1
	ExecutionFailed                   EventType = 2 // no event class exists; never written
	ExecutionTerminated               EventType = 3
	TaskScheduled                     EventType = 4
	TaskCompleted                     EventType = 5
	TaskFailed                        EventType = 6
	SubOrchestrationInstanceCreated   EventType = 7
	SubOrchestrationInstanceCompleted EventType = 8
	SubOrchestrationInstanceFailed    EventType = 9
	TimerCreated                      EventType = 10
	TimerFired                        EventType = 11
	OrchestratorStarted               EventType = 12
	OrchestratorCompleted             EventType = 13
	EventSent                         EventType = 14
	EventRaised                       EventType = 15
	ContinueAsNew                     EventType = 16
	GenericEventType                  EventType = 17 // the C# class is GenericEvent
	HistoryState                      EventType = 18
	ExecutionSuspended                EventType = 19
	ExecutionResumed                  EventType = 20
	ExecutionRewound                  EventType = 21
)

var eventTypeNames = [...]string{
	"ExecutionStarted", "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated",
	"TaskScheduled", "TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCreated",
	"SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed", "TimerCreated",
	"TimerFired", "OrchestratorStarted", "OrchestratorCompleted", "EventSent", "EventRaised",
	"ContinueAsNew", "GenericEvent", "HistoryState", "ExecutionSuspended", "ExecutionResumed",
	"ExecutionRewound",
}

// String returns the C# enum member name, or the number for unknown values.
func (t EventType) String() string {
	if t >= 0 && int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return strconv.Itoa(int(t))
}

// Valid reports whether t names a C# enum member.
func (t EventType) Valid() bool { return t >= 0 && int(t) < len(eventTypeNames) }

// ParseEventType accepts an enum member name (exact, as the History table
// stores it; any case is tolerated) or its number.
func ParseEventType(s string) (EventType, error) {
	for i, n := range eventTypeNames {
		if strings.EqualFold(n, s) {
			return EventType(i), nil
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && EventType(n).Valid() {
		return EventType(n), nil
	}
	return 0, fmt.Errorf("unknown event type %.60q", s)
}

// OrchestrationStatus is DurableTask.Core's OrchestrationStatus enum.
type OrchestrationStatus int

// The C# OrchestrationStatus values.
const (
	StatusRunning        OrchestrationStatus = 0
	StatusCompleted      OrchestrationStatus = 1
	StatusContinuedAsNew OrchestrationStatus = 2
	StatusFailed         OrchestrationStatus = 3
	StatusCanceled       OrchestrationStatus = 4
	StatusTerminated     OrchestrationStatus = 5
	StatusPending        OrchestrationStatus = 6
	StatusSuspended      OrchestrationStatus = 7
)

var statusNames = [...]string{
	"Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending", "Suspended",
}

// String returns the C# enum member name (as the Instances table's
// RuntimeStatus column holds it), or the number for unknown values.
func (s OrchestrationStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return strconv.Itoa(int(s))
}

// Valid reports whether s names a C# enum member.
func (s OrchestrationStatus) Valid() bool { return s >= 0 && int(s) < len(statusNames) }

// IsTerminal reports whether the status is final: Completed, Failed,
// Canceled or Terminated. ContinuedAsNew is not terminal for the instance.
func (s OrchestrationStatus) IsTerminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCanceled, StatusTerminated:
		return true
	}
	return false
}

// ParseStatus accepts a status name (case-sensitive names are what C#
// writes; other cases are tolerated) or its number.
func ParseStatus(s string) (OrchestrationStatus, error) {
	for i, n := range statusNames {
		if n == s {
			return OrchestrationStatus(i), nil
		}
	}
	for i, n := range statusNames {
		if strings.EqualFold(n, s) {
			return OrchestrationStatus(i), nil
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && OrchestrationStatus(n).Valid() {
		return OrchestrationStatus(n), nil
	}
	return 0, fmt.Errorf("unknown orchestration status %.60q", s)
}

// Statuses lists every status in C# order.
func Statuses() []OrchestrationStatus {
	out := make([]OrchestrationStatus, len(statusNames))
	for i := range out {
		out[i] = OrchestrationStatus(i)
	}
	return out
}

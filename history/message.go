package history

import (
	"encoding/json"
	"time"
)

// OrchestrationInstance identifies an instance and, optionally, one of its
// executions. An empty ExecutionID means "whatever execution is current" and
// is written as null, as C# clients do for terminate, suspend and resume.
type OrchestrationInstance struct {
	InstanceID  string
	ExecutionID string
}

// ParentInstance identifies the parent of a sub-orchestration.
type ParentInstance struct {
	Name                  string
	OrchestrationInstance OrchestrationInstance
	// TaskScheduleID is the parent's task id for the child (C# really spells
	// the member TaskScheduleId).
	TaskScheduleID int32
	Version        string
}

// OrchestrationExecutionContext travels on activity and sub-orchestration
// messages and carries the orchestration's tags.
type OrchestrationExecutionContext struct {
	OrchestrationTags map[string]string
}

// DistributedTraceContext is W3C trace context as DurableTask.Core carries it.
type DistributedTraceContext struct {
	TraceParent       string
	TraceState        *string
	ID                *string
	SpanID            *string
	ActivityStartTime *time.Time // a DateTimeOffset in C#
}

// FailureDetails mirrors DurableTask.Core.FailureDetails.
type FailureDetails struct {
	ErrorType      string
	ErrorMessage   string
	StackTrace     *string
	InnerFailure   *FailureDetails
	IsNonRetriable bool
	// Properties is the raw JSON object of the C# string→object dictionary
	// (its own "$type" removed), or nil for null.
	Properties json.RawMessage
}

// TaskMessage is DurableTask.Core's TaskMessage: an event addressed to an
// orchestration instance.
type TaskMessage struct {
	Event Event
	// SequenceNumber is always 0 in the Azure Storage backend.
	SequenceNumber                int64
	OrchestrationInstance         OrchestrationInstance
	OrchestrationExecutionContext *OrchestrationExecutionContext
}

// OrchestrationState mirrors DurableTask.Core's OrchestrationState: the
// status of one execution as the Instances table and the client report it.
type OrchestrationState struct {
	Name                  string
	Version               string
	OrchestrationInstance OrchestrationInstance
	Status                OrchestrationStatus
	CreatedTime           time.Time
	LastUpdatedTime       time.Time
	CompletedTime         time.Time // zero until terminal
	ScheduledStartTime    *time.Time
	Input                 *string
	Output                *string
	CustomStatus          *string
	Tags                  map[string]string
	Generation            *int32
	// ParentInstanceID is "" for top-level instances.
	ParentInstanceID string
	FailureDetails   *FailureDetails
}

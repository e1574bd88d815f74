package tables

import (
	"time"

	"github.com/azdurable/azdurable/history"
)

// Column names shared by history rows, the sentinel and the Instances table.
const (
	colEventType     = "EventType"
	colEventID       = "EventId"
	colIsPlayed      = "IsPlayed"
	colEventTime     = "_Timestamp"
	colExecutionID   = "ExecutionId"
	colName          = "Name"
	colVersion       = "Version"
	colInput         = "Input"
	colResult        = "Result"
	colOutput        = "Output"
	colReason        = "Reason"
	colDetails       = "Details"
	colTags          = "Tags"
	colFailure       = "FailureDetails"
	colTraceContext  = "ParentTraceContext"
	colInstanceID    = "InstanceId"
	colTaskScheduled = "TaskScheduledId"
	colStatus        = "OrchestrationStatus"
	colFireAt        = "FireAt"
)

// jsonNull is what C# stores in a JSON column whose object is null.
const jsonNull = "null"

// rowWriter appends history columns; nil pointers are left out, as the
// service drops the nulls C# sends.
type rowWriter struct{ e *Entity }

func (w rowWriter) add(name string, v any) {
	w.e.Properties = append(w.e.Properties, Property{Name: name, Value: v})
}

func (w rowWriter) str(name, v string) { w.add(name, v) }

func (w rowWriter) nstr(name string, v *string) {
	if v != nil {
		w.add(name, *v)
	}
}

func (w rowWriter) int(name string, v int32) { w.add(name, v) }

func (w rowWriter) time(name string, t time.Time) { w.add(name, t.UTC()) }

func (w rowWriter) json(name string, text []byte) { w.add(name, string(text)) }

func (w rowWriter) tags(tags map[string]string) { w.json(colTags, history.AppendTags(nil, tags)) }

func (w rowWriter) trace(tc *history.DistributedTraceContext) {
	w.json(colTraceContext, history.AppendTraceContext(nil, tc, history.Plain))
}

func (w rowWriter) failure(fd *history.FailureDetails) {
	w.json(colFailure, history.AppendFailureDetails(nil, fd, history.Plain))
}

// HistoryRow builds the History-table row of one event: PartitionKey = the
// escaped instance id, RowKey = RowKeyFor(seq), and the columns of the event
// in the order the C# backend writes them (the event's own members, then
// EventId, IsPlayed, _Timestamp and EventType, then the keys and
// ExecutionId). Members that are nil are left out. JSON-valued members
// (ParentInstance, Tags, ParentTraceContext, FailureDetails, …) hold the
// string "null" when nil, as in C#.
//
// Optional payloads are written whenever the event carries them: the Input
// of TaskScheduled and SubOrchestrationInstanceCreated and the Details of
// TaskFailed and SubOrchestrationInstanceFailed. A default C# worker leaves
// them null (its dispatcher flags IncludeParameters and IncludeDetails are
// off), so a caller that wants C#'s default rows passes events with those
// members cleared. ExecutionTerminatedEvent.Recursive is an azdurable queue
// message member and is never stored.
//
// Large values are not offloaded here; see OffloadLargeColumns.
func HistoryRow(instanceID, executionID string, seq int, ev history.Event) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(instanceID), RowKey: RowKeyFor(seq)}
	e.Properties = make([]Property, 0, 18)
	w := rowWriter{e}
	switch v := ev.(type) {
	case *history.ExecutionStartedEvent:
		w.json("ParentInstance", history.AppendParentInstance(nil, v.ParentInstance, history.Plain))
		w.str(colName, v.Name)
		w.str(colVersion, v.Version)
		w.nstr(colInput, v.Input)
		w.tags(v.Tags)
		w.nstr("Correlation", v.Correlation)
		w.trace(v.ParentTraceContext)
		if v.ScheduledStartTime != nil {
			w.time("ScheduledStartTime", *v.ScheduledStartTime)
		}
		if v.Generation != nil {
			w.int("Generation", *v.Generation)
		}
		w.add("GenerateNewTrace", v.GenerateNewTrace)
		w.json("OrchestrationInstance", history.AppendOrchestrationInstance(nil, v.OrchestrationInstance, history.Plain))
	case *history.ExecutionCompletedEvent:
		w.str(colStatus, v.OrchestrationStatus.String())
		w.nstr(colResult, v.Result)
		w.failure(v.FailureDetails)
	case *history.ContinueAsNewEvent:
		w.str(colStatus, v.OrchestrationStatus.String())
		w.nstr(colResult, v.Result)
		w.failure(v.FailureDetails)
	case *history.ExecutionTerminatedEvent:
		w.nstr(colInput, v.Input)
	case *history.TaskScheduledEvent:
		w.str(colName, v.Name)
		w.str(colVersion, v.Version)
		w.nstr(colInput, v.Input)
		w.trace(v.ParentTraceContext)
		w.tags(v.Tags)
	case *history.TaskCompletedEvent:
		w.int(colTaskScheduled, v.TaskScheduledID)
		w.nstr(colResult, v.Result)
	case *history.TaskFailedEvent:
		w.int(colTaskScheduled, v.TaskScheduledID)
		w.nstr(colReason, v.Reason)
		w.nstr(colDetails, v.Details)
		w.failure(v.FailureDetails)
	case *history.SubOrchestrationInstanceCreatedEvent:
		w.str(colName, v.Name)
		w.str(colVersion, v.Version)
		w.str(colInstanceID, v.InstanceID)
		w.nstr(colInput, v.Input)
		w.nstr("ClientSpanId", v.ClientSpanID)
		w.tags(v.Tags)
	case *history.SubOrchestrationInstanceCompletedEvent:
		w.int(colTaskScheduled, v.TaskScheduledID)
		w.nstr(colResult, v.Result)
	case *history.SubOrchestrationInstanceFailedEvent:
		w.int(colTaskScheduled, v.TaskScheduledID)
		w.nstr(colReason, v.Reason)
		w.nstr(colDetails, v.Details)
		w.failure(v.FailureDetails)
	case *history.TimerCreatedEvent:
		w.time(colFireAt, v.FireAt)
	case *history.TimerFiredEvent:
		w.int("TimerId", v.TimerID)
		w.time(colFireAt, v.FireAt)
	case *history.OrchestratorStartedEvent, *history.OrchestratorCompletedEvent:
	case *history.EventSentEvent:
		w.str(colInstanceID, v.InstanceID)
		w.str(colName, v.Name)
		w.nstr(colInput, v.Input)
	case *history.EventRaisedEvent:
		w.str(colName, v.Name)
		w.nstr(colInput, v.Input)
		w.trace(v.ParentTraceContext)
	case *history.GenericEvent:
		w.nstr("Data", v.Data)
	case *history.HistoryStateEvent:
		if len(v.State) == 0 {
			w.str("State", jsonNull)
		} else {
			w.json("State", v.State)
		}
	case *history.ExecutionSuspendedEvent:
		w.nstr(colReason, v.Reason)
	case *history.ExecutionResumedEvent:
		w.nstr(colReason, v.Reason)
	case *history.ExecutionRewoundEvent:
		w.nstr(colReason, v.Reason)
		w.nstr("ParentExecutionId", v.ParentExecutionID)
		w.nstr(colInstanceID, v.InstanceID)
		w.trace(v.ParentTraceContext)
	}
	b := ev.Base()
	w.int(colEventID, b.EventID)
	w.add(colIsPlayed, b.IsPlayed)
	w.time(colEventTime, b.Timestamp)
	w.str(colEventType, ev.Type().String())
	e.KeyIndex = len(e.Properties)
	w.str(colExecutionID, executionID)
	return e
}

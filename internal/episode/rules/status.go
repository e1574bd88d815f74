package rules

import (
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
)

// Field is a field of an instance's status: a column of C#'s Instances row.
type Field uint8

// The fields a status transition writes.
const (
	FieldName Field = iota + 1
	FieldVersion
	FieldExecutionID
	FieldRuntimeStatus
	FieldCreatedTime
	FieldLastUpdatedTime
	FieldCompletedTime
	FieldScheduledStartTime
	FieldInput
	FieldOutput
	FieldCustomStatus
	FieldTags
	FieldGeneration
	FieldParentInstanceID
	// FieldTaskHub is the writer's task hub name: a column of the
	// Instances row that the status itself does not hold.
	FieldTaskHub
)

// Write is one field a status transition writes.
type Write struct {
	Field Field
	// Event is the index, in the transition's events, of the event the
	// value comes from, or -1.
	Event int
	// From names the field of that event that holds the value when the
	// value is a payload ("Input", "Result" or "Reason"), else "".
	From string
}

// Change is one status transition: the status after it, and the fields it
// writes in the order C# writes the Instances row's columns.
type Change struct {
	// State is the status after the transition. Fields the transition does
	// not write keep their previous values.
	State *history.OrchestrationState
	// Writes lists the written fields in order; a field written twice
	// keeps its first place and its value is State's.
	Writes []Write
}

func (c *Change) write(f Field, event int, from string) {
	c.Writes = append(c.Writes, Write{Field: f, Event: event, From: from})
}

// Pending is the status a client's start gives an instance (tables spec
// §2.3.1): a new status, Pending, created at the start event's Timestamp,
// with the start's name, version, execution, scheduled time, generation,
// tags and input, last updated now, and no parent. It replaces whatever
// status the id had. The transition's events are (start).
func Pending(start *history.ExecutionStartedEvent, now time.Time) Change {
	st := &history.OrchestrationState{OrchestrationInstance: start.OrchestrationInstance}
	c := Change{State: st}
	st.Input = start.Input
	c.write(FieldInput, 0, "Input")
	st.CreatedTime = start.Timestamp
	c.write(FieldCreatedTime, 0, "")
	st.Name = start.Name
	c.write(FieldName, 0, "")
	st.Version = start.Version
	c.write(FieldVersion, 0, "")
	st.Status = history.StatusPending
	c.write(FieldRuntimeStatus, -1, "")
	st.LastUpdatedTime = now
	c.write(FieldLastUpdatedTime, -1, "")
	c.write(FieldTaskHub, -1, "")
	st.ScheduledStartTime = start.ScheduledStartTime
	c.write(FieldScheduledStartTime, 0, "")
	c.write(FieldExecutionID, 0, "")
	st.Generation = start.Generation
	c.write(FieldGeneration, 0, "")
	st.Tags = start.Tags
	c.write(FieldTags, 0, "")
	st.ParentInstanceID = ""
	c.write(FieldParentInstanceID, -1, "")
	return c
}

// Checkpoint is how an episode's new events change an instance's status
// (C#'s Instances update after a checkpoint, tables spec §2.3.2). It
// always writes the custom status, the execution, the last-updated time
// (the Timestamp of the last event, or now when there is none), the task
// hub and the parent; then each event, in order:
//
//   - ExecutionStarted: execution and parent, name, version, created time
//     (its Timestamp), Running, tags, generation (kept when the event has
//     none), scheduled start time (only when set) and input;
//   - ExecutionCompleted: its status, completed time = now, and output =
//     history.FailureOutput of its Result and failure details;
//   - ExecutionTerminated: Terminated, completed time = now, output = the
//     reason (its Input);
//   - ExecutionSuspended / ExecutionResumed: Suspended / Running, output =
//     the reason;
//   - ContinueAsNew: ContinuedAsNew, output = its Result.
//
// The status holds what an Instances row holds, and nothing more, so that
// every backend shows the same status for the same history: failure
// details stay in the history (the row has no such column; clients derive
// the failure from the output). A new execution's status (one whose events
// hold its ExecutionStarted) has no output, completion time or failure
// details yet; a store that merges the written fields into a row, as the
// Instances table does, keeps the old ones until they are written again.
//
// st is the status before the episode (nil: none) and is updated in place.
// The transition's events are events.
func Checkpoint(st *history.OrchestrationState, instanceID string, events []history.Event, customStatus *string, now time.Time) Change {
	if st == nil {
		st = &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: instanceID}}
	}
	c := Change{State: st}
	st.CustomStatus = customStatus
	c.write(FieldCustomStatus, -1, "")
	c.write(FieldExecutionID, -1, "")
	st.LastUpdatedTime = now
	if n := len(events); n > 0 {
		st.LastUpdatedTime = events[n-1].Base().Timestamp
	}
	c.write(FieldLastUpdatedTime, len(events)-1, "")
	c.write(FieldTaskHub, -1, "")
	c.write(FieldParentInstanceID, -1, "")
	for i, ev := range events {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			st.OrchestrationInstance.ExecutionID = v.OrchestrationInstance.ExecutionID
			c.write(FieldExecutionID, i, "")
			st.ParentInstanceID = ""
			if v.ParentInstance != nil {
				st.ParentInstanceID = v.ParentInstance.OrchestrationInstance.InstanceID
			}
			c.write(FieldParentInstanceID, i, "")
			st.Output, st.CompletedTime, st.FailureDetails = nil, time.Time{}, nil
			st.Name = v.Name
			c.write(FieldName, i, "")
			st.Version = v.Version
			c.write(FieldVersion, i, "")
			st.CreatedTime = v.Timestamp
			c.write(FieldCreatedTime, i, "")
			st.Status = history.StatusRunning
			c.write(FieldRuntimeStatus, i, "")
			st.Tags = v.Tags
			c.write(FieldTags, i, "")
			if v.Generation != nil {
				st.Generation = v.Generation
			}
			c.write(FieldGeneration, i, "")
			if v.ScheduledStartTime != nil {
				st.ScheduledStartTime = v.ScheduledStartTime
				c.write(FieldScheduledStartTime, i, "")
			}
			st.Input = v.Input
			c.write(FieldInput, i, "Input")
		case *history.ExecutionCompletedEvent:
			st.Status = v.OrchestrationStatus
			c.write(FieldRuntimeStatus, i, "")
			st.CompletedTime = now
			c.write(FieldCompletedTime, -1, "")
			st.Output = history.FailureOutput(v.Result, v.FailureDetails)
			st.FailureDetails = nil
			c.write(FieldOutput, i, "Result")
		case *history.ExecutionTerminatedEvent:
			st.Status = history.StatusTerminated
			c.write(FieldRuntimeStatus, i, "")
			st.CompletedTime = now
			c.write(FieldCompletedTime, -1, "")
			st.Output = v.Input
			c.write(FieldOutput, i, "Input")
		case *history.ExecutionSuspendedEvent:
			st.Status = history.StatusSuspended
			c.write(FieldRuntimeStatus, i, "")
			st.Output = v.Reason
			c.write(FieldOutput, i, "Reason")
		case *history.ExecutionResumedEvent:
			st.Status = history.StatusRunning
			c.write(FieldRuntimeStatus, i, "")
			st.Output = v.Reason
			c.write(FieldOutput, i, "Reason")
		case *history.ContinueAsNewEvent:
			st.Status = history.StatusContinuedAsNew
			c.write(FieldRuntimeStatus, i, "")
			st.Output = v.Result
			c.write(FieldOutput, i, "Result")
		}
	}
	return c
}

// TerminatedBeforeHistory is the status of an instance terminated before
// it had any history, typically a Pending or scheduled one (C#'s merge for
// an ExecutionTerminated message without history, tables spec §2.3.4):
// Terminated, last updated at the event's Timestamp, completed now, output
// = the reason. st is updated in place; the transition's events are (ev).
func TerminatedBeforeHistory(st *history.OrchestrationState, ev *history.ExecutionTerminatedEvent, now time.Time) Change {
	if st == nil {
		st = &history.OrchestrationState{}
	}
	c := Change{State: st}
	st.Status = history.StatusTerminated
	c.write(FieldRuntimeStatus, 0, "")
	st.LastUpdatedTime = ev.Timestamp
	c.write(FieldLastUpdatedTime, 0, "")
	st.CompletedTime = now
	c.write(FieldCompletedTime, -1, "")
	st.Output = ev.Input
	c.write(FieldOutput, 0, "Input")
	return c
}

// NeedsRepair reports whether the status of an instance whose history
// shows execution executionID ended with status final is stale and must be
// rewritten with Repair: it is missing, or it is that execution's and shows
// another status (a crash, or a lost answer, between the history commit
// and the status write). A status of another execution is newer and is
// left alone.
func NeedsRepair(st *history.OrchestrationState, executionID string, final history.OrchestrationStatus) bool {
	return st == nil || (strings.EqualFold(st.OrchestrationInstance.ExecutionID, executionID) && st.Status != final)
}

// Repair is the status rewritten from a terminal history (C#'s repair of
// a stale Instances row, tables spec §2.3.3): name, version, created time
// and tags of the execution's ExecutionStarted, the custom status, the
// execution, last updated at lastEventTime (the Timestamp of the history's
// last event), the completion's status, completed at the completion's
// Timestamp, the scheduled start time (only when set), output =
// history.FailureOutput of the completion, and the input only when there
// was no status (rowExists false). st is the stale status (nil: none) and
// is updated in place; the transition's events are (started, completed).
func Repair(st *history.OrchestrationState, instanceID, executionID string, started *history.ExecutionStartedEvent,
	completed *history.ExecutionCompletedEvent, lastEventTime time.Time, customStatus *string, rowExists bool) Change {
	if st == nil {
		st = &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: instanceID}}
	}
	c := Change{State: st}
	st.Name = started.Name
	c.write(FieldName, 0, "")
	st.Version = started.Version
	c.write(FieldVersion, 0, "")
	st.CreatedTime = started.Timestamp
	c.write(FieldCreatedTime, 0, "")
	st.CustomStatus = customStatus
	c.write(FieldCustomStatus, -1, "")
	st.OrchestrationInstance.ExecutionID = executionID
	c.write(FieldExecutionID, -1, "")
	st.LastUpdatedTime = lastEventTime
	c.write(FieldLastUpdatedTime, -1, "")
	st.Status = completed.OrchestrationStatus
	c.write(FieldRuntimeStatus, 1, "")
	st.CompletedTime = completed.Timestamp
	c.write(FieldCompletedTime, 1, "")
	st.Tags = started.Tags
	c.write(FieldTags, 0, "")
	c.write(FieldTaskHub, -1, "")
	if started.ScheduledStartTime != nil {
		st.ScheduledStartTime = started.ScheduledStartTime
		c.write(FieldScheduledStartTime, 0, "")
	}
	st.Output = history.FailureOutput(completed.Result, completed.FailureDetails)
	st.FailureDetails = nil
	c.write(FieldOutput, 1, "Result")
	if !rowExists {
		st.Input = started.Input
		c.write(FieldInput, 0, "Input")
	}
	return c
}

package tables

import (
	"fmt"
	"time"

	"github.com/azdurable/azdurable/history"
)

// Instances-table columns.
const (
	colRuntimeStatus    = "RuntimeStatus"
	colCreatedTime      = "CreatedTime"
	colLastUpdatedTime  = "LastUpdatedTime"
	colCompletedTime    = "CompletedTime"
	colCustomStatus     = "CustomStatus"
	colScheduledStart   = "ScheduledStartTime"
	colGeneration       = "Generation"
	colTaskHubName      = "TaskHubName"
	colParentInstanceID = "ParentInstanceId"
)

// tagsText is the Tags column C# writes: the JSON object, or "null".
func tagsText(tags map[string]string) string { return string(history.AppendTags(nil, tags)) }

// customStatusText is the CustomStatus column C# writes: the runtime's
// serialized custom status, or the literal string "null".
func customStatusText(s *string) string {
	if s == nil {
		return jsonNull
	}
	return *s
}

// nullable turns a nil pointer into an untyped nil (a null slot).
func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// valueOrURL returns the value C# stores in an Instances column for a
// history column that may have been offloaded: the blob URL when row (the
// history row as written, after OffloadLargeColumns) has a
// "<historyColumn>BlobName" column, else the value itself.
func valueOrURL(row *Entity, historyColumn, containerURL string, value *string) any {
	if row != nil {
		if name, ok := row.GetString(historyColumn + blobNameSuffix); ok {
			return BlobURL(containerURL, name)
		}
	}
	return nullable(value)
}

// PendingInstanceRow builds the Instances row a client writes when it starts
// an orchestration, after enqueueing the ExecutionStarted message (Insert,
// or Replace with If-Match on the row it read when re-creating an id).
// Columns in C#'s order: Input, CreatedTime (the event's Timestamp), Name,
// Version, RuntimeStatus = Pending, LastUpdatedTime = now, TaskHubName,
// ScheduledStartTime (only if set), ExecutionId, Generation, Tags,
// ParentInstanceId = "". When the start message itself was offloaded to a
// blob, inputURL is that blob's URL and is stored instead of the input. A
// Go client must also apply C#'s Generation rule before calling: existing
// row's Generation + 1, or 0 for a new id. If Input is too large for its
// column, call OffloadLargeColumns on the result (C# then stores "" plus
// InputBlobName).
func PendingInstanceRow(start *history.ExecutionStartedEvent, taskHubName, inputURL string, now time.Time) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(start.OrchestrationInstance.InstanceID)}
	if inputURL != "" {
		e.Set(colInput, inputURL)
	} else {
		e.Set(colInput, nullable(start.Input))
	}
	e.Set(colCreatedTime, start.Timestamp.UTC())
	e.Set(colName, start.Name)
	e.Set(colVersion, start.Version)
	e.Set(colRuntimeStatus, history.StatusPending.String())
	e.Set(colLastUpdatedTime, now.UTC())
	e.Set(colTaskHubName, taskHubName)
	e.Set(colScheduledStart, utcPtr(start.ScheduledStartTime))
	e.Set(colExecutionID, start.OrchestrationInstance.ExecutionID)
	e.Set(colGeneration, nullable(start.Generation))
	e.Set(colTags, tagsText(start.Tags))
	e.Set(colParentInstanceID, "")
	return e
}

// Checkpoint describes one orchestration episode for CheckpointInstanceRow.
type Checkpoint struct {
	// InstanceID is the instance's (unescaped) id.
	InstanceID string
	// ExecutionID is the execution that ran the episode.
	ExecutionID string
	// TaskHubName is the writer's task hub name.
	TaskHubName string
	// ParentInstanceID is the parent's instance id for a sub-orchestration,
	// "" otherwise.
	ParentInstanceID string
	// CustomStatus is the orchestration's serialized custom status, nil for
	// none (written as the string "null").
	CustomStatus *string
	// NewEvents are the events the episode appended, in order.
	NewEvents []history.Event
	// NewRows, if set, are the History rows written for NewEvents (same
	// length and order, after OffloadLargeColumns). A column that was
	// offloaded there is stored here as the blob URL.
	NewRows []*Entity
	// LargeMessagesURL is the URL of the {hub}-largemessages container, used
	// to build those blob URLs.
	LargeMessagesURL string
	// Now is the writer's clock (UTC), used for CompletedTime.
	Now time.Time
}

// CheckpointInstanceRow builds the Instances merge written after an
// episode's history transaction (InsertOrMerge by default). It always holds
// CustomStatus, ExecutionId, LastUpdatedTime (the Timestamp of the last new
// event, or Now if there is none), TaskHubName and ParentInstanceId. Then,
// for each new event in order:
//
//   - ExecutionStarted: Name, Version, CreatedTime (event Timestamp),
//     RuntimeStatus = Running, Tags, Generation (null, hence not written,
//     when the event has none), ScheduledStartTime (if set), Input;
//   - ExecutionCompleted: RuntimeStatus = the event's status, CompletedTime
//     = Now, Output = history.FailureOutput (the Result, else the failure
//     details' "<ErrorType>: <ErrorMessage>");
//   - ExecutionTerminated: RuntimeStatus = Terminated, CompletedTime = Now,
//     Output = the reason (the event's Input);
//   - ExecutionSuspended / ExecutionResumed: RuntimeStatus = Suspended /
//     Running, Output = Reason;
//   - ContinueAsNew: RuntimeStatus = ContinuedAsNew, Output = Result.
//
// A later event overwrites an earlier event's column in place, so the column
// order is C#'s. Input and Output become blob URLs when the corresponding
// history column (Input, Result) was offloaded.
func CheckpointInstanceRow(c *Checkpoint) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(c.InstanceID)}
	last := c.Now
	if n := len(c.NewEvents); n > 0 {
		last = c.NewEvents[n-1].Base().Timestamp
	}
	e.Set(colCustomStatus, customStatusText(c.CustomStatus))
	e.Set(colExecutionID, c.ExecutionID)
	e.Set(colLastUpdatedTime, last.UTC())
	e.Set(colTaskHubName, c.TaskHubName)
	e.Set(colParentInstanceID, c.ParentInstanceID)
	now := c.Now.UTC()
	for i, ev := range c.NewEvents {
		var row *Entity
		if i < len(c.NewRows) {
			row = c.NewRows[i]
		}
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			e.Set(colName, v.Name)
			e.Set(colVersion, v.Version)
			e.Set(colCreatedTime, v.Timestamp.UTC())
			e.Set(colRuntimeStatus, history.StatusRunning.String())
			e.Set(colTags, tagsText(v.Tags))
			e.Set(colGeneration, nullable(v.Generation))
			if v.ScheduledStartTime != nil {
				e.Set(colScheduledStart, v.ScheduledStartTime.UTC())
			}
			e.Set(colInput, valueOrURL(row, colInput, c.LargeMessagesURL, v.Input))
		case *history.ExecutionCompletedEvent:
			e.Set(colRuntimeStatus, v.OrchestrationStatus.String())
			e.Set(colCompletedTime, now)
			e.Set(colOutput, valueOrURL(row, colResult, c.LargeMessagesURL, history.FailureOutput(v.Result, v.FailureDetails)))
		case *history.ExecutionTerminatedEvent:
			e.Set(colRuntimeStatus, history.StatusTerminated.String())
			e.Set(colCompletedTime, now)
			e.Set(colOutput, valueOrURL(row, colInput, c.LargeMessagesURL, v.Input))
		case *history.ExecutionSuspendedEvent:
			e.Set(colRuntimeStatus, history.StatusSuspended.String())
			e.Set(colOutput, nullable(v.Reason))
		case *history.ExecutionResumedEvent:
			e.Set(colRuntimeStatus, history.StatusRunning.String())
			e.Set(colOutput, nullable(v.Reason))
		case *history.ContinueAsNewEvent:
			e.Set(colRuntimeStatus, history.StatusContinuedAsNew.String())
			e.Set(colOutput, valueOrURL(row, colResult, c.LargeMessagesURL, v.Result))
		}
	}
	return e
}

// Repair describes a terminal execution whose Instances row is missing or
// stale, for RepairInstanceRow.
type Repair struct {
	// InstanceID is the instance's (unescaped) id.
	InstanceID string
	// ExecutionID is the terminal execution.
	ExecutionID string
	// TaskHubName is the writer's task hub name.
	TaskHubName string
	// CustomStatus is the runtime's custom status, nil for none ("null").
	CustomStatus *string
	// Started and Completed are the execution's ExecutionStarted and final
	// ExecutionCompleted events (Completed's status must be terminal).
	Started   *history.ExecutionStartedEvent
	Completed *history.ExecutionCompletedEvent
	// LastEventTime is the Timestamp of the last event of the history.
	LastEventTime time.Time
	// RowExists tells whether an Instances row exists; Input is written
	// only when it does not.
	RowExists bool
	// StartedRow and CompletedRow are the History rows of Started and
	// Completed as read (before ResolveLargeColumn), if available: their
	// InputBlobName / ResultBlobName become blob URLs.
	StartedRow, CompletedRow *Entity
	// LargeMessagesURL is the URL of the {hub}-largemessages container.
	LargeMessagesURL string
}

// RepairInstanceRow builds the InsertOrMerge C# writes when the loaded
// history shows a terminal execution but the Instances row is missing or
// shows another status for that execution (§2.3.3 of the tables spec).
// Columns: Name, Version, CreatedTime, CustomStatus, ExecutionId,
// LastUpdatedTime, RuntimeStatus, CompletedTime (the ExecutionCompleted
// Timestamp), Tags, TaskHubName, ScheduledStartTime (if set), Output
// (history.FailureOutput of the completion, which is its Result whenever
// it has one, as C# writes it), and Input when no row exists.
func RepairInstanceRow(r *Repair) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(r.InstanceID)}
	e.Set(colName, r.Started.Name)
	e.Set(colVersion, r.Started.Version)
	e.Set(colCreatedTime, r.Started.Timestamp.UTC())
	e.Set(colCustomStatus, customStatusText(r.CustomStatus))
	e.Set(colExecutionID, r.ExecutionID)
	e.Set(colLastUpdatedTime, r.LastEventTime.UTC())
	e.Set(colRuntimeStatus, r.Completed.OrchestrationStatus.String())
	e.Set(colCompletedTime, r.Completed.Timestamp.UTC())
	e.Set(colTags, tagsText(r.Started.Tags))
	e.Set(colTaskHubName, r.TaskHubName)
	if r.Started.ScheduledStartTime != nil {
		e.Set(colScheduledStart, r.Started.ScheduledStartTime.UTC())
	}
	e.Set(colOutput, valueOrURL(r.CompletedRow, colResult, r.LargeMessagesURL, history.FailureOutput(r.Completed.Result, r.Completed.FailureDetails)))
	if !r.RowExists {
		e.Set(colInput, valueOrURL(r.StartedRow, colInput, r.LargeMessagesURL, r.Started.Input))
	}
	return e
}

// TerminatedInstanceRow builds the merge (If-Match "*") C# writes when an
// ExecutionTerminated message arrives for an instance that has no history
// yet, typically a Pending or scheduled one: RuntimeStatus = Terminated,
// LastUpdatedTime = the event's Timestamp, CompletedTime = now, Output = the
// reason. A reason too large for its column goes to a blob with
// OffloadLargeColumnsToURL.
func TerminatedInstanceRow(instanceID string, ev *history.ExecutionTerminatedEvent, now time.Time) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(instanceID)}
	e.Set(colRuntimeStatus, history.StatusTerminated.String())
	e.Set(colLastUpdatedTime, ev.Timestamp.UTC())
	e.Set(colCompletedTime, now.UTC())
	e.Set(colOutput, nullable(ev.Input))
	return e
}

// DecodeInstanceRow reads an Instances row into the status of the
// instance's latest execution. RuntimeStatus is required (by name, as C#
// writes it). Input and Output are returned as stored: either may be a blob
// URL (IsBlobURL) that the caller dereferences; a client Insert with an
// oversized input leaves Input "" with a stray InputBlobName column, which
// this function does not follow. CustomStatus and Tags holding "null" read
// as nil. A missing ParentInstanceId reads as "".
func DecodeInstanceRow(e *Entity) (*history.OrchestrationState, error) {
	r := &colReader{e: e}
	s := &history.OrchestrationState{
		Name:    r.str(colName),
		Version: r.str(colVersion),
		OrchestrationInstance: history.OrchestrationInstance{
			InstanceID:  UnescapePartitionKey(e.PartitionKey),
			ExecutionID: r.str(colExecutionID),
		},
		CreatedTime:        r.time(colCreatedTime),
		LastUpdatedTime:    r.time(colLastUpdatedTime),
		CompletedTime:      r.time(colCompletedTime),
		ScheduledStartTime: r.ntime(colScheduledStart),
		Input:              r.nstr(colInput),
		Output:             r.nstr(colOutput),
		Tags:               r.tags(colTags),
		Generation:         r.nint32(colGeneration),
		ParentInstanceID:   r.str(colParentInstanceID),
	}
	if cs := r.nstr(colCustomStatus); cs != nil && *cs != jsonNull {
		s.CustomStatus = cs
	}
	status := r.nstr(colRuntimeStatus)
	if r.err == nil {
		if status == nil {
			r.err = fmt.Errorf("no %s column", colRuntimeStatus)
		} else if st, err := history.ParseStatus(*status); err != nil {
			r.fail(colRuntimeStatus, err)
		} else {
			s.Status = st
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("tables: instance row %q: %w", e.PartitionKey, r.err)
	}
	return s, nil
}

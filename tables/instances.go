package tables

import (
	"fmt"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
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
// The columns are the fields the status transition rules.Pending writes,
// in its order (Input, CreatedTime, Name, Version, RuntimeStatus,
// LastUpdatedTime, TaskHubName, ScheduledStartTime, ExecutionId,
// Generation, Tags, ParentInstanceId). When the start message itself was
// offloaded to a blob, inputURL is that blob's URL and is stored instead of
// the input. A Go client must also apply the Generation rule
// (rules.NextGeneration) before calling. If Input is too large for its
// column, call OffloadLargeColumns on the result (C# then stores "" plus
// InputBlobName).
func PendingInstanceRow(start *history.ExecutionStartedEvent, taskHubName, inputURL string, now time.Time) *Entity {
	payload := func(_ rules.Write, v *string) any {
		if inputURL != "" {
			return inputURL
		}
		return nullable(v)
	}
	return statusRow(start.OrchestrationInstance.InstanceID, rules.Pending(start, now), taskHubName, payload)
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
// episode's history transaction (InsertOrMerge by default): the fields the
// status transition rules.Checkpoint writes for the new events (always
// CustomStatus, ExecutionId, LastUpdatedTime, TaskHubName and
// ParentInstanceId, then each event's), in its order, which is C#'s. A null
// (a Generation the start does not carry, an absent input) is not written,
// so the merge keeps the stored column. Input and Output become blob URLs
// when the history column they come from (Input, Result) was offloaded.
func CheckpointInstanceRow(c *Checkpoint) *Entity {
	st := &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: c.InstanceID, ExecutionID: c.ExecutionID},
		ParentInstanceID: c.ParentInstanceID}
	ch := rules.Checkpoint(st, c.InstanceID, c.NewEvents, c.CustomStatus, c.Now)
	payload := func(w rules.Write, v *string) any {
		var row *Entity
		if w.Event >= 0 && w.Event < len(c.NewRows) {
			row = c.NewRows[w.Event]
		}
		return payloadOrURL(row, w.From, c.LargeMessagesURL, v)
	}
	return statusRow(c.InstanceID, ch, c.TaskHubName, payload)
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
// shows another status for that execution (rules.NeedsRepair; §2.3.3 of
// the tables spec): the fields the status transition rules.Repair writes,
// in its order (Name, Version, CreatedTime, CustomStatus, ExecutionId,
// LastUpdatedTime, RuntimeStatus, CompletedTime, Tags, TaskHubName,
// ScheduledStartTime if set, Output, and Input when no row exists).
func RepairInstanceRow(r *Repair) *Entity {
	ch := rules.Repair(nil, r.InstanceID, r.ExecutionID, r.Started, r.Completed, r.LastEventTime, r.CustomStatus, r.RowExists)
	rows := [2]*Entity{r.StartedRow, r.CompletedRow} // the transition's events: (started, completed)
	payload := func(w rules.Write, v *string) any {
		var row *Entity
		if w.Event >= 0 {
			row = rows[w.Event]
		}
		return payloadOrURL(row, w.From, r.LargeMessagesURL, v)
	}
	return statusRow(r.InstanceID, ch, r.TaskHubName, payload)
}

// TerminatedInstanceRow builds the merge (If-Match "*") C# writes when an
// ExecutionTerminated message arrives for an instance that has no history
// yet, typically a Pending or scheduled one: the fields the status
// transition rules.TerminatedBeforeHistory writes (RuntimeStatus,
// LastUpdatedTime, CompletedTime, Output). A reason too large for its
// column goes to a blob with OffloadLargeColumnsToURL.
func TerminatedInstanceRow(instanceID string, ev *history.ExecutionTerminatedEvent, now time.Time) *Entity {
	payload := func(_ rules.Write, v *string) any { return nullable(v) }
	return statusRow(instanceID, rules.TerminatedBeforeHistory(nil, ev, now), "", payload)
}

// statusRow writes a status transition as Instances-row columns: one
// column per written field, in the transition's order (a field written
// twice keeps its first place), with the value the status holds after the
// transition. Times are stored in UTC, Tags as their JSON text (or
// "null"), CustomStatus as its text (or "null"); payload gives the stored
// value of Input and Output.
func statusRow(instanceID string, ch rules.Change, taskHubName string, payload func(rules.Write, *string) any) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(instanceID)}
	st := ch.State
	for _, w := range ch.Writes {
		switch w.Field {
		case rules.FieldName:
			e.Set(colName, st.Name)
		case rules.FieldVersion:
			e.Set(colVersion, st.Version)
		case rules.FieldExecutionID:
			e.Set(colExecutionID, st.OrchestrationInstance.ExecutionID)
		case rules.FieldRuntimeStatus:
			e.Set(colRuntimeStatus, st.Status.String())
		case rules.FieldCreatedTime:
			e.Set(colCreatedTime, st.CreatedTime.UTC())
		case rules.FieldLastUpdatedTime:
			e.Set(colLastUpdatedTime, st.LastUpdatedTime.UTC())
		case rules.FieldCompletedTime:
			e.Set(colCompletedTime, st.CompletedTime.UTC())
		case rules.FieldScheduledStartTime:
			e.Set(colScheduledStart, utcPtr(st.ScheduledStartTime))
		case rules.FieldInput:
			e.Set(colInput, payload(w, st.Input))
		case rules.FieldOutput:
			e.Set(colOutput, payload(w, st.Output))
		case rules.FieldCustomStatus:
			e.Set(colCustomStatus, customStatusText(st.CustomStatus))
		case rules.FieldTags:
			e.Set(colTags, tagsText(st.Tags))
		case rules.FieldGeneration:
			e.Set(colGeneration, nullable(st.Generation))
		case rules.FieldParentInstanceID:
			e.Set(colParentInstanceID, st.ParentInstanceID)
		case rules.FieldTaskHub:
			e.Set(colTaskHubName, taskHubName)
		default:
			panic(fmt.Sprintf("tables: status field %d has no Instances column", w.Field))
		}
	}
	return e
}

// payloadOrURL is the value C# stores in the Input or Output column for a
// payload taken from an event's Input or Result: the blob URL when row
// (the event's History row as written, after OffloadLargeColumns) has a
// "<from>BlobName" column, else the value itself. Other payloads (a
// suspend or resume reason) are stored as they are.
func payloadOrURL(row *Entity, from, containerURL string, value *string) any {
	if from == colInput || from == colResult {
		return valueOrURL(row, from, containerURL, value)
	}
	return nullable(value)
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

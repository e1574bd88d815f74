package tables

import (
	"time"

	"github.com/azdurable/azdurable/history"
)

// Column names used by this package's own code: the columns a History row
// adds to its event's members (whose names are history.Members'), and
// those the sentinel and the Instances table share with them.
const (
	colEventType   = "EventType"
	colEventID     = "EventId"
	colEventTime   = "_Timestamp"
	colExecutionID = "ExecutionId"
	colName        = "Name"
	colVersion     = "Version"
	colInput       = "Input"
	colResult      = "Result"
	colOutput      = "Output"
	colTags        = "Tags"
)

// jsonNull is what C# stores in a JSON column whose object is null.
const jsonNull = "null"

// rowWriter appends history columns.
type rowWriter struct {
	e       *Entity
	scratch []byte // JSON text on its way to a string column
}

func (w *rowWriter) add(name string, v any) {
	w.e.Properties = append(w.e.Properties, Property{Name: name, Value: v})
}

// member appends the column of one event member (see history.Member):
// scalars with their EDM types, a nil one left out as the service drops the
// nulls C# sends; the status as its name; DateTimes in UTC; and every
// object-valued member as its Plain JSON text, the string "null" when nil,
// as in C#.
func (w *rowWriter) member(name string, m history.Member) {
	switch p := m.Value.(type) {
	case *string:
		w.add(name, *p)
	case **string:
		if *p != nil {
			w.add(name, **p)
		}
	case *int32:
		w.add(name, *p)
	case **int32:
		if *p != nil {
			w.add(name, **p)
		}
	case *bool:
		w.add(name, *p)
	case *time.Time:
		w.add(name, p.UTC())
	case **time.Time:
		if *p != nil {
			w.add(name, (*p).UTC())
		}
	case *history.OrchestrationStatus:
		w.add(name, p.String())
	default:
		w.scratch = history.AppendValue(w.scratch[:0], m, history.Plain)
		w.add(name, string(w.scratch))
	}
}

// HistoryRow builds the History-table row of one event: PartitionKey = the
// escaped instance id, RowKey = RowKeyFor(seq), and a column for each of
// the event's history.Members in the order the C# backend writes them (the
// event's own members, then EventId, IsPlayed, _Timestamp and EventType,
// then the keys and ExecutionId). Members that are nil are left out. JSON-valued members
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
// What is particular to a row, and not to the event, is in the loop below;
// DecodeHistoryRow reads the same way. Large values are not offloaded here
// (C# picks them by column name, for Instances rows too); see
// OffloadLargeColumns.
func HistoryRow(instanceID, executionID string, seq int, ev history.Event) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(instanceID), RowKey: RowKeyFor(seq)}
	e.Properties = make([]Property, 0, 18)
	w := &rowWriter{e: e}
	var buf [history.MaxMembers]history.Member
	var instance history.Member
	for _, m := range history.Members(buf[:0], ev) {
		name := m.Name
		switch name {
		case colEventType:
			// The row holds the name, after the base members (below).
			continue
		case "OrchestrationInstance":
			// ExecutionStarted's: C# writes this column after the event's
			// other own members, where JSON has it first.
			instance = m
			continue
		case colEventID:
			// The first base member: the event's own members are done.
			if instance.Value != nil {
				w.member(instance.Name, instance)
			}
		case "Timestamp":
			// Timestamp is the Table service's own column.
			name = colEventTime
		}
		w.member(name, m)
	}
	w.add(colEventType, ev.Type().String())
	e.KeyIndex = len(e.Properties)
	w.add(colExecutionID, executionID)
	return e
}

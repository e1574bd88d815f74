package rules

import "github.com/azdurable/azdurable/history"

// HistoryIndex is what the message rules need to know about an instance's
// current execution: whether it started, whether it ended, which task ids
// were scheduled and which were completed. Backends keep one per session so
// that they can triage new messages without reloading history.
type HistoryIndex struct {
	ExecutionID string
	Started     bool
	// Status is the execution's status as its history shows it: Running
	// until a completion event, then that event's status.
	Status    history.OrchestrationStatus
	Suspended bool
	// Parent is the ParentInstance of the execution's ExecutionStarted
	// (nil for a top-level instance).
	Parent    *history.ParentInstance
	Len       int
	scheduled map[int32]history.EventType
	completed map[int32]bool
}

// NewHistoryIndex indexes the events of one execution.
func NewHistoryIndex(events []history.Event) *HistoryIndex {
	x := &HistoryIndex{scheduled: map[int32]history.EventType{}, completed: map[int32]bool{}}
	x.Add(events)
	return x
}

// Add indexes events appended to the execution.
func (x *HistoryIndex) Add(events []history.Event) {
	for _, ev := range events {
		x.Len++
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			x.Started = true
			x.ExecutionID = v.OrchestrationInstance.ExecutionID
			x.Status = history.StatusRunning
			x.Parent = v.ParentInstance
		case *history.ExecutionCompletedEvent:
			x.Status = v.OrchestrationStatus
		case *history.ContinueAsNewEvent:
			x.Status = history.StatusContinuedAsNew
		case *history.ExecutionSuspendedEvent:
			x.Suspended = true
		case *history.ExecutionResumedEvent:
			x.Suspended = false
		case *history.TaskScheduledEvent, *history.TimerCreatedEvent,
			*history.SubOrchestrationInstanceCreatedEvent, *history.EventSentEvent:
			x.scheduled[ev.Base().EventID] = ev.Type()
		default:
			if id, ok := CompletionID(ev); ok {
				x.completed[id] = true
			}
		}
	}
}

// Terminal reports whether the execution has ended (Completed, Failed,
// Canceled, Terminated or ContinuedAsNew).
func (x *HistoryIndex) Terminal() bool {
	return x.Started && (x.Status.IsTerminal() || x.Status == history.StatusContinuedAsNew)
}

// Scheduled reports whether a scheduling event with this task id exists.
func (x *HistoryIndex) Scheduled(id int32) bool { _, ok := x.scheduled[id]; return ok }

// Answers reports whether ev, a completion (see CompletionID), is of the
// kind that answers the scheduling event with its task id. A completion
// of another kind belongs to an episode that was run and never recorded:
// run again later, it used the same id for something else (a timer then,
// an activity now, say, when the code looks at the time).
func (x *HistoryIndex) Answers(id int32, ev history.Event) bool {
	kind, ok := x.scheduled[id]
	want, isCompletion := history.CompletedKind(ev)
	return ok && isCompletion && kind == want
}

// Completed reports whether a completion for this task id exists.
func (x *HistoryIndex) Completed(id int32) bool { return x.completed[id] }

// CompletionID returns the task id a completion event answers
// (TaskScheduledId or TimerId) and whether ev is such an event.
func CompletionID(ev history.Event) (int32, bool) {
	switch v := ev.(type) {
	case *history.TaskCompletedEvent:
		return v.TaskScheduledID, true
	case *history.TaskFailedEvent:
		return v.TaskScheduledID, true
	case *history.SubOrchestrationInstanceCompletedEvent:
		return v.TaskScheduledID, true
	case *history.SubOrchestrationInstanceFailedEvent:
		return v.TaskScheduledID, true
	case *history.TimerFiredEvent:
		return v.TimerID, true
	}
	return 0, false
}

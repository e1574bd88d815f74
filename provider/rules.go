package provider

import (
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
)

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

// Verdict is what a backend does with one incoming message.
type Verdict int

const (
	// Keep hands the message to the orchestration.
	Keep Verdict = iota
	// Drop deletes the message (duplicate, stale or for an instance that
	// cannot run); the reason is logged.
	Drop
	// Abandon puts the message back for a later retry with AbandonDelay.
	Abandon
)

func (v Verdict) String() string {
	switch v {
	case Keep:
		return "keep"
	case Drop:
		return "drop"
	case Abandon:
		return "abandon"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Decision is the verdict on one message, with the reason for logs.
type Decision struct {
	Message *Message
	Verdict Verdict
	Reason  string
}

// TriageResult is the outcome of Triage for one instance's batch.
type TriageResult struct {
	Decisions []Decision
	// Kept lists the messages with verdict Keep, in order.
	Kept []*Message
	// NewExecution is set when the batch starts an execution other than the
	// one in history: the work item then runs against an empty history (the
	// new execution's rows overwrite the old ones from row 0).
	NewExecution bool
	// TerminateWithoutHistory is set when the instance has no history and
	// the batch holds a terminate (alone, or with the instance's top-level
	// start): the backend marks the instance Terminated in its status store
	// (C#'s behaviour for Pending and scheduled instances) and drops the
	// batch.
	TerminateWithoutHistory *history.ExecutionTerminatedEvent
}

// maxDequeuesWithoutHistory is how often a response for an instance without
// history is retried before it is dropped (C#: more than 5).
const maxDequeuesWithoutHistory = 5

// Triage applies the message rules of the C# backend to one instance's batch
// against the instance's current execution (queues spec §5.5–§5.7, tables
// spec §3.2), in order:
//
//   - an ExecutionStarted for the execution already in history is a
//     duplicate and dropped, and so is (ours, not C#'s) a sub-orchestration
//     start from the call that started the running execution (SameCall; a
//     retried parent episode sent it again); one for another execution
//     starts a new execution (NewExecution), and a second one waits for a
//     later batch;
//   - a message addressed to another execution than the current one is
//     stale and dropped;
//   - a completion whose task id has no scheduling event is out of order
//     and abandoned (it overtook its own history commit), unless the
//     instance has no history and the message was received more than 5
//     times, when it is dropped;
//   - a completion for a task id already completed is a duplicate and
//     dropped (also within the batch);
//   - if, after that, the instance has no ExecutionStarted in history or in
//     the batch, the batch is dropped ("no such instance"), and a terminate
//     in it is reported as TerminateWithoutHistory;
//   - if the batch starts the instance's first execution with a top-level
//     start and also holds a terminate, the batch is dropped and the
//     terminate reported as TerminateWithoutHistory (ours, not C#'s: C#
//     runs the orchestration's first episode before it terminates it);
//   - if the execution has ended, the rest of the batch is dropped.
func Triage(x *HistoryIndex, msgs []*Message) TriageResult {
	var res TriageResult
	decide := func(m *Message, v Verdict, format string, args ...any) {
		res.Decisions = append(res.Decisions, Decision{Message: m, Verdict: v, Reason: fmt.Sprintf(format, args...)})
	}
	cur, started := x.ExecutionID, x.Started
	seen := map[int32]bool{}
	for _, m := range msgs {
		ev := m.Event
		if start, ok := ev.(*history.ExecutionStartedEvent); ok {
			id := start.OrchestrationInstance.ExecutionID
			switch {
			case res.NewExecution:
				decide(m, Abandon, "a second ExecutionStarted in one batch waits for a later work item")
			case started && strings.EqualFold(id, cur):
				decide(m, Drop, "duplicate ExecutionStarted for execution %s", id)
			case x.Started && !x.Terminal() && m.Sender.InstanceID != m.OrchestrationInstance.InstanceID && SameCall(start.ParentInstance, x.Parent):
				p := start.ParentInstance
				decide(m, Drop, "duplicate ExecutionStarted %s: task %d of %s (execution %s) already started execution %s, which runs",
					id, p.TaskScheduleID, p.OrchestrationInstance.InstanceID, p.OrchestrationInstance.ExecutionID, x.ExecutionID)
			default:
				res.NewExecution = x.Started
				cur, started = id, true
				decide(m, Keep, "")
			}
			continue
		}
		if execID := m.OrchestrationInstance.ExecutionID; execID != "" && started && !strings.EqualFold(execID, cur) {
			decide(m, Drop, "stale: addressed to execution %s, current is %s", execID, cur)
			continue
		}
		if id, ok := CompletionID(ev); ok {
			fresh := cur != x.ExecutionID || !x.Started
			switch {
			case !started && m.DequeueCount > maxDequeuesWithoutHistory:
				decide(m, Drop, "no such instance: %s for task %d after %d deliveries", ev.Type(), id, m.DequeueCount)
				continue
			case fresh || !x.Scheduled(id):
				decide(m, Abandon, "out of order: %s for task %d arrived before its scheduling event", ev.Type(), id)
				continue
			case x.Completed(id) || seen[id]:
				decide(m, Drop, "duplicate %s for task %d", ev.Type(), id)
				continue
			}
			seen[id] = true
		}
		decide(m, Keep, "")
	}
	switch {
	case started && !x.Started:
		// The batch starts the instance's first execution. A terminate that
		// came with a top-level start (both became visible together, e.g.
		// after the start's scheduled time passed with no worker running)
		// ends the instance before it runs, as a terminate that came first
		// does: nothing runs and no history is written. A child's start is
		// run instead: its parent waits for its result.
		var start *history.ExecutionStartedEvent
		var term *history.ExecutionTerminatedEvent
		for _, d := range res.Decisions {
			if d.Verdict != Keep {
				continue
			}
			switch v := d.Message.Event.(type) {
			case *history.ExecutionStartedEvent:
				start = v
			case *history.ExecutionTerminatedEvent:
				if term == nil {
					term = v
				}
			}
		}
		if start == nil || term == nil || start.ParentInstance != nil {
			break
		}
		res.TerminateWithoutHistory = term
		for i := range res.Decisions {
			if d := &res.Decisions[i]; d.Verdict == Keep {
				d.Verdict, d.Reason = Drop, fmt.Sprintf("terminated before it started: %s discarded", d.Message.Event.Type())
			}
		}
	case !started:
		for i := range res.Decisions {
			d := &res.Decisions[i]
			if d.Verdict != Keep {
				continue
			}
			if t, ok := d.Message.Event.(*history.ExecutionTerminatedEvent); ok && res.TerminateWithoutHistory == nil {
				res.TerminateWithoutHistory = t
			}
			d.Verdict, d.Reason = Drop, fmt.Sprintf("no such instance: %s for an instance without history", d.Message.Event.Type())
		}
	case x.Terminal() && cur == x.ExecutionID:
		for i := range res.Decisions {
			d := &res.Decisions[i]
			if d.Verdict == Keep {
				d.Verdict, d.Reason = Drop, fmt.Sprintf("instance already %s: %s discarded", x.Status, d.Message.Event.Type())
			}
		}
	}
	for _, d := range res.Decisions {
		if d.Verdict == Keep {
			res.Kept = append(res.Kept, d.Message)
		}
	}
	return res
}

// NeedsStartDedupe reports whether DedupeStart applies to a message: a
// top-level ExecutionStarted (not a sub-orchestration start, and not a
// continue-as-new generation an instance sends to itself).
func NeedsStartDedupe(m *history.TaskMessage, sender history.OrchestrationInstance) bool {
	es, ok := m.Event.(*history.ExecutionStartedEvent)
	return ok && es.ParentInstance == nil && sender.InstanceID != m.OrchestrationInstance.InstanceID
}

// DedupeStart applies C#'s ExecutionStarted de-duplication (tables spec
// §2.5) to a top-level start message, given the instance's status row (nil
// when there is none). reinsertedAt is when the message was last made
// visible again (next-visible time minus the visibility timeout); it matters
// only when dequeueCount > 1.
//
// One rule is ours, not C#'s: a start whose own execution the row shows
// Terminated is dropped. The row can say so before the execution has any
// history only because a terminate reached the instance while its start
// was not visible yet (scheduled for later, or waiting for a retry), and
// was recorded on the row (Triage's TerminateWithoutHistory); C# then runs
// the start all the same, undoing the terminate. With history, the start
// is a duplicate anyway.
func DedupeStart(row *history.OrchestrationState, start *history.ExecutionStartedEvent, dequeueCount int, reinsertedAt time.Time) (Verdict, string) {
	id := start.OrchestrationInstance.ExecutionID
	if row != nil {
		same := id != "" && strings.EqualFold(row.OrchestrationInstance.ExecutionID, id)
		if same && row.Status == history.StatusTerminated {
			return Drop, fmt.Sprintf("ExecutionStarted %s: the execution was terminated before it started", id)
		}
		if row.OrchestrationInstance.ExecutionID == "" || same {
			return Keep, ""
		}
		sameGen := (row.Generation == nil && start.Generation == nil) ||
			(row.Generation != nil && start.Generation != nil && *row.Generation == *start.Generation)
		scheduledAfter := (row.Status == history.StatusPending && row.CreatedTime.Before(start.Timestamp)) ||
			(dequeueCount > 1 && reinsertedAt.After(row.CreatedTime))
		if sameGen && scheduledAfter {
			return Drop, fmt.Sprintf("duplicate ExecutionStarted %s: the instance row belongs to execution %s of the same generation", id, row.OrchestrationInstance.ExecutionID)
		}
	}
	if dequeueCount >= 10 {
		return Drop, fmt.Sprintf("ExecutionStarted %s has no matching instance row after %d deliveries", id, dequeueCount)
	}
	return Abandon, fmt.Sprintf("ExecutionStarted %s has no matching instance row yet", id)
}

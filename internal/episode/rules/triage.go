package rules

import (
	"fmt"
	"strings"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
)

// Verdict is what a backend does with one incoming message.
type Verdict int

const (
	// Keep hands the message to the orchestration.
	Keep Verdict = iota
	// Drop deletes the message (duplicate, stale or for an instance that
	// cannot run); the reason is logged.
	Drop
	// Abandon puts the message back for a later retry with C#'s back-off.
	Abandon
	// DropOnCommit goes with the work item without being handed to the
	// orchestration: the message is deleted with the kept messages when
	// the episode commits, and put back with them when it does not. It is
	// the verdict on a message addressed to another execution than the
	// one in history, which is stale only once this work item's commit
	// proves the history current (see Triage).
	DropOnCommit
)

func (v Verdict) String() string {
	switch v {
	case Keep:
		return "keep"
	case Drop:
		return "drop"
	case Abandon:
		return "abandon"
	case DropOnCommit:
		return "drop on commit"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Incoming is what the message rules read of one received message.
type Incoming struct {
	*history.TaskMessage
	// DequeueCount is how many times the message has been received.
	DequeueCount int
	// Sender is the instance that sent the message (empty for clients).
	Sender history.OrchestrationInstance
}

// Decision is the verdict on one message, with the reason for logs.
type Decision struct {
	// Index is the message's position in the batch given to Triage.
	Index   int
	Verdict Verdict
	Reason  string
}

// TriageResult is the outcome of Triage for one instance's batch.
type TriageResult struct {
	// Decisions holds one decision per message, in batch order.
	Decisions []Decision
	// Kept lists the indexes of the messages with verdict Keep, in order.
	Kept []int
	// NewExecution is set when the batch starts an execution other than the
	// one in history: the work item then runs against an empty history (the
	// new execution's rows overwrite the old ones from row 0).
	NewExecution bool
	// TerminateWithoutHistory is set when the instance has no history and
	// the batch holds a terminate (alone, or with the instance's top-level
	// start): the backend marks the instance Terminated in its status store
	// (TerminatedBeforeHistory; C#'s behaviour for Pending and scheduled
	// instances) and drops the batch.
	TerminateWithoutHistory *history.ExecutionTerminatedEvent
	// EntityAutoStart is set when the batch is the first of an entity
	// (an instance id "@name@key" without history, whose batch holds
	// EventRaised messages): the instance starts with them, as
	// DurableTask.Core starts an entity on its first message. The worker
	// makes its ExecutionStarted; only the EventRaised messages are kept.
	EntityAutoStart bool
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
//     stale, but only once this work item commits: the execution it names
//     may be a newer one whose history an earlier owner of the partition
//     is still writing (its messages are sent before its history, C#'s
//     order), and that write succeeds only while nobody else commits on
//     the history this batch was read against. So the message goes with
//     the batch (DropOnCommit) when anything of it is kept: deleted when
//     the episode commits (any newer write is then refused by the
//     history's ETag), put back when it does not; with nothing kept it is
//     put back (Abandon) and dropped only after more than 5 deliveries,
//     as a message for an execution without history is (ours: dropped at
//     once, it lost the activity results of a continue-as-new generation
//     whose history write was in flight while its partition moved);
//   - a completion whose task id has no scheduling event is out of order
//     and abandoned (it overtook its own history commit), unless the
//     instance has no history and the message was received more than 5
//     times, when it is dropped;
//   - a completion of another kind than the scheduling event with its
//     task id (a TimerFired for a TaskScheduled, say) is stale and
//     dropped: an episode that sent it was never recorded, and its rerun
//     used the id for something else (ours: it used to be recorded, mark
//     the task completed and have the real result dropped as a duplicate);
//   - a completion for a task id already completed is a duplicate and
//     dropped (also within the batch);
//   - if, after that, the instance has no ExecutionStarted in history or in
//     the batch, the batch is dropped ("no such instance"), and a terminate
//     in it is reported as TerminateWithoutHistory; an entity's first
//     batch is the exception (EntityAutoStart: its EventRaised messages
//     are kept);
//   - if the batch starts the instance's first execution with a top-level
//     start and also holds a terminate, the batch is dropped and the
//     terminate reported as TerminateWithoutHistory (ours, not C#'s: C#
//     runs the orchestration's first episode before it terminates it);
//   - if the execution has ended, the rest of the batch is dropped.
func Triage(x *HistoryIndex, msgs []Incoming) TriageResult {
	var res TriageResult
	decide := func(i int, v Verdict, format string, args ...any) {
		res.Decisions = append(res.Decisions, Decision{Index: i, Verdict: v, Reason: fmt.Sprintf(format, args...)})
	}
	cur, started := x.ExecutionID, x.Started
	seen := map[int32]bool{}
	for i, m := range msgs {
		ev := m.Event
		if start, ok := ev.(*history.ExecutionStartedEvent); ok {
			id := start.OrchestrationInstance.ExecutionID
			switch {
			case res.NewExecution:
				decide(i, Abandon, "a second ExecutionStarted in one batch waits for a later work item")
			case started && strings.EqualFold(id, cur):
				decide(i, Drop, "duplicate ExecutionStarted for execution %s", id)
			case x.Started && !x.Terminal() && m.Sender.InstanceID != m.OrchestrationInstance.InstanceID && SameCall(start.ParentInstance, x.Parent):
				p := start.ParentInstance
				decide(i, Drop, "duplicate ExecutionStarted %s: task %d of %s (execution %s) already started execution %s, which runs",
					id, p.TaskScheduleID, p.OrchestrationInstance.InstanceID, p.OrchestrationInstance.ExecutionID, x.ExecutionID)
			default:
				res.NewExecution = x.Started
				cur, started = id, true
				decide(i, Keep, "")
			}
			continue
		}
		if execID := m.OrchestrationInstance.ExecutionID; execID != "" && started && !strings.EqualFold(execID, cur) {
			decide(i, DropOnCommit, "stale: addressed to execution %s, current is %s", execID, cur)
			continue
		}
		if id, ok := CompletionID(ev); ok {
			fresh := cur != x.ExecutionID || !x.Started
			switch {
			case !started && m.DequeueCount > maxDequeuesWithoutHistory:
				decide(i, Drop, "no such instance: %s for task %d after %d deliveries", ev.Type(), id, m.DequeueCount)
				continue
			case fresh || !x.Scheduled(id):
				decide(i, Abandon, "out of order: %s for task %d arrived before its scheduling event", ev.Type(), id)
				continue
			case !x.Answers(id, ev):
				decide(i, Drop, "stale: %s for task %d, which history shows as a %s (from an episode that was never recorded)",
					ev.Type(), id, x.scheduled[id])
				continue
			case x.Completed(id) || seen[id]:
				decide(i, Drop, "duplicate %s for task %d", ev.Type(), id)
				continue
			}
			seen[id] = true
		}
		decide(i, Keep, "")
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
			switch v := msgs[d.Index].Event.(type) {
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
				d.Verdict, d.Reason = Drop, fmt.Sprintf("terminated before it started: %s discarded", msgs[d.Index].Event.Type())
			}
		}
	case !started && entityAutoStart(msgs, res.Decisions):
		res.EntityAutoStart = true
		for i := range res.Decisions {
			d := &res.Decisions[i]
			if _, ok := msgs[d.Index].Event.(*history.EventRaisedEvent); d.Verdict == Keep && !ok {
				d.Verdict, d.Reason = Drop, fmt.Sprintf("no such instance: %s for an entity without history", msgs[d.Index].Event.Type())
			}
		}
	case !started:
		for i := range res.Decisions {
			d := &res.Decisions[i]
			if d.Verdict != Keep {
				continue
			}
			if t, ok := msgs[d.Index].Event.(*history.ExecutionTerminatedEvent); ok && res.TerminateWithoutHistory == nil {
				res.TerminateWithoutHistory = t
			}
			d.Verdict, d.Reason = Drop, fmt.Sprintf("no such instance: %s for an instance without history", msgs[d.Index].Event.Type())
		}
	case x.Terminal() && cur == x.ExecutionID:
		for i := range res.Decisions {
			d := &res.Decisions[i]
			if d.Verdict == Keep {
				d.Verdict, d.Reason = Drop, fmt.Sprintf("instance already %s: %s discarded", x.Status, msgs[d.Index].Event.Type())
			}
		}
	}
	for _, d := range res.Decisions {
		if d.Verdict == Keep {
			res.Kept = append(res.Kept, d.Index)
		}
	}
	if len(res.Kept) == 0 {
		// No commit will prove the stale messages stale: put them back.
		for i := range res.Decisions {
			d := &res.Decisions[i]
			switch {
			case d.Verdict != DropOnCommit:
			case msgs[d.Index].DequeueCount > maxDequeuesWithoutHistory:
				d.Verdict, d.Reason = Drop, fmt.Sprintf("%s, after %d deliveries", d.Reason, msgs[d.Index].DequeueCount)
			default:
				d.Verdict = Abandon
			}
		}
	}
	return res
}

// entityAutoStart reports whether a batch for an instance without history
// starts an entity: the instance id is an entity's and a kept message is
// an EventRaised.
func entityAutoStart(msgs []Incoming, decisions []Decision) bool {
	for _, d := range decisions {
		m := msgs[d.Index]
		if _, ok := m.Event.(*history.EventRaisedEvent); ok && d.Verdict == Keep && entity.IsInstanceID(m.OrchestrationInstance.InstanceID) {
			return true
		}
	}
	return false
}

package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
)

// NeedsStartDedupe reports whether DedupeStart applies to a message: a
// top-level ExecutionStarted (not a sub-orchestration start, not a
// continue-as-new generation an instance sends to itself, and not an
// orchestration an entity starts, which has no Instances row before it
// runs, as a sub-orchestration has none).
func NeedsStartDedupe(m *history.TaskMessage, sender history.OrchestrationInstance) bool {
	es, ok := m.Event.(*history.ExecutionStartedEvent)
	return ok && es.ParentInstance == nil && sender.InstanceID != m.OrchestrationInstance.InstanceID &&
		!entity.IsInstanceID(sender.InstanceID)
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

// NextGeneration is the Generation a client gives a new start of an
// instance (C#'s rule): the existing status row's Generation + 1, or 0
// when there is no row or the row has none. DedupeStart compares it to
// tell a start's duplicate from a later start of the same id.
func NextGeneration(row *history.OrchestrationState) int32 {
	if row != nil && row.Generation != nil {
		return *row.Generation + 1
	}
	return 0
}

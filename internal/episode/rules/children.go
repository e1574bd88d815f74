package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/azdurable/azdurable/history"
)

// Sub-orchestration starts. An episode sends its outbound messages before
// it writes its history (C#'s order), so an episode whose history write
// fails has sent its children's starts already, and its retry sends them
// again. C# gives each retry's start a new random execution id, and the
// child then takes the second start for a new execution: it runs again
// from the start, over its running or even finished first run (its
// Instances row goes from Completed back to Running, its history is
// replaced). Two rules make the second start a duplicate instead:
//
//   - ChildExecutionID: the child's execution id is derived from the call
//     (the parent execution, the task id, and the length of the committed
//     history the episode started from), so every retry of one episode
//     sends the same id, and Triage drops the second start as a duplicate
//     of the execution in history. A later episode that calls the same id
//     again (a new task id), or creates the child again after a rewind (a
//     longer history), gets another id and starts a new execution.
//   - SameCall, in Triage: a start for another execution whose call (parent
//     instance, parent execution, task id) is the one that started the
//     instance's running execution is a duplicate too (a parent whose ids
//     are random, such as a C# worker).

// childNamespace is the UUID namespace of ChildExecutionID.
var childNamespace = uuid.MustParse("6f0c8e4a-3b7d-5d2e-9a41-2c8b7e1f0d53")

// ChildExecutionID is the execution id of the sub-orchestration that the
// parent execution creates with task id taskID in an episode run on a
// committed history of historyLen events: 32 hex digits, as C# writes
// execution ids.
func ChildExecutionID(parent history.OrchestrationInstance, taskID int32, historyLen int) string {
	name := parent.InstanceID + "\x00" + strings.ToLower(parent.ExecutionID) + "\x00" +
		strconv.FormatInt(int64(taskID), 10) + "\x00" + strconv.Itoa(historyLen)
	return strings.ReplaceAll(uuid.NewSHA1(childNamespace, []byte(name)).String(), "-", "")
}

// SameCall reports whether two sub-orchestration starts come from the same
// call: the same parent instance and execution and the same task id.
func SameCall(a, b *history.ParentInstance) bool {
	return a != nil && b != nil && a.OrchestrationInstance.InstanceID == b.OrchestrationInstance.InstanceID &&
		strings.EqualFold(a.OrchestrationInstance.ExecutionID, b.OrchestrationInstance.ExecutionID) &&
		a.TaskScheduleID == b.TaskScheduleID
}

// ParentAnswer is the message a sub-orchestration's end sends its parent p,
// as C# sends it: SubOrchestrationInstanceCompleted with the output when it
// completed, SubOrchestrationInstanceFailed with the output as its reason
// and the failure details when it failed or was terminated. A parent
// ignores an answer to a task it no longer waits for (Go and C# alike), so
// a rewind may send one again.
func ParentAnswer(p *history.ParentInstance, status history.OrchestrationStatus, output *string, failure *history.FailureDetails, now time.Time) *history.TaskMessage {
	base := history.EventBase{EventID: -1, Timestamp: now}
	var ev history.Event
	if status == history.StatusCompleted {
		ev = &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: p.TaskScheduleID, Result: output, EventBase: base}
	} else {
		ev = &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: p.TaskScheduleID, Reason: output, FailureDetails: failure, EventBase: base}
	}
	return &history.TaskMessage{Event: ev, OrchestrationInstance: p.OrchestrationInstance}
}

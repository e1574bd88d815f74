package provider

import (
	"time"

	"github.com/azdurable/azdurable/history"
)

// ApplyEpisode updates an instance's status the way C# updates the
// Instances row after a checkpoint (tables spec §2.3.2): custom status,
// execution id and last-updated time always; then each new event in order
// may set name, version, input, status, output and times. now is the commit
// time (CompletedTime). A nil state starts a new one.
//
// The status holds what an Instances row holds, and nothing more, so that
// every backend shows the same status for the same history: a completion's
// Output follows history.FailureOutput and FailureDetails stays nil (the Instances
// table has no such column; the details are in the history, and clients
// derive the failure from the Output).
func ApplyEpisode(st *history.OrchestrationState, instanceID string, events []history.Event, customStatus *string, now time.Time) *history.OrchestrationState {
	if st == nil {
		st = &history.OrchestrationState{OrchestrationInstance: history.OrchestrationInstance{InstanceID: instanceID}}
	}
	st.CustomStatus = customStatus
	if n := len(events); n > 0 {
		st.LastUpdatedTime = events[n-1].Base().Timestamp
	}
	for _, ev := range events {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			st.OrchestrationInstance.ExecutionID = v.OrchestrationInstance.ExecutionID
			st.Name, st.Version = v.Name, v.Version
			st.CreatedTime = v.Timestamp
			st.Status = history.StatusRunning
			st.Tags = v.Tags
			if v.Generation != nil {
				st.Generation = v.Generation
			}
			if v.ScheduledStartTime != nil {
				st.ScheduledStartTime = v.ScheduledStartTime
			}
			st.Input = v.Input
			st.Output = nil
			st.CompletedTime = time.Time{}
			st.FailureDetails = nil
			st.ParentInstanceID = ""
			if v.ParentInstance != nil {
				st.ParentInstanceID = v.ParentInstance.OrchestrationInstance.InstanceID
			}
		case *history.ExecutionCompletedEvent:
			st.Status = v.OrchestrationStatus
			st.CompletedTime = now
			st.Output = history.FailureOutput(v.Result, v.FailureDetails)
			st.FailureDetails = nil
		case *history.ContinueAsNewEvent:
			st.Status = history.StatusContinuedAsNew
			st.Output = v.Result
		case *history.ExecutionTerminatedEvent:
			st.Status = history.StatusTerminated
			st.CompletedTime = now
			st.Output = v.Input
		case *history.ExecutionSuspendedEvent:
			st.Status = history.StatusSuspended
			st.Output = v.Reason
		case *history.ExecutionResumedEvent:
			st.Status = history.StatusRunning
			st.Output = v.Reason
		}
	}
	return st
}

package episode

import (
	"time"

	"github.com/azdurable/azdurable/history"
)

// EntityOrigin is what an entity's batch knows of its execution, for every
// host of entities: the instance (with the start's execution id, or a new
// one from newExecutionID when the entity's first message started it,
// rules.Triage's EntityAutoStart), its input and when it started (now for
// a new one).
func EntityOrigin(instanceID string, start *history.ExecutionStartedEvent, now time.Time, newExecutionID func() string) (self history.OrchestrationInstance, input *string, startedAt time.Time) {
	self = history.OrchestrationInstance{InstanceID: instanceID}
	if start == nil {
		self.ExecutionID = newExecutionID()
		return self, nil, now
	}
	self.ExecutionID = start.OrchestrationInstance.ExecutionID
	return self, start.Input, start.Timestamp
}

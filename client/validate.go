package client

import (
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// ErrInvalid marks a request that no retry can make valid: an empty
// instance id or one that is not UTF-8 or too long for a table key, a start
// without an orchestration name, a start scheduled more than 7 days ahead.
// Such a request is refused before anything is sent. Match it with
// errors.Is.
var ErrInvalid = provider.ErrInvalid

// validateStart applies the start rules of package provider (the one home
// of every rule that can refuse a start) to the message the client is about
// to send. The backend applies them again; checking here refuses a bad
// request before the backend is even reached (no task hub is created for
// it).
func validateStart(tm *history.TaskMessage, now time.Time) error {
	if err := provider.ValidateStart(tm, now); err != nil {
		return err
	}
	return provider.ValidateOrchestrationID(tm.Event.(*history.ExecutionStartedEvent).OrchestrationInstance.InstanceID)
}

// validateMessage applies provider's rules for client messages (events,
// terminate, suspend, resume).
func validateMessage(tm *history.TaskMessage) error {
	return provider.ValidateMessage(tm)
}

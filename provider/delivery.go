package provider

import (
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
)

// DeliverAt is the time before which a message must not be received, as
// C# sends it (zero: at once): a TimerFired at its FireAt, an
// ExecutionStarted at its ScheduledStartTime, and a scheduled entity
// request (an EventRaised named "op@<time>") at the time its name carries,
// as DurableTask.AzureStorage delays it. Every backend applies it.
func DeliverAt(tm *history.TaskMessage) time.Time {
	switch ev := tm.Event.(type) {
	case *history.TimerFiredEvent:
		return ev.FireAt
	case *history.ExecutionStartedEvent:
		if ev.ScheduledStartTime != nil {
			return *ev.ScheduledStartTime
		}
	case *history.EventRaisedEvent:
		if due, ok := entity.DueTime(ev.Name); ok {
			return due
		}
	}
	return time.Time{}
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/internal/netjson"
)

// Poison messages and work that a worker gives back.
//
// Design note. A queue counts every receive of a message (DequeueCount). A
// message received more than MaxDequeueCount times without being
// processed, or one that cannot be decoded, is poison: the backend copies
// it whole into quarantine (Azure: the blob container <hub>-poison) and
// deletes it from its queue, so that it stops costing a receive and a
// failure for ever (C# only logs it). Its owner learns it: a quarantined
// activity work item answers its orchestration with a TaskFailed whose
// failure details say so (PoisonedActivityFailure), sent before the work
// item is deleted; a quarantined control message leaves the instance's
// rows as they are and is listed by Diagnostics. An episode whose commit
// is refused the same way twice (Repeatable), or at once with ErrInvalid,
// is quarantined with its messages instead of being run again.
//
// A worker that cannot run a work item because it lacks the name (or the
// version, or the code no longer matches the history and it blocks), or
// because storage failed it (a read, a commit or a result that could not
// be sent, a lost lock), gives it back with
// Quarantiner.GiveBackOrchestration or GiveBackActivity: the
// messages are replaced by fresh copies, so a receive that was only a
// give-back is never counted towards poison, whichever worker gave it back
// and however often, and a worker that hosts the name never quarantines
// the message. Copies are sent before the originals are deleted, so a
// crash in between leaves a duplicate (which the message rules drop), never
// a loss. A give-back for a name is recorded (Stalled) so that the
// instance shows why it does not move. What still counts is what may be
// the message's own fault: a worker that dies holding it, orchestrator
// code that fails or blocks on it.

// DefaultMaxDequeueCount is how many times a message may be received
// without being processed before it is quarantined, unless configured.
const DefaultMaxDequeueCount = 5

// Poisoned reports whether a message received dequeueCount times is poison
// under the limit max: it was received more than max times. A limit of 0
// or less never quarantines (C#'s behaviour).
func Poisoned(dequeueCount, max int) bool { return max > 0 && dequeueCount > max }

// PoisonReason says why a message was quarantined for its dequeue count.
func PoisonReason(dequeueCount, max int) string {
	return fmt.Sprintf("received %d times without being processed (more than the limit of %d)", dequeueCount, max)
}

// UndecodableReason says why a message that cannot be decoded was
// quarantined.
func UndecodableReason(err error) string {
	return "cannot be decoded: " + err.Error()
}

// PoisonErrorType is the ErrorType of the failure details with which a
// quarantined activity work item fails its task.
const PoisonErrorType = "azdurable.PoisonMessage"

// PoisonedActivityFailure is the result that answers a quarantined activity
// work item: a TaskFailed for its task whose reason and failure details say
// that the work item was quarantined, why, and where it is kept. The
// failure is not retriable: the same work item would be poison again.
func PoisonedActivityFailure(ts *history.TaskScheduledEvent, reason, where string, now time.Time) *history.TaskFailedEvent {
	msg := fmt.Sprintf("activity %q was not run: its work item was quarantined as a poison message (%s); it is kept in %s", ts.Name, reason, where)
	return &history.TaskFailedEvent{TaskScheduledID: ts.EventID, Reason: &msg,
		FailureDetails: &history.FailureDetails{ErrorType: PoisonErrorType, ErrorMessage: msg, IsNonRetriable: true},
		EventBase:      history.EventBase{EventID: -1, Timestamp: now}}
}

// Quarantined describes one quarantined message: where it came from, what
// it was (as far as it could be decoded), why it was taken out, and its
// text exactly as it was on its queue.
type Quarantined struct {
	Queue        string    `json:"queue"`
	MessageID    string    `json:"messageId"`
	InstanceID   string    `json:"instanceId,omitempty"`
	ExecutionID  string    `json:"executionId,omitempty"`
	EventType    string    `json:"eventType,omitempty"`
	Name         string    `json:"name,omitempty"`
	TaskID       *int32    `json:"taskId,omitempty"`
	DequeueCount int       `json:"dequeueCount"`
	InsertedAt   time.Time `json:"insertedAt"`
	At           time.Time `json:"quarantinedAt"`
	Reason       string    `json:"reason"`
	Worker       string    `json:"worker,omitempty"`
	// Location names where the record is kept (container and blob).
	Location string `json:"location,omitempty"`
	// Body is the message's text as it was on its queue (a large message's
	// wrapper, whose blob stays in the large-message container).
	Body string `json:"body"`
}

// Stall kinds.
const (
	StalledOrchestration = "orchestration"
	StalledActivity      = "activity"
)

// Stalled records that a worker gave a work item back without running it,
// and why: it does not host the orchestration or activity name (or version),
// or it blocks an instance whose history its code no longer matches.
type Stalled struct {
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Version     string    `json:"version,omitempty"`
	InstanceID  string    `json:"instanceId"`
	ExecutionID string    `json:"executionId,omitempty"`
	TaskID      *int32    `json:"taskId,omitempty"`
	Reason      string    `json:"reason"`
	Worker      string    `json:"worker,omitempty"`
	At          time.Time `json:"at"`
	// RetryInSeconds is the delay after which the work item is visible
	// again.
	RetryInSeconds int `json:"retryInSeconds"`
}

// PendingStatus is the custom status (JSON text) recorded on the status
// row of a Pending instance whose orchestration the worker that received
// it cannot run, so that every reader of the status sees why it has not
// started.
func (s *Stalled) PendingStatus() string {
	return string(netjson.AppendString(nil, "azdurable: not started: "+s.Reason))
}

// Diagnostics are what a backend knows about an instance besides its
// status and history: its quarantined messages, and the give-backs that
// still hold it back.
type Diagnostics struct {
	Quarantined []Quarantined `json:"quarantined,omitempty"`
	Stalled     []Stalled     `json:"stalled,omitempty"`
}

// Quarantiner is implemented by backends that quarantine poison messages
// and give work back without counting the receive. Both backends of this
// module implement it; the worker falls back to abandoning otherwise.
type Quarantiner interface {
	// GiveBackOrchestration puts the work item's messages back as fresh
	// copies, visible after a delay that grows with this backend's
	// give-backs of the instance, records s (and, for an instance whose
	// status row is Pending for this execution, its reason as the row's
	// custom status, under If-Match) and unlocks the instance. It returns
	// the delay. With s nil nothing is recorded: the work item failed for
	// a reason that is not its own (storage unavailable, a lost lock) and
	// is retried later without counting towards poison.
	GiveBackOrchestration(ctx context.Context, wi *OrchestrationWorkItem, s *Stalled) (time.Duration, error)
	// GiveBackActivity does the same for an activity work item.
	GiveBackActivity(ctx context.Context, wi *ActivityWorkItem, s *Stalled) (time.Duration, error)
	// QuarantineOrchestration moves the work item's messages into
	// quarantine, deletes them from their queues, leaves the instance's
	// rows as they are and unlocks the instance. orchestration names the
	// instance's orchestration for the log.
	QuarantineOrchestration(ctx context.Context, wi *OrchestrationWorkItem, orchestration, reason string) error
	// Diagnostics returns the instance's quarantined messages and the
	// records of give-backs that still hold it back (StillStalled).
	Diagnostics(ctx context.Context, instanceID string) (*Diagnostics, error)
}

// GiveBackDelay is the delay before a work item given back for the n-th
// time by one backend since its instance last moved (a commit that
// succeeded restarts the count) is visible again: C#'s back-off (AbandonDelay), at
// most 10 minutes for an orchestration (its partition's owner is the only
// one that receives it) and at most one minute for an activity, so that
// another worker of the hub that hosts it soon gets its turn.
func GiveBackDelay(kind string, n int) time.Duration {
	d := AbandonDelay(n)
	if kind == StalledActivity && d > time.Minute {
		d = time.Minute
	}
	return d
}

// StillStalled reports whether a give-back record still describes why the
// instance does not move: the instance has not ended, the record is about
// its current execution, and since the record nothing ran (for an
// orchestration: the status row was not updated after it; for an activity:
// its task has no result in the history).
func StillStalled(s *Stalled, st *history.OrchestrationState, hist []history.Event) bool {
	if st == nil || st.Status.IsTerminal() || st.Status == history.StatusContinuedAsNew {
		return false
	}
	if s.ExecutionID != "" && st.OrchestrationInstance.ExecutionID != "" &&
		!strings.EqualFold(s.ExecutionID, st.OrchestrationInstance.ExecutionID) {
		return false
	}
	if s.Kind == StalledActivity && s.TaskID != nil {
		x := rules.NewHistoryIndex(hist)
		return !x.Completed(*s.TaskID)
	}
	return !st.LastUpdatedTime.After(s.At)
}

// RepeatableError marks a failure that the same request gets every time:
// the service refused the request itself (400 Bad Request, 413), not its
// timing. Backends wrap such commit failures in it; Signature tells two
// failures apart.
type RepeatableError struct {
	Signature string
	Err       error
}

func (e *RepeatableError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RepeatableError) Unwrap() error { return e.Err }

// Repeatable reports whether a commit failure will repeat if the episode is
// run and committed again, with a signature that tells whether two such
// failures are the same: ErrInvalid (always), or a RepeatableError. Lost
// locks, time-outs, throttling, server errors and injected crashes are
// not repeatable.
func Repeatable(err error) (signature string, ok bool) {
	if err == nil || errors.Is(err, ErrLockLost) {
		return "", false
	}
	if errors.Is(err, ErrInvalid) {
		return "invalid: " + err.Error(), true
	}
	var re *RepeatableError
	if errors.As(err, &re) {
		return re.Signature, true
	}
	return "", false
}

package durable

import (
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/replay"
)

// TaskFailedError is the failure of an activity or sub-orchestration, with
// the FailureDetails its worker reported (C# or Go). Match it with
// errors.As; errors.As also reaches the inner failures it wraps.
type TaskFailedError struct {
	// Kind is TaskScheduled (an activity) or
	// SubOrchestrationInstanceCreated (a sub-orchestration).
	Kind   history.EventType
	Name   string
	TaskID int32
	// Reason is the failure message as C# writes it (TaskFailed.Reason).
	Reason string
	// Details is the text C# writes beside the reason (a stack trace), if
	// any.
	Details *string
	// Failure is what the task's worker reported.
	Failure *history.FailureDetails
}

// Error is the failure's reason as C# writes it, else the reported
// message, else which task failed.
func (e *TaskFailedError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	if e.Failure != nil {
		return e.Failure.ErrorMessage
	}
	what := "activity"
	if e.Kind == history.SubOrchestrationInstanceCreated {
		what = "sub-orchestration"
	}
	return fmt.Sprintf("%s %q (task %d) failed", what, e.Name, e.TaskID)
}

// Unwrap exposes the inner failure as a *FailureError, so errors.As can
// reach the failure that caused this one.
func (e *TaskFailedError) Unwrap() error {
	if e.Failure != nil && e.Failure.InnerFailure != nil {
		return &FailureError{Details: e.Failure.InnerFailure}
	}
	return nil
}

// ErrorType returns the failure's original error type when known.
func (e *TaskFailedError) ErrorType() string {
	if e.Failure != nil && e.Failure.ErrorType != "" {
		return e.Failure.ErrorType
	}
	return "TaskFailedError"
}

// FailureDetails returns the failure an orchestration records when it
// returns this error: a TaskFailedError whose inner failure is the one the
// task's worker reported.
func (e *TaskFailedError) FailureDetails() *history.FailureDetails {
	inner := e.Failure
	if inner == nil {
		inner = &history.FailureDetails{ErrorType: "Exception", ErrorMessage: e.Reason, StackTrace: e.Details}
	}
	return &history.FailureDetails{ErrorType: "TaskFailedError", ErrorMessage: e.Error(), InnerFailure: inner}
}

// FailureError is a failure carried as FailureDetails, for example the inner
// failure of a TaskFailedError.
type FailureError struct{ Details *history.FailureDetails }

// Error is the recorded error message.
func (e *FailureError) Error() string { return e.Details.ErrorMessage }

// ErrorType returns the recorded error type.
func (e *FailureError) ErrorType() string { return e.Details.ErrorType }

// Unwrap returns the inner failure.
func (e *FailureError) Unwrap() error {
	if e.Details.InnerFailure != nil {
		return &FailureError{Details: e.Details.InnerFailure}
	}
	return nil
}

// FailureDetails returns a copy of the details, which an orchestration
// records as they are when it returns this error.
func (e *FailureError) FailureDetails() *history.FailureDetails {
	c := *e.Details
	return &c
}

// NonDeterminismError reports orchestrator code that no longer matches its
// history: it scheduled something else, or in another order, or skipped
// recorded work. Workers fail the instance with it (or retry, by option);
// durabletest's replayer returns it.
type NonDeterminismError struct {
	TaskID  int32
	History string // what history records at this point
	Code    string // what the code did instead
}

// Error says what the history records and what the code did instead.
func (e *NonDeterminismError) Error() string {
	return (&replay.NonDeterminismError{TaskID: e.TaskID, History: e.History, Code: e.Code}).Error()
}

// ErrorType gives the FailureDetails error type.
func (e *NonDeterminismError) ErrorType() string { return "NonDeterminismError" }

// ContinueAsNewError restarts an orchestration; create it with ContinueAsNew
// and return it from the orchestrator.
type ContinueAsNewError struct {
	// Input is the new execution's input as stored text.
	Input *string
	// Version is the new execution's version (nil: the same).
	Version *string
	// KeepUnprocessedEvents carries the events that arrived but were not
	// consumed over to the new execution.
	KeepUnprocessedEvents bool
}

// Error says that the orchestration continued as new.
func (e *ContinueAsNewError) Error() string { return "orchestration continued as new" }

// ErrTimeout is returned by an event wait whose timeout came first.
var ErrTimeout = replay.ErrTimeout

type nonRetryableError struct{ err error }

func (e *nonRetryableError) Error() string      { return e.err.Error() }
func (e *nonRetryableError) Unwrap() error      { return e.err }
func (e *nonRetryableError) NonRetriable() bool { return true }

// NonRetryable marks an activity error as not worth retrying: its failure
// carries IsNonRetriable, and retry policies stop at once.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryableError{err: err}
}

// ContinueAsNewOption configures ContinueAsNew.
type ContinueAsNewOption func(*ContinueAsNewError)

// KeepUnprocessedEvents carries external events that arrived but were not
// consumed over to the new execution, in arrival order.
func KeepUnprocessedEvents() ContinueAsNewOption {
	return func(e *ContinueAsNewError) { e.KeepUnprocessedEvents = true }
}

// WithNewVersion starts the new execution with another orchestration version.
func WithNewVersion(v string) ContinueAsNewOption {
	return func(e *ContinueAsNewError) { e.Version = &v }
}

// ContinueAsNew returns the error that, returned from the orchestrator,
// restarts the orchestration with input as a new execution. It counts only
// when returned.
func ContinueAsNew(ctx Context, input any, opts ...ContinueAsNewOption) error {
	p, err := marshal(ctx, input)
	if err != nil {
		return err
	}
	e := &ContinueAsNewError{Input: p}
	for _, o := range opts {
		o(e)
	}
	return e
}

// toEngine turns what orchestrator code returned into what the engine
// reads: a *ContinueAsNewError anywhere in the chain continues as new.
func toEngine(err error) error {
	var can *ContinueAsNewError
	if errors.As(err, &can) {
		return &replay.ContinueAsNewError{Input: can.Input, Version: can.Version, KeepUnprocessedEvents: can.KeepUnprocessedEvents}
	}
	return err
}

// fromEngine turns the failure of an engine task into durable's own error
// types.
func fromEngine(err error) error {
	switch v := err.(type) {
	case *replay.TaskFailedError:
		return &TaskFailedError{Kind: v.Kind, Name: v.Name, TaskID: v.TaskID, Reason: v.Reason, Details: v.Details, Failure: v.Failure}
	case *replay.FailureError:
		return &FailureError{Details: v.Details}
	}
	return err
}

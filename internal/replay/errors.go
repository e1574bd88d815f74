package replay

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/azdurable/azdurable/history"
)

// NonDeterminismError means the orchestrator code no longer does what its
// history records: it scheduled something else, or in another order, or
// skipped recorded work.
type NonDeterminismError struct {
	TaskID  int32
	History string // what history records at this point
	Code    string // what the code did instead
}

func (e *NonDeterminismError) Error() string {
	return fmt.Sprintf("non-deterministic orchestration: at task id %d the history records %s, but the code %s; was the orchestrator changed while this instance was running?",
		e.TaskID, e.History, e.Code)
}

// ErrorType gives the FailureDetails error type.
func (e *NonDeterminismError) ErrorType() string { return "NonDeterminismError" }

// TaskFailedError is the failure of an activity or sub-orchestration, with
// the details its worker reported. Match it with errors.As.
type TaskFailedError struct {
	// Kind is TaskScheduled (an activity) or
	// SubOrchestrationInstanceCreated (a sub-orchestration).
	Kind   history.EventType
	Name   string
	TaskID int32
	// Reason is the failure message as C# writes it (TaskFailed.Reason).
	Reason  string
	Details *string
	Failure *history.FailureDetails
}

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

// Unwrap exposes the inner failure as an error, so errors.As can reach the
// failure that caused this one.
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

// FailureError is an error carried as FailureDetails (an inner failure, or
// a failure read from history).
type FailureError struct{ Details *history.FailureDetails }

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

// FailureDetails returns a copy of the details.
func (e *FailureError) FailureDetails() *history.FailureDetails {
	c := *e.Details
	return &c
}

// ContinueAsNewError, returned by orchestrator code, restarts the
// orchestration with a new input.
type ContinueAsNewError struct {
	Input                 *string
	Version               *string
	KeepUnprocessedEvents bool
}

func (e *ContinueAsNewError) Error() string { return "orchestration continued as new" }

// ErrTimeout is the failure of an event wait whose timeout fired first.
var ErrTimeout = errors.New("timed out waiting for an external event")

// nonRetriable marks errors whose failures must not be retried.
type nonRetriable interface{ NonRetriable() bool }

type errorTyper interface{ ErrorType() string }

// recorded is an error that says how it is recorded: a failure read from
// history, or a task's failure (the engine's TaskFailedError and
// FailureError, and package durable's types of the same names).
type recorded interface {
	FailureDetails() *history.FailureDetails
}

// FailureDetailsOf converts an error into FailureDetails: an error with a
// FailureDetails() method gives its own (a TaskFailedError keeps the
// details its worker sent as the inner failure); otherwise ErrorType is the
// error's ErrorType() method or its Go type, InnerFailure follows
// errors.Unwrap, IsNonRetriable comes from a NonRetriable() method.
func FailureDetailsOf(err error) *history.FailureDetails {
	return failureDetails(err, 0)
}

func failureDetails(err error, depth int) *history.FailureDetails {
	if err == nil || depth > 32 {
		return nil
	}
	if r, ok := err.(recorded); ok {
		return r.FailureDetails()
	}
	fd := &history.FailureDetails{ErrorType: fmt.Sprintf("%T", err), ErrorMessage: err.Error()}
	if t, ok := err.(errorTyper); ok {
		fd.ErrorType = t.ErrorType()
	}
	var nr nonRetriable
	if errors.As(err, &nr) && nr.NonRetriable() {
		fd.IsNonRetriable = true
	}
	if inner := errors.Unwrap(err); inner != nil {
		fd.InnerFailure = failureDetails(inner, depth+1)
	} else if joined, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := joined.Unwrap(); len(errs) > 0 {
			fd.InnerFailure = failureDetails(errs[0], depth+1)
		}
	}
	return fd
}

// PanicFailure describes a recovered panic.
func PanicFailure(coroutine string, value any, stack string) *history.FailureDetails {
	msg := fmt.Sprintf("panic in %s: %v", coroutine, value)
	if err, ok := value.(error); ok {
		msg = fmt.Sprintf("panic in %s: %v", coroutine, err)
	}
	return &history.FailureDetails{ErrorType: "panic", ErrorMessage: msg, StackTrace: &stack}
}

// Stack returns the current stack, for failure details.
func Stack() *string {
	s := string(debug.Stack())
	return &s
}

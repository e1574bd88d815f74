package durable

import (
	"errors"

	"github.com/azdurable/azdurable/internal/replay"
)

// TaskFailedError is the failure of an activity or sub-orchestration, with
// the FailureDetails its worker reported (C# or Go). Match it with
// errors.As; errors.As also reaches the inner failures it wraps.
type TaskFailedError = replay.TaskFailedError

// FailureError is a failure carried as FailureDetails, for example the inner
// failure of a TaskFailedError.
type FailureError = replay.FailureError

// NonDeterminismError reports orchestrator code that no longer matches its
// history. Workers fail the instance with it (or retry, by option).
type NonDeterminismError = replay.NonDeterminismError

// ContinueAsNewError restarts an orchestration; create it with ContinueAsNew
// and return it from the orchestrator.
type ContinueAsNewError = replay.ContinueAsNewError

// ErrTimeout is returned by an event wait whose timeout came first.
var ErrTimeout = replay.ErrTimeout

// ErrCanceled is returned by operations canceled by the orchestration.
var ErrCanceled = errors.New("durable: canceled")

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
type ContinueAsNewOption func(*replay.ContinueAsNewError)

// KeepUnprocessedEvents carries external events that arrived but were not
// consumed over to the new execution, in arrival order.
func KeepUnprocessedEvents() ContinueAsNewOption {
	return func(e *replay.ContinueAsNewError) { e.KeepUnprocessedEvents = true }
}

// WithNewVersion starts the new execution with another orchestration version.
func WithNewVersion(v string) ContinueAsNewOption {
	return func(e *replay.ContinueAsNewError) { e.Version = &v }
}

// ContinueAsNew returns the error that, returned from the orchestrator,
// restarts the orchestration with input as a new execution. It counts only
// when returned.
func ContinueAsNew(ctx Context, input any, opts ...ContinueAsNewOption) error {
	p, err := marshalPayload(input)
	if err != nil {
		return err
	}
	e := &replay.ContinueAsNewError{Input: p}
	for _, o := range opts {
		o(e)
	}
	return e
}

package client

import (
	"errors"
	"fmt"
)

// Errors of operations that need an instance in a particular state. They
// are matched with errors.Is; the *StatusError that carries them says which
// instance and which status it had.
var (
	// ErrNotTerminal means the operation needs a finished instance
	// (Completed, Failed, Canceled or Terminated), as purging one instance
	// does, and the instance has not finished.
	ErrNotTerminal = errors.New("client: the instance has not finished")
	// ErrNotFailed means the operation (rewind) needs a Failed instance.
	ErrNotFailed = errors.New("client: the instance has not failed")
)

// StatusError refuses an operation because of the instance's status.
type StatusError struct {
	// Op names the operation ("purge", "rewind", "restart").
	Op         string
	InstanceID string
	Status     Status
	// Err is the sentinel (ErrNotTerminal, ErrNotFailed, ErrInstanceExists).
	Err error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("client: cannot %s instance %q: its status is %s (%v)", e.Op, e.InstanceID, e.Status, e.Err)
}

// Unwrap returns the sentinel.
func (e *StatusError) Unwrap() error { return e.Err }

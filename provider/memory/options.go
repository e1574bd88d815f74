package memory

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/azdurable/azdurable/provider"
)

// Options configure a Backend. The zero value is a valid configuration.
type Options struct {
	// TaskHub names the hub; it only shapes the partition names handed out
	// in work items ("<hub>-control-NN"). Default "TestHub".
	TaskHub string
	// Partitions is the number of control queues, 1..16 (default 4).
	Partitions int
	// Clock is the backend's time. Default: the wall clock in UTC.
	Clock Clock
	// AutoAdvance moves the clock to the next visible-at time whenever at
	// least one LockNext* caller is waiting, no work item is locked and no
	// message is visible. It needs a clock with a Set method (ManualClock);
	// with a nil Clock a ManualClock starting at the current wall time is
	// used. A locked work item holds the clock until it is completed or
	// abandoned (or its lock expires by a manual move), so a test that
	// simulates a hard crash moves the clock itself.
	AutoAdvance bool
	// LockDuration is how long a received message stays invisible unless it
	// is completed, abandoned or renewed (default 5 min, as C#'s control-
	// and work-item-queue visibility timeouts).
	LockDuration time.Duration
	// MaxBatch bounds the messages of one orchestration work item (default
	// 32, one Azure receive).
	MaxBatch int
	// MaxDequeueCount is how many times a message may be received without
	// being processed before it is quarantined (default
	// provider.DefaultMaxDequeueCount; negative: never), as in the Azure
	// Storage backend.
	MaxDequeueCount int
	// Logger receives the reasons for dropped and abandoned messages and
	// for injected faults. Default slog.Default().
	Logger *slog.Logger
	// Faults inject failures; the zero value injects none.
	Faults Faults
}

// Faults configure fault injection. All random choices come from one
// generator seeded with Seed, so a run that makes the same calls in the same
// order makes the same choices.
type Faults struct {
	// Seed seeds the generator (0 is a valid seed).
	Seed uint64
	// DuplicateRate is the probability that a sent message is enqueued
	// twice (two message ids, same content), as a retried send would do.
	DuplicateRate float64
	// Shuffle reorders the messages of each orchestration work item as far
	// as a real queue could: C# sorts received messages by insertion time
	// (whole seconds) and then by the sending process's sequence number, so
	// only messages from different senders can change places. The backend
	// keeps an ExecutionStarted first, keeps the order of messages from one
	// client, from one orchestration's commits and from one activity
	// delivery, and interleaves those sequences at random.
	Shuffle bool
	// TruncateDelays truncates initial visibility delays to whole seconds,
	// as the Azure SDK does, so that timers and scheduled starts can become
	// visible up to one second early.
	TruncateDelays bool
	// CrashRate is the probability that a CompleteOrchestration crashes at
	// one of CrashPoints (chosen at random); CompleteActivity crashes with
	// the same probability when CrashPoints holds AfterActivityResult.
	CrashRate float64
	// CrashPoints lists where random crashes happen; empty means
	// AfterOutbox, AfterHistory and AfterStatus.
	CrashPoints []CrashPoint
}

// CrashPoint names a point between two steps of a commit.
type CrashPoint int

const (
	// NoCrash disarms CrashNext.
	NoCrash CrashPoint = iota
	// AfterOutbox: outbound messages sent; history, status row and message
	// deletes not done.
	AfterOutbox
	// AfterHistory: messages sent and history written; status row stale,
	// consumed messages not deleted.
	AfterHistory
	// AfterStatus: everything but the deletion of the consumed messages.
	AfterStatus
	// AfterActivityResult: an activity's result was sent but its work item
	// was not deleted (CompleteActivity only).
	AfterActivityResult
)

// String describes the crash point ("after the history was written").
func (p CrashPoint) String() string {
	switch p {
	case NoCrash:
		return "no crash"
	case AfterOutbox:
		return "after the outbox was sent"
	case AfterHistory:
		return "after the history was written"
	case AfterStatus:
		return "after the status row was written"
	case AfterActivityResult:
		return "after the activity result was sent"
	}
	return fmt.Sprintf("CrashPoint(%d)", int(p))
}

// CrashError is returned by a commit that an injected crash interrupted.
// The state is what a process crash at Point leaves behind: the work item's
// messages stay locked until the lock expires or the work item is
// abandoned. It matches ErrInjectedCrash with errors.Is.
type CrashError struct {
	Point CrashPoint
	// InstanceID is the orchestration, or the one the activity belongs to.
	InstanceID string
}

// Error names the crash point and the instance.
func (e *CrashError) Error() string {
	return fmt.Sprintf("memory: injected crash %s (instance %q)", e.Point, e.InstanceID)
}

// Unwrap returns ErrInjectedCrash.
func (e *CrashError) Unwrap() error { return ErrInjectedCrash }

// Errors of the memory backend, besides those of package provider.
var (
	// ErrInjectedCrash is matched by every *CrashError.
	ErrInjectedCrash = errors.New("memory: injected crash")
	// ErrDelayTooLong means a message would need a visibility delay over
	// provider.MaxVisibilityDelay (7 days), which Azure Storage refuses.
	ErrDelayTooLong = provider.ErrDelayTooLong
	// ErrMessageGone means a work item's message was deleted or received
	// again by another work item after its lock expired: the work item no
	// longer holds it.
	ErrMessageGone = errors.New("memory: message is gone (deleted, or received again after its lock expired)")
	// ErrStopped is returned by LockNext* after Stop (until Start).
	ErrStopped = errors.New("memory: backend stopped")
	// ErrTaskHubNotFound is returned after DeleteTaskHub until CreateTaskHub.
	ErrTaskHubNotFound = errors.New("memory: task hub does not exist")
	// ErrForeignWorkItem means a work item was not handed out by this
	// backend, or was already completed or abandoned.
	ErrForeignWorkItem = errors.New("memory: work item not held (not from this backend, or already completed or abandoned)")
)

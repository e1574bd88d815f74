// Package memory is an in-memory provider.Backend with a virtual clock and
// fault injection, for fast tests of the worker, the client and the test
// environment. It needs no storage.
//
// Design note. The backend models the Azure Storage layout at the level the
// contract can observe, not byte for byte:
//
//   - Control queues are per partition (Options.Partitions, mapped with
//     C#'s instance hash, as on Azure Storage) and hold per-instance
//     inboxes; the activity queue is one list. Every message has an id, a dequeue count and a
//     visible-at time. Receiving a message hides it for the lock duration;
//     an expired lock makes it visible again and the next receive counts
//     one more delivery, as an Azure queue does.
//   - Each instance has a status row (history.OrchestrationState), the
//     events of its current execution and an ETag drawn from one counter
//     that every history write advances. A commit whose work item carries
//     another ETag fails with provider.ErrLockLost, which is how the
//     sentinel row protects the Azure history table.
//   - Message and status rules are not re-implemented here: work items are
//     formed by calling rules.DedupeStart and rules.Triage
//     (internal/episode/rules), and status rows are derived with the
//     status transitions of the same package (Pending, Checkpoint,
//     TerminatedBeforeHistory, Repair), as the Azure backend derives its
//     Instances rows.
//   - Everything that is stored passes through the history package's JSON
//     codec once, so times are truncated to 100 ns and made UTC, exactly as
//     storage would return them, and data that cannot be stored is refused
//     at the call that tries to store it. What is handed out is a shallow
//     copy per event, so callers cannot change what is stored.
//   - Waiters in LockNextOrchestration and LockNextActivity queue up; every
//     state change runs one dispatch pass under the backend's mutex that
//     hands work items to waiters first in, first out. There is no polling
//     and no thundering herd.
//   - Time comes from Options.Clock. With a ManualClock, moving the clock
//     wakes the dispatcher; with AutoAdvance the backend moves the clock
//     itself to the next visible-at time when it is otherwise idle, which
//     is how the test environment skips timers.
//   - Poison messages and give-backs follow package provider's rules: a
//     message received more than Options.MaxDequeueCount times is moved to
//     an in-memory quarantine (a quarantined activity fails its task
//     first), give-backs replace messages by fresh copies, and Diagnostics
//     lists both for an instance.
//
// Fault injection (Options.Faults) is seeded and covers duplicate delivery,
// reordering within a batch, whole-second delay truncation and a crash
// between any two steps of a commit.
package memory

// Package provider defines the backend contract that the worker and the
// client use, in DurableTask.Core's IOrchestrationService terms, plus the
// rules every backend must apply to incoming messages.
//
// Design note. The worker and client never touch queues, tables or blobs;
// they hold a Backend. Two backends exist: provider/azurestorage (the C#
// DurableTask.AzureStorage layout) and provider/memory (an in-memory backend
// with a virtual clock for fast tests). Behaviour that must be identical for
// every backend is written once and called by both. The rules around an
// episode live in internal/episode/rules, below the storage packages and
// the engine's simulator: which incoming messages are dropped as duplicates
// or stale and which are held back as out of order (Triage), how
// ExecutionStarted messages are de-duplicated against the instance's status
// (DedupeStart), the generation of a new start (NextGeneration), and how an
// instance's status changes (Pending, Checkpoint, TerminatedBeforeHistory,
// Repair). This package holds the abandon back-off (AbandonDelay), the
// poison and give-back rules, and what no storage can hold, refused before
// the first side effect (ValidateInstanceID, ValidateStart, ValidateMessage,
// ValidateEpisode).
//
// A work item is one instance's batch of new messages. The backend locks the
// instance for the duration of the work item: no other work item for the
// same instance is handed out until it is completed or abandoned. Commits
// follow C#'s order: outbound messages, history, instance row, then the
// deletion of the consumed messages. Ownership of an instance's history is
// proven by the history ETag; a conflicting writer makes the commit fail
// with ErrLockLost.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// Backend is the storage contract of azdurable. All methods are safe for
// concurrent use.
type Backend interface {
	// CreateTaskHub creates the task hub's resources if they are missing. It
	// is idempotent and safe when several processes call it at once.
	CreateTaskHub(ctx context.Context) error
	// DeleteTaskHub deletes everything the task hub owns.
	DeleteTaskHub(ctx context.Context) error
	// Start begins taking part in partition ownership so that
	// LockNextOrchestration can return work. Clients do not call it.
	Start(ctx context.Context) error
	// Stop ends partition ownership. With graceful, owned partitions are
	// drained (in-flight work items may finish) and released.
	Stop(ctx context.Context, graceful bool) error

	// CreateInstance sends an ExecutionStarted message and records the
	// instance as Pending. If an instance with the id exists and its status
	// is in dedupe, nothing is sent and ErrInstanceExists is returned; of
	// concurrent starts of one id, one succeeds and the others get
	// ErrInstanceExists, and none leaves its message behind. A start that
	// fails ValidateStart fails with ErrInvalid before anything is sent.
	CreateInstance(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus) error
	// SendMessages sends client messages (events, terminate, suspend,
	// resume) to their instances.
	SendMessages(ctx context.Context, msgs ...*history.TaskMessage) error
	// GetState returns the instance's state, or ErrNotFound. Inputs and
	// outputs are included when withPayloads is set.
	GetState(ctx context.Context, instanceID string, withPayloads bool) (*history.OrchestrationState, error)
	// Query lists instances page by page; token "" asks for the first page.
	Query(ctx context.Context, q Query, token string) (*Page, error)
	// History returns the events of one execution ("" = the current one).
	History(ctx context.Context, instanceID, executionID string) ([]history.Event, error)
	// Purge deletes an instance's history, status and payload blobs.
	Purge(ctx context.Context, instanceID string) (PurgeResult, error)
	// PurgeWhere purges every instance that matches the filter.
	PurgeWhere(ctx context.Context, f PurgeFilter) (PurgeResult, error)

	// LockNextOrchestration waits for the next orchestration work item, or
	// until ctx is done.
	LockNextOrchestration(ctx context.Context) (*OrchestrationWorkItem, error)
	// LoadHistory loads the history of a work item that was handed out
	// without it (History nil). It fails with ErrLockLost if the stored
	// history no longer matches the work item's ETag.
	LoadHistory(ctx context.Context, wi *OrchestrationWorkItem) error
	// RenewOrchestration extends the lock of a work item's messages.
	RenewOrchestration(ctx context.Context, wi *OrchestrationWorkItem) error
	// CompleteOrchestration commits an episode. On success wi.HistoryETag,
	// wi.HistoryLen and wi.ExecutionID describe the new history. An episode
	// that fails ValidateEpisode fails with ErrInvalid before anything is
	// sent.
	CompleteOrchestration(ctx context.Context, wi *OrchestrationWorkItem, r *EpisodeResult) error
	// AbandonOrchestration unlocks the instance and makes the work item's
	// messages visible again after delay.
	AbandonOrchestration(ctx context.Context, wi *OrchestrationWorkItem, delay time.Duration) error

	// LockNextActivity waits for the next activity work item.
	LockNextActivity(ctx context.Context) (*ActivityWorkItem, error)
	// RenewActivity extends the lock of an activity work item.
	RenewActivity(ctx context.Context, wi *ActivityWorkItem) error
	// CompleteActivity sends the activity's result (a *TaskCompletedEvent or
	// *TaskFailedEvent) to its orchestration and deletes the work item.
	CompleteActivity(ctx context.Context, wi *ActivityWorkItem, result history.Event) error
	// AbandonActivity makes the work item visible again after delay.
	AbandonActivity(ctx context.Context, wi *ActivityWorkItem, delay time.Duration) error
}

// Message is one incoming message of a work item.
type Message struct {
	*history.TaskMessage
	// ID identifies the delivery (the queue message id).
	ID string
	// DequeueCount is how many times the message has been received.
	DequeueCount int
	// Sender is the sending instance ("" for clients).
	Sender history.OrchestrationInstance
}

// OrchestrationWorkItem is a locked batch of new messages for one instance.
type OrchestrationWorkItem struct {
	InstanceID string
	// ExecutionID is the execution the history belongs to; "" when the
	// instance has no history yet.
	ExecutionID string
	// Messages are the new messages, in processing order, already triaged.
	Messages []*Message
	// History holds the past events of the current execution, or nil when
	// the backend handed the work item out without loading it (it still
	// knows HistoryETag and HistoryLen from its own session). Call
	// Backend.LoadHistory to fill it.
	History []history.Event
	// HistoryETag is the concurrency token of the stored history; "" means
	// no history has ever been written for the instance.
	HistoryETag string
	// HistoryLen is the number of events in the stored current execution.
	HistoryLen int
	// NewExecution is set when the batch starts an execution other than the
	// one in history (or the first one): History is then empty and the
	// commit writes the new execution from row 0.
	NewExecution bool
	// Partition names the control queue the instance belongs to.
	Partition string
	// Backend-private state.
	Private any
}

// EpisodeResult is what an episode commits.
type EpisodeResult struct {
	// NewEvents are appended to the history after HistoryLen events, in
	// order: OrchestratorStarted, the new messages' events, the events of the
	// actions, any completion, OrchestratorCompleted.
	NewEvents []history.Event
	// NewExecution is set when the episode continued as new: NewEvents is
	// then the complete history of the new execution (its ExecutionStarted
	// carries the new execution id) and replaces the old one from row 0.
	NewExecution bool
	// Outbox holds the messages to send before the history is written:
	// TaskScheduled (activity queue), TimerFired (own queue, delayed until
	// FireAt), ExecutionStarted (children), EventRaised (other instances),
	// SubOrchestrationInstanceCompleted/Failed (the parent) and
	// ExecutionTerminated (children to terminate). The backend routes them
	// by event type and fills in sender and episode.
	Outbox []*history.TaskMessage
	// CustomStatus is the orchestration's custom status as JSON text, or nil.
	CustomStatus *string
}

// ActivityWorkItem is a locked activity invocation.
type ActivityWorkItem struct {
	// ID identifies the delivery (the queue message id).
	ID string
	// Instance is the orchestration that scheduled the activity.
	Instance history.OrchestrationInstance
	// Event is the TaskScheduled event; its EventID is the task id.
	Event *history.TaskScheduledEvent
	// Tags are the orchestration's tags, as sent with the activity.
	Tags map[string]string
	// DequeueCount is how many times the work item has been received.
	DequeueCount int
	// Episode is the sending episode (copied into the result message).
	Episode *int32
	// Backend-private state.
	Private any
}

// Query selects instances. Zero values mean "no filter".
type Query struct {
	Statuses         []history.OrchestrationStatus
	CreatedFrom      time.Time
	CreatedTo        time.Time
	InstanceIDPrefix string
	// PageSize is the maximum number of instances per page (0 = 100).
	PageSize int
	// FetchPayloads includes inputs and outputs.
	FetchPayloads bool
	// ExcludeEntities leaves out durable entities (ids starting with '@').
	ExcludeEntities bool
	// After, when set, keeps the instances listed after this instance id:
	// a place to resume a listing that, unlike a continuation token, is
	// the caller's own and means the same on every backend (each lists in
	// its own order: instance ids in the memory backend, the Instances
	// table's PartitionKeys on Azure Storage).
	After string
}

// Page is one page of query results.
type Page struct {
	States []*history.OrchestrationState
	// ContinuationToken is "" on the last page.
	ContinuationToken string
}

// PurgeFilter selects instances to purge by creation time and status. A
// purge by filter never deletes an unfinished instance (see
// PurgeFilter.PurgeStatuses).
type PurgeFilter struct {
	CreatedFrom time.Time
	CreatedTo   time.Time // zero = now
	// Statuses restricts the purge. Unfinished statuses are ignored, as in
	// C#. An empty list is refused unless AllStatuses is set.
	Statuses []history.OrchestrationStatus
	// AllStatuses purges every finished status (Completed, Failed,
	// Canceled, Terminated) and ignores Statuses. Unlike C#'s purge without
	// statuses, it never purges a running, pending or suspended instance.
	AllStatuses bool
}

// PurgeResult reports what a purge deleted.
type PurgeResult struct {
	// InstancesDeleted counts instances whose status row was deleted.
	InstancesDeleted int
	// RowsDeleted counts history rows (sentinels included).
	RowsDeleted int
	// Complete is false when a purge by filter stopped early (ctx done).
	Complete bool
}

// Errors returned by backends. Match them with errors.Is.
var (
	// ErrLockLost means another writer changed the instance's history since
	// it was loaded (a 409 or 412 on the history commit): the work item must
	// be abandoned and any cached state of the instance dropped.
	ErrLockLost = errors.New("provider: instance lock lost (history changed by another writer)")
	// ErrInstanceExists is returned by CreateInstance when dedupe matched.
	ErrInstanceExists = errors.New("provider: an instance with this id already exists")
	// ErrNotFound means the instance does not exist.
	ErrNotFound = errors.New("provider: instance not found")
	// ErrPurgeNeedsStatuses is returned by PurgeWhere when the filter names
	// no finished status and AllStatuses is not set.
	ErrPurgeNeedsStatuses = errors.New("provider: purge by filter needs a finished status (Completed, Failed, Canceled, Terminated), or AllStatuses for all of them")
)

// PartitionCountError is returned when a worker or client is configured with
// a partition count that differs from the task hub's.
type PartitionCountError struct {
	TaskHub    string
	Configured int
	Hub        int
}

func (e *PartitionCountError) Error() string {
	return fmt.Sprintf("task hub %q has %d partitions, but %d are configured: every worker and client of a hub must use the hub's partition count", e.TaskHub, e.Hub, e.Configured)
}

// MaxVisibilityDelay is the longest delay Azure accepts for a message
// (7 days). Backends refuse longer delays with a clear error.
const MaxVisibilityDelay = taskhub.MaxVisibilityDelay

// AbandonDelay returns C#'s back-off for abandoning a message that has been
// received dequeueCount times: 2^dequeueCount seconds, at most 600 s.
func AbandonDelay(dequeueCount int) time.Duration { return taskhub.AbandonDelay(dequeueCount) }

package azurestorage

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
)

// PartitionManager selects how control-queue ownership is decided. All
// workers of a hub, C# and Go, must use the same kind.
type PartitionManager int

const (
	// TablePartitions is C#'s default: the <Hub>Partitions table.
	TablePartitions PartitionManager = iota
	// SafeBlobLeases is C#'s earlier "safe" blob-lease manager
	// (<hub>-leases/intent and /ownership).
	SafeBlobLeases
)

// DefaultActivityHold is Options.ActivityHold's default.
const DefaultActivityHold = 15 * time.Second

// Options configure a Backend. Zero values mean C#'s defaults.
type Options struct {
	// TaskHub is the task hub name (letters and digits, 3–45 characters).
	TaskHub string
	// Account is the storage account.
	Account *storage.Account
	// Client adjusts every storage client's pipeline (call counting, fault
	// injection).
	Client *storage.ClientOptions
	// Partitions is the number of control queues (default 4; 1–16). It must
	// equal the hub's.
	Partitions int
	// Encoding of queue messages written (default UTF8; Base64 for hubs
	// shared with C# workers older than 1.17.4). Both are always read.
	Encoding queues.Encoding

	// WorkerID identifies this worker in partition leases (default
	// "<hostname>-<pid>").
	WorkerID string
	// AppName derives the app lease id (default C#'s: WEBSITE_SITE_NAME,
	// else DTFX_APP_NAME, else ""). Workers sharing a hub with a C# app use
	// that app's name.
	AppName string
	// DisableAppLease starts partition management without the app lease.
	DisableAppLease bool
	// PartitionManager selects the ownership protocol.
	PartitionManager PartitionManager

	// ControlQueueBatchSize is the number of messages per control-queue
	// receive (default 32).
	ControlQueueBatchSize int
	// ControlQueueVisibility is how long received control messages stay
	// invisible (default 5 min).
	ControlQueueVisibility time.Duration
	// WorkItemVisibility is the same for activity messages (default 5 min,
	// C#'s); it bounds ActivityHold.
	WorkItemVisibility time.Duration
	// ActivityHold is how long a work item this backend holds stays hidden
	// from the hub's other workers without a renewal (default
	// DefaultActivityHold, at most WorkItemVisibility): items received for
	// its activity slots, kept back for them, or waiting for the commit of
	// their result. The backend renews what it holds every third of it, so
	// after the process dies (a SIGKILL, a lost VM) another worker can take
	// that work within the hold time, where C# leaves it hidden for the
	// work-item visibility.
	ActivityHold time.Duration
	// MaxPollingInterval caps the polling back-off (default 30 s).
	MaxPollingInterval time.Duration
	// ControlQueueBufferThreshold pauses receiving while this many control
	// messages wait in memory (default 64).
	ControlQueueBufferThreshold int
	// SessionIdleTimeout drops an instance's in-memory session (its
	// history ETag and index) after this long without messages (default 30 s).
	SessionIdleTimeout time.Duration
	// MaxDequeueCount is how many times a message may be received without
	// being processed: one received more often, or one that cannot be
	// decoded, is copied whole into the blob container <hub>-poison and
	// deleted from its queue (a quarantined activity work item fails its
	// task, so that its orchestration learns it). Default
	// provider.DefaultMaxDequeueCount (5); negative never quarantines
	// (C#'s behaviour: it only logs such messages).
	MaxDequeueCount int

	// NoLocalResults sends every activity result through the control
	// queue, as C# does, even when this backend owns the orchestration's
	// partition (by default such results go to the session in memory and
	// the work item is deleted with the commit that records the result).
	NoLocalResults bool
	// NoLocalActivities sends every activity of this backend's episodes
	// through the work-item queue visibly, as C# does. By default as many
	// of them as this process's waiting activity slots can start at once
	// are enqueued hidden and handed to those slots directly (see
	// sendLocal); the rest are sent visible, for every worker of the hub.
	NoLocalActivities bool

	// Table, Blob and AppLease tune the partition managers (tests shorten
	// the intervals); zero fields keep C#'s values.
	Table    partition.TableOptions
	Blob     partition.BlobOptions
	AppLease partition.AppLeaseOptions

	// CreateIfMissing creates the task hub's resources on first use, as C#
	// does (default true; set DoNotCreate to turn it off).
	DoNotCreate bool

	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Account == nil {
		return o, fmt.Errorf("azurestorage: Options.Account is required")
	}
	if o.Partitions == 0 {
		o.Partitions = taskhub.DefaultPartitions
	}
	if err := taskhub.ValidatePartitionCount(o.Partitions); err != nil {
		return o, fmt.Errorf("azurestorage: %w", err)
	}
	if o.WorkerID == "" {
		o.WorkerID = partition.DefaultWorkerID()
	}
	if o.AppName == "" {
		o.AppName = partition.DefaultAppName()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ControlQueueVisibility, 5*time.Minute)
	def(&o.WorkItemVisibility, 5*time.Minute)
	def(&o.MaxPollingInterval, queues.DefaultMaxPollInterval)
	def(&o.SessionIdleTimeout, 30*time.Second)
	if o.ControlQueueBatchSize <= 0 || o.ControlQueueBatchSize > taskhub.MaxReceiveBatch {
		o.ControlQueueBatchSize = taskhub.MaxReceiveBatch
	}
	def(&o.ActivityHold, DefaultActivityHold)
	if o.ActivityHold < 2*time.Second {
		return o, fmt.Errorf("azurestorage: Options.ActivityHold %v is shorter than 2 s", o.ActivityHold)
	}
	o.ActivityHold = min(o.ActivityHold, o.WorkItemVisibility)
	if o.ControlQueueBufferThreshold <= 0 {
		o.ControlQueueBufferThreshold = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

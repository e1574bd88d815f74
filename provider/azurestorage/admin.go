package azurestorage

import (
	"context"

	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/tables"
)

// This file is the backend's admin API: what tools (the command line, the
// bench, operators' scripts) need to know about a task hub's storage
// without importing the storage packages themselves. The rules behind it
// (names, partition bounds, the instance hash) live once in the task hub
// core; these functions only hand them out in plain types.

// Partition count bounds, and C#'s default count.
const (
	MinPartitions     = taskhub.MinPartitions
	MaxPartitions     = taskhub.MaxPartitions
	DefaultPartitions = taskhub.DefaultPartitions
)

// C#'s defaults of the partition managers and the app lease, for tools that
// show or tune them (Options.Table, Options.AppLease).
const (
	DefaultLeaseInterval           = partition.DefaultLeaseInterval
	DefaultAcquireInterval         = partition.DefaultAcquireInterval
	DefaultSafetyMargin            = partition.DefaultSafetyMargin
	DefaultAppLeaseDuration        = partition.DefaultAppLeaseDuration
	DefaultAppLeaseRenewInterval   = partition.DefaultAppLeaseRenewInterval
	DefaultAppLeaseAcquireInterval = partition.DefaultAppLeaseAcquireInterval
)

// LeaseOwnership is the Type of a HubInfo.Leases entry that tells who owns
// a partition (the other type records intent to take it).
const LeaseOwnership = partition.LeaseOwnership

// TableError is the error of a failed table request: the operation, the
// table, the partition key and the service's answer.
type TableError = tables.Error

// ValidateTaskHubName applies the task hub name rule (ASCII letters and
// digits, starting with a letter, 3 to 45 characters) and checks that
// every derived resource name is valid for its service.
func ValidateTaskHubName(name string) error { return taskhub.ValidateName(name) }

// ValidatePartitionCount checks the C# range MinPartitions..MaxPartitions.
func ValidatePartitionCount(n int) error { return taskhub.ValidatePartitionCount(n) }

// PartitionIndex returns the control-queue index of an instance id, as C#
// computes it (FNV-1a of the UTF-8 id modulo the partition count). The
// count must be valid (ValidatePartitionCount).
func PartitionIndex(instanceID string, partitions int) int {
	return taskhub.PartitionIndex(instanceID, partitions)
}

// Resources names every Azure Storage resource of a task hub, as
// DurableTask.AzureStorage derives them from the hub name: queues and
// containers from the lower-cased name, tables from the name as given.
type Resources struct {
	TaskHub    string
	Partitions int
	// ControlQueues are <hub>-control-00 … one per partition.
	ControlQueues []string
	// WorkItemQueue is <hub>-workitems, the activity queue.
	WorkItemQueue string
	// HistoryTable, InstancesTable and PartitionsTable are <Hub>History,
	// <Hub>Instances and <Hub>Partitions.
	HistoryTable    string
	InstancesTable  string
	PartitionsTable string
	// LargeMessagesContainer is <hub>-largemessages (offloaded messages
	// and columns).
	LargeMessagesContainer string
	// LeasesContainer is <hub>-leases (blob partition leases, taskhub.json).
	LeasesContainer string
	// AppLeaseContainer is <hub>-applease; AppLeaseInfoBlob, inside it,
	// names the app lease's holder.
	AppLeaseContainer string
	AppLeaseInfoBlob  string
	// PoisonContainer is <hub>-poison, where this backend quarantines
	// messages that cannot be processed.
	PoisonContainer string
}

// HubResources validates a task hub name and partition count and returns
// the names of the hub's resources.
func HubResources(taskHub string, partitions int) (Resources, error) {
	n, err := taskhub.NewNames(taskHub)
	if err != nil {
		return Resources{}, err
	}
	if err := taskhub.ValidatePartitionCount(partitions); err != nil {
		return Resources{}, err
	}
	return resources(n, partitions), nil
}

func resources(n taskhub.Names, partitions int) Resources {
	return Resources{TaskHub: n.TaskHub(), Partitions: partitions, ControlQueues: n.ControlQueues(partitions),
		WorkItemQueue: n.WorkItemQueue(), HistoryTable: n.HistoryTable(), InstancesTable: n.InstancesTable(),
		PartitionsTable: n.PartitionsTable(), LargeMessagesContainer: n.LargeMessagesContainer(),
		LeasesContainer: n.LeasesContainer(), AppLeaseContainer: n.AppLeaseContainer(),
		AppLeaseInfoBlob: n.AppLeaseInfoBlob(), PoisonContainer: n.PoisonContainer()}
}

// ControlQueueFor returns the partition index of an instance and the name
// of its control queue.
func (r Resources) ControlQueueFor(instanceID string) (int, string) {
	i := taskhub.PartitionIndex(instanceID, r.Partitions)
	return i, r.ControlQueues[i]
}

// Resources returns the names of the task hub's resources, with the
// configured partition count.
func (b *Backend) Resources() Resources { return resources(b.names, b.opts.Partitions) }

// PartitionOwners returns the rows of the hub's <Hub>Partitions table
// (owner, expiry, draining state of each partition), sorted by partition.
// A hub on blob leases has no such table: the error then wraps
// partition.ErrNoPartitionsTable; Describe reports blob leases.
func (b *Backend) PartitionOwners(ctx context.Context) ([]partition.Row, error) {
	return partition.ReadTable(ctx, b.tsvc, b.opts.TaskHub)
}

// AppLeaseHeld reports whether the hub's app lease is held now by anyone.
func (b *Backend) AppLeaseHeld(ctx context.Context) (bool, error) {
	return partition.AppLeaseHeld(ctx, b.bsvc, b.opts.TaskHub)
}

// DefaultAppName returns the app name C# uses for the app lease:
// $WEBSITE_SITE_NAME, else $DTFX_APP_NAME, else "".
func DefaultAppName() string { return partition.DefaultAppName() }

// AppNameCandidates returns the app names a process can check an app lease
// id against: the default app name, the empty name and extra, without
// repeats.
func AppNameCandidates(extra ...string) []string { return partition.AppNameCandidates(extra...) }

// AppNameOf returns the candidate whose app lease id is leaseID (the lease
// id is derived from the app name, so only a guessed name can be checked).
func AppNameOf(leaseID string, candidates ...string) (string, bool) {
	return partition.AppNameOf(leaseID, candidates...)
}

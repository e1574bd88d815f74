// Package azurestorage is the Azure Storage backend: the task hub layout of
// C#'s DurableTask.AzureStorage (control queues, work-item queue, History and
// Instances tables, large-message blobs, partition leases and the app lease)
// behind the provider.Backend contract.
//
// Design note. Each owned partition has a dequeue loop that receives up to
// 32 control messages at a time, decodes them (fetching large messages from
// blobs) and files them into per-instance sessions. A session remembers what
// the backend learned about the instance's current execution (history ETag,
// length, HistoryIndex), so that a later work item for a running instance
// needs no history read: the worker's cache holds the engine, and the ETag
// on the next commit proves nobody else wrote in between. Work items are
// formed from a session's messages with the shared rules of package provider
// (Triage, DedupeStart) and committed in C#'s order: outbound messages,
// history (entity-group transactions guarded by the sentinel's ETag), the
// Instances row, then the deletion of the consumed messages. A conflict on
// the history write becomes provider.ErrLockLost.
package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

// Backend is the Azure Storage implementation of provider.Backend.
type Backend struct {
	opts  Options
	names taskhub.Names
	log   *slog.Logger

	qsvc *azqueue.ServiceClient
	tsvc *aztables.ServiceClient
	bsvc *azblob.Client

	wake      *queues.Wakeups
	large     *blobs.Store
	codec     *queues.Codec
	control   []*queues.Queue
	workitems *queues.Queue
	hist      *tables.HistoryStore
	inst      *tables.InstanceStore
	purger    *tables.Purger
	seq       atomic.Int64

	ensureOnce sync.Mutex
	ensured    bool

	// worker side
	mu       sync.Mutex
	started  bool
	stopping bool
	runCtx   context.Context
	cancel   context.CancelFunc
	mgr      partition.Manager
	app      *partition.AppLease
	parts    map[string]*ownedPartition
	sessions map[string]*session
	ready    []*session
	readyCh  chan struct{}
	buffered int
	bufCh    chan struct{}
	loops    sync.WaitGroup

	act *activityFetcher
	// keep renews the work items this backend holds (holds.go), each
	// hidden for hold.
	keep *keeper
	hold time.Duration
	// fin deletes completed work items after their slots moved on
	// (finish.go).
	fin *finisher
	// diag remembers this backend's give-backs (poison.go).
	diag diagState
}

var _ provider.Backend = (*Backend)(nil)

// processWakeups is shared by every backend of the process, so that a
// message one backend sends (a client's start or event, another worker's
// result) ends the polling back-off of the backends that poll that queue
// here, not only the sender's own. Queue names start with the task hub's
// name, so other hubs are not woken; a hub of the same name in another
// account only costs a spurious poll.
var processWakeups = queues.NewWakeups()

// New returns a backend for a task hub. It makes no storage call.
func New(opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	names, err := taskhub.NewNames(opts.TaskHub)
	if err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, names: names, log: opts.Logger.With("taskHub", opts.TaskHub),
		parts: map[string]*ownedPartition{}, sessions: map[string]*session{},
		readyCh: make(chan struct{}), bufCh: make(chan struct{})}
	if b.qsvc, err = opts.Account.QueueService(opts.Client); err != nil {
		return nil, err
	}
	if b.tsvc, err = opts.Account.TableService(opts.Client); err != nil {
		return nil, err
	}
	if b.bsvc, err = opts.Account.BlobService(opts.Client); err != nil {
		return nil, err
	}
	b.wake = processWakeups
	b.large = blobs.New(b.bsvc, names.LargeMessagesContainer(), &blobs.Options{Logger: b.log})
	b.codec = queues.NewCodec(opts.Encoding, b.large)
	qo := &queues.QueueOptions{Wakeups: b.wake, Logger: b.log}
	for i := 0; i < opts.Partitions; i++ {
		b.control = append(b.control, queues.NewQueue(b.qsvc, names.ControlQueue(i), qo))
	}
	b.workitems = queues.NewQueue(b.qsvc, names.WorkItemQueue(), qo)
	b.hist = tables.NewHistoryStore(b.tsvc, names.HistoryTable(), b.large, nil)
	b.inst = tables.NewInstanceStore(b.tsvc, names.InstancesTable())
	b.purger = tables.NewPurger(b.hist, b.inst, nil)
	b.act = newActivityFetcher(b)
	b.fin = newFinisher()
	b.hold = opts.ActivityHold
	b.keep = newKeeper(b.workitems, b.hold, b.log)
	return b, nil
}

// WorkerID returns the id this backend uses in partition leases.
func (b *Backend) WorkerID() string { return b.opts.WorkerID }

// CreateTaskHub creates the hub's resources if they are missing, in C#'s
// order (tables spec §5.1). It is safe to call from many processes at once.
// An existing hub with another partition count is left alone and reported
// as a *provider.PartitionCountError.
func (b *Backend) CreateTaskHub(ctx context.Context) error {
	// Creating the configured count on a hub that has another would add or
	// keep control queues and Partitions rows the hub's other workers do not
	// route to: instances would be silently misrouted.
	if n, err := b.settledPartitions(ctx); err == nil && n != b.opts.Partitions {
		return &provider.PartitionCountError{TaskHub: b.opts.TaskHub, Configured: b.opts.Partitions, Hub: n}
	} else if err != nil && !errors.Is(err, errNoHub) {
		return err
	}
	if err := partition.CreateAppLeaseStore(ctx, b.bsvc, b.opts.TaskHub); err != nil {
		return fmt.Errorf("creating the app lease container: %w", err)
	}
	switch b.opts.PartitionManager {
	case SafeBlobLeases:
		if err := partition.CreateLeaseStore(ctx, b.bsvc, b.opts.TaskHub, b.opts.Partitions, b.log); err != nil {
			return fmt.Errorf("creating the lease container: %w", err)
		}
	default:
		if err := partition.CreateTable(ctx, b.tsvc, b.opts.TaskHub); err != nil {
			return fmt.Errorf("creating %s: %w", b.names.PartitionsTable(), err)
		}
	}
	if err := tables.CreateTables(ctx, b.tsvc, b.names.HistoryTable(), b.names.InstancesTable()); err != nil {
		return err
	}
	if err := b.workitems.Create(ctx); err != nil {
		return err
	}
	for _, q := range b.control {
		if err := q.Create(ctx); err != nil {
			return err
		}
	}
	if b.opts.PartitionManager == TablePartitions {
		if err := partition.CreateRows(ctx, b.tsvc, b.opts.TaskHub, b.opts.Partitions); err != nil {
			return fmt.Errorf("creating the partition rows: %w", err)
		}
	}
	b.ensureOnce.Lock()
	b.ensured = true
	b.ensureOnce.Unlock()
	return nil
}

// ensure creates the hub on first use (as C# does) and checks that the
// configured partition count is the hub's.
func (b *Backend) ensure(ctx context.Context) error {
	b.ensureOnce.Lock()
	defer b.ensureOnce.Unlock()
	if b.ensured {
		return nil
	}
	n, err := b.settledPartitions(ctx)
	if err != nil && !errors.Is(err, errNoHub) {
		return err
	}
	if errors.Is(err, errNoHub) {
		if b.opts.DoNotCreate {
			return fmt.Errorf("task hub %q does not exist: create it (azdurable hub create) or start a worker", b.opts.TaskHub)
		}
		b.ensureOnce.Unlock()
		err := b.CreateTaskHub(ctx)
		b.ensureOnce.Lock()
		if err != nil {
			return err
		}
		if n, err = b.settledPartitions(ctx); err != nil {
			return err
		}
	}
	if n != b.opts.Partitions {
		return &provider.PartitionCountError{TaskHub: b.opts.TaskHub, Configured: b.opts.Partitions, Hub: n}
	}
	b.ensured = true
	return nil
}

var errNoHub = errors.New("task hub has no partition records")

// settledPartitions is hubPartitions for the partition-count guard. A
// count that differs from the configured one is read again a few times
// within about 1.5 s, because another worker (Go or C#) may be creating
// the hub right now and inserts the partition rows one at a time: a
// partial count is not the hub's, and taking it for one made workers
// started together on a new hub exit with a PartitionCountError.
func (b *Backend) settledPartitions(ctx context.Context) (int, error) {
	n, err := b.hubPartitions(ctx)
	for wait := 100 * time.Millisecond; err == nil && n != b.opts.Partitions && wait <= 800*time.Millisecond; wait *= 2 {
		if !ctxsleep.Sleep(ctx, wait) {
			return 0, ctx.Err()
		}
		n, err = b.hubPartitions(ctx)
	}
	return n, err
}

// hubPartitions reads the hub's partition count as C# readers do: the rows
// of the Partitions table, or taskhub.json when there is no such table.
func (b *Backend) hubPartitions(ctx context.Context) (int, error) {
	n, err := partition.CountRows(ctx, b.tsvc, b.opts.TaskHub)
	if err == nil && n > 0 {
		return n, nil
	}
	if err != nil && !errors.Is(err, partition.ErrNoPartitionsTable) {
		return 0, err
	}
	info, ierr := partition.ReadTaskHubInfo(ctx, b.bsvc, b.opts.TaskHub)
	if ierr == nil && info.PartitionCount > 0 {
		return info.PartitionCount, nil
	}
	return 0, errNoHub
}

// DeleteTaskHub deletes everything the hub owns (tables spec §5.3).
func (b *Backend) DeleteTaskHub(ctx context.Context) error {
	var errs []error
	for _, q := range append(append([]*queues.Queue{}, b.control...), b.workitems) {
		if err := q.DeleteQueue(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Control queues beyond the configured count, if the hub had more.
	for i := b.opts.Partitions; i < taskhub.MaxPartitions; i++ {
		_ = queues.NewQueue(b.qsvc, b.names.ControlQueue(i), nil).DeleteQueue(ctx)
	}
	if err := tables.DeleteTables(ctx, b.tsvc, b.names.Tables()...); err != nil {
		errs = append(errs, err)
	}
	for _, c := range b.names.Containers() {
		if err := b.deleteContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	b.ensureOnce.Lock()
	b.ensured = false
	b.ensureOnce.Unlock()
	return errors.Join(errs...)
}

func (b *Backend) deleteContainer(ctx context.Context, name string) error {
	cc := b.bsvc.ServiceClient().NewContainerClient(name)
	_, err := cc.Delete(ctx, nil)
	if bloberror.HasCode(err, bloberror.LeaseIDMissing, bloberror.LeaseIDMismatchWithContainerOperation) {
		// The app lease container is leased while a worker runs: break the
		// lease (C# deletes it with the lease id when it holds it).
		if lc, lerr := lease.NewContainerClient(cc, nil); lerr == nil {
			zero := int32(0)
			if _, berr := lc.BreakLease(ctx, &lease.ContainerBreakOptions{BreakPeriod: &zero}); berr == nil {
				_, err = cc.Delete(ctx, nil)
			}
		}
	}
	if err == nil || bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted) {
		return nil
	}
	return fmt.Errorf("deleting container %s: %w", name, err)
}

// HubInfo describes a task hub.
type HubInfo struct {
	TaskHub    string
	Partitions int
	// QueueDepths are approximate message counts by queue name.
	QueueDepths map[string]int
	// Owners of the partitions (table manager) by control-queue name.
	Owners []partition.Row
	// Leases (blob lease managers).
	Leases []partition.BlobLease
	// AppLease is the app-lease info blob.
	AppLease partition.AppLeaseInfo
}

// Describe reads the hub's partition count, queue depths and partition
// owners.
func (b *Backend) Describe(ctx context.Context) (*HubInfo, error) {
	n, err := b.hubPartitions(ctx)
	if err != nil {
		if errors.Is(err, errNoHub) {
			return nil, fmt.Errorf("task hub %q does not exist", b.opts.TaskHub)
		}
		return nil, err
	}
	info := &HubInfo{TaskHub: b.opts.TaskHub, Partitions: n, QueueDepths: map[string]int{}}
	for _, name := range append(b.names.ControlQueues(n), b.names.WorkItemQueue()) {
		c, err := queues.NewQueue(b.qsvc, name, nil).ApproximateCount(ctx)
		if err != nil {
			return nil, err
		}
		info.QueueDepths[name] = c
	}
	if rows, err := partition.ReadTable(ctx, b.tsvc, b.opts.TaskHub); err == nil {
		info.Owners = rows
	}
	if leases, err := partition.ReadLeases(ctx, b.bsvc, b.opts.TaskHub); err == nil {
		info.Leases = leases
	}
	if ai, err := partition.ReadAppLeaseInfo(ctx, b.bsvc, b.opts.TaskHub); err == nil {
		info.AppLease = ai
	}
	return info, nil
}

func (b *Backend) controlQueueFor(instanceID string) *queues.Queue {
	return b.control[taskhub.PartitionIndex(instanceID, b.opts.Partitions)]
}

func isResponseCode(err error, codes ...int) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.StatusCode == c {
			return true
		}
	}
	return false
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("azurestorage: "+format, args...)
}

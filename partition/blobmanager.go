package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

// C#'s safe blob-lease manager timing (SafePartitionManager).
const (
	DefaultIntentLease              = 30 * time.Second
	DefaultIntentRenewInterval      = 10 * time.Second
	DefaultIntentAcquireInterval    = 10 * time.Second
	DefaultOwnershipLease           = 15 * time.Second
	DefaultOwnershipRenewInterval   = 10 * time.Second
	DefaultOwnershipAcquireInterval = 5 * time.Second
	// DefaultBlobOperationTimeout bounds each blob call of the manager.
	DefaultBlobOperationTimeout = 10 * time.Second
)

// BlobOptions configure a [BlobManager]. Zero fields take the defaults
// above. Blob leases last 15 to 60 s, so the lease durations must be in
// that range. A lease is renewed every RenewInterval, but at least every
// (lease − SafetyMargin)/2 so that one failed renewal never trips the
// safety margin: with the defaults, ownership leases are renewed every 5 s.
type BlobOptions struct {
	Options
	// IntentLease, IntentRenewInterval and IntentAcquireInterval time the
	// intent leases (acquired, balanced and stolen every acquire interval).
	IntentLease           time.Duration
	IntentRenewInterval   time.Duration
	IntentAcquireInterval time.Duration
	// OwnershipLease, OwnershipRenewInterval and OwnershipAcquireInterval
	// time the ownership leases (never stolen).
	OwnershipLease           time.Duration
	OwnershipRenewInterval   time.Duration
	OwnershipAcquireInterval time.Duration
	// OperationTimeout bounds each blob call.
	OperationTimeout time.Duration
	// Client adjusts the blob client's pipeline. nil means the SDK defaults.
	Client *storage.ClientOptions
}

func (o BlobOptions) withDefaults() BlobOptions {
	o.Options = o.Options.withDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.IntentLease, DefaultIntentLease)
	def(&o.IntentRenewInterval, DefaultIntentRenewInterval)
	def(&o.IntentAcquireInterval, DefaultIntentAcquireInterval)
	def(&o.OwnershipLease, DefaultOwnershipLease)
	def(&o.OwnershipRenewInterval, DefaultOwnershipRenewInterval)
	def(&o.OwnershipAcquireInterval, DefaultOwnershipAcquireInterval)
	def(&o.OperationTimeout, DefaultBlobOperationTimeout)
	return o
}

func (o BlobOptions) validate() error {
	if err := o.Options.validate(); err != nil {
		return err
	}
	for _, d := range []time.Duration{o.IntentLease, o.OwnershipLease} {
		if d < 15*time.Second || d > 60*time.Second || d%time.Second != 0 {
			return fmt.Errorf("partition: blob lease duration %v is not a whole number of seconds in 15s..60s", d)
		}
		if o.SafetyMargin >= d {
			return fmt.Errorf("partition: SafetyMargin %v must be shorter than the lease %v", o.SafetyMargin, d)
		}
	}
	for _, d := range []time.Duration{o.IntentRenewInterval, o.IntentAcquireInterval, o.OwnershipRenewInterval, o.OwnershipAcquireInterval, o.OperationTimeout} {
		if d < 0 {
			return errors.New("partition: blob manager intervals must not be negative")
		}
	}
	return nil
}

// renewEvery is the effective renewal period of a lease (see BlobOptions).
func renewEvery(lease, renew, margin time.Duration) time.Duration {
	return min(renew, (lease-margin)/2)
}

// BlobManager is the "safe" blob-lease partition manager (C#'s V2): per
// partition an intent lease, balanced and stolen between workers, says who
// should own it, and an ownership lease, never stolen and taken only by the
// intent holder, says who does. Dequeuing follows ownership, so a stolen
// partition changes hands only after the old owner has drained it and
// released its ownership lease (tables spec §4.3, §4.5). Create it with
// [NewBlobManager].
type BlobManager struct {
	opts      BlobOptions
	names     taskhub.Names
	blobs     *azblob.Client
	cc        *container.Client
	log       *slog.Logger
	intent    *leaseSet
	ownership *leaseSet

	mu       sync.Mutex
	started  bool
	stopping bool
	tr       *tracker
	ownWake  chan struct{}

	intentCancel context.CancelFunc
	intentDone   chan struct{}
	ownDone      chan struct{}
	renewCancel  context.CancelFunc
	renewWG      sync.WaitGroup
	ownCancel    context.CancelFunc
}

var _ Manager = (*BlobManager)(nil)

// NewBlobManager returns a safe blob-lease manager for the task hub
// taskHub, talking to acct.
func NewBlobManager(acct *storage.Account, taskHub string, opts BlobOptions) (*BlobManager, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	blobs, err := acct.BlobService(opts.Client)
	if err != nil {
		return nil, err
	}
	cc := blobs.ServiceClient().NewContainerClient(names.LeasesContainer())
	log := opts.Logger.With("worker", opts.WorkerID, "hub", names.TaskHub())
	set := func(kind string, d time.Duration) *leaseSet {
		return &leaseSet{kind: kind, cc: cc, me: opts.WorkerID, duration: d, timeout: opts.OperationTimeout,
			log: log, held: map[string]*held{}}
	}
	return &BlobManager{
		opts: opts, names: names, blobs: blobs, cc: cc, log: log,
		intent: set(LeaseIntent, opts.IntentLease), ownership: set(LeaseOwnership, opts.OwnershipLease),
		ownWake: make(chan struct{}, 1),
	}, nil
}

// WorkerID returns the id this manager writes into lease bodies.
func (m *BlobManager) WorkerID() string { return m.opts.WorkerID }

// Start creates the lease container, taskhub.json and the lease blobs of
// Options.PartitionCount partitions if they are missing, then runs the
// intent and ownership loops in the background.
func (m *BlobManager) Start(ctx context.Context, l Listener) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return ErrStarted
	}
	if n := m.opts.PartitionCount; n > 0 {
		if err := CreateLeaseStore(ctx, m.blobs, m.names.TaskHub(), n, m.log); err != nil {
			return err
		}
	}
	o := m.opts.Options
	o.Logger = m.log
	m.tr = newTracker(l, o, m.nudgeOwnership)

	var intentCtx, ownCtx, renewCtx context.Context
	intentCtx, m.intentCancel = context.WithCancel(context.Background())
	ownCtx, m.ownCancel = context.WithCancel(context.Background())
	renewCtx, m.renewCancel = context.WithCancel(context.Background())
	m.intentDone, m.ownDone = make(chan struct{}), make(chan struct{})
	go m.intentLoop(intentCtx)
	go m.ownershipLoop(ownCtx)
	m.renewWG.Add(2)
	go m.renewLoop(renewCtx, m.intent, renewEvery(m.opts.IntentLease, m.opts.IntentRenewInterval, m.opts.SafetyMargin))
	go m.renewLoop(renewCtx, m.ownership, renewEvery(m.opts.OwnershipLease, m.opts.OwnershipRenewInterval, m.opts.SafetyMargin))
	m.started = true
	m.log.Info("partition: blob lease manager started", "container", m.names.LeasesContainer())
	return nil
}

// Stop drains every owned partition, releases all intent leases at once
// (so other workers can take them and wait for ownership), releases each
// ownership lease once its partition is drained, and returns.
func (m *BlobManager) Stop(ctx context.Context) error {
	m.mu.Lock()
	if !m.started {
		m.mu.Unlock()
		return ErrNotStarted
	}
	m.stopping = true
	m.mu.Unlock()
	m.tr.drainAll()
	m.intentCancel()
	<-m.intentDone
	for _, p := range m.intent.heldList() {
		if err := m.intent.release(ctx, p); err != nil {
			m.log.Warn("partition: could not release intent lease; it will expire", "partition", p, "error", errSummary(err))
		}
	}
	m.nudgeOwnership()
	select {
	case <-m.ownDone:
	case <-ctx.Done():
		m.ownCancel()
		<-m.ownDone
		m.renewCancel()
		m.renewWG.Wait()
		m.tr.abandon("stop deadline reached before the hand-over finished")
		m.log.Warn("partition: stopped before every partition was released; the rest will expire", "error", ctx.Err())
		return ctx.Err()
	}
	m.renewCancel()
	m.renewWG.Wait()
	m.log.Info("partition: every lease released; blob lease manager stopped")
	return m.tr.wait(ctx)
}

// Owned returns the partitions this worker dequeues from, sorted.
func (m *BlobManager) Owned() []string {
	m.mu.Lock()
	tr := m.tr
	m.mu.Unlock()
	if tr == nil {
		return nil
	}
	return tr.listening()
}

func (m *BlobManager) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

func (m *BlobManager) nudgeOwnership() {
	select {
	case m.ownWake <- struct{}{}:
	default:
	}
}

// intentLoop acquires and balances intent leases, stealing at most one per
// iteration (tables spec §4.3).
func (m *BlobManager) intentLoop(ctx context.Context) {
	defer close(m.intentDone)
	for {
		leases, err := m.intent.list(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("partition: cannot read intent leases", "error", errSummary(err))
		}
		if err == nil {
			m.resumeMine(ctx, m.intent, leases, m.intentGained)
			take, victim := balanceLeases(leases, m.opts.WorkerID, true)
			if victim != nil {
				take = append(take, *victim)
			}
			for _, l := range take {
				if ctx.Err() != nil {
					break
				}
				if _, err := m.intent.acquire(ctx, l); err != nil {
					m.log.Debug("partition: intent lease not acquired", "partition", l.PartitionID, "error", errSummary(err))
					continue
				}
				if l.Leased {
					m.log.Info("partition: stole intent lease", "partition", l.PartitionID, "from", l.Owner)
				}
				m.intentGained(l.PartitionID)
			}
		}
		if !sleep(ctx, m.opts.IntentAcquireInterval, nil) {
			return
		}
	}
}

// resumeMine takes back leases whose body names this worker but that it
// does not hold (a restart with the same WorkerId).
func (m *BlobManager) resumeMine(ctx context.Context, s *leaseSet, leases []BlobLease, gained func(string)) {
	for _, l := range leases {
		if l.available() || !strings.EqualFold(l.Owner, m.opts.WorkerID) || s.holds(l.PartitionID) {
			continue
		}
		if _, err := s.resume(ctx, l); err != nil {
			m.log.Debug("partition: could not resume lease", "type", s.kind, "partition", l.PartitionID, "error", errSummary(err))
			continue
		}
		gained(l.PartitionID)
	}
}

// ownershipLoop hands over ownership leases whose intent is gone once they
// are drained, and acquires the ownership leases of partitions whose intent
// this worker holds. While stopping it only hands over, and ends when no
// ownership lease is held.
func (m *BlobManager) ownershipLoop(ctx context.Context) {
	defer close(m.ownDone)
	for {
		stopping := m.isStopping()
		for _, p := range m.ownership.heldList() {
			if m.intent.holds(p) && !stopping {
				continue
			}
			switch m.tr.phase(p) {
			case phaseListening:
				m.tr.drain(p)
			case phaseDraining:
			default:
				if err := m.ownership.release(ctx, p); err != nil {
					m.log.Warn("partition: could not release ownership lease; it will expire", "partition", p, "error", errSummary(err))
				} else {
					m.log.Info("partition: released ownership", "partition", p)
				}
				m.tr.released(p)
			}
		}
		if stopping && len(m.ownership.heldList()) == 0 {
			return
		}
		if !stopping {
			m.acquireOwnership(ctx)
		}
		wait := m.opts.OwnershipAcquireInterval
		if stopping {
			wait = min(wait, time.Second)
		}
		if !sleep(ctx, wait, m.ownWake) {
			return
		}
	}
}

func (m *BlobManager) acquireOwnership(ctx context.Context) {
	if len(m.intent.heldList()) == 0 {
		return
	}
	all, err := m.ownership.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("partition: cannot read ownership leases", "error", errSummary(err))
		}
		return
	}
	var mine []BlobLease
	for _, l := range all {
		if m.intent.holds(l.PartitionID) && !m.ownership.holds(l.PartitionID) {
			mine = append(mine, l)
		}
	}
	m.resumeMine(ctx, m.ownership, mine, func(p string) { m.ownershipRenewed(p) })
	take, _ := balanceLeases(mine, m.opts.WorkerID, false)
	for _, l := range take {
		if ctx.Err() != nil || !m.intent.holds(l.PartitionID) {
			continue
		}
		if _, err := m.ownership.acquire(ctx, l); err != nil {
			m.log.Debug("partition: ownership lease not acquired", "partition", l.PartitionID, "error", errSummary(err))
			continue
		}
		m.log.Info("partition: acquired ownership", "partition", l.PartitionID)
		m.ownershipRenewed(l.PartitionID)
	}
}

// renewLoop renews every held lease of s, and gives up those that another
// worker took (409/412) or whose local expiry is within the safety margin.
func (m *BlobManager) renewLoop(ctx context.Context, s *leaseSet, every time.Duration) {
	defer m.renewWG.Done()
	lost := m.intentLost
	renewed := func(string) {}
	if s == m.ownership {
		lost, renewed = m.ownershipLost, m.ownershipRenewed
	}
	for sleep(ctx, every, nil) {
		// Renew concurrently: one hung call must not delay the others.
		var wg sync.WaitGroup
		for _, p := range s.heldList() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.renew(ctx, p)
				switch {
				case errors.Is(err, errLeaseLost):
					lost(p, err.Error())
				case err != nil:
					if ctx.Err() == nil {
						m.log.Warn("partition: lease renewal failed; retrying", "type", s.kind, "partition", p, "error", errSummary(err))
					}
				default:
					renewed(p)
				}
			}()
		}
		wg.Wait()
		for _, p := range s.expiredBefore(time.Now().Add(m.opts.SafetyMargin)) {
			lost(p, "renewals failed until the lease was about to expire")
		}
	}
}

func (m *BlobManager) intentGained(p string) {
	m.log.Info("partition: acquired intent", "partition", p)
	if m.ownership.holds(p) {
		m.ownershipRenewed(p)
	}
	m.nudgeOwnership()
}

func (m *BlobManager) intentLost(p, why string) {
	m.log.Info("partition: intent lost; handing the partition over", "partition", p, "reason", why)
	m.tr.drain(p)
	m.nudgeOwnership()
}

// ownershipRenewed tells the tracker the ownership lease of p is good until
// its new expiry: it dequeues (again) if this worker also holds the intent
// and is not stopping; otherwise a running drain just keeps its deadline.
func (m *BlobManager) ownershipRenewed(p string) {
	exp, ok := m.ownership.expiry(p)
	if !ok {
		return
	}
	if m.intent.holds(p) && !m.isStopping() {
		m.tr.owned(p, exp)
		return
	}
	m.tr.extend(p, exp)
	m.nudgeOwnership()
}

func (m *BlobManager) ownershipLost(p, why string) { m.tr.lost(p, why) }

// sleep waits d, or until wake fires, or ctx ends (then it returns false).
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}

package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

// C#'s table partition manager timing (AzureStorageOrchestrationServiceSettings).
const (
	DefaultLeaseInterval    = 30 * time.Second // lease length written to ExpiresAt
	DefaultAcquireInterval  = 10 * time.Second // loop interval, and so the renewal interval
	DefaultWaitInterval     = 1 * time.Second  // loop interval while draining, waiting or stopping
	DefaultOperationTimeout = 2 * time.Second  // bound of one read-and-write iteration
	DefaultShutdownTimeout  = 10 * time.Minute // forced stop of a graceful shutdown
	// fastRetries is how many consecutive failed iterations are retried at
	// once before the normal interval applies again.
	fastRetries = 9
)

// TableOptions configure a [TableManager]. Zero fields take the defaults
// above (C#'s values).
type TableOptions struct {
	Options
	// LeaseInterval is how far ahead a claim or renewal sets ExpiresAt.
	LeaseInterval time.Duration
	// AcquireInterval is the loop interval, and so the renewal interval.
	AcquireInterval time.Duration
	// WaitInterval is the loop interval while draining, waiting for a
	// release, or stopping.
	WaitInterval time.Duration
	// OperationTimeout bounds one read-and-write iteration.
	OperationTimeout time.Duration
	// ShutdownTimeout forces the end of a graceful Stop.
	ShutdownTimeout time.Duration
	// Client adjusts the table client's pipeline (for example to count
	// calls or inject faults). nil means the SDK defaults.
	Client *storage.ClientOptions
}

func (o TableOptions) withDefaults() TableOptions {
	o.Options = o.Options.withDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.LeaseInterval, DefaultLeaseInterval)
	def(&o.AcquireInterval, DefaultAcquireInterval)
	def(&o.WaitInterval, DefaultWaitInterval)
	def(&o.OperationTimeout, DefaultOperationTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	return o
}

func (o TableOptions) validate() error {
	if err := o.Options.validate(); err != nil {
		return err
	}
	for _, d := range []time.Duration{o.LeaseInterval, o.AcquireInterval, o.WaitInterval, o.OperationTimeout, o.ShutdownTimeout} {
		if d < 0 {
			return errors.New("partition: table manager intervals must not be negative")
		}
	}
	if o.SafetyMargin+o.AcquireInterval >= o.LeaseInterval {
		return fmt.Errorf("partition: LeaseInterval %v must exceed AcquireInterval %v plus SafetyMargin %v, or renewals cannot keep the lease",
			o.LeaseInterval, o.AcquireInterval, o.SafetyMargin)
	}
	return nil
}

// TableManager is the table partition manager (C#'s default): it keeps this
// worker's share of the <Hub>Partitions rows, following the rules of the
// tables spec §4.2 with every write a Replace conditional on the ETag read
// in the same iteration. Create it with [NewTableManager].
type TableManager struct {
	opts  TableOptions
	names taskhub.Names
	svc   *aztables.ServiceClient
	rows  *aztables.Client
	w     *rowWriter
	log   *slog.Logger
	twins *twinWatch

	mu       sync.Mutex
	started  bool
	stopping bool
	tr       *tracker
	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

var _ Manager = (*TableManager)(nil)

// NewTableManager returns a table partition manager for the task hub
// taskHub, talking to acct. It builds its own table client so that it
// can write rows whose PartitionKey is "" (see the package note).
func NewTableManager(acct *storage.Account, taskHub string, opts TableOptions) (*TableManager, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	w, svc, err := newRowWriter(acct, names.PartitionsTable(), opts.Client)
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("worker", opts.WorkerID, "hub", names.TaskHub())
	return &TableManager{
		opts: opts, names: names, svc: svc, rows: svc.NewClient(names.PartitionsTable()), w: w,
		log: log, twins: newTwinWatch(opts.WorkerID, log, time.Minute),
		wake: make(chan struct{}, 1),
	}, nil
}

// WorkerID returns the id this manager writes into CurrentOwner.
func (m *TableManager) WorkerID() string { return m.opts.WorkerID }

// Start creates the Partitions table and the rows of Options.PartitionCount
// partitions if they are missing, then runs the loop in the background.
func (m *TableManager) Start(ctx context.Context, l Listener) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return ErrStarted
	}
	if err := CreateTable(ctx, m.svc, m.names.TaskHub()); err != nil {
		return err
	}
	if m.opts.PartitionCount > 0 {
		if err := CreateRows(ctx, m.svc, m.names.TaskHub(), m.opts.PartitionCount); err != nil {
			return err
		}
	}
	o := m.opts.Options
	o.Logger = m.log
	m.tr = newTracker(l, o, m.nudge)
	loopCtx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done, m.started = cancel, make(chan struct{}), true
	go m.run(loopCtx)
	m.log.Info("partition: table manager started", "table", m.names.PartitionsTable())
	return nil
}

// Stop drains and releases every owned partition (C#'s shutdown: one
// iteration marks the rows IsDraining and renews them, later iterations
// release each once drained) and returns when none is owned.
func (m *TableManager) Stop(ctx context.Context) error {
	m.mu.Lock()
	if !m.started {
		m.mu.Unlock()
		return ErrNotStarted
	}
	m.stopping = true
	m.mu.Unlock()
	m.tr.drainAll()
	m.nudge()
	select {
	case <-m.done:
		return m.tr.wait(ctx)
	case <-ctx.Done():
		m.cancel()
		<-m.done
		m.tr.abandon("stop deadline reached before the hand-over finished")
		m.log.Warn("partition: stopped before every partition was released; the rest will expire", "error", ctx.Err())
		return ctx.Err()
	}
}

// Owned returns the partitions this worker dequeues from, sorted.
func (m *TableManager) Owned() []string {
	m.mu.Lock()
	tr := m.tr
	m.mu.Unlock()
	if tr == nil {
		return nil
	}
	return tr.listening()
}

func (m *TableManager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *TableManager) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

func (m *TableManager) run(ctx context.Context) {
	defer close(m.done)
	failures := 0
	var forceAt time.Time
	for {
		stopping := m.isStopping()
		if stopping && forceAt.IsZero() {
			forceAt = time.Now().Add(m.opts.ShutdownTimeout)
		}
		plan, err := m.iterate(ctx, stopping)
		if ctx.Err() != nil {
			return
		}
		delay := m.opts.AcquireInterval
		if stopping {
			delay = m.opts.WaitInterval
		}
		if err != nil {
			failures++
			if failures <= fastRetries {
				delay = 0
			}
			level := slog.LevelWarn
			if hasStatus(err, http.StatusPreconditionFailed) {
				level = slog.LevelDebug // another worker wrote a row first: normal contention
			}
			m.log.Log(ctx, level, "partition: table iteration failed; retrying", "error", errSummary(err), "consecutive", failures, "retry_in", delay)
		} else {
			failures = 0
			if stopping && plan.Owned == 0 {
				m.log.Info("partition: every partition released; table manager stopped")
				return
			}
			if plan.Busy {
				delay = m.opts.WaitInterval
			}
		}
		if stopping && time.Now().After(forceAt) {
			m.log.Warn("partition: shutdown timeout reached; abandoning partitions not yet released", "timeout", m.opts.ShutdownTimeout)
			m.tr.abandon("shutdown timeout")
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-m.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// iterate reads every row, plans, and writes. The first failed write
// aborts the iteration: the loop re-reads rather than act on stale rows.
func (m *TableManager) iterate(parent context.Context, stopping bool) (tablePlan, error) {
	ctx, cancel := context.WithTimeout(parent, m.opts.OperationTimeout)
	defer cancel()
	rows, err := readRows(ctx, m.rows, m.names.PartitionsTable())
	if err != nil {
		return tablePlan{}, err
	}
	m.twins.check(rows)
	plan := planTable(rows, tableInput{
		Me: m.opts.WorkerID, Now: time.Now(), Lease: m.opts.LeaseInterval,
		RenewAfter: m.opts.AcquireInterval / 2, Stopping: stopping, Local: m.tr.phases(),
	})
	for _, p := range plan.Drop {
		m.tr.lost(p, "the row names another owner")
	}
	for _, p := range plan.Drain {
		m.tr.drain(p)
	}
	for _, w := range plan.Writes {
		m.twins.writing(w.Row)
		if _, err := m.w.replace(ctx, w.Row); err != nil {
			return plan, fmt.Errorf("%s %s: %w", w.Kind, w.Row.Partition, err)
		}
		m.applied(w)
	}
	return plan, nil
}

// applied tells the tracker what a successful write proved.
func (m *TableManager) applied(w tableWrite) {
	p := w.Row.Partition
	switch w.Kind {
	case writeClaim, writeRenew:
		if w.Kind == writeClaim {
			m.log.Info("partition: claimed", "partition", p, "expires", w.Row.ExpiresAt)
		}
		m.tr.owned(p, w.Row.ExpiresAt)
	case writeDrainMark:
		m.tr.extend(p, w.Row.ExpiresAt)
	case writeRelease:
		m.log.Info("partition: released", "partition", p, "next_owner", w.Row.NextOwner)
		m.tr.released(p)
	case writeSteal:
		m.log.Info("partition: asked for a partition", "partition", p, "owner", w.Row.CurrentOwner)
	}
}

// errSummary shortens storage errors for logs: status and error code, not
// the whole response dump.
func errSummary(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("%s (%d %s)", strings.TrimSpace(msg), re.StatusCode, re.ErrorCode)
	}
	return msg
}

package memory

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
)

var _ provider.Backend = (*Backend)(nil)

// Backend is the in-memory provider.Backend. Create it with New. All
// methods are safe for concurrent use.
type Backend struct {
	opts      Options
	names     taskhub.Names
	log       *slog.Logger
	clock     Clock
	setter    settableClock // nil unless the clock can be set
	watchable bool

	mu          sync.Mutex
	rng         *rand.Rand
	hubExists   bool
	state       runState
	autoAdvance bool
	seq         uint64 // message ids and insertion order
	receipts    uint64 // pop receipts
	etags       uint64 // history ETags
	instances   map[string]*instance
	parts       []map[string]*inbox
	activities  []*message
	locks       map[string]*orchLease // instance id → lease holding it
	orchLeases  map[*orchLease]struct{}
	actLeases   map[*actLease]struct{}
	orchWaiters []*orchWaiter
	actWaiters  []*actWaiter
	rr          int // partition to look at first
	timer       *time.Timer
	timerAt     time.Time
	timerGen    uint64
	changed     chan struct{} // closed and replaced on every state change
	crashNext   CrashPoint
	stats       Stats
	// quarantine, stalls and givebacks: poison.go.
	quarantine []provider.Quarantined
	stalls     map[string]provider.Stalled
	givebacks  map[string]int
}

type runState int

const (
	notStarted runState = iota
	running
	stopped
)

// instance is one instance's status row and the history of its current
// execution.
type instance struct {
	row    *history.OrchestrationState
	hist   []history.Event
	execID string // the execution hist belongs to
	etag   string // "" until history is first written
	rows   int    // most history rows ever written (stale rows included)
	rewind rewindMarks
}

type orchWaiter struct {
	ch chan *provider.OrchestrationWorkItem
}

type actWaiter struct {
	ch chan *provider.ActivityWorkItem
}

// Stats is a snapshot of the backend's queues and counters, for tests.
type Stats struct {
	// ControlMessages counts the messages of each control queue, visible
	// or not.
	ControlMessages []int
	// ActivityMessages counts the messages of the activity queue.
	ActivityMessages int
	// LockedOrchestrations and LockedActivities count work items whose
	// lock has not expired.
	LockedOrchestrations int
	LockedActivities     int
	// Sent counts enqueued messages (injected duplicates included).
	Sent uint64
	// Duplicated counts injected duplicate deliveries.
	Duplicated uint64
	// Dropped and Abandoned count messages deleted or put back by the
	// message rules (DedupeStart and Triage).
	Dropped   uint64
	Abandoned uint64
	// Crashes counts injected crashes.
	Crashes uint64
	// Quarantined counts messages moved to quarantine.
	Quarantined uint64
	// Advances counts clock jumps made by AutoAdvance.
	Advances uint64
}

// New returns a backend whose task hub already exists. It panics if the
// options are invalid: a partition count outside 1..16, an invalid task hub
// name, or AutoAdvance with a clock that has no Set method.
func New(opts Options) *Backend {
	if opts.TaskHub == "" {
		opts.TaskHub = "TestHub"
	}
	names, err := taskhub.NewNames(opts.TaskHub)
	if err != nil {
		panic(fmt.Sprintf("memory.New: %v", err))
	}
	if opts.Partitions == 0 {
		opts.Partitions = taskhub.DefaultPartitions
	}
	if err := taskhub.ValidatePartitionCount(opts.Partitions); err != nil {
		panic(fmt.Sprintf("memory.New: %v", err))
	}
	if opts.LockDuration <= 0 {
		opts.LockDuration = 5 * time.Minute
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		if opts.AutoAdvance {
			opts.Clock = NewManualClock(time.Now())
		} else {
			opts.Clock = provider.WallClock{}
		}
	}
	b := &Backend{opts: opts, names: names, log: opts.Logger, clock: opts.Clock,
		rng:       rand.New(rand.NewPCG(opts.Faults.Seed, opts.Faults.Seed^0x9e3779b97f4a7c15)),
		hubExists: true, autoAdvance: opts.AutoAdvance, changed: make(chan struct{})}
	b.setter, _ = opts.Clock.(settableClock)
	if opts.AutoAdvance && b.setter == nil {
		panic("memory.New: AutoAdvance needs a clock with a Set method, such as a *ManualClock")
	}
	if w, ok := opts.Clock.(watchableClock); ok {
		b.watchable = true
		// The watcher may run while b.mu is held (AutoAdvance moves the
		// clock under it), so it only schedules a dispatch.
		w.Watch(func() { go b.kick() })
	}
	b.resetLocked()
	return b
}

func (b *Backend) resetLocked() {
	b.instances = map[string]*instance{}
	b.parts = make([]map[string]*inbox, b.opts.Partitions)
	for i := range b.parts {
		b.parts[i] = map[string]*inbox{}
	}
	b.activities = nil
	b.locks = map[string]*orchLease{}
	b.orchLeases = map[*orchLease]struct{}{}
	b.actLeases = map[*actLease]struct{}{}
	b.quarantine, b.stalls, b.givebacks = nil, nil, nil
}

// Clock returns the backend's clock.
func (b *Backend) Clock() Clock { return b.clock }

// Partitions returns the number of control queues.
func (b *Backend) Partitions() int { return b.opts.Partitions }

// PartitionOf returns the control-queue index of an instance id.
func (b *Backend) PartitionOf(instanceID string) int {
	return taskhub.PartitionIndex(instanceID, b.opts.Partitions)
}

// CreateTaskHub makes the hub exist again after DeleteTaskHub; it is a
// no-op when the hub exists.
func (b *Backend) CreateTaskHub(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hubExists {
		b.resetLocked()
		b.hubExists = true
		b.kickLocked()
	}
	return nil
}

// DeleteTaskHub deletes every instance, history and message. Until
// CreateTaskHub, client calls fail with ErrTaskHubNotFound and LockNext*
// callers wait.
func (b *Backend) DeleteTaskHub(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetLocked()
	b.hubExists = false
	b.kickLocked()
	return nil
}

// Start lets LockNextOrchestration hand out work (it waits until then).
// Starting again after Stop is allowed.
func (b *Backend) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hubExists {
		return ErrTaskHubNotFound
	}
	b.state = running
	b.kickLocked()
	return nil
}

// Stop makes every waiting and later LockNext* call return ErrStopped
// (until Start). With graceful, it waits until the locked work items are
// completed or abandoned, or ctx is done; the work items still locked then
// (all of them without graceful) are abandoned with no delay. A holder of
// such a work item may still commit: like a worker that lost its lease, its
// history write succeeds unless someone wrote in between, and its messages
// are delivered again.
func (b *Backend) Stop(ctx context.Context, graceful bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = stopped
	for _, w := range b.orchWaiters {
		close(w.ch)
	}
	for _, w := range b.actWaiters {
		close(w.ch)
	}
	b.orchWaiters, b.actWaiters = nil, nil
	b.kickLocked()
	for graceful && b.lockedLocked(b.clock.Now()) > 0 && ctx.Err() == nil {
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		b.mu.Lock()
	}
	now := b.clock.Now()
	n := 0
	for l := range b.orchLeases {
		for i, m := range l.msgs {
			b.releaseLocked(m, l.receipts[i], now)
		}
		if b.locks[l.id] == l {
			delete(b.locks, l.id)
		}
		l.released = true
		delete(b.orchLeases, l)
		n++
	}
	for l := range b.actLeases {
		b.releaseLocked(l.msg, l.receipt, now)
		l.released = true
		delete(b.actLeases, l)
		n++
	}
	if n > 0 {
		b.log.Warn("memory: stop abandoned work items that were still locked", "workItems", n, "graceful", graceful)
	}
	b.kickLocked()
	return nil
}

// SetAutoAdvance turns AutoAdvance on or off. Turning it on needs a clock
// with a Set method.
func (b *Backend) SetAutoAdvance(on bool) error {
	if on && b.setter == nil {
		return fmt.Errorf("memory: AutoAdvance needs a clock with a Set method, such as a *ManualClock")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.autoAdvance = on
	b.kickLocked()
	return nil
}

// CrashNext arms a one-shot crash at p for the next CompleteOrchestration
// (AfterOutbox, AfterHistory, AfterStatus) or CompleteActivity
// (AfterActivityResult). NoCrash disarms it.
func (b *Backend) CrashNext(p CrashPoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.crashNext = p
}

// Idle reports whether nothing can happen until the clock moves or a
// message is sent: no work item is locked and no message is visible.
func (b *Backend) Idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	return b.lockedLocked(now) == 0 && !b.anyVisibleLocked(now)
}

// WaitIdle waits until Idle would report true, or ctx is done.
func (b *Backend) WaitIdle(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := b.clock.Now()
		if b.lockedLocked(now) == 0 && !b.anyVisibleLocked(now) {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextVisibleAt returns the earliest time at which a message that is not
// visible now becomes visible (a timer, a scheduled start, an abandoned
// message, or a lock that expires), and false if there is none.
func (b *Backend) NextVisibleAt() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextVisibleLocked(b.clock.Now())
}

// Stats returns a snapshot of the queues and counters.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.ControlMessages = make([]int, len(b.parts))
	for i, p := range b.parts {
		for _, ib := range p {
			s.ControlMessages[i] += len(ib.msgs)
		}
	}
	s.ActivityMessages = len(b.activities)
	now := b.clock.Now()
	for l := range b.orchLeases {
		if l.activeAt(now) {
			s.LockedOrchestrations++
		}
	}
	for l := range b.actLeases {
		if l.activeAt(now) {
			s.LockedActivities++
		}
	}
	return s
}

// kick runs a dispatch pass; timers and clock watchers call it.
func (b *Backend) kick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kickLocked()
}

// kickLocked follows every state change: hand work to waiters, wake
// watchers of b.changed, and let AutoAdvance move the clock if idle.
func (b *Backend) kickLocked() {
	b.dispatchLocked()
	b.broadcastLocked()
	b.maybeAdvanceLocked()
}

func (b *Backend) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// dispatchLocked hands work items to waiters, first in, first out.
func (b *Backend) dispatchLocked() {
	if b.hubExists {
		now := b.clock.Now()
		for b.state == running && len(b.orchWaiters) > 0 {
			wi := b.nextOrchestrationLocked(now)
			if wi == nil {
				break
			}
			w := b.orchWaiters[0]
			b.orchWaiters = b.orchWaiters[1:]
			w.ch <- wi
		}
		for b.state != stopped && len(b.actWaiters) > 0 {
			wi := b.nextActivityLocked(now)
			if wi == nil {
				break
			}
			w := b.actWaiters[0]
			b.actWaiters = b.actWaiters[1:]
			w.ch <- wi
		}
	}
	b.armTimerLocked()
}

// waitingLocked counts LockNext* callers that could receive work.
func (b *Backend) waitingLocked() int {
	n := 0
	if b.state == running {
		n += len(b.orchWaiters)
	}
	if b.state != stopped {
		n += len(b.actWaiters)
	}
	if !b.hubExists {
		return 0
	}
	return n
}

// armTimerLocked makes sure that, with a clock that does not report its
// moves, a dispatch runs when the next message becomes visible.
func (b *Backend) armTimerLocked() {
	if b.watchable {
		return
	}
	now := b.clock.Now()
	next, ok := b.nextVisibleLocked(now)
	if !ok || b.waitingLocked() == 0 {
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
		return
	}
	if b.timer != nil && b.timerAt.Equal(next) {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timerGen++
	gen := b.timerGen
	b.timerAt = next
	b.timer = time.AfterFunc(next.Sub(now), func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.timerGen == gen {
			b.timer = nil // fired: the next pass arms a new one
		}
		b.kickLocked()
	})
}

// maybeAdvanceLocked moves the clock to the next visible-at time when
// AutoAdvance is on, someone waits for work, nothing is locked and nothing
// is visible. The clock's watcher (or, for other settable clocks, a
// goroutine) runs the next pass, so repeated jumps never hold the mutex.
func (b *Backend) maybeAdvanceLocked() {
	if !b.autoAdvance || b.setter == nil || b.waitingLocked() == 0 {
		return
	}
	now := b.clock.Now()
	if b.lockedLocked(now) > 0 || b.anyVisibleLocked(now) {
		return
	}
	next, ok := b.nextVisibleLocked(now)
	if !ok {
		return
	}
	b.stats.Advances++
	b.log.Debug("memory: auto-advancing the clock to the next visible message", "from", now, "to", next)
	b.setter.Set(next)
	b.dispatchLocked()
	b.broadcastLocked()
	if !b.watchable {
		go b.kick()
	}
}

// lockedLocked counts work items whose lock has not expired.
func (b *Backend) lockedLocked(now time.Time) int {
	n := 0
	for l := range b.orchLeases {
		if l.activeAt(now) {
			n++
		}
	}
	for l := range b.actLeases {
		if l.activeAt(now) {
			n++
		}
	}
	return n
}

func (b *Backend) anyVisibleLocked(now time.Time) bool {
	for _, p := range b.parts {
		for _, ib := range p {
			for _, m := range ib.msgs {
				if !m.visibleAt.After(now) {
					return true
				}
			}
		}
	}
	for _, m := range b.activities {
		if !m.visibleAt.After(now) {
			return true
		}
	}
	return false
}

func (b *Backend) nextVisibleLocked(now time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	consider := func(m *message) {
		if m.visibleAt.After(now) && (!found || m.visibleAt.Before(next)) {
			next, found = m.visibleAt, true
		}
	}
	for _, p := range b.parts {
		for _, ib := range p {
			for _, m := range ib.msgs {
				consider(m)
			}
		}
	}
	for _, m := range b.activities {
		consider(m)
	}
	return next, found
}

func (b *Backend) hubLocked() error {
	if !b.hubExists {
		return ErrTaskHubNotFound
	}
	return nil
}

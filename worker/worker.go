// Package worker runs orchestrations and activities against a backend:
// registration, orchestration sessions for the partitions the backend owns,
// an activity pool, concurrency limits, an in-memory cache of running
// instances, and graceful shutdown.
//
// Design note. The worker is the I/O shell around the episode step
// (internal/episode), which is pure and drives the replay engine. For each
// orchestration work item the worker takes the cached engine of the
// instance (valid only while the backend's history ETag and length are the
// ones the engine last committed) or loads the history, hands both to the
// step once, and commits what the step returns (new events, outbound
// messages and custom status, exactly as a C# worker writes them) through
// the backend; then it keeps the engine for the next work item, or drops
// it. Continue-as-new runs the next generation inside the same work item
// and commits only the last generation, as C# does. Anything that is a
// deployment problem rather than a failure of the orchestration (an unknown
// name, a deadlock, a lost lock) abandons the work item with C#'s back-off
// and never fails the instance.
//
// Stopping. Run stops taking work when its context ends and lets the work
// in flight finish for ShutdownTimeout. Then it cancels the work context
// with the cause ErrStopping: an episode that has not committed is
// abandoned (its messages are visible again after a second), and an
// activity whose function then returns an error is not failed but given
// back to its queue at once, for the next worker to run again; only an
// error an activity returns before the stop fails its task (a success
// returned after it is reported as usual). Cancellation is not a failure
// of the activity, so a deployment never fails an orchestration.
//
// Ended instances. The context of a running activity is also cancelled,
// with the cause ErrInstanceEnded, when the execution that scheduled it
// ends (a terminate, or an end that did not wait for the activity); its
// late result is sent as usual and dropped by the orchestration. This
// costs no storage call for short activities: the process that commits
// the final status cancels its own activities of that execution at the
// commit, from the in-memory set of running activities; a process that
// runs the activity without owning the instance's partition (the
// work-item queue is shared) learns it with the activity's lock renewal,
// every ActivityRenewInterval (30 s), by one read of the instance's status
// row: only activities that outlive a renewal interval pay that read.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/provider"
)

// Clock tells the time; tests use a virtual one. It is provider.Clock, the
// one clock interface of the worker, the client and the in-memory backend.
type Clock = provider.Clock

// NonDeterminismPolicy says what to do when orchestrator code no longer
// matches its history.
type NonDeterminismPolicy int

const (
	// FailOrchestration fails the instance with the error (the default, as
	// in C#).
	FailOrchestration NonDeterminismPolicy = iota
	// BlockAndRetry abandons the work item with back-off and keeps the
	// instance's status, so that a fixed deployment can pick it up.
	BlockAndRetry
)

// VersionMatch is C#'s versioning rule between the worker's version and an
// instance's orchestration version.
type VersionMatch int

const (
	// MatchNone runs every version.
	MatchNone VersionMatch = iota
	// MatchStrict runs only instances of exactly the worker's version.
	MatchStrict
	// MatchCurrentOrOlder runs instances whose version is not newer than
	// the worker's (compared as dotted numbers, else as strings).
	MatchCurrentOrOlder
)

// VersionMismatch is what happens to an instance the worker may not run.
type VersionMismatch int

const (
	// Reject abandons the work item so that another worker can take it.
	Reject VersionMismatch = iota
	// Fail fails the instance.
	Fail
)

// Versioning configures version matching (C#'s VersioningSettings).
type Versioning struct {
	Version    string
	Match      VersionMatch
	OnMismatch VersionMismatch
}

// CacheOptions configure the cache of running instances (C#'s extended
// sessions; on by default here).
type CacheOptions struct {
	// MaxInstances bounds the cache (default 1000).
	MaxInstances int
	// IdleTimeout evicts instances without work for this long (default 30 s).
	IdleTimeout time.Duration
	// Disabled replays every episode from history.
	Disabled bool
}

// Options configure a Worker. Zero values mean the documented defaults.
type Options struct {
	// MaxConcurrentOrchestrations bounds orchestration episodes in flight
	// (default 100).
	MaxConcurrentOrchestrations int
	// MaxConcurrentActivities bounds activities in flight (default 10, as C#).
	MaxConcurrentActivities int
	Cache                   CacheOptions
	Versioning              Versioning
	OnNonDeterminism        NonDeterminismPolicy
	// DeadlockTimeout bounds how long orchestrator code may wait outside a
	// durable call (default 10 s); code that is only slow (it computes, or
	// waits for a CPU) is never stopped. See package internal/replay.
	DeadlockTimeout time.Duration
	// VerifyReplay replays every cached episode once more from the full
	// history and fails the episode if the actions differ (the test
	// environment turns it on).
	VerifyReplay bool
	// MaxGenerationsPerWorkItem bounds continue-as-new generations run in
	// one work item (default 100); the next generation is then sent as a
	// message.
	MaxGenerationsPerWorkItem int
	// ActivityRenewInterval is how often a running activity's lock is
	// renewed (default 30 s).
	ActivityRenewInterval time.Duration
	// ShutdownTimeout bounds the drain on Run's return (default 30 s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Clock           Clock
	// DataConverter encodes and decodes the payloads of the orchestrations
	// and activities the worker runs (default durable.JSONConverter). The
	// workers and clients of a task hub must use compatible converters.
	DataConverter durable.DataConverter
	// Observer, when set, is told about every episode and activity (see
	// Observer); metrics use it.
	Observer Observer
}

// Stats count what the worker did, for tests and diagnostics.
type Stats struct {
	Episodes            atomic.Int64
	Activities          atomic.Int64
	UnknownNames        atomic.Int64
	NonDeterminism      atomic.Int64
	Deadlocks           atomic.Int64
	LockLost            atomic.Int64
	Abandoned           atomic.Int64
	CacheHits           atomic.Int64
	CacheMisses         atomic.Int64
	ActivityPanics      atomic.Int64
	OrchestrationErrors atomic.Int64
	// ActivitiesReturned counts activity work items given back to their
	// queue because the worker's stop cancelled them.
	ActivitiesReturned atomic.Int64
	// ActivitiesCancelled counts activities whose context was cancelled
	// because their orchestration's execution had ended.
	ActivitiesCancelled atomic.Int64
}

// Worker hosts orchestrations and activities.
type Worker struct {
	be    provider.Backend
	reg   *registry.Registry
	opts  Options
	log   *slog.Logger
	clock Clock
	cache *cache
	stats Stats
	// activities holds the activities in flight, by instance.
	activities runningSet
	// failures remembers repeatable commit failures (unknown.go).
	failures commitFailures

	mu      sync.Mutex
	running bool
}

// New returns a worker for the backend.
func New(be provider.Backend, opts Options) *Worker {
	if opts.MaxConcurrentOrchestrations <= 0 {
		opts.MaxConcurrentOrchestrations = 100
	}
	if opts.MaxConcurrentActivities <= 0 {
		opts.MaxConcurrentActivities = 10
	}
	if opts.Cache.MaxInstances <= 0 {
		opts.Cache.MaxInstances = 1000
	}
	if opts.Cache.IdleTimeout <= 0 {
		opts.Cache.IdleTimeout = 30 * time.Second
	}
	if opts.DeadlockTimeout == 0 {
		opts.DeadlockTimeout = 10 * time.Second
	}
	if opts.MaxGenerationsPerWorkItem <= 0 {
		opts.MaxGenerationsPerWorkItem = 100
	}
	if opts.ActivityRenewInterval <= 0 {
		opts.ActivityRenewInterval = 30 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	clock := provider.ClockOrWall(opts.Clock)
	var conv payload.Converter
	if opts.DataConverter != nil {
		conv = opts.DataConverter
	}
	w := &Worker{be: be, reg: registry.New(conv), opts: opts, log: log, clock: clock}
	w.cache = newCache(opts.Cache)
	w.registerSchedules()
	return w
}

// Register adds orchestrations and activities. Call it before Run. Empty
// names, a second handle of the same kind, name and version, and names
// that differ from a registered one only in case are errors.
func (w *Worker) Register(items ...durable.Registrable) error {
	return registry.Add(w.reg, items...)
}

// Replace registers handles in place of those registered under the same
// kind, name and version, or beside them when there are none; work items
// received afterwards run the new code. durabletest mocks activities with
// it.
func (w *Worker) Replace(items ...durable.Registrable) error {
	return registry.Replace(w.reg, items...)
}

// Stats returns the worker's counters.
func (w *Worker) Stats() *Stats { return &w.stats }

// Run starts the backend's partition ownership and processes work until ctx
// is done. Then it stops taking work, lets in-flight episodes and
// activities finish (within ShutdownTimeout), releases its partitions and
// returns nil.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("worker: already running")
	}
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()
	if err := w.be.Start(ctx); err != nil {
		return fmt.Errorf("worker: starting the backend: %w", err)
	}
	// Work is locked with lockCtx (canceled at shutdown) but processed with
	// workCtx, which outlives it by the drain period so that in-flight work
	// can commit.
	lockCtx, stopLocking := context.WithCancel(ctx)
	defer stopLocking()
	workCtx, cancelWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelWork(ErrStopping)

	var wg sync.WaitGroup
	for i := 0; i < w.opts.MaxConcurrentOrchestrations; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.orchestrationLoop(lockCtx, workCtx)
		}()
	}
	for i := 0; i < w.opts.MaxConcurrentActivities; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.activityLoop(lockCtx, workCtx)
		}()
	}
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		w.cache.sweepLoop(lockCtx, w.clock)
	}()

	<-ctx.Done()
	stopLocking()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	timer := time.NewTimer(w.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		w.log.Warn("worker: shutdown timeout; cancelling in-flight work and giving it back to its queues", "timeout", w.opts.ShutdownTimeout)
		cancelWork(ErrStopping)
		<-drained
	}
	<-sweepDone
	w.cache.clear()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.ShutdownTimeout)
	defer cancel()
	if err := w.be.Stop(stopCtx, true); err != nil {
		w.log.Warn("worker: stopping the backend", "err", err)
	}
	return nil
}

func (w *Worker) orchestrationLoop(lockCtx, workCtx context.Context) {
	for {
		wi, err := w.be.LockNextOrchestration(lockCtx)
		if err != nil {
			if lockCtx.Err() != nil {
				return
			}
			w.log.Warn("worker: locking the next orchestration work item", "err", err)
			if !ctxsleep.Sleep(lockCtx, time.Second) {
				return
			}
			continue
		}
		if wi == nil {
			continue
		}
		w.processOrchestration(workCtx, wi)
	}
}

func (w *Worker) activityLoop(lockCtx, workCtx context.Context) {
	for {
		wi, err := w.be.LockNextActivity(lockCtx)
		if err != nil {
			if lockCtx.Err() != nil {
				return
			}
			w.log.Warn("worker: locking the next activity work item", "err", err)
			if !ctxsleep.Sleep(lockCtx, time.Second) {
				return
			}
			continue
		}
		if wi == nil {
			continue
		}
		w.runActivity(workCtx, wi)
	}
}

package sidecar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// The work-item dispatcher: the sidecar as a worker of its task hub whose
// code runs in the SDK workers connected to it.
//
// Every GetWorkItems stream is one SDK worker (sdkWorker) with a limit of
// work items in flight per kind (its own, or the sidecar's default: the
// JavaScript SDK sends none) and optional work-item filters. While at
// least one worker is connected, the sidecar takes part in the hub's
// partition ownership (Backend.Start) and runs one pump per kind: it locks
// a work item from the backend only while the connected workers have a
// free slot in total, and hands each item to the least busy worker whose
// filters accept its name. A work item none of them accepts is given back
// to the hub, with the reason recorded (provider.Quarantiner), as a Go
// worker gives back a name it does not host. When the last worker has
// been gone for Options.IdleRelease, the partitions are released for the
// hub's other workers.
//
// A work item is answered by its completion token. A worker whose stream
// ends keeps the items it was sent until its connection closes (an SDK
// worker that stops cancels its stream first and completes what it holds
// on the same connection), at most Options.DisconnectGrace; the items
// still unanswered then are abandoned, their messages visible again for
// the hub's next worker. Items queued for it and not sent go to another
// worker at once.
//
// Kinds are indexed: each has a limit and a filter list. Orchestrations
// and activities have a pump each; entity work items have none, since
// entities are orchestration instances of the hub (their messages come
// with the orchestration work items, entities.go): an entity's batch holds
// an orchestration slot while it waits for an entity slot of a worker.

// kind is a kind of work item.
type kind int

const (
	kindOrchestration kind = iota
	kindActivity
	kindEntity
	numKinds
)

// pumped are the kinds locked from the backend by a pump of their own.
var pumped = []kind{kindOrchestration, kindActivity}

func (k kind) String() string {
	switch k {
	case kindOrchestration:
		return "orchestration"
	case kindActivity:
		return "activity"
	case kindEntity:
		return "entity"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// maxWorkerLimit caps the limits a worker asks for.
const maxWorkerLimit = 10000

// Reasons a work item was not answered; the caller decides what becomes
// of its messages.
var (
	// errUnsent: the item was queued for a worker whose stream ended
	// before it was sent; it goes to another worker.
	errUnsent = errors.New("the work item was not sent: its worker's stream ended")
	// errWorkerLost: the worker held the item when its connection closed
	// (or DisconnectGrace passed after its stream ended).
	errWorkerLost = errors.New("the SDK worker that held the work item went away without answering")
	// errAbandoned: the worker abandoned the item.
	errAbandoned = errors.New("an SDK worker abandoned the work item")
	// errReleased: the sidecar stopped serving work items (it stops, or its
	// last worker left) before the item was answered.
	errReleased = errors.New("the sidecar stopped serving work items")
)

// noWorkerError: no connected worker accepts the work item.
type noWorkerError struct {
	kind          kind
	name, version string
	// connected counts the workers connected to this sidecar.
	connected int
}

func (e *noWorkerError) Error() string {
	what := fmt.Sprintf("%s %q", e.kind, e.name)
	if e.version != "" {
		what += fmt.Sprintf(" version %q", e.version)
	}
	if e.connected == 0 {
		return "no SDK worker is connected to this sidecar to run " + what
	}
	return fmt.Sprintf("none of the %d SDK workers connected to this sidecar hosts %s (their work-item filters leave it out)", e.connected, what)
}

// Stats count what the dispatcher did, for tests and diagnostics.
type Stats struct {
	// Episodes counts committed orchestration episodes; Activities the
	// activity results sent to their orchestrations.
	Episodes, Activities atomic.Int64
	// GivenBack counts work items given back uncounted (no worker hosts
	// them, a storage failure, a stop); Abandoned those abandoned with
	// C#'s back-off (their worker went away holding them, a commit
	// refused).
	GivenBack, Abandoned atomic.Int64
	// EntityBatches counts entity batches an SDK worker ran that were
	// committed.
	EntityBatches atomic.Int64
	// CacheHits counts episodes whose past events came from the cache.
	CacheHits atomic.Int64
	// Failed counts instances failed because their worker's answer could
	// not be committed.
	Failed atomic.Int64
	// Releases counts the times the sidecar released the hub's partitions
	// (its last worker gone, or its stop).
	Releases atomic.Int64
}

// outcome is how a work item ended: a worker's answer, its abandon, or
// an error (errUnsent, errWorkerLost, errReleased, a context's).
type outcome struct {
	resp      proto.Message
	abandoned bool
	err       error
}

// pendingItem is a work item sent, or queued to be sent, to a worker.
type pendingItem struct {
	token      string
	kind       kind
	w          *sdkWorker
	item       *pb.WorkItem
	instanceID string
	taskID     int32
	sent       bool // guarded by dispatcher.mu
	finished   bool // guarded by dispatcher.mu
	done       chan outcome
}

// sdkWorker is one GetWorkItems stream.
type sdkWorker struct {
	id     int64
	conn   *clientConn // nil outside a server (tests)
	filter *workFilter
	limit  [numKinds]int
	// Guarded by dispatcher.mu.
	busy  [numKinds]int
	items map[string]*pendingItem
	// out holds the items to send; ended is closed when the stream ends.
	out   chan *pendingItem
	ended chan struct{}
}

// load is how busy the worker is, as a share of its limits.
func (w *sdkWorker) load(k kind) float64 { return float64(w.busy[k]) / float64(w.limit[k]) }

// workFilter is a worker's work-item filters: per kind, the names it
// hosts and for each the versions (none: every version).
type workFilter struct {
	names [numKinds]map[string][]string
}

// filterOf reads a worker's filters; nil (no filters) accepts everything.
// With filters, a kind whose list is empty gets no work items.
func filterOf(f *pb.WorkItemFilters) *workFilter {
	if f == nil {
		return nil
	}
	wf := &workFilter{}
	for k := range wf.names {
		wf.names[k] = map[string][]string{}
	}
	for _, o := range f.GetOrchestrations() {
		wf.names[kindOrchestration][o.GetName()] = append(wf.names[kindOrchestration][o.GetName()], o.GetVersions()...)
	}
	for _, a := range f.GetActivities() {
		wf.names[kindActivity][a.GetName()] = append(wf.names[kindActivity][a.GetName()], a.GetVersions()...)
	}
	for _, e := range f.GetEntities() {
		// Entity names are case-insensitive (instance ids hold them
		// lower-cased).
		wf.names[kindEntity][strings.ToLower(e.GetName())] = nil
	}
	return wf
}

func (f *workFilter) accepts(k kind, name, version string) bool {
	if f == nil {
		return true
	}
	versions, ok := f.names[k][name]
	return ok && (len(versions) == 0 || slices.Contains(versions, version))
}

// dispatcher hands the hub's work items to the connected SDK workers.
type dispatcher struct {
	s     *Server
	be    provider.Backend
	log   *slog.Logger
	cache *historyCache
	stats Stats

	mu       sync.Mutex
	workers  map[*sdkWorker]bool
	pending  map[string]*pendingItem
	reserved [numKinds]int
	changed  chan struct{} // closed and replaced on every change
	nextID   int64

	// The partition ownership, guarded by lifeMu.
	lifeMu      sync.Mutex
	running     bool
	closing     bool
	idle        *time.Timer
	stopLocking context.CancelFunc
	stopWork    context.CancelCauseFunc
	loops       sync.WaitGroup // pumps and the work items they took
	// streamsEnd is closed once the sidecar has stopped serving work items:
	// the streams then end.
	streamsEnd chan struct{}
	closeOnce  sync.Once
}

func newDispatcher(s *Server) *dispatcher {
	return &dispatcher{s: s, be: s.be, log: s.log, cache: newHistoryCache(s.opts.HistoryCache),
		workers: map[*sdkWorker]bool{}, pending: map[string]*pendingItem{}, changed: make(chan struct{}),
		streamsEnd: make(chan struct{})}
}

func (d *dispatcher) now() time.Time {
	if d.s.opts.Clock != nil {
		return d.s.opts.Clock.Now()
	}
	return time.Now()
}

func (d *dispatcher) broadcastLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// newWorker describes the worker of a GetWorkItems request.
func (d *dispatcher) newWorker(req *pb.GetWorkItemsRequest, conn *clientConn) *sdkWorker {
	o := d.s.opts
	limit := func(asked int32, def int) int {
		if asked <= 0 {
			return def
		}
		return min(int(asked), maxWorkerLimit)
	}
	w := &sdkWorker{conn: conn, filter: filterOf(req.GetWorkItemFilters()), items: map[string]*pendingItem{},
		ended: make(chan struct{})}
	w.limit[kindOrchestration] = limit(req.GetMaxConcurrentOrchestrationWorkItems(), o.MaxOrchestrationsPerWorker)
	w.limit[kindActivity] = limit(req.GetMaxConcurrentActivityWorkItems(), o.MaxActivitiesPerWorker)
	w.limit[kindEntity] = limit(req.GetMaxConcurrentEntityWorkItems(), o.MaxEntitiesPerWorker)
	total := 0
	for _, l := range w.limit {
		total += l
	}
	w.out = make(chan *pendingItem, total)
	d.mu.Lock()
	d.nextID++
	w.id = d.nextID
	d.mu.Unlock()
	return w
}

// join adds a worker, taking part in the hub's partition ownership first
// if this is the only one.
func (d *dispatcher) join(ctx context.Context, w *sdkWorker) error {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	if d.closing {
		return errReleased
	}
	if d.idle != nil {
		d.idle.Stop()
		d.idle = nil
	}
	if !d.running {
		if err := d.be.Start(ctx); err != nil {
			return fmt.Errorf("taking part in the task hub's partition ownership: %w", err)
		}
		lockCtx, stopLocking := context.WithCancel(context.Background())
		workCtx, stopWork := context.WithCancelCause(context.Background())
		d.stopLocking, d.stopWork = stopLocking, stopWork
		for _, k := range pumped {
			d.loops.Add(1)
			go d.pump(k, lockCtx, workCtx)
		}
		d.running = true
		d.log.Info("sidecar: an SDK worker connected; taking part in the task hub's partition ownership")
	}
	d.mu.Lock()
	d.workers[w] = true
	d.broadcastLocked()
	d.mu.Unlock()
	d.log.Debug("sidecar: SDK worker connected", "worker", w.id, "orchestrations", w.limit[kindOrchestration],
		"activities", w.limit[kindActivity], "entities", w.limit[kindEntity], "filtered", w.filter != nil)
	return nil
}

// leave removes a worker whose stream ended: its unsent items go to other
// workers, its sent ones wait for its connection (see watchLost).
func (d *dispatcher) leave(w *sdkWorker) {
	d.mu.Lock()
	delete(d.workers, w)
	close(w.ended)
	for _, p := range w.items {
		if !p.sent {
			d.finishLocked(p, outcome{err: errUnsent})
		}
	}
	held := len(w.items)
	live := len(d.workers)
	d.broadcastLocked()
	d.mu.Unlock()
	d.log.Debug("sidecar: SDK worker disconnected", "worker", w.id, "holding", held)
	if held > 0 {
		go d.watchLost(w)
	}
	if live == 0 {
		d.scheduleIdle()
	}
}

// watchLost gives up the items a departed worker holds when its
// connection closes, or after DisconnectGrace.
func (d *dispatcher) watchLost(w *sdkWorker) {
	t := time.NewTimer(d.s.opts.DisconnectGrace)
	defer t.Stop()
	var closed <-chan struct{}
	if w.conn != nil {
		closed = w.conn.closed
	} else {
		closed = make(chan struct{})
	}
	select {
	case <-closed:
	case <-t.C:
	}
	d.mu.Lock()
	for _, p := range w.items {
		d.finishLocked(p, outcome{err: errWorkerLost})
	}
	d.mu.Unlock()
}

// scheduleIdle releases the partitions after IdleRelease without workers.
func (d *dispatcher) scheduleIdle() {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	if !d.running || d.closing || d.idle != nil {
		return
	}
	d.idle = time.AfterFunc(d.s.opts.IdleRelease, d.idleRelease)
}

func (d *dispatcher) idleRelease() {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	d.idle = nil
	d.mu.Lock()
	live := len(d.workers)
	d.mu.Unlock()
	if live > 0 || !d.running || d.closing {
		return
	}
	d.log.Info("sidecar: no SDK worker connected; releasing the task hub's partitions", "after", d.s.opts.IdleRelease)
	// Items still held belong to workers that left: give them back now.
	d.stopRunningLocked(0)
}

// stopRunningLocked stops locking work, lets the items in flight finish
// for grace, gives back the rest and ends partition ownership.
func (d *dispatcher) stopRunningLocked(grace time.Duration) {
	if !d.running {
		return
	}
	d.stopLocking()
	drained := make(chan struct{})
	go func() { d.loops.Wait(); close(drained) }()
	t := time.NewTimer(grace)
	select {
	case <-drained:
	case <-t.C:
		d.stopWork(errReleased)
		<-drained
	}
	t.Stop()
	d.stopWork(errReleased)
	ctx, cancel := context.WithTimeout(context.Background(), max(grace, 10*time.Second))
	if err := d.be.Stop(ctx, true); err != nil {
		d.log.Warn("sidecar: releasing the task hub's partitions", "err", err)
	}
	cancel()
	d.running = false
	d.stats.Releases.Add(1)
}

// shutdown stops serving work items: the items in flight get grace to be
// answered (the streams stay open meanwhile), the rest are given back,
// the partitions released; then the streams end.
func (d *dispatcher) shutdown(grace time.Duration) {
	d.closeOnce.Do(func() {
		d.lifeMu.Lock()
		d.closing = true
		if d.idle != nil {
			d.idle.Stop()
			d.idle = nil
		}
		d.stopRunningLocked(grace)
		d.lifeMu.Unlock()
		close(d.streamsEnd)
	})
}

// totalLimitLocked is the connected workers' limit for a kind.
func (d *dispatcher) totalLimitLocked(k kind) int {
	n := 0
	for w := range d.workers {
		n += w.limit[k]
	}
	return n
}

// reserve waits until the connected workers have room for one more work
// item of the kind than are locked already, and counts it.
func (d *dispatcher) reserve(ctx context.Context, k kind) error {
	for {
		d.mu.Lock()
		if d.reserved[k] < d.totalLimitLocked(k) {
			d.reserved[k]++
			d.mu.Unlock()
			return nil
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *dispatcher) unreserve(k kind) {
	d.mu.Lock()
	d.reserved[k]--
	d.broadcastLocked()
	d.mu.Unlock()
}

// pump locks work items of one kind while there is room for them.
func (d *dispatcher) pump(k kind, lockCtx, workCtx context.Context) {
	defer d.loops.Done()
	for {
		if err := d.reserve(lockCtx, k); err != nil {
			return
		}
		d.loops.Add(1)
		go func() {
			defer d.loops.Done()
			defer d.unreserve(k)
			if !d.lockAndRun(k, lockCtx, workCtx) && lockCtx.Err() == nil {
				ctxsleep.Sleep(lockCtx, time.Second)
			}
		}()
	}
}

// lockAndRun locks one work item and runs it; false when locking failed.
func (d *dispatcher) lockAndRun(k kind, lockCtx, workCtx context.Context) bool {
	switch k {
	case kindOrchestration:
		wi, err := d.be.LockNextOrchestration(lockCtx)
		if err != nil || wi == nil {
			if err != nil && lockCtx.Err() == nil {
				d.log.Warn("sidecar: locking the next orchestration work item", "err", err)
			}
			return err == nil
		}
		d.runOrchestration(workCtx, wi)
	case kindActivity:
		wi, err := d.be.LockNextActivity(lockCtx)
		if err != nil || wi == nil {
			if err != nil && lockCtx.Err() == nil {
				d.log.Warn("sidecar: locking the next activity work item", "err", err)
			}
			return err == nil
		}
		d.runActivity(workCtx, wi)
	}
	return true
}

// hosted reports, without waiting, whether a connected worker accepts a
// work item (a *noWorkerError when none does).
func (d *dispatcher) hosted(k kind, name, version string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.workers {
		if w.filter.accepts(k, name, version) {
			return nil
		}
	}
	return &noWorkerError{kind: k, name: name, version: version, connected: len(d.workers)}
}

// acquire takes a slot of the least busy connected worker that accepts
// the work item, waiting for one to be free; a *noWorkerError when none
// accepts it.
func (d *dispatcher) acquire(ctx context.Context, k kind, name, version string) (*sdkWorker, error) {
	for {
		d.mu.Lock()
		var best *sdkWorker
		accepting := false
		for w := range d.workers {
			if !w.filter.accepts(k, name, version) {
				continue
			}
			accepting = true
			if w.busy[k] < w.limit[k] && (best == nil || w.load(k) < best.load(k)) {
				best = w
			}
		}
		if best != nil {
			best.busy[k]++
			d.mu.Unlock()
			return best, nil
		}
		ch := d.changed
		connected := len(d.workers)
		d.mu.Unlock()
		if !accepting {
			return nil, &noWorkerError{kind: k, name: name, version: version, connected: connected}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

func (d *dispatcher) releaseSlot(w *sdkWorker, k kind) {
	d.mu.Lock()
	w.busy[k]--
	d.broadcastLocked()
	d.mu.Unlock()
}

// enqueue queues an item for its worker; false when the worker's stream
// has ended.
func (d *dispatcher) enqueue(p *pendingItem) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-p.w.ended:
		return false
	default:
	}
	select {
	case p.w.out <- p:
	default:
		return false // cannot happen: the queue holds the worker's limits
	}
	p.w.items[p.token] = p
	d.pending[p.token] = p
	return true
}

// markSent records that the stream is about to send an item; false for
// an item that has finished already (given up while queued).
func (d *dispatcher) markSent(p *pendingItem) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.finished {
		return false
	}
	p.sent = true
	return true
}

// finish ends an item with an outcome; false when it had ended already.
func (d *dispatcher) finish(p *pendingItem, o outcome) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finishLocked(p, o)
}

func (d *dispatcher) finishLocked(p *pendingItem, o outcome) bool {
	if p.finished {
		return false
	}
	p.finished = true
	delete(d.pending, p.token)
	delete(p.w.items, p.token)
	p.done <- o
	return true
}

// call sends a work item to a worker that accepts it and waits for its
// answer: the worker's response, or its abandon (errAbandoned). An item
// queued for a worker that leaves before it is sent goes to another one.
func (d *dispatcher) call(ctx context.Context, k kind, name, version, instanceID string, taskID int32, item *pb.WorkItem) (proto.Message, error) {
	for {
		w, err := d.acquire(ctx, k, name, version)
		if err != nil {
			return nil, err
		}
		token, err := newToken()
		if err != nil {
			d.releaseSlot(w, k)
			return nil, err
		}
		p := &pendingItem{token: token, kind: k, w: w, instanceID: instanceID, taskID: taskID,
			item: &pb.WorkItem{Request: item.Request, CompletionToken: token}, done: make(chan outcome, 1)}
		if !d.enqueue(p) {
			d.releaseSlot(w, k)
			continue
		}
		var o outcome
		select {
		case o = <-p.done:
		case <-ctx.Done():
			d.finish(p, outcome{err: context.Cause(ctx)})
			o = <-p.done
		}
		d.releaseSlot(w, k)
		switch {
		case errors.Is(o.err, errUnsent):
			continue
		case o.err != nil:
			return nil, o.err
		case o.abandoned:
			return nil, errAbandoned
		}
		return o.resp, nil
	}
}

// answer delivers a worker's answer (resp) or abandon (resp nil) for the
// item of a completion token. The answer must name the item's instance
// (and task, for an activity) and come for the right kind of item.
func (d *dispatcher) answer(k kind, token, instanceID string, taskID int32, resp proto.Message) error {
	if token == "" {
		return statusf(codes.InvalidArgument, "no completion token: the token comes with the work item")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending[token]
	if p == nil {
		return statusf(codes.NotFound, "no %s work item in flight has this completion token: it was answered already, or given up because its worker went away (it runs again elsewhere)", k)
	}
	if p.kind != k {
		return statusf(codes.InvalidArgument, "the completion token is a %s work item's, not an %s work item's", p.kind, k)
	}
	if resp != nil && k != kindEntity && instanceID != p.instanceID {
		return statusf(codes.InvalidArgument, "the answer names instance %q, but the work item is instance %q's", instanceID, p.instanceID)
	}
	if resp != nil && k == kindActivity && taskID != p.taskID {
		return statusf(codes.InvalidArgument, "the answer names task %d, but the work item is task %d of instance %q", taskID, p.taskID, p.instanceID)
	}
	d.finishLocked(p, outcome{resp: resp, abandoned: resp == nil})
	return nil
}

// newToken returns a completion token: 128 random bits, so that a token
// cannot be guessed.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

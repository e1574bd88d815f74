package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

// ownedPartition is a control queue this worker dequeues from.
type ownedPartition struct {
	name   string
	queue  *queues.Queue
	cancel context.CancelFunc
	done   chan struct{}
	// held tracks the messages received and not yet deleted or abandoned,
	// by queue message id, so that a redelivery replaces the pop receipt.
	held map[string]*pending
}

// pending is one message for a session: a received control message, or
// (local set) an activity result handed over in memory by this backend's
// own CompleteActivity, whose raw message is then the activity's work item
// on the work-item queue, deleted when the result is committed.
type pending struct {
	part *ownedPartition
	// q holds raw: the partition's control queue, or the work-item queue
	// for a local result.
	q     *queues.Queue
	raw   *queues.Message
	data  *queues.MessageData
	local bool
	// redelivered is a newer delivery of raw, received while the message
	// was held (its visibility ran out); guarded by Backend.mu. Only the
	// goroutine that holds the message replaces raw with it (current), so
	// that raw is never written while that goroutine reads it.
	redelivered *queues.Message
	// h holds a local result's work item (holds.go); raw is then a copy
	// taken when the result was handed over, whose pop receipt is stale.
	h *hold
}

// session is what the backend keeps about one instance while its
// partition is owned.
type session struct {
	id      string
	part    *ownedPartition
	pending []*pending
	locked  bool
	inReady bool
	// known is set once the history of the current execution was read or
	// written by this backend; the fields below are then valid.
	known    bool
	index    *rules.HistoryIndex
	etag     string
	execID   string
	parentID string
	episodes int
	lastUsed time.Time
}

// lockState is a work item's private part.
type lockState struct {
	s *session
	// msgs are the messages the work item holds: the kept ones, then the
	// last stale ones (rules.DropOnCommit), which go with the commit.
	msgs     []*pending
	stale    int
	newExec  bool
	loaded   []history.Event
	episodes int
	// row is the instance's status row as prepare read it (with its ETag),
	// when the batch holds a top-level start.
	row *tables.InstanceRow
}

// Start acquires the app lease (unless disabled) and starts the partition
// manager; partitions this worker then owns are dequeued in the
// background.
func (b *Backend) Start(ctx context.Context) error {
	if err := b.ensure(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("azurestorage: backend already started")
	}
	b.started, b.stopping = true, false
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.runCtx, b.cancel = runCtx, cancel
	b.mu.Unlock()

	go b.run(runCtx)
	b.loops.Add(1)
	go func() { defer b.loops.Done(); b.sweepSessions(runCtx) }()
	return nil
}

// run waits for the app lease, then runs the partition manager until the
// backend stops or the app lease is lost.
func (b *Backend) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !b.opts.DisableAppLease {
			app, err := partition.NewAppLease(b.opts.Account, b.opts.TaskHub, b.opts.AppName, b.appLeaseOptions())
			if err != nil {
				b.log.Error("azurestorage: app lease", "err", err)
				return
			}
			if err := app.Acquire(ctx); err != nil {
				if ctx.Err() == nil {
					b.log.Error("azurestorage: acquiring the app lease", "err", err)
				}
				return
			}
			b.mu.Lock()
			b.app = app
			b.mu.Unlock()
			b.log.Info("azurestorage: app lease acquired", "app", b.opts.AppName, "leaseId", app.ID())
		}
		mgr, err := b.startManager(ctx)
		if err != nil {
			return // stopping, or invalid options (logged)
		}
		b.mu.Lock()
		b.mgr = mgr
		app := b.app
		b.mu.Unlock()
		if app == nil {
			<-ctx.Done()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-app.Lost():
			b.log.Warn("azurestorage: the app lease was lost; stopping partition management", "err", app.Err())
			stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = mgr.Stop(stopCtx)
			cancel()
			b.mu.Lock()
			b.mgr, b.app = nil, nil
			b.mu.Unlock()
		}
	}
}

func (b *Backend) appLeaseOptions() partition.AppLeaseOptions {
	o := b.opts.AppLease
	o.Client = b.opts.Client
	if o.Logger == nil {
		o.Logger = b.log
	}
	return o
}

func (b *Backend) newManager() (partition.Manager, error) {
	base := partition.Options{WorkerID: b.opts.WorkerID, PartitionCount: b.opts.Partitions, Logger: b.log}
	switch b.opts.PartitionManager {
	case SafeBlobLeases:
		o := b.opts.Blob
		o.Options = mergeOptions(o.Options, base)
		o.Client = b.opts.Client
		return partition.NewBlobManager(b.opts.Account, b.opts.TaskHub, o)
	default:
		o := b.opts.Table
		o.Options = mergeOptions(o.Options, base)
		o.Client = b.opts.Client
		return partition.NewTableManager(b.opts.Account, b.opts.TaskHub, o)
	}
}

func mergeOptions(o, base partition.Options) partition.Options {
	if o.WorkerID == "" {
		o.WorkerID = base.WorkerID
	}
	o.PartitionCount = base.PartitionCount
	if o.Logger == nil {
		o.Logger = base.Logger
	}
	return o
}

// Stop ends partition ownership: gracefully, owned partitions are drained
// and released.
func (b *Backend) Stop(ctx context.Context, graceful bool) error {
	// The work items of activities completed before the stop are deleted
	// first, so that none of them runs again.
	b.fin.wait()
	b.mu.Lock()
	if !b.started {
		b.mu.Unlock()
		return nil
	}
	b.stopping = true
	mgr, app, cancel := b.mgr, b.app, b.cancel
	b.broadcastReadyLocked()
	b.mu.Unlock()
	var err error
	if mgr != nil {
		if graceful {
			err = mgr.Stop(ctx)
		} else {
			stopCtx, c := context.WithTimeout(ctx, time.Millisecond)
			_ = mgr.Stop(stopCtx)
			c()
		}
	}
	if app != nil {
		app.Stop()
	}
	cancel()
	b.mu.Lock()
	parts := make([]*ownedPartition, 0, len(b.parts))
	for _, p := range b.parts {
		parts = append(parts, p)
	}
	b.mu.Unlock()
	for _, p := range parts {
		b.stopPartition(p, false)
	}
	b.loops.Wait()
	b.act.returnUntaken(ctx)
	b.keep.forgetAll()
	b.mu.Lock()
	b.started = false
	b.sessions = map[string]*session{}
	b.ready = nil
	b.mu.Unlock()
	return err
}

type listener struct{ b *Backend }

func (l listener) Acquired(name string) { l.b.acquired(name) }
func (l listener) Lost(name string) {
	l.b.log.Warn("azurestorage: partition lost", "partition", name)
	if p := l.b.partition(name); p != nil {
		l.b.stopPartition(p, false)
	}
}
func (l listener) Drain(ctx context.Context, name string) {
	if p := l.b.partition(name); p != nil {
		l.b.drain(ctx, p)
	}
}

func (b *Backend) partition(name string) *ownedPartition {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.parts[name]
}

func (b *Backend) acquired(name string) {
	var q *queues.Queue
	for _, c := range b.control {
		if c.Name() == name {
			q = c
		}
	}
	if q == nil {
		b.log.Warn("azurestorage: acquired a partition beyond the configured count", "partition", name)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping || b.parts[name] != nil {
		return
	}
	ctx, cancel := context.WithCancel(b.runCtx)
	p := &ownedPartition{name: name, queue: q, cancel: cancel, done: make(chan struct{}), held: map[string]*pending{}}
	b.parts[name] = p
	localOwners.set(b.queueKey(name), b)
	b.log.Info("azurestorage: partition acquired", "partition", name)
	b.loops.Add(1)
	go func() {
		defer b.loops.Done()
		defer close(p.done)
		b.dequeueLoop(ctx, p)
	}()
}

// drain stops dequeuing from p, returns its waiting messages to the queue
// at once (the next owner gets them) and waits until its in-flight work
// items are completed or abandoned.
func (b *Backend) drain(ctx context.Context, p *ownedPartition) {
	p.cancel()
	<-p.done
	for {
		b.mu.Lock()
		busy := false
		for _, s := range b.sessions {
			if s.part == p && s.locked {
				busy = true
			}
		}
		b.mu.Unlock()
		if !busy {
			break
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			b.log.Warn("azurestorage: drain timed out with work in flight", "partition", p.name)
			b.stopPartition(p, true)
			return
		case <-t.C:
		}
	}
	b.stopPartition(p, true)
}

// stopPartition forgets a partition: its dequeue loop stops, unlocked
// sessions are dropped and their messages made visible again (best effort;
// with release=false the lease may already be someone else's, whose
// receives then win anyway).
func (b *Backend) stopPartition(p *ownedPartition, release bool) {
	p.cancel()
	<-p.done
	var giveBack []*pending
	b.mu.Lock()
	if b.parts[p.name] == p {
		delete(b.parts, p.name)
		localOwners.drop(b.queueKey(p.name), b)
	}
	for id, s := range b.sessions {
		if s.part != p {
			continue
		}
		giveBack = append(giveBack, s.pending...)
		b.buffered -= len(s.pending)
		s.pending = nil
		if !s.locked {
			delete(b.sessions, id)
		}
	}
	b.signalBufferLocked()
	b.mu.Unlock()
	b.current(giveBack)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range giveBack {
		if m.local {
			b.spill(ctx, m, 0)
			continue
		}
		if _, _, err := m.q.UpdateVisibility(ctx, m.raw.ID, m.raw.PopReceipt, m.raw.Text, 0); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			b.log.Debug("azurestorage: returning a message to its queue", "err", err)
		}
	}
	b.log.Info("azurestorage: partition stopped", "partition", p.name, "released", release)
}

// dequeueLoop receives control messages of one partition into sessions.
func (b *Backend) dequeueLoop(ctx context.Context, p *ownedPartition) {
	poller, err := queues.NewPoller(p.queue, &queues.PollerOptions{BatchSize: b.opts.ControlQueueBatchSize,
		Visibility: b.opts.ControlQueueVisibility, MaxInterval: b.opts.MaxPollingInterval, Wakeups: b.wake, Logger: b.log,
		WaitCap: b.act.busyCap})
	if err != nil {
		b.log.Error("azurestorage: poller", "err", err)
		return
	}
	for ctx.Err() == nil {
		if !b.waitBuffer(ctx) {
			return
		}
		msgs, err := poller.Next(ctx)
		if err != nil {
			return
		}
		// Messages received together are filed together, so that one
		// batch holds all of them (a start and its terminate, say). A
		// receive that finished after the partition stopped (the poller
		// does not cut one off) is filed all the same, to be given back
		// by stopPartition, so nothing it got stays hidden for the
		// visibility.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		got := make([]*pending, 0, len(msgs))
		for _, m := range msgs {
			if pm := b.receive(rctx, p, m); pm != nil {
				got = append(got, pm)
			}
		}
		cancel()
		b.mu.Lock()
		for _, pm := range got {
			p.held[pm.raw.ID] = pm
			b.fileLocked(pm.data.TaskMessage.OrchestrationInstance.InstanceID, pm)
		}
		b.mu.Unlock()
	}
}

// waitBuffer holds receives while too many control messages wait in memory.
func (b *Backend) waitBuffer(ctx context.Context) bool {
	for {
		b.mu.Lock()
		if b.buffered < b.opts.ControlQueueBufferThreshold {
			b.mu.Unlock()
			return true
		}
		ch := b.bufCh
		b.mu.Unlock()
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func (b *Backend) signalBufferLocked() {
	close(b.bufCh)
	b.bufCh = make(chan struct{})
}

// receive decodes one control message for its session (the caller files
// it). A message received more than MaxDequeueCount times, or one that will
// never decode, is quarantined; one whose large-message blob could not be
// read is put back with back-off; nil is returned for those and for a
// redelivery of a message still held.
func (b *Backend) receive(ctx context.Context, p *ownedPartition, m *queues.Message) *pending {
	b.mu.Lock()
	if old, ok := p.held[m.ID]; ok {
		// Redelivered while still held (its visibility ran out): keep the
		// newer pop receipt, deliver it once. This receive was no attempt
		// to process it, so it does not make the message poison.
		old.redelivered = m
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	if max := b.maxDequeue(); provider.Poisoned(int(m.DequeueCount), max) {
		data, _ := b.codec.Decode(ctx, m.Text)
		b.quarantineReceived(ctx, p.queue, m, data, provider.PoisonReason(int(m.DequeueCount), max))
		return nil
	}
	data, err := b.codec.Decode(ctx, m.Text)
	if err == nil && data.TaskMessage == nil {
		err = fmt.Errorf("%w: the envelope carries no TaskMessage", errNotAnEnvelope)
	}
	if err != nil {
		if permanentDecodeError(err) && b.maxDequeue() > 0 {
			b.quarantineReceived(ctx, p.queue, m, nil, provider.UndecodableReason(err))
			return nil
		}
		b.log.Warn("azurestorage: cannot decode a control message; putting it back", "queue", p.queue.Name(),
			"message", m.ID, "dequeueCount", m.DequeueCount, "err", err)
		if aerr := p.queue.Abandon(ctx, m); aerr != nil && !errors.Is(aerr, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: abandoning an undecodable message", "err", aerr)
		}
		return nil
	}
	return &pending{part: p, q: p.queue, raw: m, data: data}
}

// fileLocked adds a message to its instance's session and makes the
// session ready unless it is locked.
func (b *Backend) fileLocked(id string, pm *pending) {
	p := pm.part
	s := b.sessions[id]
	if s == nil || s.part != p {
		s = &session{id: id, part: p}
		b.sessions[id] = s
	}
	s.pending = append(s.pending, pm)
	s.lastUsed = time.Now()
	b.buffered++
	if !s.locked && !s.inReady {
		s.inReady = true
		b.ready = append(b.ready, s)
		b.broadcastReadyLocked()
	}
}

func (b *Backend) broadcastReadyLocked() {
	close(b.readyCh)
	b.readyCh = make(chan struct{})
}

// LockNextOrchestration waits for an instance with new messages, applies
// the message rules and returns the work item.
func (b *Backend) LockNextOrchestration(ctx context.Context) (*provider.OrchestrationWorkItem, error) {
	for {
		s, msgs, err := b.nextSession(ctx)
		if err != nil {
			return nil, err
		}
		wi, err := b.prepare(ctx, s, msgs)
		if err != nil {
			b.prepareFailed(ctx, s, msgs, err)
			continue
		}
		if wi != nil {
			return wi, nil
		}
		b.unlock(s, true)
	}
}

// nextSession pops a ready session, locks it and takes its next batch: the
// messages up to (not including) a second ExecutionStarted, sorted by queue
// insertion time and then the sender's sequence number.
//
// A cancelled ctx takes nothing, also when a session is ready: a worker that
// is stopping must not start a new episode (select would pick a ready
// session as readily as the cancellation).
func (b *Backend) nextSession(ctx context.Context) (*session, []*pending, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		b.mu.Lock()
		if b.stopping || !b.started {
			b.mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			return nil, nil, errors.New("azurestorage: backend stopped")
		}
		for len(b.ready) > 0 {
			s := b.ready[0]
			b.ready = b.ready[1:]
			s.inReady = false
			if s.locked || len(s.pending) == 0 || b.sessions[s.id] != s {
				continue
			}
			s.locked = true
			msgs := takeBatch(s)
			b.buffered -= len(msgs)
			b.signalBufferLocked()
			b.mu.Unlock()
			return s, msgs, nil
		}
		ch := b.readyCh
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-ch:
		}
	}
}

func takeBatch(s *session) []*pending {
	sort.SliceStable(s.pending, func(i, j int) bool {
		a, c := s.pending[i], s.pending[j]
		ai, ci := a.raw.InsertionTime.Truncate(time.Second), c.raw.InsertionTime.Truncate(time.Second)
		if !ai.Equal(ci) {
			return ai.Before(ci)
		}
		return a.data.SequenceNumber < c.data.SequenceNumber
	})
	n := len(s.pending)
	for i := 1; i < len(s.pending); i++ {
		if _, ok := s.pending[i].data.TaskMessage.Event.(*history.ExecutionStartedEvent); ok {
			n = i
			break
		}
	}
	batch := append([]*pending(nil), s.pending[:n]...)
	s.pending = append([]*pending(nil), s.pending[n:]...)
	return batch
}

// unlock releases a session; with more messages waiting it is ready again.
func (b *Backend) unlock(s *session, keepKnowledge bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.locked = false
	s.lastUsed = time.Now()
	if !keepKnowledge {
		s.known = false
	}
	if len(s.pending) > 0 && !s.inReady && b.sessions[s.id] == s {
		s.inReady = true
		b.ready = append(b.ready, s)
		b.broadcastReadyLocked()
	}
	if b.sessions[s.id] != s {
		return
	}
	if _, owned := b.parts[s.part.name]; !owned && len(s.pending) == 0 {
		delete(b.sessions, s.id)
	}
}

// sweepSessions drops sessions that had no messages for the idle timeout.
func (b *Backend) sweepSessions(ctx context.Context) {
	t := time.NewTicker(b.opts.SessionIdleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cutoff := time.Now().Add(-b.opts.SessionIdleTimeout)
			b.mu.Lock()
			for id, s := range b.sessions {
				if !s.locked && len(s.pending) == 0 && s.lastUsed.Before(cutoff) {
					delete(b.sessions, id)
				}
			}
			b.mu.Unlock()
		}
	}
}

// current makes each held message's raw its latest delivery, whose pop
// receipt is the one that works. Call it from the goroutine that holds
// msgs, before using their pop receipts.
func (b *Backend) current(msgs []*pending) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		if m.redelivered != nil {
			m.raw, m.redelivered = m.redelivered, nil
		}
	}
}

// forget removes messages from their partition's held set.
func (b *Backend) forget(msgs []*pending) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		if m.part.held[m.raw.ID] == m {
			delete(m.part.held, m.raw.ID)
		}
	}
}

func (b *Backend) deleteMessages(ctx context.Context, msgs []*pending) {
	b.current(msgs)
	forEach(ctx, len(msgs), 16, func(ctx context.Context, i int) {
		m := msgs[i]
		var err error
		if m.h != nil {
			err = m.h.delete(ctx)
		} else {
			err = m.q.Delete(ctx, m.raw.ID, m.raw.PopReceipt)
		}
		if err != nil && !errors.Is(err, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: deleting a processed message", "message", m.raw.ID, "err", err)
		}
	})
	b.forget(msgs)
}

// abandonPending makes messages visible again after delay (0: C#'s
// back-off for their dequeue count).
func (b *Backend) abandonPending(ctx context.Context, msgs []*pending, delay time.Duration) {
	b.current(msgs)
	ctx = context.WithoutCancel(ctx)
	forEach(ctx, len(msgs), 16, func(ctx context.Context, i int) {
		m := msgs[i]
		d := delay
		if d <= 0 {
			d = provider.AbandonDelay(int(m.raw.DequeueCount))
		}
		if m.local {
			b.spill(ctx, m, d)
			return
		}
		if _, _, err := m.q.UpdateVisibility(ctx, m.raw.ID, m.raw.PopReceipt, m.raw.Text, d); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: abandoning a message", "message", m.raw.ID, "err", err)
		}
	})
	b.forget(msgs)
}

func forEach(ctx context.Context, n, limit int, f func(context.Context, int)) {
	if n == 0 {
		return
	}
	sem := make(chan struct{}, limit)
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; done <- struct{}{} }()
			f(ctx, i)
		}(i)
	}
	for i := 0; i < n; i++ {
		<-done
	}
}

func (b *Backend) lockOf(wi *provider.OrchestrationWorkItem) (*lockState, error) {
	ls, ok := wi.Private.(*lockState)
	if !ok || ls == nil {
		return nil, fmt.Errorf("azurestorage: work item for %q was not issued by this backend", wi.InstanceID)
	}
	return ls, nil
}

package memory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
)

// orchLease is the backend's side of an orchestration work item: the
// messages it holds (with their pop receipts) and the instance lock.
type orchLease struct {
	b            *Backend
	id           string
	msgs         []*message
	receipts     []uint64
	expires      time.Time
	newExecution bool // the work item runs against an empty history
	done         bool // completed or abandoned by its holder
	released     bool // abandoned by Stop
}

func (l *orchLease) activeAt(now time.Time) bool {
	return !l.done && !l.released && now.Before(l.expires)
}

// LockNextOrchestration waits for the next orchestration work item (after
// Start), or until ctx is done. Work items are formed as described in the
// package documentation; History is always filled.
func (b *Backend) LockNextOrchestration(ctx context.Context) (*provider.OrchestrationWorkItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &orchWaiter{ch: make(chan *provider.OrchestrationWorkItem, 1)}
	b.mu.Lock()
	if b.state == stopped {
		b.mu.Unlock()
		return nil, ErrStopped
	}
	b.orchWaiters = append(b.orchWaiters, w)
	b.kickLocked()
	b.mu.Unlock()
	select {
	case wi, ok := <-w.ch:
		if !ok {
			return nil, ErrStopped
		}
		return wi, nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	for i, x := range b.orchWaiters {
		if x == w {
			b.orchWaiters = append(b.orchWaiters[:i], b.orchWaiters[i+1:]...)
			b.kickLocked()
			b.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	b.mu.Unlock()
	// A work item (or the stop signal) was handed over just as ctx ended.
	if wi, ok := <-w.ch; ok {
		return wi, nil
	}
	return nil, ErrStopped
}

// nextOrchestrationLocked forms the next work item, looking at the
// partitions in turn.
func (b *Backend) nextOrchestrationLocked(now time.Time) *provider.OrchestrationWorkItem {
	n := len(b.parts)
	for i := range n {
		p := (b.rr + i) % n
		for {
			ib := b.pickInboxLocked(p, now)
			if ib == nil {
				break
			}
			// Every message of a batch that yields no work item was
			// deleted or put out of sight, so this loop ends.
			if wi := b.formWorkItemLocked(ib, now); wi != nil {
				b.rr = (p + 1) % n
				return wi
			}
		}
	}
	return nil
}

// pickInboxLocked returns the unlocked instance of partition p whose
// oldest visible message is the oldest of all.
func (b *Backend) pickInboxLocked(p int, now time.Time) *inbox {
	var best *inbox
	var bestSeq uint64
	for id, ib := range b.parts[p] {
		if l := b.locks[id]; l != nil && l.activeAt(now) {
			continue
		}
		for _, m := range ib.msgs {
			if !m.visibleAt.After(now) {
				if best == nil || m.seq < bestSeq {
					best, bestSeq = ib, m.seq
				}
				break
			}
		}
	}
	return best
}

// selectBatchLocked takes the instance's visible messages in insertion
// order up to MaxBatch. An ExecutionStarted opens a batch of its own, and
// a message naming another execution than the batch's ends it, so the
// rest waits for the next work item (C# groups by execution id too).
func (b *Backend) selectBatchLocked(ib *inbox, now time.Time) []*message {
	var out []*message
	execID := ""
	for _, m := range ib.msgs {
		if m.visibleAt.After(now) {
			continue
		}
		if _, isStart := m.tm.Event.(*history.ExecutionStartedEvent); isStart && len(out) > 0 {
			break
		}
		if id := m.tm.OrchestrationInstance.ExecutionID; id != "" {
			if execID == "" {
				execID = id
			} else if !strings.EqualFold(id, execID) {
				break
			}
		}
		out = append(out, m)
		if len(out) == b.opts.MaxBatch {
			break
		}
	}
	return out
}

// formWorkItemLocked receives a batch, applies DedupeStart and Triage, and
// returns a work item if any message is kept.
func (b *Backend) formWorkItemLocked(ib *inbox, now time.Time) *provider.OrchestrationWorkItem {
	batch := b.selectBatchLocked(ib, now)
	if b.opts.Faults.Shuffle {
		b.shuffleLocked(batch)
	}
	kept := batch[:0:0]
	for _, m := range batch {
		b.receiveLocked(m, now)
		if max := b.maxDequeue(); provider.Poisoned(m.dequeues, max) {
			b.quarantineLocked(m, provider.PoisonReason(m.dequeues, max), now, true)
			continue
		}
		kept = append(kept, m)
	}
	batch = kept
	id := ib.id
	inst := b.instances[id]
	var row *history.OrchestrationState
	var hist []history.Event
	etag := ""
	if inst != nil {
		row, hist, etag = inst.row, inst.hist, inst.etag
	}

	var candidates []*message
	for _, m := range batch {
		if es, ok := m.tm.Event.(*history.ExecutionStartedEvent); ok && rules.NeedsStartDedupe(m.tm, m.sender) {
			// C# takes "re-inserted at" as next-visible minus the
			// visibility timeout, which for a message just received is now.
			v, why := rules.DedupeStart(row, es, m.dequeues, m.visibleAt.Add(-b.opts.LockDuration))
			if v != rules.Keep {
				b.applyVerdictLocked(m, v, why, now)
				continue
			}
		}
		candidates = append(candidates, m)
	}

	x := rules.NewHistoryIndex(hist)
	in := make([]rules.Incoming, len(candidates))
	for i, m := range candidates {
		in[i] = rules.Incoming{TaskMessage: m.tm, DequeueCount: m.dequeues, Sender: m.sender}
	}
	res := rules.Triage(x, in)
	var stale []*message
	for _, d := range res.Decisions {
		switch d.Verdict {
		case rules.Keep:
		case rules.DropOnCommit:
			// Held with the work item, deleted by its commit.
			stale = append(stale, candidates[d.Index])
			b.log.Info("memory: dropping message when the episode commits", "instance", id, "event", candidates[d.Index].tm.Event.Type().String(),
				"message", candidates[d.Index].id, "reason", d.Reason)
		default:
			b.applyVerdictLocked(candidates[d.Index], d.Verdict, d.Reason, now)
		}
	}
	if t := res.TerminateWithoutHistory; t != nil {
		b.terminateWithoutHistoryLocked(id, inst, t, now)
	}
	if x.Started && x.Status.IsTerminal() && !res.NewExecution {
		b.repairLocked(id, inst, x)
	}
	if len(res.Kept) == 0 {
		return nil
	}

	workMsgs := make([]*provider.Message, len(res.Kept))
	lease := &orchLease{b: b, id: id, expires: now.Add(b.opts.LockDuration), newExecution: res.NewExecution}
	for i, k := range res.Kept {
		m := candidates[k]
		workMsgs[i] = &provider.Message{TaskMessage: shallowMessage(m.tm), ID: m.id, DequeueCount: m.dequeues, Sender: m.sender}
		lease.msgs = append(lease.msgs, m)
		lease.receipts = append(lease.receipts, m.receipt)
	}
	for _, m := range stale {
		lease.msgs = append(lease.msgs, m)
		lease.receipts = append(lease.receipts, m.receipt)
	}
	b.locks[id] = lease
	b.orchLeases[lease] = struct{}{}
	wi := &provider.OrchestrationWorkItem{InstanceID: id, Messages: workMsgs, HistoryETag: etag,
		Partition: b.names.ControlQueue(ib.part), Private: lease, NewExecution: res.NewExecution || !x.Started}
	if res.NewExecution {
		wi.History = []history.Event{}
	} else {
		wi.ExecutionID = x.ExecutionID
		wi.History = shallowEvents(hist)
		wi.HistoryLen = len(hist)
	}
	return wi
}

// applyVerdictLocked deletes (Drop) or puts back (Abandon) a received
// message and logs why.
func (b *Backend) applyVerdictLocked(m *message, v rules.Verdict, why string, now time.Time) {
	attrs := []any{"instance", m.tm.OrchestrationInstance.InstanceID, "event", m.tm.Event.Type().String(),
		"message", m.id, "dequeueCount", m.dequeues, "reason", why}
	switch v {
	case rules.Drop:
		b.deleteLocked(m, m.receipt)
		b.stats.Dropped++
		level := slog.LevelInfo
		if strings.HasPrefix(why, "no such instance") || strings.Contains(why, "deliveries") {
			level = slog.LevelWarn
		}
		b.log.Log(context.Background(), level, "memory: dropping message", attrs...)
	case rules.Abandon:
		delay := provider.AbandonDelay(m.dequeues)
		b.releaseLocked(m, m.receipt, now.Add(delay))
		b.stats.Abandoned++
		if delay >= 600*time.Second {
			b.log.Warn("memory: poison message: abandoned at the longest back-off; it is retried, never deleted", append(attrs, "retryIn", delay)...)
		} else {
			b.log.Info("memory: abandoning message", append(attrs, "retryIn", delay)...)
		}
	}
}

// terminateWithoutHistoryLocked marks a Pending or scheduled instance
// Terminated (tables spec §2.3.4).
func (b *Backend) terminateWithoutHistoryLocked(id string, inst *instance, t *history.ExecutionTerminatedEvent, now time.Time) {
	if inst == nil || inst.row == nil {
		b.log.Warn("memory: terminate for an instance without history or status row; nothing to mark (C# fails the merge with 404)", "instance", id)
		return
	}
	row := rules.TerminatedBeforeHistory(inst.row, t, now).State
	row.Output = clonePtr(row.Output)
	b.log.Info("memory: instance terminated before it had history", "instance", id, "reason", history.Deref(t.Input))
}

// repairLocked rewrites a stale status row from a terminal history
// (tables spec §2.3.3): when the row is missing, or belongs to the same
// execution but shows another status.
func (b *Backend) repairLocked(id string, inst *instance, x *rules.HistoryIndex) {
	row := inst.row
	if !rules.NeedsRepair(row, x.ExecutionID, x.Status) {
		return
	}
	var started *history.ExecutionStartedEvent
	var completed *history.ExecutionCompletedEvent
	for _, ev := range inst.hist {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			started = v
		case *history.ExecutionCompletedEvent:
			completed = v
		}
	}
	if started == nil || completed == nil {
		return
	}
	var custom *string
	if row != nil {
		custom = row.CustomStatus
	}
	st := rules.Repair(cloneState(row), id, x.ExecutionID, started, completed, inst.hist[len(inst.hist)-1].Base().Timestamp,
		custom, row != nil).State
	b.log.Info("memory: repairing a stale status row from terminal history", "instance", id, "status", x.Status.String(),
		"rowMissing", row == nil)
	inst.row = st
}

// orchLeaseOf returns the lease of a work item handed out by b.
func (b *Backend) orchLeaseOf(wi *provider.OrchestrationWorkItem) (*orchLease, error) {
	if wi == nil {
		return nil, ErrForeignWorkItem
	}
	l, ok := wi.Private.(*orchLease)
	if !ok || l.b != b || l.id != wi.InstanceID {
		return nil, ErrForeignWorkItem
	}
	return l, nil
}

// LoadHistory fills wi.History (empty for a work item that starts a new
// execution). It fails with provider.ErrLockLost if the stored history's
// ETag is no longer wi.HistoryETag.
func (b *Backend) LoadHistory(ctx context.Context, wi *provider.OrchestrationWorkItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return err
	}
	inst := b.instances[wi.InstanceID]
	if cur := etagOf(inst); cur != wi.HistoryETag {
		return fmt.Errorf("memory: load history of %q: stored ETag %q, work item holds %q: %w", wi.InstanceID, cur, wi.HistoryETag, provider.ErrLockLost)
	}
	if l.newExecution || inst == nil {
		wi.History, wi.HistoryLen = []history.Event{}, 0
		return nil
	}
	wi.History, wi.HistoryLen, wi.ExecutionID = shallowEvents(inst.hist), len(inst.hist), inst.execID
	return nil
}

func etagOf(inst *instance) string {
	if inst == nil {
		return ""
	}
	return inst.etag
}

// RenewOrchestration extends the lock of the work item's messages and of
// its instance by the lock duration. It fails with ErrMessageGone if the
// lock expired and another work item took the instance, or Stop released
// it.
func (b *Backend) RenewOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return ErrForeignWorkItem
	}
	if l.released || b.locks[l.id] != l {
		return fmt.Errorf("memory: renew %q: %w", l.id, ErrMessageGone)
	}
	until := b.clock.Now().Add(b.opts.LockDuration)
	l.expires = until
	for i, m := range l.msgs {
		b.renewLocked(m, l.receipts[i], until)
	}
	return nil
}

// AbandonOrchestration unlocks the instance and makes the work item's
// messages visible again after delay (0 for negative delays; delays over
// 7 days are refused).
func (b *Backend) AbandonOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, delay time.Duration) error {
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return err
	}
	if delay, err = checkDelay(delay); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return ErrForeignWorkItem
	}
	at := b.clock.Now().Add(delay)
	for i, m := range l.msgs {
		b.releaseLocked(m, l.receipts[i], at)
	}
	b.endOrchLeaseLocked(l)
	b.kickLocked()
	return nil
}

func (b *Backend) endOrchLeaseLocked(l *orchLease) {
	l.done = true
	delete(b.orchLeases, l)
	if b.locks[l.id] == l {
		delete(b.locks, l.id)
	}
}

package memory

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// actLease is the backend's side of an activity work item.
type actLease struct {
	b        *Backend
	msg      *message
	receipt  uint64
	expires  time.Time
	done     bool
	released bool
}

func (l *actLease) activeAt(now time.Time) bool {
	return !l.done && !l.released && now.Before(l.expires)
}

// LockNextActivity waits for the next activity work item (one message), or
// until ctx is done. It does not need Start; after Stop it returns
// ErrStopped.
func (b *Backend) LockNextActivity(ctx context.Context) (*provider.ActivityWorkItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &actWaiter{ch: make(chan *provider.ActivityWorkItem, 1)}
	b.mu.Lock()
	if b.state == stopped {
		b.mu.Unlock()
		return nil, ErrStopped
	}
	b.actWaiters = append(b.actWaiters, w)
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
	for i, x := range b.actWaiters {
		if x == w {
			b.actWaiters = append(b.actWaiters[:i], b.actWaiters[i+1:]...)
			b.kickLocked()
			b.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	b.mu.Unlock()
	if wi, ok := <-w.ch; ok {
		return wi, nil
	}
	return nil, ErrStopped
}

// nextActivityLocked receives the oldest visible activity message.
func (b *Backend) nextActivityLocked(now time.Time) *provider.ActivityWorkItem {
	for _, m := range b.activities {
		if m.visibleAt.After(now) {
			continue
		}
		ts, ok := m.tm.Event.(*history.TaskScheduledEvent)
		if !ok {
			continue // routing puts only TaskScheduled here
		}
		receipt := b.receiveLocked(m, now)
		if provider.Poisoned(m.dequeues, b.maxDequeue()) {
			b.poisonedActivityLocked(m, ts, now)
			return b.nextActivityLocked(now)
		}
		l := &actLease{b: b, msg: m, receipt: receipt, expires: now.Add(b.opts.LockDuration)}
		b.actLeases[l] = struct{}{}
		wi := &provider.ActivityWorkItem{ID: m.id, Instance: m.tm.OrchestrationInstance,
			Event: shallowEvent(ts).(*history.TaskScheduledEvent), DequeueCount: m.dequeues,
			Episode: clonePtr(m.episode), Private: l}
		if c := m.tm.OrchestrationExecutionContext; c != nil {
			wi.Tags = maps.Clone(c.OrchestrationTags)
		}
		return wi
	}
	return nil
}

func (b *Backend) actLeaseOf(wi *provider.ActivityWorkItem) (*actLease, error) {
	if wi == nil {
		return nil, ErrForeignWorkItem
	}
	l, ok := wi.Private.(*actLease)
	if !ok || l.b != b {
		return nil, ErrForeignWorkItem
	}
	return l, nil
}

// RenewActivity extends the work item's lock by the lock duration. It
// fails with ErrMessageGone if the lock expired and the message was
// received again, or Stop released it.
func (b *Backend) RenewActivity(ctx context.Context, wi *provider.ActivityWorkItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := b.actLeaseOf(wi)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return ErrForeignWorkItem
	}
	until := b.clock.Now().Add(b.opts.LockDuration)
	if l.released || !b.renewLocked(l.msg, l.receipt, until) {
		return fmt.Errorf("memory: renew activity %s: %w", l.msg.id, ErrMessageGone)
	}
	l.expires = until
	return nil
}

// CompleteActivity sends the result (a *history.TaskCompletedEvent or
// *history.TaskFailedEvent answering the work item's task id) to the
// orchestration's partition, with the work item's OrchestrationInstance,
// Sender = the orchestration and the work item's Episode (-1 if it had
// none), then deletes the work item. If the work item's message was
// received again meanwhile, the result is still sent (the duplicate is
// dropped by the message rules) and the call succeeds.
func (b *Backend) CompleteActivity(ctx context.Context, wi *provider.ActivityWorkItem, result history.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := b.actLeaseOf(wi)
	if err != nil {
		return err
	}
	want := l.msg.tm.Event.Base().EventID
	switch ev := result.(type) {
	case *history.TaskCompletedEvent:
		if ev.TaskScheduledID != want {
			return fmt.Errorf("memory: activity result answers task %d, the work item is task %d", ev.TaskScheduledID, want)
		}
	case *history.TaskFailedEvent:
		if ev.TaskScheduledID != want {
			return fmt.Errorf("memory: activity result answers task %d, the work item is task %d", ev.TaskScheduledID, want)
		}
	default:
		return fmt.Errorf("memory: an activity result must be TaskCompleted or TaskFailed, not %T", result)
	}
	orch := l.msg.tm.OrchestrationInstance
	tm, err := normalizeMessage(&history.TaskMessage{Event: result, OrchestrationInstance: orch})
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return ErrForeignWorkItem
	}
	if err := b.hubLocked(); err != nil {
		return err
	}
	episode := int32(-1)
	if l.msg.episode != nil {
		episode = *l.msg.episode
	}
	b.enqueueLocked(tm, false, orch, &episode, originActivity(l.msg.id), b.clock.Now())
	if b.drawCrashLocked([]CrashPoint{AfterActivityResult}) == AfterActivityResult {
		b.stats.Crashes++
		b.kickLocked()
		b.log.Info("memory: injected crash after sending an activity result", "instance", orch.InstanceID, "message", l.msg.id)
		return &CrashError{Point: AfterActivityResult, InstanceID: orch.InstanceID}
	}
	if !b.deleteLocked(l.msg, l.receipt) {
		b.log.Warn("memory: activity message was no longer held when its result was sent; it will run again",
			"instance", orch.InstanceID, "message", l.msg.id)
	}
	b.endActLeaseLocked(l)
	b.kickLocked()
	return nil
}

// AbandonActivity makes the work item visible again after delay (0 for
// negative delays; delays over 7 days are refused).
func (b *Backend) AbandonActivity(ctx context.Context, wi *provider.ActivityWorkItem, delay time.Duration) error {
	l, err := b.actLeaseOf(wi)
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
	b.releaseLocked(l.msg, l.receipt, b.clock.Now().Add(delay))
	b.endActLeaseLocked(l)
	b.kickLocked()
	return nil
}

func (b *Backend) endActLeaseLocked(l *actLease) {
	l.done = true
	delete(b.actLeases, l)
}

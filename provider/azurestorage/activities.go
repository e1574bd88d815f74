package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
)

// activityFetcher receives work items only for callers that are waiting
// (C# receives one per free slot), so no message sits locked in memory
// while the worker is busy, and one back-off governs the idle queue.
type activityFetcher struct {
	b       *Backend
	mu      sync.Mutex
	waiting int
	items   []*provider.ActivityWorkItem
	notify  chan struct{}
	running bool
	// local counts the items (and reservations) scheduled by this
	// backend's own episodes that no caller has taken yet.
	local int
}

type activityLock struct {
	raw *queues.Message
	// local marks a work item this backend enqueued hidden for itself.
	local bool
}

func newActivityFetcher(b *Backend) *activityFetcher {
	return &activityFetcher{b: b, notify: make(chan struct{})}
}

func (f *activityFetcher) broadcastLocked() {
	close(f.notify)
	f.notify = make(chan struct{})
}

// LockNextActivity waits for the next activity work item.
func (b *Backend) LockNextActivity(ctx context.Context) (*provider.ActivityWorkItem, error) {
	if err := b.ensure(ctx); err != nil {
		return nil, err
	}
	f := b.act
	f.mu.Lock()
	f.waiting++
	if !f.running {
		f.running = true
		go f.loop()
	}
	f.broadcastLocked()
	defer func() { f.mu.Lock(); f.waiting--; f.mu.Unlock() }()
	for {
		if len(f.items) > 0 {
			wi := f.items[0]
			f.items = f.items[1:]
			if l, _ := wi.Private.(*activityLock); l != nil && l.local {
				f.local--
			}
			f.mu.Unlock()
			return wi, nil
		}
		ch := f.notify
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			// A work item fetched meanwhile stays for the next caller.
			return nil, ctx.Err()
		case <-ch:
		}
		f.mu.Lock()
	}
}

// loop receives as many work items as callers wait for, backing off while
// the queue is empty, and exits after a while without callers.
func (f *activityFetcher) loop() {
	b := f.b
	backoff := queues.NewBackoff(b.opts.MaxPollingInterval, nil)
	idleSince := time.Now()
	for {
		f.mu.Lock()
		want := f.waiting - len(f.items)
		if want <= 0 {
			if f.waiting == 0 && len(f.items) == 0 && time.Since(idleSince) > 5*time.Second {
				f.running = false
				f.mu.Unlock()
				return
			}
			ch := f.notify
			f.mu.Unlock()
			t := time.NewTimer(time.Second)
			select {
			case <-ch:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		idleSince = time.Now()
		f.mu.Unlock()
		wake := b.wake.C(b.workitems.Name())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		msgs, err := b.workitems.Receive(ctx, min(want, taskhub.MaxReceiveBatch), b.opts.WorkItemVisibility)
		cancel()
		if err != nil {
			b.log.Warn("azurestorage: receiving activity work items", "err", err)
		}
		if len(msgs) == 0 {
			d := backoff.Next()
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-wake:
				backoff.Reset()
			}
			t.Stop()
			continue
		}
		backoff.Reset()
		var got []*provider.ActivityWorkItem
		for _, m := range msgs {
			if wi := b.activityItem(m); wi != nil {
				got = append(got, wi)
			}
		}
		f.mu.Lock()
		f.items = append(f.items, got...)
		f.broadcastLocked()
		f.mu.Unlock()
	}
}

// activityItem decodes a work-item message. One received more than
// MaxDequeueCount times, or one that will never decode, is quarantined
// (failing its task when it names one); one whose large-message blob could
// not be read is put back with back-off.
func (b *Backend) activityItem(m *queues.Message) *provider.ActivityWorkItem {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if max := b.maxDequeue(); provider.Poisoned(int(m.DequeueCount), max) {
		data, _ := b.codec.Decode(ctx, m.Text)
		b.quarantineReceived(ctx, b.workitems, m, data, provider.PoisonReason(int(m.DequeueCount), max))
		return nil
	}
	data, err := b.codec.Decode(ctx, m.Text)
	var ts *history.TaskScheduledEvent
	if err == nil {
		if data.TaskMessage == nil {
			err = fmt.Errorf("%w: the envelope carries no TaskMessage", errNotAnEnvelope)
		} else if ts, _ = data.TaskMessage.Event.(*history.TaskScheduledEvent); ts == nil {
			err = fmt.Errorf("%w: a %s event on the work-item queue", errNotAnEnvelope, data.TaskMessage.Event.Type())
		}
	}
	if err != nil {
		if permanentDecodeError(err) && b.maxDequeue() > 0 {
			b.quarantineReceived(ctx, b.workitems, m, nil, provider.UndecodableReason(err))
			return nil
		}
		b.log.Warn("azurestorage: cannot decode an activity work item; putting it back", "message", m.ID,
			"dequeueCount", m.DequeueCount, "err", err)
		if aerr := b.workitems.Abandon(ctx, m); aerr != nil && !errors.Is(aerr, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: abandoning an undecodable work item", "err", aerr)
		}
		return nil
	}
	wi := &provider.ActivityWorkItem{ID: m.ID, Instance: data.TaskMessage.OrchestrationInstance, Event: ts,
		DequeueCount: int(m.DequeueCount), Episode: data.Episode, Private: &activityLock{raw: m}}
	if c := data.TaskMessage.OrchestrationExecutionContext; c != nil {
		wi.Tags = c.OrchestrationTags
	}
	return wi
}

func activityLockOf(wi *provider.ActivityWorkItem) (*activityLock, error) {
	l, ok := wi.Private.(*activityLock)
	if !ok {
		return nil, errors.New("azurestorage: activity work item was not issued by this backend")
	}
	return l, nil
}

// RenewActivity extends the work item's visibility.
func (b *Backend) RenewActivity(ctx context.Context, wi *provider.ActivityWorkItem) error {
	l, err := activityLockOf(wi)
	if err != nil {
		return err
	}
	pop, next, err := b.workitems.UpdateVisibility(ctx, l.raw.ID, l.raw.PopReceipt, l.raw.Text, b.opts.WorkItemVisibility)
	if err != nil {
		return err
	}
	l.raw.PopReceipt, l.raw.NextVisible = pop, next
	return nil
}

// CompleteActivity sends the result to the orchestration's control queue,
// then deletes the work item (C#'s order).
func (b *Backend) CompleteActivity(ctx context.Context, wi *provider.ActivityWorkItem, result history.Event) error {
	l, err := activityLockOf(wi)
	if err != nil {
		return err
	}
	switch result.(type) {
	case *history.TaskCompletedEvent, *history.TaskFailedEvent:
	default:
		return fmt.Errorf("azurestorage: an activity result must be TaskCompleted or TaskFailed, not %s", result.Type())
	}
	ep := wi.Episode
	if ep == nil {
		minus := int32(-1)
		ep = &minus
	}
	tm := &history.TaskMessage{Event: result, OrchestrationInstance: wi.Instance}
	m := b.envelope(tm, ep, queues.Sender{InstanceID: wi.Instance.InstanceID, ExecutionID: wi.Instance.ExecutionID})
	if b.deliverLocally(l, m) {
		return nil
	}
	if _, err := b.codec.Send(ctx, b.controlQueueFor(wi.Instance.InstanceID), m, 0); err != nil {
		return fmt.Errorf("azurestorage: sending the activity result: %w", err)
	}
	if err := b.workitems.Delete(ctx, l.raw.ID, l.raw.PopReceipt); err != nil && !errors.Is(err, queues.ErrMessageGone) {
		return fmt.Errorf("azurestorage: deleting the work item: %w", err)
	}
	return nil
}

// AbandonActivity makes the work item visible again after delay.
func (b *Backend) AbandonActivity(ctx context.Context, wi *provider.ActivityWorkItem, delay time.Duration) error {
	l, err := activityLockOf(wi)
	if err != nil {
		return err
	}
	_, _, err = b.workitems.UpdateVisibility(ctx, l.raw.ID, l.raw.PopReceipt, l.raw.Text, taskhub.ClampDelay(delay))
	if errors.Is(err, queues.ErrMessageGone) {
		return nil
	}
	return err
}

// deliverLocally hands an activity result straight to its instance's
// session when this backend owns the instance's partition, instead of
// sending it through the control queue: the result becomes a pending
// message of the session (exactly the envelope that would have been sent),
// and the work item's queue message stays hidden until the episode that
// records the result in history commits and deletes it. This saves the
// result's enqueue, its share of a control-queue receive and its delete.
// At-least-once holds: until that commit the work item is still on its
// queue, so after a crash it reappears when its visibility timeout ends
// and the activity runs again (a duplicate result is dropped by Triage);
// if the partition is lost or the work item abandoned first, the result is
// sent to the control queue after all (spill).
func (b *Backend) deliverLocally(l *activityLock, m *queues.MessageData) bool {
	if b.opts.NoLocalResults {
		return false
	}
	id := m.TaskMessage.OrchestrationInstance.InstanceID
	name := b.controlQueueFor(id).Name()
	raw := *l.raw
	raw.InsertionTime = time.Now().UTC()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.parts[name]
	if p == nil || b.stopping || !b.started {
		return false
	}
	b.fileLocked(id, &pending{part: p, q: b.workitems, raw: &raw, data: m, local: true})
	return true
}

// spill sends a local result to its control queue after all (with delay)
// and then deletes its work item. If the send fails, the work item is made
// visible again so that the activity runs again soon.
func (b *Backend) spill(ctx context.Context, m *pending, delay time.Duration) {
	ctx = context.WithoutCancel(ctx)
	q := b.controlQueueFor(m.data.TaskMessage.OrchestrationInstance.InstanceID)
	if _, err := b.codec.Send(ctx, q, m.data, delay); err != nil {
		b.log.Warn("azurestorage: sending a held activity result; the activity will run again", "message", m.raw.ID, "err", err)
		if _, _, err := b.workitems.UpdateVisibility(ctx, m.raw.ID, m.raw.PopReceipt, m.raw.Text, 0); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: returning an activity work item", "message", m.raw.ID, "err", err)
		}
		return
	}
	if err := b.workitems.Delete(ctx, m.raw.ID, m.raw.PopReceipt); err != nil && !errors.Is(err, queues.ErrMessageGone) {
		b.log.Warn("azurestorage: deleting an activity work item", "message", m.raw.ID, "err", err)
	}
}

// reserveLocal decides whether an activity scheduled by this backend runs
// here without a trip through the work-item queue: only while this
// process's activity workers are asking for work (the fetcher runs) and
// fewer than LocalActivityBacklog such items wait, so that a big fan-out
// still reaches the other workers of the hub through the queue.
func (f *activityFetcher) reserveLocal() bool {
	if f.b.opts.NoLocalActivities {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running || f.local >= f.b.opts.LocalActivityBacklog {
		return false
	}
	f.local++
	return true
}

func (f *activityFetcher) cancelLocal() {
	f.mu.Lock()
	f.local--
	f.mu.Unlock()
}

// offerLocal queues a work item for this process's activity workers.
func (f *activityFetcher) offerLocal(wi *provider.ActivityWorkItem) {
	f.mu.Lock()
	f.items = append(f.items, wi)
	f.broadcastLocked()
	f.mu.Unlock()
}

// sendLocal enqueues an activity's TaskScheduled message hidden for the
// work-item visibility timeout (no poller is woken) and hands the work item
// to this process's activity workers with the pop receipt of the enqueue,
// which saves the receive. The message is on the queue as usual, so if
// this process dies before the result is committed it becomes visible and
// any worker runs the activity (at least once, as with a received item).
func (b *Backend) sendLocal(ctx context.Context, o outbound) error {
	text, err := b.codec.Encode(ctx, o.m)
	if err != nil {
		b.act.cancelLocal()
		return err
	}
	sent, err := b.workitems.SendHidden(ctx, text, b.opts.WorkItemVisibility)
	if err != nil {
		b.act.cancelLocal()
		return err
	}
	tm := o.m.TaskMessage
	ts := *tm.Event.(*history.TaskScheduledEvent)
	raw := &queues.Message{ID: sent.ID, PopReceipt: sent.PopReceipt, Text: text, DequeueCount: 1,
		InsertionTime: sent.InsertionTime, NextVisible: sent.NextVisible}
	wi := &provider.ActivityWorkItem{ID: sent.ID, Instance: tm.OrchestrationInstance, Event: &ts, DequeueCount: 1,
		Episode: o.m.Episode, Private: &activityLock{raw: raw, local: true}}
	if c := tm.OrchestrationExecutionContext; c != nil {
		wi.Tags = c.OrchestrationTags
	}
	b.act.offerLocal(wi)
	return nil
}

// returnUntaken makes the work items no caller took visible again, so that
// a stopping worker does not leave them hidden until their timeout.
func (f *activityFetcher) returnUntaken(ctx context.Context) {
	f.mu.Lock()
	items := f.items
	f.items, f.local = nil, 0
	f.mu.Unlock()
	forEach(ctx, len(items), 16, func(ctx context.Context, i int) {
		l, err := activityLockOf(items[i])
		if err != nil {
			return
		}
		if _, _, err := f.b.workitems.UpdateVisibility(ctx, l.raw.ID, l.raw.PopReceipt, l.raw.Text, 0); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			f.b.log.Debug("azurestorage: returning an untaken activity work item", "message", l.raw.ID, "err", err)
		}
	})
}

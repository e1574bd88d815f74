package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
)

// activityFetcher hands work items to this process's activity callers
// (the worker's activity slots that wait in LockNextActivity). It receives
// only for callers that wait and are not already promised an item (C#
// receives one per free slot), so that nothing sits locked in memory while
// the worker is busy, and one back-off governs the idle queue. The
// activities this backend's own episodes schedule are kept back for it
// (sent hidden and handed over without a receive, sendLocal) only as far
// as free slots can start them at once: every other one is sent visible,
// where every worker of the hub, C# included, can take it.
type activityFetcher struct {
	b       *Backend
	mu      sync.Mutex
	waiting int
	items   []queuedItem
	notify  chan struct{}
	running bool
	// reserved counts the slots promised to activities being sent hidden
	// (reserveLocal) and not offered yet; receiving, those asked for by
	// the receive in flight.
	reserved  int
	receiving int
	// lastWork is when this process last saw work (UnixNano; busyWindow).
	lastWork atomic.Int64
	// peak is the most callers seen waiting at once: this process's
	// activity slots, as far as the fetcher can tell (see gather).
	peak int
}

// queuedItem is a work item waiting for a caller, since at.
type queuedItem struct {
	wi *provider.ActivityWorkItem
	at time.Time
}

// staleItem is how long a work item may wait in memory for a caller (the
// callers it was meant for went away) before it goes back to its queue.
const staleItem = 2 * time.Second

type activityLock struct {
	h *hold
	// local marks a work item this backend enqueued hidden for itself.
	local bool
}

func newActivityFetcher(b *Backend) *activityFetcher {
	f := &activityFetcher{b: b, notify: make(chan struct{})}
	f.sawWork(time.Now())
	return f
}

func (f *activityFetcher) broadcastLocked() {
	close(f.notify)
	f.notify = make(chan struct{})
}

// freeLocked is the number of waiting callers no item is meant for yet.
func (f *activityFetcher) freeLocked() int {
	return f.waiting - len(f.items) - f.reserved - f.receiving
}

// LockNextActivity waits for the next activity work item.
func (b *Backend) LockNextActivity(ctx context.Context) (*provider.ActivityWorkItem, error) {
	if err := b.ensure(ctx); err != nil {
		return nil, err
	}
	f := b.act
	f.mu.Lock()
	f.waiting++
	f.peak = max(f.peak, f.waiting)
	if !f.running {
		f.running = true
		go f.loop()
	}
	f.broadcastLocked()
	defer func() { f.mu.Lock(); f.waiting--; f.mu.Unlock() }()
	for {
		// A cancelled caller (a stopping worker) takes nothing, also when
		// a work item is there: it stays for the next caller.
		if err := ctx.Err(); err != nil {
			f.mu.Unlock()
			return nil, err
		}
		if len(f.items) > 0 {
			wi := f.items[0].wi
			f.items = f.items[1:]
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
	// busy is set while the last receive returned work; rtt is how long
	// that receive took (see gather).
	busy, rtt := false, time.Duration(0)
	for {
		if busy {
			f.gather(rtt)
		}
		f.mu.Lock()
		want := f.freeLocked()
		if want <= 0 {
			if f.waiting == 0 && len(f.items) == 0 && f.reserved == 0 && time.Since(idleSince) > 5*time.Second {
				f.running = false
				f.mu.Unlock()
				return
			}
			stale := f.staleLocked()
			ch := f.notify
			f.mu.Unlock()
			f.giveBack(stale)
			t := time.NewTimer(time.Second)
			select {
			case <-ch:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		want = min(want, taskhub.MaxReceiveBatch)
		f.receiving = want
		idleSince = time.Now()
		f.mu.Unlock()
		wake := b.wake.C(b.workitems.Name())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		at := time.Now()
		msgs, err := b.workitems.Receive(ctx, want, b.hold)
		cancel()
		busy, rtt = len(msgs) > 0, time.Since(at)
		if err != nil {
			b.log.Warn("azurestorage: receiving activity work items", "err", err)
		}
		var got []*provider.ActivityWorkItem
		for _, m := range msgs {
			if wi := b.activityItem(m, at); wi != nil {
				got = append(got, wi)
			}
		}
		now := time.Now()
		f.mu.Lock()
		f.receiving = 0
		for _, wi := range got {
			f.items = append(f.items, queuedItem{wi: wi, at: now})
		}
		surplus := f.surplusLocked()
		f.broadcastLocked()
		f.mu.Unlock()
		f.giveBack(surplus)
		if len(msgs) > 0 {
			f.sawWork(now)
			backoff.Reset()
			continue
		}
		d := f.pollWait(backoff.Next(), time.Now())
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-wake:
			backoff.Reset()
		}
		t.Stop()
	}
}

// gatherCap bounds how long gather waits for more free slots.
const gatherCap = 100 * time.Millisecond

// gather lets free slots add up before the next receive while the queue
// has work, so that a busy process receives several work items per call
// instead of one per slot that frees: a receive costs the service about
// the same whatever it returns (an emulator scans and sorts every message
// of the account on each), and one per activity was most of what a
// fan-out across processes cost it. It waits until half of the slots are
// free, or at most as long as the last receive took (capped at
// gatherCap): when the service answers fast the wait is as short, and a
// slow service, the case that needs fewer calls, buys a longer one. A slot
// that frees meanwhile idles at most that long.
func (f *activityFetcher) gather(rtt time.Duration) {
	wait := min(rtt, gatherCap)
	if wait <= 0 {
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		enough := f.freeLocked() >= max(1, f.peak/2)
		ch := f.notify
		f.mu.Unlock()
		if enough {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			return
		}
	}
}

// busyWindow and busyPoll shape the polling of the work-item queue across
// processes. A work item sent by another process wakes nobody here, so an
// idle poller finds it only after its back-off, which reaches
// MaxPollingInterval (30 s) after a minute of empty polls: a fan-out that
// its owner cannot run alone would wait that long for the hub's other
// workers. While this process has seen work within busyWindow (it started,
// received a work item, or committed an episode), the wait between empty
// polls is therefore capped at busyPoll; a hub that stays idle longer
// backs off to the full interval as before, so idle costs do not change.
const (
	busyWindow = time.Minute
	busyPoll   = time.Second
)

// busyCap is the longest wait between empty polls of a control queue now:
// busyPoll while this process has seen work within busyWindow, no bound
// otherwise. A start, an event or an activity result sent by another
// process wakes nobody here either, and a worker that has just started
// (or just committed an episode) is the one most likely to get one.
func (f *activityFetcher) busyCap() time.Duration {
	if time.Since(time.Unix(0, f.lastWork.Load())) < busyWindow {
		return busyPoll
	}
	return 0
}

// sawWork records that this process has just seen work (see busyWindow).
func (f *activityFetcher) sawWork(now time.Time) { f.lastWork.Store(now.UnixNano()) }

// pollWait is the wait before the next poll after an empty one, d by the
// back-off.
func (f *activityFetcher) pollWait(d time.Duration, now time.Time) time.Duration {
	if now.Sub(time.Unix(0, f.lastWork.Load())) < busyWindow {
		return min(d, busyPoll)
	}
	return d
}

// activityItem decodes a work-item message. One received more than
// MaxDequeueCount times, or one that will never decode, is quarantined
// (failing its task when it names one); one whose large-message blob could
// not be read is put back with back-off.
func (b *Backend) activityItem(m *queues.Message, receivedAt time.Time) *provider.ActivityWorkItem {
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
		DequeueCount: int(m.DequeueCount), Episode: data.Episode, Private: &activityLock{h: b.keep.add(m, receivedAt)}}
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

// RenewActivity reports whether the work item is still held: the backend
// renews what it holds itself (holds.go), so this costs no call.
func (b *Backend) RenewActivity(ctx context.Context, wi *provider.ActivityWorkItem) error {
	l, err := activityLockOf(wi)
	if err != nil {
		return err
	}
	return l.h.err()
}

// CompleteActivity sends the result to the orchestration's control queue,
// then deletes the work item (C#'s order), in the background where it can
// (finish.go).
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
	b.deleteWorkItem(ctx, l, wi.ID)
	return nil
}

// AbandonActivity makes the work item visible again after delay.
func (b *Backend) AbandonActivity(ctx context.Context, wi *provider.ActivityWorkItem, delay time.Duration) error {
	l, err := activityLockOf(wi)
	if err != nil {
		return err
	}
	err = l.h.release(ctx, taskhub.ClampDelay(delay))
	if errors.Is(err, queues.ErrMessageGone) {
		return nil
	}
	return err
}

// deliverLocally hands an activity result straight to its instance's
// session when this backend owns the instance's partition, instead of
// sending it through the control queue: the result becomes a pending
// message of the session (exactly the envelope that would have been sent),
// and the work item's queue message stays held (hidden, renewed) until the
// episode that records the result in history commits and deletes it. This
// saves the result's enqueue, its share of a control-queue receive and its
// delete. At-least-once holds: until that commit the work item is still on
// its queue, so after a crash it reappears within the hold time and the
// activity runs again (a duplicate result is dropped by Triage); if the
// partition is lost or the work item abandoned first, the result is sent
// to the control queue after all (spill).
func (b *Backend) deliverLocally(l *activityLock, m *queues.MessageData) bool {
	if b.opts.NoLocalResults {
		return false
	}
	id := m.TaskMessage.OrchestrationInstance.InstanceID
	name := b.controlQueueFor(id).Name()
	raw := l.h.snapshot()
	raw.InsertionTime = time.Now().UTC()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.parts[name]
	if p == nil || b.stopping || !b.started {
		return false
	}
	b.fileLocked(id, &pending{part: p, q: b.workitems, raw: &raw, data: m, local: true, h: l.h})
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
		if err := m.h.release(ctx, 0); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: returning an activity work item; it reappears within the hold time", "message", m.raw.ID, "err", err)
		}
		return
	}
	if err := m.h.delete(ctx); err != nil && !errors.Is(err, queues.ErrMessageGone) {
		b.log.Warn("azurestorage: deleting an activity work item", "message", m.raw.ID, "err", err)
	}
}

// reserveLocal decides whether an activity scheduled by this backend runs
// here without a trip through the work-item queue: only while one of this
// process's activity slots waits for work that no other item is meant for
// already, so that the activity starts at once. Everything else goes
// through the queue, visible to every worker of the hub.
func (f *activityFetcher) reserveLocal() bool {
	if f.b.opts.NoLocalActivities {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// A receive in flight does not stop the reservation: it was asked for
	// every free slot and mostly returns fewer items, and a commit that
	// sent its activity visible for it would make the next receive fetch
	// it back (one receive per activity, each resetting the back-off).
	// If the receive does return more than the slots left, local items
	// go back to the queue at once as the surplus (surplusLocked,
	// offerLocal): never a received one, whose dequeue count a give-back
	// would raise towards the poison limit, while a local one has never
	// been received.
	if !f.running || f.waiting-len(f.items)-f.reserved <= 0 {
		return false
	}
	f.reserved++
	return true
}

// surplusLocked takes out the local items queued beyond the callers that
// wait for them (a receive returned items for slots that local
// reservations took meanwhile), newest first. A reserved item not offered
// yet is checked by offerLocal.
func (f *activityFetcher) surplusLocked() []*provider.ActivityWorkItem {
	n := len(f.items) - f.waiting
	var out []*provider.ActivityWorkItem
	for i := len(f.items) - 1; i >= 0 && n > 0; i-- {
		if l, ok := f.items[i].wi.Private.(*activityLock); ok && l.local {
			out = append(out, f.items[i].wi)
			f.items = append(f.items[:i], f.items[i+1:]...)
			n--
		}
	}
	return out
}

func (f *activityFetcher) cancelLocal() {
	f.mu.Lock()
	f.reserved--
	f.broadcastLocked()
	f.mu.Unlock()
}

// offerLocal queues a reserved work item for this process's activity
// workers, or, when a receive filled the slot it was reserved for (see
// reserveLocal), makes it visible for any worker instead.
func (f *activityFetcher) offerLocal(wi *provider.ActivityWorkItem) {
	f.mu.Lock()
	f.reserved--
	f.items = append(f.items, queuedItem{wi: wi, at: time.Now()})
	surplus := f.surplusLocked()
	f.broadcastLocked()
	f.mu.Unlock()
	f.giveBack(surplus)
}

// sendLocal enqueues an activity's TaskScheduled message hidden for the
// hold time (no poller is woken) and hands the work item to this
// process's activity workers with the pop receipt of the enqueue, which
// saves the receive. The message is on the queue as usual and held like a
// received one (renewed while held), so if this process dies before the
// result is committed it becomes visible within the hold time and any
// worker runs the activity (at least once, as with a received item).
func (b *Backend) sendLocal(ctx context.Context, o outbound) error {
	text, err := b.codec.Encode(ctx, o.m)
	if err != nil {
		b.act.cancelLocal()
		return err
	}
	at := time.Now()
	sent, err := b.workitems.SendHidden(ctx, text, b.hold)
	if err != nil {
		b.act.cancelLocal()
		return err
	}
	tm := o.m.TaskMessage
	ts := *tm.Event.(*history.TaskScheduledEvent)
	raw := &queues.Message{ID: sent.ID, PopReceipt: sent.PopReceipt, Text: text, DequeueCount: 1,
		InsertionTime: sent.InsertionTime, NextVisible: sent.NextVisible}
	wi := &provider.ActivityWorkItem{ID: sent.ID, Instance: tm.OrchestrationInstance, Event: &ts, DequeueCount: 1,
		Episode: o.m.Episode, Private: &activityLock{h: b.keep.add(raw, at), local: true}}
	if c := tm.OrchestrationExecutionContext; c != nil {
		wi.Tags = c.OrchestrationTags
	}
	b.act.offerLocal(wi)
	return nil
}

// returnUntaken makes the work items no caller took visible again, so that
// a stopping worker does not leave them hidden until their hold ends.
func (f *activityFetcher) returnUntaken(ctx context.Context) {
	f.mu.Lock()
	var items []*provider.ActivityWorkItem
	for _, q := range f.items {
		items = append(items, q.wi)
	}
	f.items = nil
	f.mu.Unlock()
	f.release(ctx, items)
}

// staleLocked takes out the items that waited longer than staleItem while
// no caller waited: the callers they were meant for went away (a worker
// that stops taking work), and no slot of this process can start them.
func (f *activityFetcher) staleLocked() []*provider.ActivityWorkItem {
	if f.waiting > 0 || len(f.items) == 0 || time.Since(f.items[0].at) < staleItem {
		return nil
	}
	var stale []*provider.ActivityWorkItem
	keep := f.items[:0]
	for _, q := range f.items {
		if time.Since(q.at) >= staleItem {
			stale = append(stale, q.wi)
		} else {
			keep = append(keep, q)
		}
	}
	f.items = keep
	return stale
}

// giveBack releases work items that no slot can start.
func (f *activityFetcher) giveBack(items []*provider.ActivityWorkItem) {
	if len(items) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.release(ctx, items)
}

// release makes work items visible again at once; one that cannot be
// returned reappears within the hold time anyway.
func (f *activityFetcher) release(ctx context.Context, items []*provider.ActivityWorkItem) {
	forEach(ctx, len(items), 16, func(ctx context.Context, i int) {
		l, err := activityLockOf(items[i])
		if err != nil {
			return
		}
		if err := l.h.release(ctx, 0); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			f.b.log.Debug("azurestorage: returning an untaken activity work item; it reappears within the hold time", "message", l.h.id(), "err", err)
		}
	})
}

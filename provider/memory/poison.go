package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
)

// Quarantine and give-backs (see the design note in package provider): a
// message received more than MaxDequeueCount times is moved to an
// in-memory quarantine list and deleted; a quarantined activity work item
// first sends its orchestration the TaskFailed of
// provider.PoisonedActivityFailure. Give-backs replace the messages by
// fresh copies (new ids, no deliveries) in the same order.

var _ provider.Quarantiner = (*Backend)(nil)

// quarantineName is where quarantined messages are said to be kept.
const quarantineName = "memory quarantine"

func (b *Backend) maxDequeue() int {
	switch {
	case b.opts.MaxDequeueCount < 0:
		return 0
	case b.opts.MaxDequeueCount == 0:
		return provider.DefaultMaxDequeueCount
	}
	return b.opts.MaxDequeueCount
}

func (b *Backend) queueName(m *message) string {
	if m.inbox == nil {
		return b.names.WorkItemQueue()
	}
	return b.names.ControlQueue(m.inbox.part)
}

// quarantineLocked records a held message and deletes it; with logIt it
// logs it.
func (b *Backend) quarantineLocked(m *message, reason string, now time.Time, logIt bool) {
	tm := m.tm
	rec := provider.Quarantined{Queue: b.queueName(m), MessageID: m.id, InstanceID: tm.OrchestrationInstance.InstanceID,
		ExecutionID: tm.OrchestrationInstance.ExecutionID, EventType: tm.Event.Type().String(), DequeueCount: m.dequeues,
		At: now, Reason: reason, Location: quarantineName, Body: string(history.AppendTaskMessage(nil, tm, history.TypeNames))}
	switch v := tm.Event.(type) {
	case *history.TaskScheduledEvent:
		rec.Name = v.Name
		t := v.EventID
		rec.TaskID = &t
	case *history.ExecutionStartedEvent:
		rec.Name = v.Name
	default:
		if t, ok := rules.CompletionID(tm.Event); ok {
			rec.TaskID = &t
		}
	}
	b.quarantine = append(b.quarantine, rec)
	b.stats.Quarantined++
	b.deleteLocked(m, m.receipt)
	if !logIt {
		return
	}
	b.log.Error("memory: poison message quarantined", "queue", rec.Queue, "message", m.id, "instance", rec.InstanceID,
		"event", rec.EventType, "dequeueCount", m.dequeues, "reason", reason)
}

// poisonedActivityLocked answers a poisoned activity work item with the
// failure of its task, then quarantines it.
func (b *Backend) poisonedActivityLocked(m *message, ts *history.TaskScheduledEvent, now time.Time) {
	reason := provider.PoisonReason(m.dequeues, b.maxDequeue())
	orch := m.tm.OrchestrationInstance
	fail := provider.PoisonedActivityFailure(ts, reason, quarantineName, now)
	if tm, err := normalizeMessage(&history.TaskMessage{Event: fail, OrchestrationInstance: orch}); err == nil {
		episode := int32(-1)
		if m.episode != nil {
			episode = *m.episode
		}
		b.enqueueLocked(tm, false, orch, &episode, originActivity(m.id), now)
	}
	b.quarantineLocked(m, reason, now, true)
}

// GiveBackOrchestration replaces the work item's messages by fresh copies
// visible after the give-back delay (see provider.Quarantiner).
func (b *Backend) GiveBackOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, st *provider.Stalled) (time.Duration, error) {
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return 0, ErrForeignWorkItem
	}
	now := b.clock.Now()
	delay := provider.GiveBackDelay(provider.StalledOrchestration, b.countGiveBackLocked(orchGiveBackKey(wi.InstanceID), now))
	if st != nil {
		st.Worker, st.At, st.RetryInSeconds = "memory", now, int(delay/time.Second)
		if st.InstanceID == "" {
			st.InstanceID = wi.InstanceID
		}
		b.stallLocked(st)
		if inst := b.instances[wi.InstanceID]; inst != nil && inst.row != nil && inst.row.Status == history.StatusPending &&
			inst.row.OrchestrationInstance.ExecutionID == st.ExecutionID {
			text := st.PendingStatus()
			inst.row.CustomStatus = &text
		}
	}
	for i, m := range l.msgs {
		b.requeueLocked(m, l.receipts[i], now.Add(delay))
	}
	b.endOrchLeaseLocked(l)
	b.kickLocked()
	return delay, nil
}

// GiveBackActivity replaces an activity work item by a fresh copy.
func (b *Backend) GiveBackActivity(ctx context.Context, wi *provider.ActivityWorkItem, st *provider.Stalled) (time.Duration, error) {
	l, err := b.actLeaseOf(wi)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return 0, ErrForeignWorkItem
	}
	now := b.clock.Now()
	key := fmt.Sprintf("a|%s|%s|%d", wi.Instance.InstanceID, wi.Instance.ExecutionID, wi.Event.EventID)
	delay := provider.GiveBackDelay(provider.StalledActivity, b.countGiveBackLocked(key, now))
	if st != nil {
		st.Worker, st.At, st.RetryInSeconds = "memory", now, int(delay/time.Second)
		b.stallLocked(st)
	}
	b.requeueLocked(l.msg, l.receipt, now.Add(delay))
	b.endActLeaseLocked(l)
	b.kickLocked()
	return delay, nil
}

// requeueLocked replaces a held message by a copy with a new id and no
// deliveries, visible at at.
func (b *Backend) requeueLocked(m *message, receipt uint64, at time.Time) {
	if !b.deleteLocked(m, receipt) {
		return // no longer held: it is someone else's delivery now
	}
	b.seq++
	cp := &message{id: fmt.Sprintf("msg-%08d", b.seq), seq: b.seq, tm: m.tm, sender: m.sender, episode: m.episode,
		origin: m.origin, visibleAt: at}
	if m.inbox != nil {
		ib := b.inboxLocked(m.tm.OrchestrationInstance.InstanceID)
		cp.inbox = ib
		ib.msgs = append(ib.msgs, cp)
	} else {
		b.activities = append(b.activities, cp)
	}
}

// orchGiveBackKey names an instance's orchestration give-backs in
// b.givebacks.
func orchGiveBackKey(instanceID string) string { return "o|" + instanceID }

// forgetGiveBacksLocked restarts the back-off of an instance's give-backs
// once it moved (its status row was written): the back-off counts the
// give-backs since the last progress, not over the instance's life.
func (b *Backend) forgetGiveBacksLocked(instanceID string) {
	delete(b.givebacks, orchGiveBackKey(instanceID))
}

func (b *Backend) countGiveBackLocked(key string, now time.Time) int {
	if b.givebacks == nil {
		b.givebacks = map[string]int{}
	}
	b.givebacks[key]++
	return b.givebacks[key]
}

func (b *Backend) stallLocked(st *provider.Stalled) {
	if b.stalls == nil {
		b.stalls = map[string]provider.Stalled{}
	}
	key := st.InstanceID + "|" + st.Kind + "|" + st.ExecutionID
	if st.TaskID != nil {
		key += fmt.Sprintf("|%d", *st.TaskID)
	}
	b.stalls[key] = *st
}

// QuarantineOrchestration moves the work item's messages into quarantine
// (see provider.Quarantiner).
func (b *Backend) QuarantineOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, orchestration, reason string) error {
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.done {
		return ErrForeignWorkItem
	}
	now := b.clock.Now()
	var ids []string
	for i, m := range l.msgs {
		if holds(m, l.receipts[i]) {
			ids = append(ids, m.id)
			b.quarantineLocked(m, reason, now, false)
		}
	}
	b.endOrchLeaseLocked(l)
	b.kickLocked()
	b.log.Error("memory: episode quarantined: its messages were moved to quarantine and the instance's status left as it was",
		"instance", wi.InstanceID, "orchestration", orchestration, "reason", reason, "message", strings.Join(ids, ","))
	return nil
}

// Diagnostics returns the instance's quarantined messages and the
// give-back records that still hold it back.
func (b *Backend) Diagnostics(ctx context.Context, instanceID string) (*provider.Diagnostics, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d := &provider.Diagnostics{}
	for _, q := range b.quarantine {
		if q.InstanceID == instanceID {
			d.Quarantined = append(d.Quarantined, q)
		}
	}
	var st *history.OrchestrationState
	var hist []history.Event
	if inst := b.instances[instanceID]; inst != nil {
		st, hist = inst.row, inst.hist
	}
	for _, s := range b.stalls {
		if s.InstanceID == instanceID && provider.StillStalled(&s, st, hist) {
			d.Stalled = append(d.Stalled, s)
		}
	}
	sort.Slice(d.Stalled, func(i, j int) bool { return d.Stalled[i].At.Before(d.Stalled[j].At) })
	return d, nil
}

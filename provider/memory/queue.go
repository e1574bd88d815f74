package memory

import (
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
)

// message is one queued message. visibleAt doubles as the lock expiry while
// the message is held (receipt != 0), as in an Azure queue.
type message struct {
	id        string
	seq       uint64
	tm        *history.TaskMessage // normalized; never changed after enqueue
	sender    history.OrchestrationInstance
	episode   *int32
	origin    string // who sent it, for Faults.Shuffle
	visibleAt time.Time
	dequeues  int
	receipt   uint64
	inbox     *inbox // nil for the activity queue
	deleted   bool
}

// inbox holds one instance's control-queue messages in insertion order.
type inbox struct {
	id   string
	part int
	msgs []*message
}

// Message origins for Faults.Shuffle.
const originClient = "client"

func originOrchestration(id string) string { return "orchestration:" + id }
func originActivity(msgID string) string   { return "activity:" + msgID }

// enqueueLocked adds a normalized message to the activity queue or to its
// instance's control queue; with Faults.DuplicateRate it may add it twice.
func (b *Backend) enqueueLocked(tm *history.TaskMessage, toActivities bool, sender history.OrchestrationInstance,
	episode *int32, origin string, visibleAt time.Time) {
	n := 1
	if r := b.opts.Faults.DuplicateRate; r > 0 && b.rng.Float64() < r {
		n = 2
		b.stats.Duplicated++
		b.log.Debug("memory: injecting a duplicate delivery", "instance", tm.OrchestrationInstance.InstanceID, "event", tm.Event.Type())
	}
	for range n {
		b.seq++
		m := &message{id: fmt.Sprintf("msg-%08d", b.seq), seq: b.seq, tm: tm, sender: sender, episode: episode,
			origin: origin, visibleAt: visibleAt}
		if toActivities {
			b.activities = append(b.activities, m)
		} else {
			ib := b.inboxLocked(tm.OrchestrationInstance.InstanceID)
			m.inbox = ib
			ib.msgs = append(ib.msgs, m)
		}
		b.stats.Sent++
	}
}

func (b *Backend) inboxLocked(id string) *inbox {
	p := b.PartitionOf(id)
	ib := b.parts[p][id]
	if ib == nil {
		ib = &inbox{id: id, part: p}
		b.parts[p][id] = ib
	}
	return ib
}

// receiveLocked hides a message for the lock duration and counts the
// delivery; it returns the new pop receipt.
func (b *Backend) receiveLocked(m *message, now time.Time) uint64 {
	m.dequeues++
	b.receipts++
	m.receipt = b.receipts
	m.visibleAt = now.Add(b.opts.LockDuration)
	return m.receipt
}

// holds reports whether receipt is the message's current pop receipt.
func holds(m *message, receipt uint64) bool {
	return !m.deleted && receipt != 0 && m.receipt == receipt
}

// releaseLocked makes a held message visible at visibleAt.
func (b *Backend) releaseLocked(m *message, receipt uint64, visibleAt time.Time) bool {
	if !holds(m, receipt) {
		return false
	}
	m.receipt = 0
	m.visibleAt = visibleAt
	return true
}

// renewLocked extends a held message's lock.
func (b *Backend) renewLocked(m *message, receipt uint64, until time.Time) bool {
	if !holds(m, receipt) {
		return false
	}
	m.visibleAt = until
	return true
}

// deleteLocked removes a held message.
func (b *Backend) deleteLocked(m *message, receipt uint64) bool {
	if !holds(m, receipt) {
		return false
	}
	m.deleted = true
	if ib := m.inbox; ib != nil {
		ib.msgs = removeMessage(ib.msgs, m)
		if len(ib.msgs) == 0 {
			delete(b.parts[ib.part], ib.id)
		}
	} else {
		b.activities = removeMessage(b.activities, m)
	}
	return true
}

func removeMessage(list []*message, m *message) []*message {
	for i, x := range list {
		if x == m {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}

// visibleAtFor applies C#'s initial-visibility rule (queues spec §5.8): a
// TimerFired waits for FireAt, an ExecutionStarted for its
// ScheduledStartTime; past times mean now. Delays over 7 days are refused.
func (b *Backend) visibleAtFor(tm *history.TaskMessage, now time.Time) (time.Time, error) {
	at := provider.DeliverAt(tm)
	d := at.Sub(now)
	if at.IsZero() || d < 0 {
		d = 0
	}
	if taskhub.DelayTooLong(d) {
		return time.Time{}, fmt.Errorf("%w: %s for %q would be visible at %s, %s from now",
			ErrDelayTooLong, tm.Event.Type(), tm.OrchestrationInstance.InstanceID, at.Format(time.RFC3339Nano), d)
	}
	if b.opts.Faults.TruncateDelays {
		d = d.Truncate(time.Second)
	}
	return now.Add(d), nil
}

// checkDelay validates an abandon delay.
func checkDelay(d time.Duration) (time.Duration, error) {
	if d < 0 {
		return 0, nil
	}
	if taskhub.DelayTooLong(d) {
		return 0, fmt.Errorf("%w: abandon delay %s", ErrDelayTooLong, d)
	}
	return d, nil
}

// normalizeMessage passes a message through its queue encoding, so that
// what is stored is what storage would return, and nothing is shared with
// the caller.
func normalizeMessage(tm *history.TaskMessage) (*history.TaskMessage, error) {
	if tm == nil || tm.Event == nil {
		return nil, fmt.Errorf("memory: message without an event")
	}
	out, err := history.UnmarshalTaskMessage(history.AppendTaskMessage(nil, tm, history.TypeNames))
	if err != nil {
		return nil, fmt.Errorf("memory: %s message for %q does not survive its queue encoding: %w",
			tm.Event.Type(), tm.OrchestrationInstance.InstanceID, err)
	}
	return out, nil
}

// normalizeEvent passes a history event through its JSON encoding.
func normalizeEvent(ev history.Event) (history.Event, error) {
	out, err := history.UnmarshalEvent(history.AppendEvent(nil, ev, history.Plain))
	if err != nil {
		return nil, fmt.Errorf("memory: %s event does not survive its storage encoding: %w", ev.Type(), err)
	}
	return out, nil
}

// shallowEvent copies an event struct (and the maps and parent it holds)
// so that callers cannot change the stored one; strings are immutable and
// pointed-to values are never written by the backend.
func shallowEvent(ev history.Event) history.Event {
	v := reflect.ValueOf(ev).Elem()
	cp := reflect.New(v.Type())
	cp.Elem().Set(v)
	out := cp.Interface().(history.Event)
	switch e := out.(type) {
	case *history.ExecutionStartedEvent:
		e.Tags = maps.Clone(e.Tags)
		if e.ParentInstance != nil {
			p := *e.ParentInstance
			e.ParentInstance = &p
		}
	case *history.TaskScheduledEvent:
		e.Tags = maps.Clone(e.Tags)
	case *history.SubOrchestrationInstanceCreatedEvent:
		e.Tags = maps.Clone(e.Tags)
	}
	return out
}

func shallowEvents(evs []history.Event) []history.Event {
	out := make([]history.Event, len(evs))
	for i, ev := range evs {
		out[i] = shallowEvent(ev)
	}
	return out
}

func shallowMessage(tm *history.TaskMessage) *history.TaskMessage {
	cp := *tm
	cp.Event = shallowEvent(tm.Event)
	if c := tm.OrchestrationExecutionContext; c != nil {
		cc := *c
		cc.OrchestrationTags = maps.Clone(c.OrchestrationTags)
		cp.OrchestrationExecutionContext = &cc
	}
	return &cp
}

// shuffleLocked reorders a batch as a real queue could (see
// Faults.Shuffle): an ExecutionStarted stays first and messages of one
// origin keep their order; the origins' sequences are interleaved at random.
func (b *Backend) shuffleLocked(batch []*message) {
	head := 0
	if len(batch) > 0 {
		if _, ok := batch[0].tm.Event.(*history.ExecutionStartedEvent); ok {
			head = 1
		}
	}
	tail := batch[head:]
	if len(tail) < 2 {
		return
	}
	var order []string
	groups := map[string][]*message{}
	for _, m := range tail {
		if _, ok := groups[m.origin]; !ok {
			order = append(order, m.origin)
		}
		groups[m.origin] = append(groups[m.origin], m)
	}
	out := make([]*message, 0, len(tail))
	for len(order) > 0 {
		i := b.rng.IntN(len(order))
		g := groups[order[i]]
		out = append(out, g[0])
		if len(g) == 1 {
			order = append(order[:i], order[i+1:]...)
		} else {
			groups[order[i]] = g[1:]
		}
	}
	copy(tail, out)
}

// cloneState deep-copies a status row.
func cloneState(st *history.OrchestrationState) *history.OrchestrationState {
	if st == nil {
		return nil
	}
	cp := *st
	cp.ScheduledStartTime = clonePtr(st.ScheduledStartTime)
	cp.Input = clonePtr(st.Input)
	cp.Output = clonePtr(st.Output)
	cp.CustomStatus = clonePtr(st.CustomStatus)
	cp.Generation = clonePtr(st.Generation)
	cp.Tags = maps.Clone(st.Tags)
	cp.FailureDetails = cloneFailure(st.FailureDetails)
	return &cp
}

func cloneFailure(fd *history.FailureDetails) *history.FailureDetails {
	if fd == nil {
		return nil
	}
	cp := *fd
	cp.StackTrace = clonePtr(fd.StackTrace)
	cp.InnerFailure = cloneFailure(fd.InnerFailure)
	if fd.Properties != nil {
		cp.Properties = append([]byte(nil), fd.Properties...)
	}
	return &cp
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

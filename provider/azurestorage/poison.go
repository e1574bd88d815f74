package azurestorage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

// Quarantine and give-backs on Azure Storage (see the design note in
// package provider). Records are gzip JSON blobs in the container
// <hub>-poison:
//
//	instances/<escaped id>/quarantined/<queue>/<message id>.json.gz
//	instances/<escaped id>/stalled/<kind>-<execution id>[-<task id>].json.gz
//	no-instance/<queue>/<message id>.json.gz
//
// The escaped id is the instance id with URL path escaping and '.'
// escaped too, so that one instance's records are exactly the blobs under
// its prefix.

var _ provider.Quarantiner = (*Backend)(nil)

// maxBlobName is the longest blob name Azure accepts.
const maxBlobName = 1024

// diagState is the backend's memory of its own give-backs, for their
// back-off.
type diagState struct {
	mu        sync.Mutex
	givebacks map[string]*giveback
}

type giveback struct {
	n    int
	last time.Time
}

// givebackForget is how long a give-back is remembered for its back-off.
const givebackForget = 30 * time.Minute

// count records a give-back of key and returns how many this backend made
// (within givebackForget of each other).
func (d *diagState) count(key string, now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.givebacks == nil {
		d.givebacks = map[string]*giveback{}
	}
	for k, g := range d.givebacks {
		if now.Sub(g.last) > givebackForget {
			delete(d.givebacks, k)
		}
	}
	g := d.givebacks[key]
	if g == nil {
		g = &giveback{}
		d.givebacks[key] = g
	}
	g.n++
	g.last = now
	return g.n
}

// forget restarts the back-off of key: the back-off counts the give-backs
// since the work last moved, not over an instance's life, so that a
// long-lived instance (a schedule, an entity, an eternal monitor) whose
// commits fail now and then is never held back for minutes. gaveBack
// still remembers the give-back.
func (d *diagState) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g := d.givebacks[key]; g != nil {
		g.n = 0
	}
}

// orchGiveBackKey names an instance's orchestration give-backs.
func orchGiveBackKey(instanceID string) string { return "o|" + instanceID }

// gaveBack reports whether this backend gave key back within
// givebackForget.
func (d *diagState) gaveBack(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.givebacks[key]
	return g != nil && now.Sub(g.last) <= givebackForget
}

func (b *Backend) maxDequeue() int {
	switch {
	case b.opts.MaxDequeueCount < 0:
		return 0
	case b.opts.MaxDequeueCount == 0:
		return provider.DefaultMaxDequeueCount
	}
	return b.opts.MaxDequeueCount
}

func escapeSegment(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ".", "%2E")
}

func instancePrefix(id string) string { return "instances/" + escapeSegment(id) + "/" }

func quarantineBlob(queue, msgID, instanceID string) string {
	tail := escapeSegment(queue) + "/" + escapeSegment(msgID) + ".json.gz"
	if instanceID != "" {
		if name := instancePrefix(instanceID) + "quarantined/" + tail; len(name) <= maxBlobName {
			return name
		}
	}
	return "no-instance/" + tail
}

func stalledBlob(s *provider.Stalled) string {
	name := s.Kind + "-" + s.ExecutionID
	if s.TaskID != nil {
		name += fmt.Sprintf("-%d", *s.TaskID)
	}
	return instancePrefix(s.InstanceID) + "stalled/" + escapeSegment(name) + ".json.gz"
}

// identity is what a message says about itself, read leniently so that a
// message that cannot be decoded is still filed under its instance.
type identity struct {
	instanceID, executionID, eventType, name string
	taskID                                   *int32
	scheduled                                *history.TaskScheduledEvent
	episode                                  *int32
}

func identify(data *queues.MessageData, text string) identity {
	if data != nil && data.TaskMessage != nil && data.TaskMessage.Event != nil {
		tm := data.TaskMessage
		id := identity{instanceID: tm.OrchestrationInstance.InstanceID, executionID: tm.OrchestrationInstance.ExecutionID,
			eventType: tm.Event.Type().String(), episode: data.Episode}
		switch v := tm.Event.(type) {
		case *history.TaskScheduledEvent:
			id.name, id.scheduled = v.Name, v
			t := v.EventID
			id.taskID = &t
		case *history.ExecutionStartedEvent:
			id.name = v.Name
		default:
			if t, ok := rules.CompletionID(tm.Event); ok {
				id.taskID = &t
			}
		}
		return id
	}
	raw, _, err := queues.BodyJSON(text)
	if err != nil {
		return identity{}
	}
	var loose struct {
		TaskMessage *struct {
			OrchestrationInstance *struct {
				InstanceID  string `json:"InstanceId"`
				ExecutionID string `json:"ExecutionId"`
			}
			Event *struct {
				EventType *int
				EventID   *int32 `json:"EventId"`
				Name      string
			}
		}
		Episode *int32
	}
	if json.Unmarshal(raw, &loose) != nil || loose.TaskMessage == nil {
		return identity{}
	}
	var id identity
	if oi := loose.TaskMessage.OrchestrationInstance; oi != nil {
		id.instanceID, id.executionID = oi.InstanceID, oi.ExecutionID
	}
	if ev := loose.TaskMessage.Event; ev != nil {
		id.name = ev.Name
		if ev.EventType != nil {
			id.eventType = history.EventType(*ev.EventType).String()
			if history.EventType(*ev.EventType) == history.TaskScheduled && ev.EventID != nil && ev.Name != "" {
				id.scheduled = &history.TaskScheduledEvent{Name: ev.Name, EventBase: history.EventBase{EventID: *ev.EventID}}
				t := *ev.EventID
				id.taskID = &t
			}
		}
	}
	id.episode = loose.Episode
	return id
}

// permanentDecodeError reports whether a message that failed to decode
// will never decode: its body is not an envelope, or its large-message
// blob is missing or corrupt (as opposed to a blob read that failed).
func permanentDecodeError(err error) bool {
	return errors.Is(err, queues.ErrBadBody) || errors.Is(err, queues.ErrLargeMessageMissing) ||
		errors.Is(err, queues.ErrLargeMessageCorrupt) || errors.Is(err, errNotAnEnvelope)
}

var errNotAnEnvelope = errors.New("not a task message")

// saveRecord writes one record into the poison container.
func (b *Backend) saveRecord(ctx context.Context, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.poisonStore().UploadGzip(ctx, name, data)
}

// quarantined builds the record of one received message.
func (b *Backend) quarantined(queue string, m *queues.Message, id identity, reason string) *provider.Quarantined {
	name := quarantineBlob(queue, m.ID, id.instanceID)
	return &provider.Quarantined{Queue: queue, MessageID: m.ID, InstanceID: id.instanceID, ExecutionID: id.executionID,
		EventType: id.eventType, Name: id.name, TaskID: id.taskID, DequeueCount: int(m.DequeueCount),
		InsertedAt: m.InsertionTime, At: time.Now().UTC(), Reason: reason, Worker: b.opts.WorkerID,
		Location: b.poisonStore().Container() + "/" + name, Body: m.Text}
}

// quarantineReceived takes a received message out of circulation: its
// record is written to the poison container; for an activity work item
// whose task is known, the TaskFailed that tells its orchestration is sent
// next; then the message is deleted. When a step fails the message is put
// back with back-off and the next receive tries again (the record is
// rewritten under the same name, and a second TaskFailed is a duplicate
// the message rules drop). It reports whether the message left its queue.
func (b *Backend) quarantineReceived(ctx context.Context, q *queues.Queue, m *queues.Message, data *queues.MessageData, reason string) bool {
	ctx = context.WithoutCancel(ctx)
	id := identify(data, m.Text)
	rec := b.quarantined(q.Name(), m, id, reason)
	attrs := []any{"queue", q.Name(), "message", m.ID, "instance", id.instanceID, "event", id.eventType,
		"dequeueCount", m.DequeueCount, "reason", reason, "kept", rec.Location}
	putBack := func(step string, err error) bool {
		b.log.Warn("azurestorage: quarantining a poison message failed; it stays on its queue", "queue", q.Name(),
			"message", m.ID, "step", step, "err", err)
		if aerr := q.Abandon(ctx, m); aerr != nil && !errors.Is(aerr, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: putting back a poison message", "message", m.ID, "err", aerr)
		}
		return false
	}
	if err := b.saveRecord(ctx, recordName(rec), rec); err != nil {
		return putBack("record", err)
	}
	if q == b.workitems && id.scheduled != nil && id.instanceID != "" {
		fail := provider.PoisonedActivityFailure(id.scheduled, reason, rec.Location, time.Now().UTC())
		inst := history.OrchestrationInstance{InstanceID: id.instanceID, ExecutionID: id.executionID}
		ep := id.episode
		if ep == nil {
			minus := int32(-1)
			ep = &minus
		}
		env := b.envelope(&history.TaskMessage{Event: fail, OrchestrationInstance: inst}, ep,
			queues.Sender{InstanceID: inst.InstanceID, ExecutionID: inst.ExecutionID})
		if _, err := b.codec.Send(ctx, b.controlQueueFor(inst.InstanceID), env, 0); err != nil {
			return putBack("failing the task", err)
		}
		attrs = append(attrs, "activity", id.name, "taskId", *id.taskID, "failedTask", true)
	}
	if err := q.Delete(ctx, m.ID, m.PopReceipt); err != nil && !errors.Is(err, queues.ErrMessageGone) {
		return putBack("delete", err)
	}
	b.log.Error("azurestorage: poison message quarantined", attrs...)
	return true
}

func recordName(r *provider.Quarantined) string {
	_, name, _ := strings.Cut(r.Location, "/")
	return name
}

// GiveBackOrchestration puts the work item's messages back as fresh copies
// (see provider.Quarantiner).
func (b *Backend) GiveBackOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, st *provider.Stalled) (time.Duration, error) {
	ls, err := b.lockOf(wi)
	if err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UTC()
	delay := provider.GiveBackDelay(provider.StalledOrchestration, b.diag.count(orchGiveBackKey(wi.InstanceID), now))
	if st != nil {
		st.Worker, st.At, st.RetryInSeconds = b.opts.WorkerID, now, int(delay/time.Second)
		if st.InstanceID == "" {
			st.InstanceID = wi.InstanceID
		}
		if st.InstanceID != "" {
			if err := b.saveRecord(ctx, stalledBlob(st), st); err != nil {
				b.log.Warn("azurestorage: recording why a work item was given back", "instance", wi.InstanceID, "err", err)
			}
		}
		if r := ls.row; r != nil && r.State.Status == history.StatusPending &&
			strings.EqualFold(r.State.OrchestrationInstance.ExecutionID, st.ExecutionID) {
			b.notePending(ctx, r, st)
		}
	}
	b.requeueFresh(ctx, ls.msgs, delay)
	b.unlock(ls.s, false)
	return delay, nil
}

// notePending records the reason as the custom status of a Pending row,
// under If-Match: a row written since it was read is newer and wins.
func (b *Backend) notePending(ctx context.Context, r *tables.InstanceRow, st *provider.Stalled) {
	text := st.PendingStatus()
	if r.State.CustomStatus != nil && *r.State.CustomStatus == text {
		return
	}
	e := &tables.Entity{PartitionKey: tables.EscapePartitionKey(r.State.OrchestrationInstance.InstanceID)}
	e.Set("CustomStatus", text)
	etag, err := b.inst.Merge(ctx, e, r.ETag)
	switch {
	case errors.Is(err, tables.ErrConflict), errors.Is(err, tables.ErrNotFound):
		return
	case err != nil:
		b.log.Warn("azurestorage: recording why a Pending instance does not start", "instance", st.InstanceID, "err", err)
		return
	}
	r.ETag = etag
	r.State.CustomStatus = &text
}

// requeueFresh replaces each message by a copy visible after delay, in the
// batch's order (replaceMessage). When the batch starts with an
// ExecutionStarted, the copies of the messages after it are sent in a
// later second than its copy, so that sorting by insertion time keeps the
// start first.
func (b *Backend) requeueFresh(ctx context.Context, msgs []*pending, delay time.Duration) {
	b.current(msgs)
	var startAt time.Time
	for i, m := range msgs {
		if m.local {
			b.spill(ctx, m, delay)
			continue
		}
		if i > 0 && !startAt.IsZero() {
			if wait := time.Until(startAt.Truncate(time.Second).Add(time.Second + 100*time.Millisecond)); wait > 0 {
				time.Sleep(wait)
			}
			startAt = time.Time{}
		}
		sent, ok := b.replaceMessage(ctx, m.q, m.raw, delay)
		if ok && i == 0 {
			if _, isStart := m.data.TaskMessage.Event.(*history.ExecutionStartedEvent); isStart {
				startAt = sent.InsertionTime
				if startAt.IsZero() {
					startAt = time.Now()
				}
			}
		}
	}
	b.forget(msgs)
}

// replaceMessage gives a received message back as a copy visible after
// delay, so that its dequeue count starts again: the original is first
// hidden for the delay with its pop receipt (which proves that it is still
// ours, and is what a crash right after leaves behind: an ordinary
// abandon), then the copy is sent, then the original deleted. A message no
// longer ours is left to its new holder; a crash between the send and the
// delete leaves a duplicate, never a loss. It reports whether the copy
// replaced the original.
func (b *Backend) replaceMessage(ctx context.Context, q *queues.Queue, raw *queues.Message, delay time.Duration) (queues.Sent, bool) {
	pop, _, err := q.UpdateVisibility(ctx, raw.ID, raw.PopReceipt, raw.Text, delay)
	if err != nil {
		if !errors.Is(err, queues.ErrMessageGone) {
			b.log.Warn("azurestorage: putting back a message", "message", raw.ID, "err", err)
		}
		return queues.Sent{}, false
	}
	raw.PopReceipt = pop
	sent, err := q.SendQuiet(ctx, raw.Text, delay)
	if err != nil {
		b.log.Warn("azurestorage: copying a message that is given back failed; the original is put back instead", "message", raw.ID, "err", err)
		return queues.Sent{}, false
	}
	if err := q.Delete(ctx, raw.ID, pop); err != nil && !errors.Is(err, queues.ErrMessageGone) {
		b.log.Warn("azurestorage: deleting a message replaced by its copy; the copy is a duplicate", "message", raw.ID, "err", err)
	}
	return sent, true
}

// GiveBackActivity puts an activity work item back as a fresh copy (see
// provider.Quarantiner).
func (b *Backend) GiveBackActivity(ctx context.Context, wi *provider.ActivityWorkItem, st *provider.Stalled) (time.Duration, error) {
	l, err := activityLockOf(wi)
	if err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UTC()
	key := fmt.Sprintf("a|%s|%s|%d", wi.Instance.InstanceID, wi.Instance.ExecutionID, wi.Event.EventID)
	delay := provider.GiveBackDelay(provider.StalledActivity, b.diag.count(key, now))
	if st != nil {
		st.Worker, st.At, st.RetryInSeconds = b.opts.WorkerID, now, int(delay/time.Second)
		if st.InstanceID != "" {
			if err := b.saveRecord(ctx, stalledBlob(st), st); err != nil {
				b.log.Warn("azurestorage: recording why an activity was given back", "instance", st.InstanceID, "err", err)
			}
		}
	}
	_ = l.h.end(func(m *queues.Message) error {
		b.replaceMessage(ctx, b.workitems, m, delay)
		return nil
	})
	return delay, nil
}

// QuarantineOrchestration moves the work item's messages into quarantine
// (see provider.Quarantiner). If a record cannot be written, nothing is
// deleted: the messages are put back and the error returned.
func (b *Backend) QuarantineOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, orchestration, reason string) error {
	ls, err := b.lockOf(wi)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	if ls.stale > 0 {
		// Stale messages are not the episode's: they go back, and are
		// dropped when they come back with a batch that commits.
		n := len(ls.msgs) - ls.stale
		b.abandonPending(ctx, ls.msgs[n:], 0)
		ls.msgs, ls.stale = ls.msgs[:n], 0
	}
	ids := make([]string, 0, len(ls.msgs))
	var where string
	b.current(ls.msgs)
	for _, m := range ls.msgs {
		raw := *m.raw
		queue := m.q.Name()
		if m.local {
			// A result held in memory: keep the message it would have been.
			raw.Text = queues.EncodeBody(m.data, b.codec.Encoding())
			queue = b.controlQueueFor(wi.InstanceID).Name()
		}
		rec := b.quarantined(queue, &raw, identify(m.data, raw.Text), reason)
		if err := b.saveRecord(ctx, recordName(rec), rec); err != nil {
			b.abandonPending(ctx, ls.msgs, 0)
			b.unlock(ls.s, false)
			return fmt.Errorf("azurestorage: quarantining the messages of %q: %w", wi.InstanceID, err)
		}
		ids = append(ids, m.raw.ID)
		if where == "" {
			where = rec.Location
		}
	}
	b.deleteMessages(ctx, ls.msgs)
	b.unlock(ls.s, false)
	b.log.Error("azurestorage: episode quarantined: its messages were moved to the poison container and the instance's rows left as they are",
		"instance", wi.InstanceID, "orchestration", orchestration, "reason", reason, "message", strings.Join(ids, ","), "kept", where)
	return nil
}

// Diagnostics lists the instance's quarantined messages and the give-back
// records that still hold it back.
func (b *Backend) Diagnostics(ctx context.Context, instanceID string) (*provider.Diagnostics, error) {
	store := b.poisonStore()
	prefix := instancePrefix(instanceID)
	pager := b.bsvc.NewListBlobsFlatPager(store.Container(), &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	d := &provider.Diagnostics{}
	var stalls []provider.Stalled
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return d, nil
		}
		if err != nil {
			return nil, fmt.Errorf("azurestorage: listing %s: %w", store.Container(), err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			data, err := store.DownloadGzip(ctx, *it.Name)
			if err != nil {
				continue // deleted meanwhile, or not ours
			}
			rest := strings.TrimPrefix(*it.Name, prefix)
			switch {
			case strings.HasPrefix(rest, "quarantined/"):
				var q provider.Quarantined
				if json.Unmarshal(data, &q) == nil {
					d.Quarantined = append(d.Quarantined, q)
				}
			case strings.HasPrefix(rest, "stalled/"):
				var s provider.Stalled
				if json.Unmarshal(data, &s) == nil {
					stalls = append(stalls, s)
				}
			}
		}
	}
	sort.Slice(d.Quarantined, func(i, j int) bool { return d.Quarantined[i].At.Before(d.Quarantined[j].At) })
	if len(stalls) == 0 {
		return d, nil
	}
	st, err := b.GetState(ctx, instanceID, false)
	if errors.Is(err, provider.ErrNotFound) {
		st, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hist []history.Event
	for _, s := range stalls {
		if s.Kind == provider.StalledActivity && hist == nil && st != nil {
			if hist, err = b.History(ctx, instanceID, ""); err != nil {
				return nil, err
			}
		}
		if provider.StillStalled(&s, st, hist) {
			d.Stalled = append(d.Stalled, s)
		}
	}
	sort.Slice(d.Stalled, func(i, j int) bool { return d.Stalled[i].At.Before(d.Stalled[j].At) })
	return d, nil
}

// prepareFailed puts back the messages of a batch whose work item could
// not be formed. A failure that may pass (storage unavailable, a time-out,
// a stop) is not the messages' fault: they are given back as fresh copies,
// uncounted. One that will recur is abandoned with C#'s back-off and counts
// towards poison.
func (b *Backend) prepareFailed(ctx context.Context, s *session, msgs []*pending, err error) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.raw.ID
	}
	if _, again := provider.Repeatable(repeatable(err)); again {
		b.log.Warn("azurestorage: preparing a work item failed; putting its messages back", "instance", s.id,
			"message", strings.Join(ids, ","), "err", err)
		b.abandonPending(ctx, msgs, 0)
	} else {
		ctx = context.WithoutCancel(ctx)
		delay := provider.GiveBackDelay(provider.StalledOrchestration, b.diag.count(orchGiveBackKey(s.id), time.Now()))
		b.log.Warn("azurestorage: preparing a work item failed; giving its messages back uncounted", "instance", s.id,
			"message", strings.Join(ids, ","), "retryIn", delay, "err", err)
		b.requeueFresh(ctx, msgs, delay)
	}
	b.unlock(s, false)
}

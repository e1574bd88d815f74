package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

var clientSender = queues.Sender{}

// CreateInstance starts an instance in C#'s order (tables spec §2.3.1,
// §2.5): send the ExecutionStarted message, then write the Pending row;
// the dedupe statuses and the Generation rule are applied against the
// row the id already has.
//
// The row is not read before a first attempt: the start is sent with
// Generation 0 and its row inserted, which succeeds for an id that has
// no row (the common case, one call fewer than C#'s read before every
// start). Only an insert that conflicts reads the row, and the start is
// then decided against it as if it had been read first: a dedupe status
// withdraws the message and gives provider.ErrInstanceExists; otherwise
// the row is replaced under the ETag just read and the message, still
// held, is rewritten with the next Generation when it is shown (an
// offloaded message is sent anew instead).
//
// Unlike C#, a start that loses is undone and reported. The message is
// sent hidden (for at least startHideFor) and shown only once the row is
// written, so that no worker can take it meanwhile and the sender alone
// holds it by its pop receipt. If the row write fails, the row is read
// again (the write may have landed and only its answer been lost); a row
// that is not this start's means the start lost, and its message (and its
// offloaded body) are deleted. A lost race (another start inserted the row
// first, or the row changed or vanished since it was read, e.g. purged) is
// then decided afresh from the current row, read first: the dedupe
// statuses give provider.ErrInstanceExists (so of N concurrent starts of
// one id exactly one succeeds), otherwise the start is sent again. A crash
// after the send leaves a hidden message: without its row, workers drop it
// after its deliveries run out, as C#'s do; with its row, it runs
// startHideFor late.
//
// Everything that can refuse the start is checked before anything is
// written (provider.ValidateStart).
func (b *Backend) CreateInstance(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus) error {
	if err := provider.ValidateStart(start, time.Now().UTC()); err != nil {
		return err
	}
	if err := b.ensure(ctx); err != nil {
		return err
	}
	id := start.Event.(*history.ExecutionStartedEvent).OrchestrationInstance.InstanceID
	for attempt := 1; ; attempt++ {
		err := b.createOnce(ctx, start, dedupe, attempt > 1)
		if !errors.Is(err, errStartRaced) {
			return err
		}
		if attempt == maxStartAttempts {
			return fmt.Errorf("%w: %q: other writers changed its Instances row during %d attempts to start it", provider.ErrInstanceExists, id, attempt)
		}
		b.log.Info("azurestorage: a start lost a race for its Instances row; deciding again", "instance", id, "attempt", attempt)
	}
}

// startHideFor is how long a start message stays hidden while its row is
// written; it is shown as soon as the row is (see CreateInstance).
const startHideFor = 30 * time.Second

// maxStartAttempts bounds how often a start that keeps losing races for
// its row is tried again.
const maxStartAttempts = 5

// errStartRaced reports a start whose row write lost a race and whose
// message was withdrawn: CreateInstance decides again.
var errStartRaced = errors.New("azurestorage: the start lost a race for its Instances row")

// createOnce is one attempt of CreateInstance; raced says that an earlier
// attempt lost a race for the row, so this one reads the row first.
func (b *Backend) createOnce(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus, raced bool) error {
	if !raced {
		sm, err := b.encodeStart(ctx, start, nil, time.Time{})
		if err != nil {
			return err
		}
		return b.sendStart(ctx, start, dedupe, sm, nil, false)
	}
	id := start.Event.(*history.ExecutionStartedEvent).OrchestrationInstance.InstanceID
	row, err := b.inst.Get(ctx, id, false)
	if errors.Is(err, tables.ErrNotFound) {
		row, err = nil, nil
	}
	if err != nil {
		return err
	}
	if row != nil && slices.Contains(dedupe, row.State.Status) {
		return fmt.Errorf("%w: %q is %s: a concurrent start of the same id won", provider.ErrInstanceExists, id, row.State.Status)
	}
	sm, err := b.encodeStart(ctx, start, row, time.Time{})
	if err != nil {
		return err
	}
	return b.sendStart(ctx, start, dedupe, sm, row, true)
}

// startMessage is a start as it is sent: the event with its Generation
// and Timestamp, the message text and the offloaded body, if any.
type startMessage struct {
	es   *history.ExecutionStartedEvent
	text string
	blob string
}

// encodeStart encodes the start message for an id whose row is row (nil:
// none). The Generation follows the row unless the caller set one; the
// Timestamp is the caller's, else at, else now.
func (b *Backend) encodeStart(ctx context.Context, start *history.TaskMessage, row *tables.InstanceRow, at time.Time) (*startMessage, error) {
	cp := *start.Event.(*history.ExecutionStartedEvent)
	es := &cp
	if es.Generation == nil {
		g := rules.NextGeneration(stateOf(row))
		es.Generation = &g
	}
	if es.Timestamp.IsZero() {
		es.Timestamp = at
	}
	if es.Timestamp.IsZero() {
		es.Timestamp = time.Now().UTC()
	}
	tm := *start
	tm.Event = es
	text, blobName, err := b.codec.EncodeOffload(ctx, b.envelope(&tm, nil, clientSender))
	if err != nil {
		return nil, err
	}
	return &startMessage{es: es, text: text, blob: blobName}, nil
}

// sendStart sends a start hidden and writes its row: Insert when row is
// nil, else Replace under row's ETag. read says whether row was read (a
// nil row then means there was none); a first attempt's insert did not
// read it.
func (b *Backend) sendStart(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus, sm *startMessage, row *tables.InstanceRow, read bool) error {
	var delay time.Duration
	if sm.es.ScheduledStartTime != nil {
		delay = sm.es.ScheduledStartTime.Sub(time.Now().UTC())
	}
	q := b.controlQueueFor(sm.es.OrchestrationInstance.InstanceID)
	sent, err := q.SendHidden(ctx, sm.text, max(delay, startHideFor))
	if err != nil {
		return err
	}
	return b.writeStart(ctx, start, dedupe, &sentStart{q: q, sent: sent, blob: sm.blob, text: sm.text}, sm, row, read)
}

// writeStart writes the row of a start whose message s holds (its text is
// sm's, or is rewritten to it when shown) and shows the message; a write
// that loses withdraws it (see CreateInstance).
func (b *Backend) writeStart(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus, s *sentStart, sm *startMessage, row *tables.InstanceRow, read bool) error {
	es := sm.es
	id := es.OrchestrationInstance.InstanceID
	inputURL := ""
	if sm.blob != "" {
		inputURL = b.large.URL(sm.blob)
	}
	e := tables.PendingInstanceRow(es, b.opts.TaskHub, inputURL, time.Now().UTC())
	up, err := tables.OffloadLargeColumns(e, nil)
	if err == nil {
		err = b.uploadLarge(ctx, up)
	}
	if err != nil {
		b.withdraw(ctx, id, s)
		return err
	}
	if row == nil {
		_, err = b.inst.Insert(ctx, e)
	} else {
		_, err = b.inst.Replace(ctx, e, row.ETag)
	}
	if err == nil {
		b.show(ctx, id, s, sm.text, es)
		return nil
	}
	cur, ours := b.rowAfterFailedWrite(ctx, id, es)
	if ours {
		b.show(ctx, id, s, sm.text, es)
		return nil
	}
	if !read && cur != nil && errors.Is(err, tables.ErrConflict) {
		// The insert found a row it had not read: decide against it.
		return b.startOver(ctx, start, dedupe, s, sm, cur)
	}
	if !b.withdraw(ctx, id, s) {
		// A worker has the message after all (it was hidden for less
		// time than the write took): its de-duplication drops it, since
		// the row is not its execution's.
		if errors.Is(err, tables.ErrConflict) {
			return fmt.Errorf("%w: %q: a concurrent start wrote its Instances row first", provider.ErrInstanceExists, id)
		}
		return err
	}
	if errors.Is(err, tables.ErrConflict) || errors.Is(err, tables.ErrNotFound) {
		return errStartRaced
	}
	return err
}

// startOver decides a start whose insert found a row (cur) against that
// row, as if it had been read first: a dedupe status withdraws the start;
// otherwise the row is replaced and the held message rewritten with the
// Generation that follows the row's when it is shown.
func (b *Backend) startOver(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus, s *sentStart, sm *startMessage, cur *tables.InstanceRow) error {
	id := sm.es.OrchestrationInstance.InstanceID
	if slices.Contains(dedupe, cur.State.Status) {
		// A message the withdraw misses is one a worker took; its
		// de-duplication drops it, since the row is not its execution's.
		b.withdraw(ctx, id, s)
		return fmt.Errorf("%w: %q is %s", provider.ErrInstanceExists, id, cur.State.Status)
	}
	next, err := b.encodeStart(ctx, start, cur, sm.es.Timestamp)
	if err != nil {
		b.withdraw(ctx, id, s)
		return err
	}
	if sm.blob == "" && next.blob == "" {
		return b.writeStart(ctx, start, dedupe, s, next, cur, true)
	}
	// An offloaded body is not rewritten in place: the start is sent anew.
	if !b.withdraw(ctx, id, s) {
		if next.blob != "" {
			_, _ = b.large.DeletePrefix(context.WithoutCancel(ctx), next.blob)
		}
		return fmt.Errorf("%w: %q: its row exists and the first message of the start could not be withdrawn", provider.ErrInstanceExists, id)
	}
	return b.sendStart(ctx, start, dedupe, next, cur, true)
}

// sentStart is a start message sent hidden: its sender holds it by the
// pop receipt until it is shown or withdrawn.
type sentStart struct {
	q    *queues.Queue
	sent queues.Sent
	blob string // the offloaded message body, if any
	text string // the text as sent
}

// rowAfterFailedWrite reads the instance's row after a failed write (nil
// when there is none or it cannot be read) and whether it is this start's:
// the write may have been applied with only its answer lost (a retried
// Insert then fails with a conflict against itself).
func (b *Backend) rowAfterFailedWrite(ctx context.Context, id string, es *history.ExecutionStartedEvent) (*tables.InstanceRow, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r, err := b.inst.Get(ctx, id, false)
	if err != nil {
		return nil, false
	}
	return r, strings.EqualFold(r.State.OrchestrationInstance.ExecutionID, es.OrchestrationInstance.ExecutionID)
}

// withdraw deletes a start message that will not run, and its offloaded
// body. It reports whether the message is gone; false means a worker
// received it (or storage failed), and then the worker's de-duplication
// deals with it.
func (b *Backend) withdraw(ctx context.Context, id string, s *sentStart) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.q.Delete(ctx, s.sent.ID, s.sent.PopReceipt); err != nil {
		b.log.Warn("azurestorage: withdrawing the message of a start that failed", "instance", id, "message", s.sent.ID, "err", err)
		return false
	}
	if s.blob != "" {
		if _, err := b.large.DeletePrefix(ctx, s.blob); err != nil {
			b.log.Warn("azurestorage: deleting the offloaded body of a withdrawn start", "instance", id, "blob", s.blob, "err", err)
		}
	}
	return true
}

// show makes a start message visible (at its scheduled time, if that is
// sooner than the hiding ends), with text if that differs from the text
// sent, and wakes this process's pollers of its queue; a start due now
// whose partition this process owns is handed to its owner instead
// (localstarts.go). A failure only delays the start until the hiding ends.
func (b *Backend) show(ctx context.Context, id string, s *sentStart, text string, es *history.ExecutionStartedEvent) {
	// The start has happened (its row is written) even if the caller gave
	// up meanwhile: show it all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var delay time.Duration
	if es.ScheduledStartTime != nil {
		delay = max(time.Until(*es.ScheduledStartTime), 0)
	}
	if text == s.text && !s.sent.NextVisible.IsZero() && time.Now().Add(delay).After(s.sent.NextVisible) {
		return // hidden until its scheduled time already
	}
	if delay <= 0 && text == s.text && b.handOver(s) {
		return // taken by the partition's owner in this process (localstarts.go)
	}
	if _, _, err := s.q.UpdateVisibility(ctx, s.sent.ID, s.sent.PopReceipt, text, delay); err != nil {
		b.log.Warn("azurestorage: showing a start message; it shows when its hiding ends", "instance", id, "message", s.sent.ID,
			"visibleAt", s.sent.NextVisible, "err", err)
		return
	}
	name := s.q.Name()
	if delay <= 0 {
		b.wake.Notify(name)
	} else if delay <= 10*time.Minute {
		time.AfterFunc(delay, func() { b.wake.Notify(name) })
	}
}

// SendMessages sends client messages to their instances' control queues.
func (b *Backend) SendMessages(ctx context.Context, msgs ...*history.TaskMessage) error {
	for _, tm := range msgs {
		if err := provider.ValidateMessage(tm); err != nil {
			return err
		}
	}
	if err := b.ensure(ctx); err != nil {
		return err
	}
	out := make([]outbound, 0, len(msgs))
	for _, tm := range msgs {
		if tm.Event.Base().Timestamp.IsZero() {
			tm.Event.Base().Timestamp = time.Now().UTC()
		}
		out = append(out, outbound{q: b.controlQueueFor(tm.OrchestrationInstance.InstanceID), m: b.envelope(tm, nil, clientSender)})
	}
	return b.sendAll(ctx, out)
}

// GetState reads an instance's status row; with payloads, inputs and
// outputs stored in blobs are fetched.
func (b *Backend) GetState(ctx context.Context, instanceID string, withPayloads bool) (*history.OrchestrationState, error) {
	row, err := b.inst.Get(ctx, instanceID, withPayloads)
	if errors.Is(err, tables.ErrNotFound) || errors.Is(err, tables.ErrTableNotFound) {
		return nil, fmt.Errorf("%w: %q", provider.ErrNotFound, instanceID)
	}
	if err != nil {
		return nil, err
	}
	st := row.State
	if withPayloads {
		b.resolvePayloads(ctx, st)
	} else {
		st.Output = nil
	}
	return st, nil
}

// resolvePayloads follows blob URLs in Input and Output (C#'s
// FetchLargeMessageDataEnabled): a message blob yields its start input,
// another blob is the value itself.
func (b *Backend) resolvePayloads(ctx context.Context, st *history.OrchestrationState) {
	for _, p := range []**string{&st.Input, &st.Output} {
		if *p == nil || !tables.IsBlobURL(**p) {
			continue
		}
		name, err := b.large.NameFromURL(**p)
		if err != nil {
			continue
		}
		data, err := b.large.DownloadGzip(ctx, name)
		if err != nil {
			b.log.Warn("azurestorage: fetching a payload blob", "blob", name, "err", err)
			continue
		}
		text := string(data)
		if strings.HasSuffix(name, "ExecutionStarted.json.gz") {
			if m, err := queues.Unmarshal(data); err == nil && m.TaskMessage != nil {
				if es, ok := m.TaskMessage.Event.(*history.ExecutionStartedEvent); ok {
					*p = es.Input
					continue
				}
			}
		}
		*p = &text
	}
}

// Query lists instances page by page.
func (b *Backend) Query(ctx context.Context, q provider.Query, token string) (*provider.Page, error) {
	tq := tables.InstanceQuery{Statuses: q.Statuses, CreatedFrom: q.CreatedFrom, CreatedTo: q.CreatedTo,
		InstanceIDPrefix: q.InstanceIDPrefix, ExcludeEntities: q.ExcludeEntities, After: q.After, FetchInput: q.FetchPayloads,
		FetchOutput: q.FetchPayloads, PageSize: q.PageSize}
	page, err := b.inst.Query(ctx, tq, token)
	if errors.Is(err, tables.ErrTableNotFound) {
		return &provider.Page{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &provider.Page{ContinuationToken: page.ContinuationToken}
	for _, r := range page.Instances {
		if q.FetchPayloads {
			b.resolvePayloads(ctx, r.State)
		}
		out.States = append(out.States, r.State)
	}
	return out, nil
}

// History returns the events of one execution ("" = the current one).
func (b *Backend) History(ctx context.Context, instanceID, executionID string) ([]history.Event, error) {
	h, err := b.hist.Load(ctx, instanceID, executionID)
	if err != nil {
		if errors.Is(err, tables.ErrTableNotFound) {
			return nil, fmt.Errorf("%w: %q", provider.ErrNotFound, instanceID)
		}
		return nil, err
	}
	if len(h.Events) == 0 {
		if _, err := b.inst.Get(ctx, instanceID, false); errors.Is(err, tables.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", provider.ErrNotFound, instanceID)
		}
	}
	return h.Events, nil
}

// Purge deletes an instance's history rows, Instances row and blobs.
func (b *Backend) Purge(ctx context.Context, instanceID string) (provider.PurgeResult, error) {
	r, err := b.purger.Instance(ctx, instanceID)
	if errors.Is(err, tables.ErrTableNotFound) {
		return provider.PurgeResult{Complete: true}, nil
	}
	return provider.PurgeResult{InstancesDeleted: r.Instances, RowsDeleted: r.HistoryRows, Complete: r.Complete || err == nil}, err
}

// PurgeWhere purges the finished instances that match the filter: only
// the statuses of f.PurgeStatuses(), each instance's status read again
// just before it is purged, so that an unfinished instance is never
// purged.
func (b *Backend) PurgeWhere(ctx context.Context, f provider.PurgeFilter) (provider.PurgeResult, error) {
	statuses, err := f.PurgeStatuses()
	if err != nil {
		return provider.PurgeResult{}, err
	}
	tf := tables.PurgeFilter{CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo, Statuses: statuses}
	r, err := b.purger.Filter(ctx, tf)
	if errors.Is(err, tables.ErrTableNotFound) {
		return provider.PurgeResult{Complete: true}, nil
	}
	return provider.PurgeResult{InstancesDeleted: r.Instances, RowsDeleted: r.HistoryRows, Complete: r.Complete}, err
}

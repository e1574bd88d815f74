package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/tables"
)

// batchExecution is the execution a batch addresses: its ExecutionStarted's,
// else the one its messages name, else "" (the current one). Messages that
// name different executions (results for an execution that was replaced,
// next to the current one's) make it "" too: read against the current
// execution, Triage drops the stale ones as stale, whereas read against a
// stale execution's (absent) history the current ones would look out of
// order until dropped as belonging to no instance.
func batchExecution(msgs []*pending) string {
	for _, m := range msgs {
		if es, ok := m.data.TaskMessage.Event.(*history.ExecutionStartedEvent); ok {
			return es.OrchestrationInstance.ExecutionID
		}
	}
	id := ""
	for _, m := range msgs {
		switch e := m.data.TaskMessage.OrchestrationInstance.ExecutionID; {
		case e == "":
		case id == "":
			id = e
		case !strings.EqualFold(id, e):
			return ""
		}
	}
	return id
}

func countStarts(events []history.Event) int {
	n := 0
	for _, ev := range events {
		if ev.Type() == history.OrchestratorStarted {
			n++
		}
	}
	return n
}

func startOf(events []history.Event) *history.ExecutionStartedEvent {
	for _, ev := range events {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			return es
		}
	}
	return nil
}

func parentOf(es *history.ExecutionStartedEvent) string {
	if es == nil || es.ParentInstance == nil {
		return ""
	}
	return es.ParentInstance.OrchestrationInstance.InstanceID
}

func senderOf(m *pending) history.OrchestrationInstance {
	if m.data.Sender == nil {
		return history.OrchestrationInstance{}
	}
	return history.OrchestrationInstance{InstanceID: m.data.Sender.InstanceID, ExecutionID: m.data.Sender.ExecutionID}
}

// load reads the instance's history for the batch's execution into the
// session.
func (b *Backend) load(ctx context.Context, s *session, expected string) (*tables.History, error) {
	h, err := b.hist.Load(ctx, s.id, expected)
	if err != nil {
		return nil, err
	}
	// The history is at another execution than the one the batch names
	// (a result of an execution before a continue-as-new, say): the read
	// holds none of its events. Read the current execution instead, so
	// that the batch's messages that name no execution (a client's event,
	// terminate, suspend) are judged against the instance as it is; judged
	// against the empty read they were dropped as for an instance without
	// history. The named messages are then stale for Triage, not early.
	if expected != "" && h.Sentinel != nil && !strings.EqualFold(h.Sentinel.ExecutionID, expected) {
		if h, err = b.hist.Load(ctx, s.id, ""); err != nil {
			return nil, err
		}
		expected = ""
	}
	// A history read for another execution than the current one (a stale
	// result's) says nothing about the current one: the next batch reads
	// again, rather than take the instance for one without history.
	s.known = expected == "" || strings.EqualFold(h.ExecutionID, expected)
	s.index = rules.NewHistoryIndex(h.Events)
	s.etag = h.ETag
	s.execID = h.ExecutionID
	s.parentID = parentOf(startOf(h.Events))
	s.episodes = countStarts(h.Events)
	return h, nil
}

// prepare applies the message rules to a batch and builds the work item,
// or returns nil when nothing is left to run.
func (b *Backend) prepare(ctx context.Context, s *session, msgs []*pending) (*provider.OrchestrationWorkItem, error) {
	var loaded *tables.History
	var row *history.OrchestrationState
	var instRow *tables.InstanceRow // row with its ETag, when read and found
	rowRead := false

	// De-duplicate top-level starts against the Instances row (§2.5),
	// before the history is read: a start dropped or put back here says
	// nothing about the execution the rest of the batch is for. (Read for
	// a duplicate start's execution, the history of the current one looked
	// absent, and its activity results were dropped as belonging to no
	// instance once they had come back with the start 5 times.)
	candidates := make([]*pending, 0, len(msgs))
	for _, m := range msgs {
		es, ok := m.data.TaskMessage.Event.(*history.ExecutionStartedEvent)
		if !ok || !rules.NeedsStartDedupe(m.data.TaskMessage, senderOf(m)) {
			candidates = append(candidates, m)
			continue
		}
		if !rowRead {
			r, err := b.startRow(ctx, s.id, m, es)
			if err != nil {
				return nil, err
			}
			row, instRow, rowRead = stateOf(r), r, true
		}
		v, why := rules.DedupeStart(row, es, int(m.raw.DequeueCount), m.raw.NextVisible.Add(-b.opts.ControlQueueVisibility))
		switch v {
		case rules.Keep:
			candidates = append(candidates, m)
		default:
			b.apply(ctx, s, m, v, why)
		}
	}

	expected := batchExecution(candidates)
	// A finished execution is read again before its batch is judged: a
	// rewind (ours or C#'s) rewrites its rows without telling this session.
	needLoad := !s.known || (expected != "" && !strings.EqualFold(expected, s.execID)) || (s.index != nil && s.index.Terminal())
	// A start's de-duplication read the Instances row; it may spare the
	// history read.
	if _, es := firstStart(candidates); needLoad && !s.known && es != nil {
		// A batch this backend gave back is on a copy's first delivery
		// although an earlier attempt may have written history.
		if freshStart(row, es, msgs) && !b.diag.gaveBack(orchGiveBackKey(s.id), time.Now()) {
			s.known, s.index, s.etag, s.execID, s.parentID, s.episodes = true, rules.NewHistoryIndex(nil), "", "", "", 0
			needLoad = false
		}
	}
	if needLoad {
		h, err := b.load(ctx, s, expected)
		if err != nil {
			return nil, err
		}
		loaded = h
	}

	in := make([]rules.Incoming, len(candidates))
	for i, m := range candidates {
		in[i] = rules.Incoming{TaskMessage: m.data.TaskMessage, DequeueCount: int(m.raw.DequeueCount), Sender: senderOf(m)}
	}
	res := rules.Triage(s.index, in)
	// A duplicate start is the only trace of a lost row write: heal the
	// row before the start is deleted, and keep the start (it comes back)
	// when the row could not be written, or when this process dies first.
	for i, d := range res.Decisions {
		if _, ok := in[d.Index].Event.(*history.ExecutionStartedEvent); ok && d.Verdict == rules.Drop && instRow != nil {
			if err := b.healPendingRow(ctx, s, instRow, loaded); err != nil {
				res.Decisions[i].Verdict = rules.Abandon
				res.Decisions[i].Reason = "the Instances row of the running instance still says Pending: " + err.Error()
			}
			break
		}
	}
	// A terminal history whose Instances row is stale (a crash, or a lost
	// answer, between the history commit and the row write) is repaired
	// whatever the messages were, as C# does before running a work item.
	// The messages about to be discarded are the only trigger of the
	// repair, so it comes first: when it fails, or this process dies
	// before it is done, they come back and it is tried again.
	if loaded != nil && s.index.Terminal() && !res.NewExecution {
		if err := b.repair(ctx, s, loaded); err != nil {
			return nil, fmt.Errorf("azurestorage: repairing the Instances row of finished instance %s: %w", s.id, err)
		}
	}
	keptLocal := map[string]*pending{}
	for _, k := range res.Kept {
		if m := candidates[k]; m.local {
			keptLocal[m.raw.ID] = m
		}
	}
	var stale []*pending
	for _, d := range res.Decisions {
		if m := candidates[d.Index]; d.Verdict != rules.Keep && m.local && keptLocal[m.raw.ID] != nil {
			b.shareWorkItem(s, m, keptLocal[m.raw.ID], d.Reason)
			continue
		}
		switch d.Verdict {
		case rules.Keep:
		case rules.DropOnCommit:
			m := candidates[d.Index]
			b.log.Info("azurestorage: discarding message when the episode commits", "instance", s.id,
				"execution", m.data.TaskMessage.OrchestrationInstance.ExecutionID, "event", m.data.TaskMessage.Event.Type().String(),
				"message", m.raw.ID, "dequeueCount", m.raw.DequeueCount, "reason", d.Reason)
			stale = append(stale, m)
		default:
			b.apply(ctx, s, candidates[d.Index], d.Verdict, d.Reason)
		}
	}
	if t := res.TerminateWithoutHistory; t != nil {
		b.terminateWithoutHistory(ctx, s.id, t)
	}
	if len(res.Kept) == 0 {
		return nil, nil
	}
	ls := &lockState{s: s, episodes: s.episodes, row: instRow}
	kept := make([]*provider.Message, len(res.Kept))
	for i, k := range res.Kept {
		m := candidates[k]
		ls.msgs = append(ls.msgs, m)
		kept[i] = &provider.Message{TaskMessage: m.data.TaskMessage, ID: m.raw.ID, DequeueCount: int(m.raw.DequeueCount), Sender: senderOf(m)}
	}
	// Stale messages are held with the work item (renewed, deleted by its
	// commit, put back by anything else) but not handed to the worker.
	ls.msgs = append(ls.msgs, stale...)
	ls.stale = len(stale)
	wi := &provider.OrchestrationWorkItem{InstanceID: s.id, Messages: kept, HistoryETag: s.etag,
		Partition: s.part.name, Private: ls}
	if res.NewExecution || !s.index.Started {
		wi.NewExecution = true
		wi.History = []history.Event{}
		ls.newExec = true
		ls.episodes = 0
	} else {
		wi.ExecutionID = s.execID
		wi.HistoryLen = s.index.Len
		if loaded != nil {
			wi.History = loaded.Events
		}
	}
	return wi, nil
}

// startRowGrace is how recent a start must be for prepare to wait for its
// Instances row rather than abandon it at once.
const startRowGrace = 5 * time.Second

// firstStart returns the batch's top-level ExecutionStarted (the one whose
// start is de-duplicated against the Instances row) and its message, if
// any.
func firstStart(msgs []*pending) (*pending, *history.ExecutionStartedEvent) {
	for _, m := range msgs {
		if es, ok := m.data.TaskMessage.Event.(*history.ExecutionStartedEvent); ok && rules.NeedsStartDedupe(m.data.TaskMessage, senderOf(m)) {
			return m, es
		}
	}
	return nil, nil
}

// startRow reads the Instances row a start is de-duplicated against (nil
// when there is none). A client writes that row just after it sends the
// start (C#'s order), so a start received at once may find no row of its
// own yet; for a recent first delivery the row is read again a few times,
// briefly (after 100, 200, 400 and 800 ms), before DedupeStart's verdict
// would abandon the message for C#'s back-off (2 s, then a second receive
// and history read).
func (b *Backend) startRow(ctx context.Context, id string, m *pending, es *history.ExecutionStartedEvent) (*tables.InstanceRow, error) {
	wait := 100 * time.Millisecond
	for {
		r, err := b.inst.Get(ctx, id, false)
		if errors.Is(err, tables.ErrNotFound) {
			r, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		v, _ := rules.DedupeStart(stateOf(r), es, int(m.raw.DequeueCount), m.raw.NextVisible.Add(-b.opts.ControlQueueVisibility))
		if v != rules.Abandon || m.raw.DequeueCount != 1 || time.Since(m.raw.InsertionTime) > startRowGrace || wait > 800*time.Millisecond {
			return r, nil
		}
		if !ctxsleep.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
		wait *= 2
	}
}

func stateOf(r *tables.InstanceRow) *history.OrchestrationState {
	if r == nil {
		return nil
	}
	return r.State
}

// freshStart reports whether a batch starts an instance that cannot have
// any history yet, so that reading it can be skipped: the client wrote the
// Instances row of this very execution as Pending with Generation 0 (it
// found no earlier row of the id), and every message is on its first
// delivery (no earlier attempt can have committed anything). Should
// history exist all the same (rows left by a partial purge), the first
// commit inserts the sentinel, fails with a conflict, the work item is
// abandoned and retried with a history read: slower, never wrong.
func freshStart(row *history.OrchestrationState, es *history.ExecutionStartedEvent, msgs []*pending) bool {
	if row == nil || row.Status != history.StatusPending || row.Generation == nil || *row.Generation != 0 ||
		!strings.EqualFold(row.OrchestrationInstance.ExecutionID, es.OrchestrationInstance.ExecutionID) {
		return false
	}
	for _, m := range msgs {
		if m.raw.DequeueCount != 1 || m.local {
			return false
		}
	}
	return true
}

// apply carries out a Drop or Abandon verdict and logs why.
func (b *Backend) apply(ctx context.Context, s *session, m *pending, v rules.Verdict, why string) {
	attrs := []any{"instance", s.id, "execution", m.data.TaskMessage.OrchestrationInstance.ExecutionID, "event", m.data.TaskMessage.Event.Type().String(), "message", m.raw.ID,
		"dequeueCount", m.raw.DequeueCount, "reason", why}
	switch v {
	case rules.Drop:
		b.log.Info("azurestorage: discarding message", attrs...)
		b.deleteMessages(ctx, []*pending{m})
	case rules.Abandon:
		delay := provider.AbandonDelay(int(m.raw.DequeueCount))
		b.log.Info("azurestorage: putting message back", append(attrs, "retryIn", delay)...)
		b.abandonPending(ctx, []*pending{m}, delay)
	}
}

// shareWorkItem sets aside a local result that is not kept although a
// kept one holds the same activity work item: the hold of the first ran out
// while its result waited in memory (renewals that failed for a hold time,
// a paused process), this process received the work item again and ran
// the activity again. Deleting the work item (as discarding the result
// would, or spilling it) would leave the kept result without it, lost if
// this process dies before its episode commits. Only the newer delivery's
// pop receipt works, so the kept result takes over the newer hold and the
// other one ends without a call.
func (b *Backend) shareWorkItem(s *session, m, kept *pending, why string) {
	if newerHold(m.h, kept.h) {
		kept.h, m.h = m.h, kept.h
	}
	_ = m.h.end(nil)
	b.log.Info("azurestorage: setting aside a second result of one activity work item", "instance", s.id,
		"event", m.data.TaskMessage.Event.Type().String(), "message", m.raw.ID, "reason", why)
}

// newerHold reports whether a holds a newer delivery of their message than
// c: one still held rather than lost, else the later receive.
func newerHold(a, c *hold) bool {
	if (a.err() == nil) != (c.err() == nil) {
		return a.err() == nil
	}
	return a.snapshot().DequeueCount > c.snapshot().DequeueCount
}

// terminateWithoutHistory marks an instance that never ran as Terminated
// (tables spec §2.3.4).
func (b *Backend) terminateWithoutHistory(ctx context.Context, id string, t *history.ExecutionTerminatedEvent) {
	e := tables.TerminatedInstanceRow(id, t, time.Now().UTC())
	if up, err := tables.OffloadLargeColumnsToURL(e, b.large.URL(""), nil); err != nil {
		b.log.Warn("azurestorage: offloading a termination reason", "instance", id, "err", err)
	} else if err := b.uploadLarge(ctx, up); err != nil {
		b.log.Warn("azurestorage: uploading a termination reason", "instance", id, "err", err)
	}
	if _, err := b.inst.Merge(ctx, e, "*"); err != nil {
		b.log.Warn("azurestorage: marking an instance without history Terminated", "instance", id, "err", err)
		return
	}
	b.log.Info("azurestorage: terminated an instance that had not started", "instance", id)
}

func (b *Backend) uploadLarge(ctx context.Context, up []tables.LargeValue) error {
	for _, v := range up {
		if err := b.large.UploadGzip(ctx, v.BlobName, []byte(v.Text)); err != nil {
			return err
		}
	}
	return nil
}

// repair rewrites a stale Instances row from a terminal history (tables
// spec §2.3.3): this is how a crash between the history commit and the
// Instances write heals. It returns an error when the row could not be
// read or written.
func (b *Backend) repair(ctx context.Context, s *session, h *tables.History) error {
	var started *history.ExecutionStartedEvent
	var completed *history.ExecutionCompletedEvent
	var startedRow, completedRow *tables.Entity
	for i, ev := range h.Events {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			started, startedRow = v, rowAt(h, i)
		case *history.ExecutionCompletedEvent:
			completed, completedRow = v, rowAt(h, i)
		}
	}
	if started == nil || completed == nil || !completed.OrchestrationStatus.IsTerminal() {
		return nil
	}
	r, err := b.inst.Get(ctx, s.id, false)
	exists := err == nil
	if err != nil && !errors.Is(err, tables.ErrNotFound) {
		return err
	}
	if !exists {
		r = nil
	}
	if !rules.NeedsRepair(stateOf(r), h.ExecutionID, completed.OrchestrationStatus) {
		return nil
	}
	var custom *string
	if exists {
		custom = r.State.CustomStatus
	}
	e := tables.RepairInstanceRow(&tables.Repair{InstanceID: s.id, ExecutionID: h.ExecutionID, TaskHubName: b.opts.TaskHub,
		CustomStatus: custom, Started: started, Completed: completed, LastEventTime: h.Events[len(h.Events)-1].Base().Timestamp,
		RowExists: exists, StartedRow: startedRow, CompletedRow: completedRow, LargeMessagesURL: b.large.URL("")})
	if _, err := b.inst.Merge(ctx, e, ""); err != nil {
		return err
	}
	b.log.Info("azurestorage: repaired the Instances row of a finished instance", "instance", s.id, "status", completed.OrchestrationStatus.String())
	return nil
}

// healPendingRow writes the Instances row that the first checkpoint of
// a running execution failed to write. A crash (or a row write that kept
// failing) between that checkpoint's history commit and its row write
// leaves the client's Pending row, and the start message comes back as a
// duplicate. No later checkpoint sets RuntimeStatus before the instance
// ends (as in C#), so without this the instance shows Pending while it
// runs, and a client waiting for it to start waits for ever. The row is
// rebuilt from the history as that checkpoint would have written it, with
// If-Match on the Pending row just read, so a newer write always wins.
//
// It returns an error only when the row needed the rewrite and did not
// get it; a row changed since it was read (412) needs none.
func (b *Backend) healPendingRow(ctx context.Context, s *session, r *tables.InstanceRow, h *tables.History) error {
	if r.State.Status != history.StatusPending || !s.index.Started || s.index.Terminal() ||
		!strings.EqualFold(r.State.OrchestrationInstance.ExecutionID, s.execID) {
		return nil
	}
	if h == nil {
		var err error
		if h, err = b.hist.Load(ctx, s.id, s.execID); err != nil {
			return err
		}
	}
	if len(h.Events) == 0 || !strings.EqualFold(h.ExecutionID, r.State.OrchestrationInstance.ExecutionID) {
		return nil
	}
	e := tables.CheckpointInstanceRow(&tables.Checkpoint{InstanceID: s.id, ExecutionID: h.ExecutionID, TaskHubName: b.opts.TaskHub,
		ParentInstanceID: parentOf(startOf(h.Events)), CustomStatus: r.State.CustomStatus, NewEvents: h.Events, NewRows: h.Rows,
		LargeMessagesURL: b.large.URL(""), Now: time.Now().UTC()})
	if _, err := b.inst.Merge(ctx, e, r.ETag); err != nil {
		if errors.Is(err, tables.ErrConflict) {
			return nil // written by someone else since: no longer the client's row
		}
		return err
	}
	b.log.Info("azurestorage: the Instances row of a running instance said Pending; rewritten from its history", "instance", s.id)
	return nil
}

func rowAt(h *tables.History, i int) *tables.Entity {
	if i < len(h.Rows) {
		return h.Rows[i]
	}
	return nil
}

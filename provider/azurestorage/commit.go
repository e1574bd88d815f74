package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
	"github.com/google/uuid"
)

func (b *Backend) poisonStore() *blobs.Store {
	return blobs.New(b.bsvc, b.names.PoisonContainer(), &blobs.Options{Logger: b.log})
}

// outbound is one message to send in a commit.
type outbound struct {
	q     *queues.Queue
	m     *queues.MessageData
	delay time.Duration
	// local: a TaskScheduled for this process's own activity workers
	// (sendLocal).
	local bool
}

// route decides each outbox message's queue and delay, as C# does: activity
// calls to the work-item queue, timers to the instance's own control queue
// delayed until FireAt, everything else to the target's control queue.
func (b *Backend) route(tm *history.TaskMessage, now time.Time) (*queues.Queue, time.Duration, error) {
	switch tm.Event.(type) {
	case *history.TaskScheduledEvent:
		return b.workitems, 0, nil
	}
	// Timers (delays over 7 days were refused by provider.ValidateEpisode),
	// scheduled starts and scheduled entity requests wait in the queue.
	var d time.Duration
	if at := provider.DeliverAt(tm); !at.IsZero() {
		d = at.Sub(now)
	}
	return b.controlQueueFor(tm.OrchestrationInstance.InstanceID), taskhub.ClampDelay(d), nil
}

func (b *Backend) envelope(tm *history.TaskMessage, episode *int32, sender queues.Sender) *queues.MessageData {
	return &queues.MessageData{ActivityID: uuid.NewString(), TaskMessage: tm, SequenceNumber: b.seq.Add(1),
		Episode: episode, Sender: &sender}
}

// sendAll sends messages in parallel; it returns the first error after all
// sends ended.
func (b *Backend) sendAll(ctx context.Context, out []outbound) error {
	var mu sync.Mutex
	var first error
	forEach(ctx, len(out), 16, func(ctx context.Context, i int) {
		var err error
		if out[i].local {
			err = b.sendLocal(ctx, out[i])
		} else {
			_, err = b.codec.Send(ctx, out[i].q, out[i].m, out[i].delay)
		}
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	})
	return first
}

// completeOrchestration commits an episode in C#'s order: outbound
// messages, history, the Instances row, then the deletion of the consumed
// messages. An episode that storage would refuse (provider.ValidateEpisode:
// an instance id no table key can hold, a start without a name, a delay
// over 7 days) fails with an error wrapping provider.ErrInvalid before
// anything is sent, so that retrying it repeats no side effect.
func (b *Backend) completeOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult) error {
	ls, err := b.lockOf(wi)
	if err != nil {
		return err
	}
	if err := provider.ValidateEpisode(wi.InstanceID, r, time.Now().UTC()); err != nil {
		return err
	}
	s := ls.s
	newExec := r.NewExecution || ls.newExec
	execID := wi.ExecutionID
	start := startOf(r.NewEvents)
	if newExec || execID == "" {
		if start == nil {
			return errors.New("azurestorage: a new execution's history must contain its ExecutionStarted")
		}
		execID = start.OrchestrationInstance.ExecutionID
	}
	startSeq := wi.HistoryLen
	episodes := ls.episodes + countStarts(r.NewEvents)
	if newExec {
		startSeq, episodes = 0, countStarts(r.NewEvents)
	}
	now := time.Now().UTC()

	// 1. Outbound messages.
	ep := int32(episodes)
	sender := queues.Sender{InstanceID: wi.InstanceID, ExecutionID: execID}
	out := make([]outbound, 0, len(r.Outbox))
	b.act.sawWork(now)
	for _, tm := range r.Outbox {
		q, delay, err := b.route(tm, now)
		if err != nil {
			for _, o := range out {
				if o.local {
					b.act.cancelLocal()
				}
			}
			return err
		}
		o := outbound{q: q, m: b.envelope(tm, &ep, sender), delay: delay}
		if _, ok := tm.Event.(*history.TaskScheduledEvent); ok && q == b.workitems {
			o.local = b.act.reserveLocal()
		}
		out = append(out, o)
	}
	if err := b.sendAll(ctx, out); err != nil {
		return fmt.Errorf("azurestorage: sending the episode's messages: %w", err)
	}

	// 2. History, under the sentinel's ETag.
	committing := time.Now()
	res, err := b.hist.Append(ctx, wi.InstanceID, execID, startSeq, r.NewEvents, wi.HistoryETag)
	if err != nil {
		b.mu.Lock()
		s.known = false
		b.mu.Unlock()
		if errors.Is(err, tables.ErrConflict) {
			return fmt.Errorf("%w: instance %s: %v", provider.ErrLockLost, wi.InstanceID, err)
		}
		return fmt.Errorf("azurestorage: writing history: %w", err)
	}

	// 3. The Instances row. The history is committed now, so a failure here
	// is retried and then logged: the row heals with the next episode or,
	// once the instance has ended, with the repair of step 4.
	parentID := s.parentID
	if start != nil {
		parentID = parentOf(start)
	}
	row := tables.CheckpointInstanceRow(&tables.Checkpoint{InstanceID: wi.InstanceID, ExecutionID: execID,
		TaskHubName: b.opts.TaskHub, ParentInstanceID: parentID, CustomStatus: r.CustomStatus,
		NewEvents: r.NewEvents, NewRows: res.Rows, LargeMessagesURL: b.large.URL(""), Now: now})
	var rowETag string
	for attempt := 1; ; attempt++ {
		if rowETag, err = b.inst.Merge(ctx, row, ""); err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		b.log.Warn("azurestorage: updating the Instances row after the history commit", "instance", wi.InstanceID, "err", err)
	} else if time.Since(committing) > slowCommit {
		b.recheckRow(ctx, s.id, execID, res.ETag, rowETag)
	}

	// 4. Delete the consumed messages. An ended instance whose row was not
	// written has no next episode to heal it, and its consumed messages
	// are all that can bring it back to a worker: they are put back
	// instead, come back as messages for a finished instance, and the
	// worker that discards them repairs the row first (prepare).
	if err != nil && ends(r.NewEvents) {
		b.log.Warn("azurestorage: putting the finished episode's messages back so that its Instances row is repaired",
			"instance", wi.InstanceID, "execution", execID)
		b.abandonPending(ctx, ls.msgs, 0)
	} else {
		b.deleteMessages(ctx, ls.msgs)
	}

	b.mu.Lock()
	if newExec {
		s.index = rules.NewHistoryIndex(r.NewEvents)
	} else {
		s.index.Add(r.NewEvents)
	}
	s.known, s.etag, s.execID, s.episodes, s.parentID = true, res.ETag, execID, episodes, parentID
	wi.HistoryETag, wi.HistoryLen, wi.ExecutionID = res.ETag, s.index.Len, execID
	b.mu.Unlock()
	ls.newExec = false
	b.unlock(s, true)
	return nil
}

// ends reports whether an episode's events end the execution (a terminal
// ExecutionCompleted; a continue-as-new hand-off does not end it).
func ends(events []history.Event) bool {
	for _, ev := range events {
		if c, ok := ev.(*history.ExecutionCompletedEvent); ok && c.OrchestrationStatus.IsTerminal() {
			return true
		}
	}
	return false
}

// slowCommit is how long the history commit and the Instances row write
// may take before the row is checked against the stored history. It is
// shorter than any lease or visibility timeout after which another worker
// could have taken the instance over.
const slowCommit = 2 * time.Second

// recheckRow handles a commit that took so long that this process may have
// been paused (SIGSTOP, a VM freeze, a long GC) between its history commit
// and its Instances row write: meanwhile another worker may have taken the
// instance over and written newer rows, and the row just written (which is
// not conditional, as in C#) would put the instance back to an older
// state, for example Running after Completed. If the history has moved on
// since our commit (historyETag) and the row is still the one we wrote
// (rowETag), the row is rebuilt from the stored history under If-Match; a
// row written by anyone else since is newer and left alone.
func (b *Backend) recheckRow(ctx context.Context, id, execID, historyETag, rowETag string) {
	h, err := b.hist.Load(ctx, id, "")
	if err != nil || h.ETag == historyETag || len(h.Events) == 0 {
		return
	}
	r, err := b.inst.Get(ctx, id, false)
	if err != nil || r.ETag != rowETag {
		return // written by someone else since ours: newer
	}
	e := rowFromHistory(b, id, h, r.State.CustomStatus)
	if e == nil {
		return
	}
	if _, err := b.inst.Merge(ctx, e, r.ETag); err != nil {
		if !errors.Is(err, tables.ErrConflict) {
			b.log.Warn("azurestorage: rewriting a slow commit's Instances row", "instance", id, "err", err)
		}
		return
	}
	b.log.Warn("azurestorage: a slow commit's Instances row was older than the stored history; rewritten from it",
		"instance", id, "execution", execID)
}

// rowFromHistory builds the Instances row that the stored history h
// implies: the terminal row if it ended, else the running one.
func rowFromHistory(b *Backend, id string, h *tables.History, custom *string) *tables.Entity {
	start := startOf(h.Events)
	if start == nil {
		return nil
	}
	var completed *history.ExecutionCompletedEvent
	var startedRow, completedRow *tables.Entity
	for i, ev := range h.Events {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			startedRow = rowAt(h, i)
		case *history.ExecutionCompletedEvent:
			completed, completedRow = v, rowAt(h, i)
		}
	}
	if completed != nil && completed.OrchestrationStatus.IsTerminal() {
		return tables.RepairInstanceRow(&tables.Repair{InstanceID: id, ExecutionID: h.ExecutionID, TaskHubName: b.opts.TaskHub,
			CustomStatus: custom, Started: start, Completed: completed, LastEventTime: h.Events[len(h.Events)-1].Base().Timestamp,
			RowExists: true, StartedRow: startedRow, CompletedRow: completedRow, LargeMessagesURL: b.large.URL("")})
	}
	return tables.CheckpointInstanceRow(&tables.Checkpoint{InstanceID: id, ExecutionID: h.ExecutionID, TaskHubName: b.opts.TaskHub,
		ParentInstanceID: parentOf(start), CustomStatus: custom, NewEvents: h.Events, NewRows: h.Rows,
		LargeMessagesURL: b.large.URL(""), Now: time.Now().UTC()})
}

// AbandonOrchestration puts the work item's messages back with delay.
func (b *Backend) AbandonOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, delay time.Duration) error {
	ls, err := b.lockOf(wi)
	if err != nil {
		return err
	}
	b.abandonPending(ctx, ls.msgs, taskhub.ClampDelay(delay))
	b.unlock(ls.s, false)
	return nil
}

// RenewOrchestration extends the visibility of the work item's messages.
func (b *Backend) RenewOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem) error {
	ls, err := b.lockOf(wi)
	if err != nil {
		return err
	}
	var errs []error
	b.current(ls.msgs)
	for _, m := range ls.msgs {
		if m.h != nil {
			// A local result's work item: the keeper renews it.
			if err := m.h.err(); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		pop, next, err := m.q.UpdateVisibility(ctx, m.raw.ID, m.raw.PopReceipt, m.raw.Text, b.opts.ControlQueueVisibility)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.raw.PopReceipt, m.raw.NextVisible = pop, next
	}
	return errors.Join(errs...)
}

// LoadHistory reads the work item's history; it fails with ErrLockLost if
// the stored history changed since the work item was formed.
func (b *Backend) LoadHistory(ctx context.Context, wi *provider.OrchestrationWorkItem) error {
	h, err := b.hist.Load(ctx, wi.InstanceID, wi.ExecutionID)
	if err != nil {
		return err
	}
	if h.ETag != wi.HistoryETag || len(h.Events) != wi.HistoryLen {
		return fmt.Errorf("%w: instance %s: the stored history changed", provider.ErrLockLost, wi.InstanceID)
	}
	wi.History = h.Events
	return nil
}

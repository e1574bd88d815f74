package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
)

// commitPlan is an episode validated and normalized before anything is
// written.
type commitPlan struct {
	events  []history.Event
	newExec bool
	outbox  []outMsg
	execID  string // the execution the committed history belongs to
	episode int32
	custom  *string
	crash   CrashPoint
}

type outMsg struct {
	tm        *history.TaskMessage
	activity  bool
	visibleAt time.Time
}

var commitCrashPoints = []CrashPoint{AfterOutbox, AfterHistory, AfterStatus}

// CompleteOrchestration commits an episode in C#'s order, each step under
// its own acquisition of the backend's mutex so that other callers can
// observe (and crashes can interrupt) the state between steps:
//
//  1. send the outbox (TaskScheduled to the activity queue, TimerFired to
//     the own partition visible at FireAt, everything else to the
//     partition of the instance it names), with Sender = this instance and
//     Episode = the number of OrchestratorStarted events in the new history;
//  2. write the history (append after wi.HistoryLen events, or replace it
//     from row 0 for a new execution), failing with provider.ErrLockLost
//     if the stored ETag is not wi.HistoryETag;
//  3. update the status row with rules.Checkpoint;
//  4. delete the consumed messages and unlock the instance.
//
// Validation comes first: an outbox message that would need a visibility
// delay over 7 days, or data that cannot be stored, fails the call with
// nothing committed. A ctx that ends between steps stops the commit there,
// like a crash.
func (b *Backend) CompleteOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := b.orchLeaseOf(wi)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if l.done {
		b.mu.Unlock()
		return ErrForeignWorkItem
	}
	if err := b.hubLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	if err := provider.ValidateEpisode(wi.InstanceID, r, b.clock.Now()); err != nil {
		b.mu.Unlock()
		return fmt.Errorf("memory: commit of %q: %w", wi.InstanceID, err)
	}
	p, err := b.planLocked(l, wi, r, b.clock.Now())
	b.mu.Unlock()
	if err != nil {
		// Nothing was written, and the same episode is refused again.
		return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	id := wi.InstanceID
	crashed := func(at CrashPoint) error {
		b.mu.Lock()
		b.stats.Crashes++
		b.mu.Unlock()
		b.log.Info("memory: injected crash in an orchestration commit", "instance", id, "point", at.String())
		return &CrashError{Point: at, InstanceID: id}
	}

	// Step 1: outbound messages.
	b.mu.Lock()
	sender := history.OrchestrationInstance{InstanceID: id, ExecutionID: p.execID}
	for _, o := range p.outbox {
		b.enqueueLocked(o.tm, o.activity, sender, clonePtr(&p.episode), originOrchestration(id), o.visibleAt)
	}
	b.kickLocked()
	b.mu.Unlock()
	if p.crash == AfterOutbox {
		return crashed(AfterOutbox)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Step 2: history.
	b.mu.Lock()
	etag, n, err := b.writeHistoryLocked(wi, p)
	b.mu.Unlock()
	if err != nil {
		if errors.Is(err, provider.ErrLockLost) {
			b.log.Info("memory: commit refused: the history changed since the work item was locked", "instance", id, "err", err)
		}
		return err
	}
	if p.crash == AfterHistory {
		return crashed(AfterHistory)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Step 3: status row.
	b.mu.Lock()
	inst := b.instanceLocked(id)
	inst.row = rules.Checkpoint(inst.row, id, p.events, p.custom, b.clock.Now()).State
	b.forgetGiveBacksLocked(id)
	b.broadcastLocked()
	b.mu.Unlock()
	if p.crash == AfterStatus {
		return crashed(AfterStatus)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Step 4: delete the consumed messages.
	b.mu.Lock()
	missing := 0
	for i, m := range l.msgs {
		if !b.deleteLocked(m, l.receipts[i]) {
			missing++
		}
	}
	b.endOrchLeaseLocked(l)
	b.kickLocked()
	b.mu.Unlock()
	if missing > 0 {
		b.log.Warn("memory: consumed messages were no longer held (lock expired); they will be delivered again",
			"instance", id, "messages", missing)
	}
	wi.HistoryETag, wi.HistoryLen, wi.ExecutionID = etag, n, p.execID
	return nil
}

// planLocked validates and normalizes an episode without changing state.
func (b *Backend) planLocked(l *orchLease, wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult, now time.Time) (*commitPlan, error) {
	id := wi.InstanceID
	if r == nil {
		return nil, fmt.Errorf("memory: commit of %q: nil episode result", id)
	}
	p := &commitPlan{newExec: r.NewExecution || l.newExecution, custom: clonePtr(r.CustomStatus)}
	for i, ev := range r.NewEvents {
		if ev == nil {
			return nil, fmt.Errorf("memory: commit of %q: new event %d is nil", id, i)
		}
		n, err := normalizeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("memory: commit of %q: new event %d: %w", id, i, err)
		}
		p.events = append(p.events, n)
	}
	var base []history.Event
	if inst := b.instances[id]; inst != nil && !p.newExec {
		base = inst.hist[:min(wi.HistoryLen, len(inst.hist))]
	}
	p.execID = startedExecution(p.events)
	if r.NewExecution && p.execID == "" {
		return nil, fmt.Errorf("memory: commit of %q: a new execution needs an ExecutionStarted among the new events", id)
	}
	if p.execID == "" {
		p.execID = startedExecution(base)
	}
	if p.execID == "" {
		return nil, fmt.Errorf("memory: commit of %q: neither the history nor the new events hold an ExecutionStarted", id)
	}
	for _, ev := range slices.Concat(base, p.events) {
		if ev.Type() == history.OrchestratorStarted {
			p.episode++
		}
	}
	self := history.OrchestrationInstance{InstanceID: id, ExecutionID: p.execID}
	for i, tm := range r.Outbox {
		o, err := b.planMessage(tm, self, now)
		if err != nil {
			return nil, fmt.Errorf("memory: commit of %q: outbox message %d: %w", id, i, err)
		}
		p.outbox = append(p.outbox, o)
	}
	p.crash = b.drawCrashLocked(commitCrashPoints)
	return p, nil
}

// planMessage normalizes and routes one outbound message.
func (b *Backend) planMessage(tm *history.TaskMessage, self history.OrchestrationInstance, now time.Time) (outMsg, error) {
	n, err := normalizeMessage(tm)
	if err != nil {
		return outMsg{}, err
	}
	o := outMsg{tm: n, visibleAt: now}
	switch n.Event.(type) {
	case *history.TaskScheduledEvent:
		o.activity = true
		if n.OrchestrationInstance.InstanceID == "" {
			n.OrchestrationInstance = self
		}
		return o, nil
	case *history.TimerFiredEvent:
		if n.OrchestrationInstance.InstanceID == "" {
			n.OrchestrationInstance = self
		}
		if n.OrchestrationInstance.InstanceID != self.InstanceID {
			return outMsg{}, fmt.Errorf("TimerFired addressed to %q: timers go to the committing instance", n.OrchestrationInstance.InstanceID)
		}
	default:
		if n.OrchestrationInstance.InstanceID == "" {
			return outMsg{}, fmt.Errorf("%s message names no target instance", n.Event.Type())
		}
	}
	if o.visibleAt, err = b.visibleAtFor(n, now); err != nil {
		return outMsg{}, err
	}
	return o, nil
}

// writeHistoryLocked is commit step 2.
func (b *Backend) writeHistoryLocked(wi *provider.OrchestrationWorkItem, p *commitPlan) (string, int, error) {
	id := wi.InstanceID
	inst := b.instances[id]
	if cur := etagOf(inst); cur != wi.HistoryETag {
		return "", 0, fmt.Errorf("memory: commit of %q: stored history ETag %q, work item holds %q: %w", id, cur, wi.HistoryETag, provider.ErrLockLost)
	}
	var hist []history.Event
	if p.newExec {
		hist = p.events // written from row 0, whatever HistoryLen says
	} else {
		var stored []history.Event
		if inst != nil {
			stored = inst.hist
		}
		if wi.HistoryLen != len(stored) {
			return "", 0, fmt.Errorf("memory: commit of %q: work item says HistoryLen %d, the stored history has %d events", id, wi.HistoryLen, len(stored))
		}
		hist = slices.Concat(stored, p.events)
	}
	inst = b.instanceLocked(id)
	inst.hist = hist
	inst.execID = p.execID
	b.etags++
	inst.etag = strconv.FormatUint(b.etags, 10)
	inst.rows = max(inst.rows, len(hist))
	b.broadcastLocked()
	return inst.etag, len(hist), nil
}

func (b *Backend) instanceLocked(id string) *instance {
	inst := b.instances[id]
	if inst == nil {
		inst = &instance{}
		b.instances[id] = inst
	}
	return inst
}

// startedExecution returns the execution id of the last ExecutionStarted
// in events, or "".
func startedExecution(events []history.Event) string {
	id := ""
	for _, ev := range events {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			id = es.OrchestrationInstance.ExecutionID
		}
	}
	return id
}

// drawCrashLocked decides whether this commit crashes and where: an armed
// CrashNext wins, then Faults.CrashRate.
func (b *Backend) drawCrashLocked(allowed []CrashPoint) CrashPoint {
	if slices.Contains(allowed, b.crashNext) {
		p := b.crashNext
		b.crashNext = NoCrash
		return p
	}
	f := b.opts.Faults
	if f.CrashRate <= 0 {
		return NoCrash
	}
	points := commitCrashPoints
	if len(f.CrashPoints) > 0 {
		points = f.CrashPoints
	}
	var usable []CrashPoint
	for _, p := range points {
		if slices.Contains(allowed, p) {
			usable = append(usable, p)
		}
	}
	if len(usable) == 0 || b.rng.Float64() >= f.CrashRate {
		return NoCrash
	}
	return usable[b.rng.IntN(len(usable))]
}

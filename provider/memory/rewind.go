package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

var _ provider.RewindBackend = (*Backend)(nil)

// rewindMarks remembers what a rewind did to stored events, keyed by the
// stored event itself: for a row turned into a GenericEvent, the event it
// was; for a marked sub-orchestration creation, the mark. A later
// execution's events are other values, so marks never leak into it.
type rewindMarks map[history.Event]rewindMark

type rewindMark struct {
	orig   history.Event // nil for a mark
	marked bool
}

// rewindState is what ReadForRewind saw, for the conditional writes.
type rewindState struct {
	etag        string
	status      history.OrchestrationStatus
	execID      string
	lastUpdated time.Time
}

// ReadForRewind returns the instance's status and its current execution,
// rows an earlier rewind rewrote decoded as the events they were.
func (b *Backend) ReadForRewind(ctx context.Context, instanceID string) (*provider.RewindHistory, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return nil, err
	}
	inst := b.instances[instanceID]
	if inst == nil || inst.row == nil {
		return nil, fmt.Errorf("memory: rewind %q: %w", instanceID, provider.ErrNotFound)
	}
	st := *inst.row
	h := &provider.RewindHistory{InstanceID: instanceID, State: &st, ExecutionID: inst.execID,
		Private: &rewindState{etag: inst.etag, status: st.Status, execID: st.OrchestrationInstance.ExecutionID, lastUpdated: st.LastUpdatedTime}}
	for _, ev := range inst.hist {
		r := provider.RewindRow{Event: shallowEvent(ev)}
		if m, ok := inst.rewind[ev]; ok {
			if m.marked {
				r.Marked = true
			} else {
				r.Rewound, r.Event = true, shallowEvent(m.orig)
			}
		}
		h.Rows = append(h.Rows, r)
	}
	return h, nil
}

// RewriteForRewind replaces the rows rewrite with GenericEvents that keep
// each event's id and time, and marks the rows mark, if the history is
// still the one ReadForRewind read (provider.ErrLockLost otherwise). The
// history's ETag changes, as any write of it does here.
func (b *Backend) RewriteForRewind(ctx context.Context, h *provider.RewindHistory, rewrite, mark []int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ps, ok := h.Private.(*rewindState)
	if !ok {
		return errors.New("memory: RewriteForRewind needs the result of this backend's ReadForRewind")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return err
	}
	inst := b.instances[h.InstanceID]
	if inst == nil || inst.etag != ps.etag {
		return fmt.Errorf("memory: rewind %q: the history changed since it was read: %w", h.InstanceID, provider.ErrLockLost)
	}
	hist := slices.Clone(inst.hist)
	for _, i := range slices.Concat(rewrite, mark) {
		if i < 0 || i >= len(hist) {
			return fmt.Errorf("memory: rewind %q: no row %d", h.InstanceID, i)
		}
	}
	if inst.rewind == nil {
		inst.rewind = rewindMarks{}
	}
	for ev := range inst.rewind {
		if !slices.Contains(inst.hist, ev) {
			delete(inst.rewind, ev)
		}
	}
	for _, i := range mark {
		if slices.Contains(rewrite, i) {
			continue
		}
		cp := shallowEvent(hist[i])
		inst.rewind[cp] = rewindMark{marked: true}
		hist[i] = cp
	}
	for _, i := range rewrite {
		orig := hist[i]
		if m, ok := inst.rewind[orig]; ok && !m.marked {
			continue // rewound already
		}
		ge := &history.GenericEvent{EventBase: *orig.Base()}
		inst.rewind[ge] = rewindMark{orig: orig}
		hist[i] = ge
	}
	inst.hist = hist
	b.etags++
	inst.etag = fmt.Sprint(b.etags)
	ps.etag = inst.etag
	b.broadcastLocked()
	return nil
}

// SetRewindPending sets the status row to Pending with LastUpdatedTime
// now, if it is still the row ReadForRewind read (provider.ErrLockLost
// otherwise).
func (b *Backend) SetRewindPending(ctx context.Context, h *provider.RewindHistory, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ps, ok := h.Private.(*rewindState)
	if !ok {
		return errors.New("memory: SetRewindPending needs the result of this backend's ReadForRewind")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return err
	}
	inst := b.instances[h.InstanceID]
	if inst == nil || inst.row == nil || inst.row.Status != ps.status ||
		inst.row.OrchestrationInstance.ExecutionID != ps.execID || !inst.row.LastUpdatedTime.Equal(ps.lastUpdated) {
		return fmt.Errorf("memory: rewind %q: the status changed since it was read: %w", h.InstanceID, provider.ErrLockLost)
	}
	row := *inst.row
	row.Status = history.StatusPending
	row.LastUpdatedTime = now
	inst.row = &row
	ps.status, ps.lastUpdated = row.Status, row.LastUpdatedTime
	b.broadcastLocked()
	return nil
}

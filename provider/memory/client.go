package memory

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
)

// CreateInstance starts an instance as C#'s client does (tables spec
// §2.3.1, §2.5): it reads the status row, refuses with
// provider.ErrInstanceExists if the row's status is in dedupe, sets the
// start's Generation (when nil) to the row's Generation + 1, or 0 without a
// row, enqueues the ExecutionStarted (visible at its ScheduledStartTime,
// if any; more than 7 days ahead is refused), and then writes the Pending
// row with the same ExecutionId and Generation. The caller's message is not
// modified. A zero event Timestamp is taken as now. Both writes happen in
// one critical section, so a start message is never seen before its row.
func (b *Backend) CreateInstance(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The rules that can refuse a start are the Azure backend's, so that a
	// start refused there is refused here too.
	if err := provider.ValidateStart(start, b.clock.Now()); err != nil {
		return fmt.Errorf("memory: create instance: %w", err)
	}
	id := start.Event.(*history.ExecutionStartedEvent).OrchestrationInstance.InstanceID
	tm, err := normalizeMessage(start)
	if err != nil {
		return err
	}
	nes := tm.Event.(*history.ExecutionStartedEvent)
	tm.OrchestrationInstance = nes.OrchestrationInstance

	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return err
	}
	now := b.clock.Now()
	var row *history.OrchestrationState
	if inst := b.instances[id]; inst != nil {
		row = inst.row
	}
	if row != nil && slices.Contains(dedupe, row.Status) {
		return fmt.Errorf("memory: create instance %q: it exists with status %s: %w", id, row.Status, provider.ErrInstanceExists)
	}
	if nes.Generation == nil {
		g := rules.NextGeneration(row)
		nes.Generation = &g
	}
	if nes.Timestamp.IsZero() {
		nes.Timestamp = now.Truncate(100 * time.Nanosecond)
	}
	visibleAt, err := b.visibleAtFor(tm, now)
	if err != nil {
		return fmt.Errorf("memory: create instance %q: %w", id, err)
	}
	b.enqueueLocked(tm, false, history.OrchestrationInstance{}, nil, originClient, visibleAt)
	b.instanceLocked(id).row = rules.Pending(nes, now).State
	b.kickLocked()
	return nil
}

// SendMessages sends client messages (events, terminate, suspend, resume)
// to the partitions of the instances they name, with an empty Sender. The
// messages are validated first: if one is invalid, none is sent.
func (b *Backend) SendMessages(ctx context.Context, msgs ...*history.TaskMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	norm := make([]*history.TaskMessage, len(msgs))
	for i, m := range msgs {
		tm, err := normalizeMessage(m)
		if err != nil {
			return fmt.Errorf("memory: send message %d: %w", i, err)
		}
		if err := provider.ValidateMessage(tm); err != nil {
			return fmt.Errorf("memory: send message %d: %w", i, err)
		}
		norm[i] = tm
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return err
	}
	now := b.clock.Now()
	at := make([]time.Time, len(norm))
	for i, tm := range norm {
		var err error
		if at[i], err = b.visibleAtFor(tm, now); err != nil {
			return fmt.Errorf("memory: send message %d: %w", i, err)
		}
	}
	for i, tm := range norm {
		b.enqueueLocked(tm, false, history.OrchestrationInstance{}, nil, originClient, at[i])
	}
	b.kickLocked()
	return nil
}

// GetState returns a copy of the instance's status row, or
// provider.ErrNotFound. Without withPayloads, Input and Output are nil.
func (b *Backend) GetState(ctx context.Context, instanceID string, withPayloads bool) (*history.OrchestrationState, error) {
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
		return nil, fmt.Errorf("memory: instance %q: %w", instanceID, provider.ErrNotFound)
	}
	return projectState(inst.row, withPayloads), nil
}

func projectState(row *history.OrchestrationState, withPayloads bool) *history.OrchestrationState {
	st := cloneState(row)
	if !withPayloads {
		st.Input, st.Output = nil, nil
	}
	return st
}

// Query lists status rows in instance-id order (the Instances table's
// PartitionKey order), PageSize at a time (default 100). The continuation
// token is opaque; it is "" on the last page. A token Query did not make
// answers an empty last page, as the Azure Storage backend answers a
// token that points past every row.
func (b *Backend) Query(ctx context.Context, q provider.Query, token string) (*provider.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after := ""
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil || !strings.HasPrefix(string(raw), "after:") {
			return &provider.Page{States: []*history.OrchestrationState{}}, nil
		}
		after = strings.TrimPrefix(string(raw), "after:")
	}
	size := q.PageSize
	if size <= 0 {
		size = 100
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return nil, err
	}
	ids := b.matchingLocked(q.Statuses, q.CreatedFrom, q.CreatedTo, func(id string) bool {
		return strings.HasPrefix(id, q.InstanceIDPrefix) && !(q.ExcludeEntities && strings.HasPrefix(id, "@")) &&
			(token == "" || id > after) && (q.After == "" || id > q.After)
	})
	page := &provider.Page{States: []*history.OrchestrationState{}}
	for i, id := range ids {
		if i == size {
			page.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte("after:" + ids[i-1]))
			break
		}
		page.States = append(page.States, projectState(b.instances[id].row, q.FetchPayloads))
	}
	return page, nil
}

// matchingLocked returns, sorted, the ids of rows that pass the filters
// (CreatedTime ge from, le to; zero times do not filter).
func (b *Backend) matchingLocked(statuses []history.OrchestrationStatus, from, to time.Time, keep func(string) bool) []string {
	var ids []string
	for id, inst := range b.instances {
		row := inst.row
		switch {
		case row == nil, !keep(id),
			len(statuses) > 0 && !slices.Contains(statuses, row.Status),
			!from.IsZero() && row.CreatedTime.Before(from),
			!to.IsZero() && row.CreatedTime.After(to):
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// History returns copies of the events of the instance's current
// execution when executionID is "" or names it. For another execution it
// returns no events (their rows were overwritten from row 0, as in the
// History table), and for an instance with neither history nor status row,
// provider.ErrNotFound.
func (b *Backend) History(ctx context.Context, instanceID, executionID string) ([]history.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return nil, err
	}
	inst := b.instances[instanceID]
	if inst == nil || (inst.row == nil && len(inst.hist) == 0) {
		return nil, fmt.Errorf("memory: history of %q: %w", instanceID, provider.ErrNotFound)
	}
	if executionID != "" && !strings.EqualFold(executionID, inst.execID) {
		return []history.Event{}, nil
	}
	return shallowEvents(inst.hist), nil
}

// Purge deletes an instance's history and status row, as C# does: when
// there is no status row nothing is deleted. RowsDeleted counts every
// history row ever written for the instance (rows of older, longer
// executions included) plus the sentinel. Queued messages stay; they are
// dropped as "no such instance" when they arrive.
func (b *Backend) Purge(ctx context.Context, instanceID string) (provider.PurgeResult, error) {
	if err := ctx.Err(); err != nil {
		return provider.PurgeResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.hubLocked(); err != nil {
		return provider.PurgeResult{}, err
	}
	res := b.purgeLocked(instanceID)
	res.Complete = true
	return res, nil
}

func (b *Backend) purgeLocked(id string) provider.PurgeResult {
	inst := b.instances[id]
	if inst == nil || inst.row == nil {
		return provider.PurgeResult{}
	}
	rows := inst.rows
	if inst.etag != "" {
		rows++ // the sentinel
	}
	delete(b.instances, id)
	b.broadcastLocked()
	return provider.PurgeResult{InstancesDeleted: 1, RowsDeleted: rows}
}

// PurgeWhere purges the finished instances created in [CreatedFrom,
// CreatedTo] (CreatedTo zero = now) whose status is one of
// f.PurgeStatuses(); it never purges an unfinished instance, and it fails
// with provider.ErrPurgeNeedsStatuses when the filter names no finished
// status. Each instance's status is checked again, under the lock, when it
// is purged. A ctx that ends stops the purge with Complete false.
func (b *Backend) PurgeWhere(ctx context.Context, f provider.PurgeFilter) (provider.PurgeResult, error) {
	if err := ctx.Err(); err != nil {
		return provider.PurgeResult{}, err
	}
	statuses, err := f.PurgeStatuses()
	if err != nil {
		return provider.PurgeResult{}, err
	}
	b.mu.Lock()
	if err := b.hubLocked(); err != nil {
		b.mu.Unlock()
		return provider.PurgeResult{}, err
	}
	to := f.CreatedTo
	if to.IsZero() {
		to = b.clock.Now()
	}
	ids := b.matchingLocked(statuses, f.CreatedFrom, to, func(string) bool { return true })
	b.mu.Unlock()

	res := provider.PurgeResult{Complete: true}
	for _, id := range ids {
		if ctx.Err() != nil {
			res.Complete = false
			break
		}
		b.mu.Lock()
		// Re-check: the row may have changed since the listing.
		if inst := b.instances[id]; inst != nil && inst.row != nil && slices.Contains(statuses, inst.row.Status) {
			r := b.purgeLocked(id)
			res.InstancesDeleted += r.InstancesDeleted
			res.RowsDeleted += r.RowsDeleted
		}
		b.mu.Unlock()
	}
	return res, nil
}

package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

var clientSender = queues.Sender{}

// CreateInstance starts an instance as C#'s client does: read the
// Instances row, apply the dedupe statuses and the Generation rule, send the
// ExecutionStarted message, then write the Pending row (Insert, or Replace
// under the ETag just read; losing either race is ignored).
func (b *Backend) CreateInstance(ctx context.Context, start *history.TaskMessage, dedupe []history.OrchestrationStatus) error {
	if err := b.ensure(ctx); err != nil {
		return err
	}
	es, ok := start.Event.(*history.ExecutionStartedEvent)
	if !ok {
		return fmt.Errorf("azurestorage: CreateInstance needs an ExecutionStarted message, not %s", start.Event.Type())
	}
	id := start.OrchestrationInstance.InstanceID
	row, err := b.inst.Get(ctx, id, false)
	if err != nil && !errors.Is(err, tables.ErrNotFound) {
		return err
	}
	if row != nil && slices.Contains(dedupe, row.State.Status) {
		return fmt.Errorf("%w: %q is %s", provider.ErrInstanceExists, id, row.State.Status)
	}
	cp := *es
	es = &cp
	if es.Generation == nil {
		g := int32(0)
		if row != nil && row.State.Generation != nil {
			g = *row.State.Generation + 1
		}
		es.Generation = &g
	}
	if es.Timestamp.IsZero() {
		es.Timestamp = time.Now().UTC()
	}
	tm := *start
	tm.Event = es
	now := time.Now().UTC()
	var delay time.Duration
	if es.ScheduledStartTime != nil {
		delay = es.ScheduledStartTime.Sub(now)
		if delay > provider.MaxVisibilityDelay {
			return fmt.Errorf("azurestorage: a scheduled start more than 7 days ahead (%s) cannot be delayed on an Azure queue", es.ScheduledStartTime.Format(time.RFC3339))
		}
	}
	m := b.envelope(&tm, nil, clientSender)
	text, blobName, err := b.codec.EncodeOffload(ctx, m)
	if err != nil {
		return err
	}
	// This process's pollers of the queue are woken only once the row is
	// written: woken at the send, a worker here would receive the start
	// before its row exists and have to wait for it (see startRow).
	q := b.controlQueueFor(id)
	quiet := delay <= 0
	if quiet {
		_, err = q.SendQuiet(ctx, text, 0)
	} else {
		_, err = q.Send(ctx, text, delay)
	}
	if err != nil {
		return err
	}
	if quiet {
		defer b.wake.Notify(q.Name())
	}
	inputURL := ""
	if blobName != "" {
		inputURL = b.large.URL(blobName)
	}
	e := tables.PendingInstanceRow(es, b.opts.TaskHub, inputURL, now)
	up, err := tables.OffloadLargeColumns(e, nil)
	if err != nil {
		return err
	}
	if err := b.uploadLarge(ctx, up); err != nil {
		return err
	}
	if row == nil {
		_, err = b.inst.Insert(ctx, e)
	} else {
		_, err = b.inst.Replace(ctx, e, row.ETag)
	}
	if err != nil && !errors.Is(err, tables.ErrConflict) {
		return err
	}
	return nil
}

// SendMessages sends client messages to their instances' control queues.
func (b *Backend) SendMessages(ctx context.Context, msgs ...*history.TaskMessage) error {
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
		InstanceIDPrefix: q.InstanceIDPrefix, ExcludeEntities: q.ExcludeEntities, FetchInput: q.FetchPayloads,
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

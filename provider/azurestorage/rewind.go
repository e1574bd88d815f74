package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/tables"
)

var _ provider.RewindBackend = (*Backend)(nil)

// Columns a rewind reads and writes (History and Instances tables).
const (
	colEventType       = "EventType"
	colReason          = "Reason"
	colRuntimeStatus   = "RuntimeStatus"
	colLastUpdatedTime = "LastUpdatedTime"
)

// rewindState is what ReadForRewind keeps for the writes: the raw rows
// (with their ETags) and the Instances row's ETag.
type rewindState struct {
	rows    []*tables.Entity
	rowETag string
}

// ReadForRewind reads the Instances row and the current execution's
// History rows, as they are stored. Rows an earlier rewind rewrote are
// decoded as the event they were: the type from the "Rewound: <type>"
// marker, the rest from the columns the rewrite kept.
func (b *Backend) ReadForRewind(ctx context.Context, instanceID string) (*provider.RewindHistory, error) {
	row, err := b.inst.Get(ctx, instanceID, false)
	if errors.Is(err, tables.ErrNotFound) || errors.Is(err, tables.ErrTableNotFound) {
		return nil, fmt.Errorf("%w: %q", provider.ErrNotFound, instanceID)
	}
	if err != nil {
		return nil, err
	}
	h, err := b.hist.Load(ctx, instanceID, "")
	if err != nil && !errors.Is(err, tables.ErrTableNotFound) {
		return nil, err
	}
	out := &provider.RewindHistory{InstanceID: instanceID, State: row.State,
		Private: &rewindState{rowETag: row.ETag}}
	if h == nil {
		return out, nil
	}
	out.ExecutionID = h.ExecutionID
	ps := out.Private.(*rewindState)
	ps.rows = h.Rows
	out.Rows = make([]provider.RewindRow, len(h.Rows))
	for i, e := range h.Rows {
		ev := h.Events[i]
		r := provider.RewindRow{Event: ev}
		reason, _ := e.GetString(colReason)
		if t, ok := provider.ParseRewindMarker(reason); ok {
			switch ev.Type() {
			case history.GenericEventType:
				r.Rewound = true
				if t != history.GenericEventType {
					c := cloneRow(e)
					c.Set(colEventType, t.String())
					if orig, err := tables.DecodeHistoryRow(c); err == nil {
						r.Event = orig
					}
				}
			case history.SubOrchestrationInstanceCreated:
				r.Marked = true
			}
		}
		out.Rows[i] = r
	}
	return out, nil
}

// RewriteForRewind replaces each row with itself as a GenericEvent (or,
// for mark, with the marker added), under the row's ETag, one row at a
// time in row order as C# does. A row that changed since it was read
// stops the rewrite with provider.ErrLockLost.
func (b *Backend) RewriteForRewind(ctx context.Context, h *provider.RewindHistory, rewrite, mark []int) error {
	ps, ok := h.Private.(*rewindState)
	if !ok {
		return errors.New("azurestorage: RewriteForRewind needs the result of this backend's ReadForRewind")
	}
	kind := map[int]bool{}
	for _, i := range rewrite {
		kind[i] = true
	}
	for _, i := range mark {
		if _, dup := kind[i]; !dup {
			kind[i] = false
		}
	}
	seqs := make([]int, 0, len(kind))
	for i := range kind {
		if i < 0 || i >= len(ps.rows) {
			return fmt.Errorf("azurestorage: rewind of %q: no row %d", h.InstanceID, i)
		}
		seqs = append(seqs, i)
	}
	slices.Sort(seqs)
	tc := b.tsvc.NewClient(b.names.HistoryTable())
	for _, i := range seqs {
		e := cloneRow(ps.rows[i])
		typ, _ := e.GetString(colEventType)
		t, err := history.ParseEventType(typ)
		if err != nil {
			return fmt.Errorf("azurestorage: rewind of %q: row %s: %w", h.InstanceID, e.RowKey, err)
		}
		e.Set(colReason, provider.RewindMarker(t))
		if kind[i] {
			e.Set(colEventType, history.GenericEventType.String())
		}
		body, err := tables.MarshalEntity(e)
		if err != nil {
			return err
		}
		tag := azcore.ETag(e.ETag)
		resp, err := tc.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &tag, UpdateMode: aztables.UpdateModeReplace})
		if err != nil {
			return rewindWriteError(h.InstanceID, "history row "+e.RowKey, err)
		}
		e.ETag = string(resp.ETag)
		ps.rows[i] = e
	}
	return nil
}

// SetRewindPending merges RuntimeStatus Pending and LastUpdatedTime into
// the Instances row (C#'s UpdateStatusForRewindAsync), under the ETag read
// by ReadForRewind where C# uses "*": a row that changed since (the
// instance ended, or was started again) is left alone and the rewind
// stops with provider.ErrLockLost.
func (b *Backend) SetRewindPending(ctx context.Context, h *provider.RewindHistory, now time.Time) error {
	ps, ok := h.Private.(*rewindState)
	if !ok {
		return errors.New("azurestorage: SetRewindPending needs the result of this backend's ReadForRewind")
	}
	e := &tables.Entity{PartitionKey: tables.EscapePartitionKey(h.InstanceID)}
	e.Set(colRuntimeStatus, history.StatusPending.String())
	e.Set(colLastUpdatedTime, now.UTC())
	etag, err := b.inst.Merge(ctx, e, ps.rowETag)
	if err != nil {
		if errors.Is(err, tables.ErrConflict) || errors.Is(err, tables.ErrNotFound) {
			return fmt.Errorf("%w: the Instances row of %q changed during the rewind: %v", provider.ErrLockLost, h.InstanceID, err)
		}
		return err
	}
	ps.rowETag = etag
	return nil
}

func rewindWriteError(id, what string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%w: %s of %q changed during the rewind: %v", provider.ErrLockLost, what, id, err)
	}
	return fmt.Errorf("azurestorage: rewind of %q: writing %s: %w", id, what, err)
}

func cloneRow(e *tables.Entity) *tables.Entity {
	c := *e
	c.Properties = append([]tables.Property(nil), e.Properties...)
	return &c
}

package tables

import (
	"context"
	"errors"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/history"
)

// statusColumns are the Instances columns C# asks for when it reads a
// status without the input (§0.6), in C#'s order. "ETag" is not a column;
// C# names it and the service ignores it.
var statusColumns = []string{
	colExecutionID, colParentInstanceID, colName, colVersion, colOutput, colCustomStatus,
	colCreatedTime, colLastUpdatedTime, colCompletedTime, colRuntimeStatus, colScheduledStart,
	colGeneration, colTags, "PartitionKey", "RowKey", "Timestamp", "ETag",
}

// InstanceStore reads and writes the Instances table of one task hub
// ({Hub}Instances): one row per instance, PartitionKey = the escaped
// instance id, RowKey = "". It is safe for concurrent use.
type InstanceStore struct {
	client *aztables.Client
	table  string
}

// NewInstanceStore returns a store for the table named table (for example
// the task hub's <Hub>Instances) in svc.
func NewInstanceStore(svc *aztables.ServiceClient, table string) *InstanceStore {
	return &InstanceStore{client: svc.NewClient(table), table: table}
}

// Table returns the table's name.
func (s *InstanceStore) Table() string { return s.table }

// InstanceRow is an Instances row as read.
type InstanceRow struct {
	// State is the decoded row. Input and Output are as stored: either may
	// be a blob URL (IsBlobURL). Input is nil when it was not asked for.
	State *history.OrchestrationState
	// Entity is the row as the service returned it.
	Entity *Entity
	// ETag is the row's ETag, for Replace or Merge with If-Match.
	ETag string
}

// Get reads an instance's row, as C# does: the query
// PartitionKey eq '<escaped id>' with $top=1, taking the first result;
// without input, $select names every column but Input. A missing row
// gives an error wrapping ErrNotFound.
func (s *InstanceStore) Get(ctx context.Context, instanceID string, withInput bool) (*InstanceRow, error) {
	pk := EscapePartitionKey(instanceID)
	o := &aztables.ListEntitiesOptions{Filter: to.Ptr("PartitionKey eq " + odataString(pk)), Top: to.Ptr(int32(1))}
	if !withInput {
		o.Select = to.Ptr(strings.Join(statusColumns, ","))
	}
	pager := s.client.NewListEntitiesPager(o)
	// A page may come back empty with a continuation; keep going until a
	// row shows up or the pages end.
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, entityError("query", s.table, pk, "", err)
		}
		if len(page.Entities) == 0 {
			continue
		}
		return decodeInstance(page.Entities[0])
	}
	return nil, &Error{Op: "query", Table: s.table, PartitionKey: pk, Index: -1, StatusCode: 404, Code: "ResourceNotFound",
		Message: "no Instances row for this instance", Err: ErrNotFound}
}

func decodeInstance(raw []byte) (*InstanceRow, error) {
	e, err := UnmarshalEntity(raw)
	if err != nil {
		return nil, err
	}
	st, err := DecodeInstanceRow(e)
	if err != nil {
		return nil, err
	}
	return &InstanceRow{State: st, Entity: e, ETag: e.ETag}, nil
}

// Insert adds a row (the client's Pending row, or a first row). An
// existing row gives an error wrapping ErrConflict. It returns the new
// row's ETag.
func (s *InstanceStore) Insert(ctx context.Context, e *Entity) (string, error) {
	body, err := MarshalEntity(e)
	if err != nil {
		return "", err
	}
	resp, err := s.client.AddEntity(ctx, body, nil)
	if err != nil {
		return "", entityError("insert", s.table, e.PartitionKey, e.RowKey, err)
	}
	return string(resp.ETag), nil
}

// Replace replaces the row with e (dropping columns e lacks) if its ETag
// is still etag ("*" matches any existing row). A changed row gives
// ErrConflict, a missing one ErrNotFound. It returns the new ETag.
func (s *InstanceStore) Replace(ctx context.Context, e *Entity, etag string) (string, error) {
	if etag == "" {
		return "", &Error{Op: "replace", Table: s.table, PartitionKey: e.PartitionKey, RowKey: e.RowKey, Index: -1,
			Err: errors.New("refused: Replace needs an ETag (or \"*\")")}
	}
	return s.update(ctx, "replace", e, aztables.UpdateModeReplace, etag)
}

// Merge merges e's columns into the row. With etag "" it is an
// insert-or-merge (C#'s default checkpoint write: unconditional, creates
// the row if missing). With etag "*" or a real ETag it is a merge with
// If-Match: a missing row gives ErrNotFound and, for a real ETag, a
// changed row gives ErrConflict. It returns the new ETag.
func (s *InstanceStore) Merge(ctx context.Context, e *Entity, etag string) (string, error) {
	if etag == "" {
		body, err := MarshalEntity(e)
		if err != nil {
			return "", err
		}
		resp, err := s.client.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge})
		if err != nil {
			return "", entityError("upsert", s.table, e.PartitionKey, e.RowKey, err)
		}
		return string(resp.ETag), nil
	}
	return s.update(ctx, "merge", e, aztables.UpdateModeMerge, etag)
}

func (s *InstanceStore) update(ctx context.Context, op string, e *Entity, mode aztables.UpdateMode, etag string) (string, error) {
	body, err := MarshalEntity(e)
	if err != nil {
		return "", err
	}
	tag := azcore.ETag(etag)
	resp, err := s.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &tag, UpdateMode: mode})
	if err != nil {
		return "", entityError(op, s.table, e.PartitionKey, e.RowKey, err)
	}
	return string(resp.ETag), nil
}

// Delete deletes the instance's row whatever its ETag (If-Match "*"), as
// purge does. A missing row gives an error wrapping ErrNotFound.
func (s *InstanceStore) Delete(ctx context.Context, instanceID string) error {
	pk := EscapePartitionKey(instanceID)
	_, err := s.client.DeleteEntity(ctx, pk, "", &aztables.DeleteEntityOptions{IfMatch: to.Ptr(azcore.ETagAny)})
	return entityError("delete", s.table, pk, "", err)
}

// exists reports whether the instance has a row, reading only its keys
// (the purge lookup: PartitionKey eq '<esc>' and RowKey eq ”).
func (s *InstanceStore) exists(ctx context.Context, instanceID string) (bool, error) {
	pk := EscapePartitionKey(instanceID)
	rows, err := queryAll(ctx, s.client, s.table, pk, &aztables.ListEntitiesOptions{
		Filter: to.Ptr("PartitionKey eq " + odataString(pk) + " and RowKey eq ''"),
		Select: to.Ptr("PartitionKey,RowKey"),
	})
	if err != nil {
		return false, err
	}
	return len(rows) > 0, nil
}

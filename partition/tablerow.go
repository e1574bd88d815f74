package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// Row is one row of the <Hub>Partitions table: the lease of one partition
// under the table partition manager. Empty strings and zero times are
// columns that are absent from the row (C# reads them as null).
type Row struct {
	// Partition is the RowKey: the control-queue name.
	Partition string
	// CurrentOwner is the WorkerId of the owner; "" when nobody owns it.
	CurrentOwner string
	// NextOwner is the WorkerId that asked to take the partition over.
	NextOwner string
	// OwnedSince is when the current owner claimed it.
	OwnedSince time.Time
	// LastRenewal is when the owner last renewed it.
	LastRenewal time.Time
	// ExpiresAt is when the lease expires unless renewed (UTC, compared
	// with each worker's local clock).
	ExpiresAt time.Time
	// IsDraining says the owner is finishing its in-memory work before
	// releasing the partition.
	IsDraining bool
	// ETag is the row's concurrency token as read; it is not a column.
	ETag azcore.ETag
}

// Column names and the EDM annotation, exactly as C# writes them.
const (
	colPartitionKey = "PartitionKey"
	colRowKey       = "RowKey"
	colCurrentOwner = "CurrentOwner"
	colNextOwner    = "NextOwner"
	colOwnedSince   = "OwnedSince"
	colLastRenewal  = "LastRenewal"
	colExpiresAt    = "ExpiresAt"
	colIsDraining   = "IsDraining"
	edmDateTime     = "Edm.DateTime"
	odataType       = "@odata.type"
)

// MarshalJSON encodes the row as C# writes it (column order and formats of
// Azure.Data.Tables: DateTime as 7 fraction digits and Z, followed by its
// Edm.DateTime annotation), except that absent columns are omitted instead
// of being sent as explicit nulls.
func (r Row) MarshalJSON() ([]byte, error) { return r.encode(""), nil }

func (r Row) encode(partitionKey string) []byte {
	w := netjson.NewWriter(make([]byte, 0, 400))
	w.BeginObject()
	w.Key(colPartitionKey)
	w.String(partitionKey)
	w.Key(colRowKey)
	w.String(r.Partition)
	for _, c := range []struct{ name, v string }{{colCurrentOwner, r.CurrentOwner}, {colNextOwner, r.NextOwner}} {
		if c.v != "" {
			w.Key(c.name)
			w.String(c.v)
		}
	}
	for _, c := range []struct {
		name string
		t    time.Time
	}{{colOwnedSince, r.OwnedSince}, {colLastRenewal, r.LastRenewal}, {colExpiresAt, r.ExpiresAt}} {
		if !c.t.IsZero() {
			w.Key(c.name)
			w.String(netjson.FormatTime7(c.t))
			w.Key(c.name + odataType)
			w.String(edmDateTime)
		}
	}
	w.Key(colIsDraining)
	w.Bool(r.IsDraining)
	w.EndObject()
	return w.Bytes()
}

// UnmarshalJSON decodes a row as the Table service returns it (any order,
// annotations before or after values, explicit nulls read as absent,
// DateTime with 0 to 7 fraction digits) and takes the ETag from
// odata.etag when present.
func (r *Row) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("partition row: %w", err)
	}
	str := func(name string) (string, error) {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("partition row: column %s is not a string: %w", name, err)
		}
		return s, nil
	}
	var out Row
	var err error
	if out.Partition, err = str(colRowKey); err != nil {
		return err
	}
	if out.CurrentOwner, err = str(colCurrentOwner); err != nil {
		return err
	}
	if out.NextOwner, err = str(colNextOwner); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		dst  *time.Time
	}{{colOwnedSince, &out.OwnedSince}, {colLastRenewal, &out.LastRenewal}, {colExpiresAt, &out.ExpiresAt}} {
		s, err := str(c.name)
		if err != nil || s == "" {
			if err != nil {
				return err
			}
			continue
		}
		if *c.dst, err = netjson.ParseTime(s); err != nil {
			return fmt.Errorf("partition row: column %s: %w", c.name, err)
		}
	}
	if raw, ok := m[colIsDraining]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &out.IsDraining); err != nil {
			return fmt.Errorf("partition row: column %s is not a boolean: %w", colIsDraining, err)
		}
	}
	etag, err := str("odata.etag")
	if err != nil {
		return err
	}
	out.ETag = azcore.ETag(etag)
	*r = out
	return nil
}

// ErrNoPartitionsTable is wrapped by [ReadTable] and [CountRows] when the
// <Hub>Partitions table does not exist (the hub uses blob leases, or it has
// not been created).
var ErrNoPartitionsTable = errors.New("partition: the Partitions table does not exist")

// CreateTable creates the <Hub>Partitions table if it does not exist.
func CreateTable(ctx context.Context, svc *aztables.ServiceClient, taskHub string) error {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return err
	}
	_, err = svc.CreateTable(ctx, names.PartitionsTable(), nil)
	if err != nil && !hasStatus(err, http.StatusConflict) {
		return fmt.Errorf("create table %s: %w", names.PartitionsTable(), err)
	}
	return nil
}

// CreateRows inserts the row of every partition 0..n-1 that is missing,
// with only its keys and IsDraining=false, as C# does at hub creation; rows
// that exist (409) are left alone. The table must exist.
func CreateRows(ctx context.Context, svc *aztables.ServiceClient, taskHub string, n int) error {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return err
	}
	if err := taskhub.ValidatePartitionCount(n); err != nil {
		return err
	}
	tc := svc.NewClient(names.PartitionsTable())
	for _, q := range names.ControlQueues(n) {
		if _, err := tc.AddEntity(ctx, Row{Partition: q}.encode(""), nil); err != nil && !hasStatus(err, http.StatusConflict) {
			return fmt.Errorf("insert partition row %s: %w", q, err)
		}
	}
	return nil
}

// ReadTable returns every row of the <Hub>Partitions table, sorted by
// partition: owners, expiry and draining state, for `hub info`.
func ReadTable(ctx context.Context, svc *aztables.ServiceClient, taskHub string) ([]Row, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return nil, err
	}
	return readRows(ctx, svc.NewClient(names.PartitionsTable()), names.PartitionsTable())
}

// CountRows returns the number of rows of the <Hub>Partitions table. C#
// readers take this count as the hub's partition count whenever the table
// exists. A missing table gives an error wrapping [ErrNoPartitionsTable].
func CountRows(ctx context.Context, svc *aztables.ServiceClient, taskHub string) (int, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return 0, err
	}
	pager := svc.NewClient(names.PartitionsTable()).NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: to.Ptr(colRowKey)})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, tableReadError(names.PartitionsTable(), err)
		}
		n += len(page.Entities)
	}
	return n, nil
}

func readRows(ctx context.Context, tc *aztables.Client, table string) ([]Row, error) {
	var rows []Row
	pager := tc.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, tableReadError(table, err)
		}
		for _, e := range page.Entities {
			var r Row
			if err := json.Unmarshal(e, &r); err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Partition, b.Partition) })
	return rows, nil
}

func tableReadError(table string, err error) error {
	if hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("read %s: %w", table, ErrNoPartitionsTable)
	}
	return fmt.Errorf("read %s: %w", table, err)
}

// hasStatus reports whether err is a service response with one of codes.
func hasStatus(err error, codes ...int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && slices.Contains(codes, re.StatusCode)
}

package tables

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// DefaultPageSize is the page size of an instance query that names none.
const DefaultPageSize = 100

// InstanceQuery selects Instances rows (§2.6 of the tables spec). Zero
// fields select everything; the conditions given are and-ed.
type InstanceQuery struct {
	// Statuses keeps rows whose RuntimeStatus is one of these (or-ed).
	Statuses []history.OrchestrationStatus
	// CreatedFrom and CreatedTo bound CreatedTime, inclusive; zero means
	// unbounded.
	CreatedFrom, CreatedTo time.Time
	// InstanceIDPrefix keeps instances whose id starts with it (compared
	// on the escaped ids, as C# does).
	InstanceIDPrefix string
	// TaskHubNames keeps rows written by one of these hubs (or-ed); for
	// tables shared between hubs.
	TaskHubNames []string
	// ExcludeEntities leaves out durable entities (ids starting with '@').
	ExcludeEntities bool
	// After, when set, keeps the instances whose PartitionKey (the escaped
	// id) comes after After's, in the table's order: a place to resume a
	// query that does not depend on the service's continuation tokens.
	After string
	// FetchInput and FetchOutput ask for the Input and Output columns.
	// Without them the query projects them away, which keeps pages small.
	FetchInput, FetchOutput bool
	// PageSize is the most rows per page; 0 means DefaultPageSize. Pages may
	// be shorter, even empty, before the last one.
	PageSize int
}

// InstancePage is one page of an instance query.
type InstancePage struct {
	// Instances are the rows of this page in the table's order
	// (PartitionKey order).
	Instances []*InstanceRow
	// ContinuationToken fetches the next page; "" after the last page.
	// Pass it back to Query with the same InstanceQuery. It is C#'s token
	// (Azure.Data.Tables'): the service's NextPartitionKey and NextRowKey
	// joined by a space, so that tokens pass between C# and Go readers of
	// one hub.
	ContinuationToken string
}

// Query returns one page of the rows q selects, starting where token
// (from the previous page; "" for the first) left off. A token is handed
// to the service as it is; what the service makes of one it did not issue
// is its answer (Azurite starts after it, which often means an empty last
// page). A CreatedTo before CreatedFrom selects nothing: the answer is an
// empty last page, without a call.
func (s *InstanceStore) Query(ctx context.Context, q InstanceQuery, token string) (*InstancePage, error) {
	if !q.CreatedFrom.IsZero() && !q.CreatedTo.IsZero() && q.CreatedTo.Before(q.CreatedFrom) {
		return &InstancePage{Instances: []*InstanceRow{}}, nil
	}
	filter, err := instanceFilter(q)
	if err != nil {
		return nil, err
	}
	size := q.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	if size > 1000 {
		size = 1000 // the service's maximum page
	}
	o := &aztables.ListEntitiesOptions{Filter: &filter, Top: to.Ptr(int32(size))}
	if sel := instanceSelect(q.FetchInput, q.FetchOutput); sel != "" {
		o.Select = &sel
	}
	if token != "" {
		o.NextPartitionKey, o.NextRowKey = decodeToken(token)
	}
	page, err := s.client.NewListEntitiesPager(o).NextPage(ctx)
	if err != nil {
		return nil, entityError("query", s.table, "", "", err)
	}
	out := &InstancePage{Instances: make([]*InstanceRow, 0, len(page.Entities))}
	for _, raw := range page.Entities {
		row, err := decodeInstance(raw)
		if err != nil {
			return nil, fmt.Errorf("tables: query on table %s: %w", s.table, err)
		}
		out.Instances = append(out.Instances, row)
	}
	out.ContinuationToken = encodeToken(page.NextPartitionKey, page.NextRowKey)
	return out, nil
}

// instanceFilter builds the OData filter of q.
func instanceFilter(q InstanceQuery) (string, error) {
	conds := []string{"RowKey eq ''"}
	if !q.CreatedFrom.IsZero() {
		conds = append(conds, "CreatedTime ge "+odataDateTime(q.CreatedFrom))
	}
	if !q.CreatedTo.IsZero() {
		conds = append(conds, "CreatedTime le "+odataDateTime(q.CreatedTo))
	}
	if len(q.Statuses) > 0 {
		var or []string
		for _, st := range q.Statuses {
			if !st.Valid() {
				return "", fmt.Errorf("tables: instance query: invalid status %d", int(st))
			}
			or = append(or, "RuntimeStatus eq "+odataString(st.String()))
		}
		conds = append(conds, group(or))
	}
	if len(q.TaskHubNames) > 0 {
		var or []string
		for _, h := range q.TaskHubNames {
			or = append(or, colTaskHubName+" eq "+odataString(h))
		}
		conds = append(conds, group(or))
	}
	if q.InstanceIDPrefix != "" {
		lo := EscapePartitionKey(q.InstanceIDPrefix)
		cond := "PartitionKey ge " + odataString(lo)
		if hi, ok := incrementLast(lo); ok {
			cond += " and PartitionKey lt " + odataString(hi)
		}
		conds = append(conds, cond)
	}
	if q.ExcludeEntities {
		conds = append(conds, "(PartitionKey lt '@' or PartitionKey ge 'A')")
	}
	if q.After != "" {
		conds = append(conds, "PartitionKey gt "+odataString(EscapePartitionKey(q.After)))
	}
	return strings.Join(conds, " and "), nil
}

func group(or []string) string {
	if len(or) == 1 {
		return or[0]
	}
	return "(" + strings.Join(or, " or ") + ")"
}

// incrementLast returns s with its last character replaced by the next
// one, the exclusive upper bound of the keys starting with s. ok is false
// when there is no next character (s ends with U+10FFFF); then the prefix
// has no upper bound.
func incrementLast(s string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(s)
	if size == 0 {
		return "", false
	}
	switch {
	case r == utf8.RuneError && size == 1:
		// not UTF-8: increment the byte (0xFF has no successor)
		if s[len(s)-1] == 0xFF {
			return "", false
		}
		return s[:len(s)-1] + string([]byte{s[len(s)-1] + 1}), true
	case r == utf8.MaxRune:
		return "", false
	case r == 0xD7FF:
		r = 0xE000 // skip the surrogates, which UTF-8 cannot hold
	default:
		r++
	}
	return s[:len(s)-size] + string(r), true
}

// odataDateTime writes a DateTime literal: datetime'<ISO-8601 UTC>'.
func odataDateTime(t time.Time) string {
	return "datetime'" + netjson.FormatTime7(t.UTC()) + "'"
}

// instanceSelect returns the $select that leaves out Input and/or Output,
// or "" when both are wanted (no projection).
func instanceSelect(input, output bool) string {
	if input && output {
		return ""
	}
	cols := make([]string, 0, len(statusColumns)+2)
	for _, c := range statusColumns {
		if c == colOutput && !output {
			continue
		}
		cols = append(cols, c)
	}
	if input {
		cols = append(cols, colInput)
	}
	cols = append(cols, colTaskHubName) // every column but the ones left out

	return strings.Join(cols, ",")
}

// encodeToken writes the service's continuation as C# does: NextPartitionKey,
// a space, NextRowKey ("" when absent).
func encodeToken(pk, rk *string) string {
	if (pk == nil || *pk == "") && (rk == nil || *rk == "") {
		return ""
	}
	return deref(pk) + " " + deref(rk)
}

// decodeToken splits a token at its first space, as C# does; spaces around
// it (which HTTP clients trim) do not matter. A token without a space is a
// NextPartitionKey alone.
func decodeToken(token string) (pk, rk *string) {
	token = strings.TrimSpace(token)
	p, r, ok := strings.Cut(token, " ")
	pk = &p
	if ok && r != "" {
		rk = &r
	}
	return pk, rk
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

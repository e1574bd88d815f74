package tables

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// colReader reads typed columns and keeps the first error.
type colReader struct {
	e   *Entity
	err error
}

func (r *colReader) fail(name string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("column %s: %w", name, err)
	}
}

// nstr returns a String column, nil when absent.
func (r *colReader) nstr(name string) *string {
	v, _ := r.e.Get(name)
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return &v
	}
	r.fail(name, fmt.Errorf("expected Edm.String, found %s", edmName(v)))
	return nil
}

// str returns a String column, "" when absent.
func (r *colReader) str(name string) string { return history.Deref(r.nstr(name)) }

// nint32 returns an Int32 column, nil when absent. An Int64 value in range
// is accepted.
func (r *colReader) nint32(name string) *int32 {
	v, _ := r.e.Get(name)
	switch v := v.(type) {
	case nil:
		return nil
	case int32:
		return &v
	case int64:
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			n := int32(v)
			return &n
		}
		r.fail(name, fmt.Errorf("Int64 value %d does not fit Int32", v))
		return nil
	}
	r.fail(name, fmt.Errorf("expected Edm.Int32, found %s", edmName(v)))
	return nil
}

func (r *colReader) int32(name string) int32 {
	if p := r.nint32(name); p != nil {
		return *p
	}
	return 0
}

func (r *colReader) bool(name string) bool {
	v, _ := r.e.Get(name)
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	}
	r.fail(name, fmt.Errorf("expected Edm.Boolean, found %s", edmName(v)))
	return false
}

// ntime returns a DateTime column, nil when absent. A string holding a
// date-time is accepted too (a writer that forgot the annotation).
func (r *colReader) ntime(name string) *time.Time {
	v, _ := r.e.Get(name)
	switch v := v.(type) {
	case nil:
		return nil
	case time.Time:
		if !dateTimeInRange(v) {
			r.fail(name, errDateTimeRange)
			return nil
		}
		t := v.UTC()
		return &t
	case string:
		t, err := parseDateTime(v)
		if err != nil {
			r.fail(name, err)
			return nil
		}
		return &t
	}
	r.fail(name, fmt.Errorf("expected Edm.DateTime, found %s", edmName(v)))
	return nil
}

func (r *colReader) time(name string) time.Time {
	if p := r.ntime(name); p != nil {
		return *p
	}
	return time.Time{}
}

// jsonText returns the raw JSON of a JSON column, nil when the column is
// absent or holds "null".
func (r *colReader) jsonText(name string) []byte {
	s := r.nstr(name)
	if s == nil || netjson.IsNull([]byte(*s)) {
		return nil
	}
	return []byte(*s)
}

// tags reads a JSON column of tags; nil when absent or "null".
func (r *colReader) tags(name string) map[string]string {
	var tags map[string]string
	r.member(name, history.Member{Name: name, Value: &tags})
	return tags
}

// status reads the enum's name (a number is tolerated), Running when
// absent.
func (r *colReader) status(name string) history.OrchestrationStatus {
	s := r.nstr(name)
	if s == nil {
		return history.StatusRunning
	}
	st, err := history.ParseStatus(*s)
	if err != nil {
		r.fail(name, err)
	}
	return st
}

// member reads the column of one event member into the event (see
// rowWriter.member for the column types).
func (r *colReader) member(name string, m history.Member) {
	switch p := m.Value.(type) {
	case *string:
		*p = r.str(name)
	case **string:
		*p = r.nstr(name)
	case *int32:
		*p = r.int32(name)
	case **int32:
		*p = r.nint32(name)
	case *bool:
		*p = r.bool(name)
	case *time.Time:
		*p = r.time(name)
	case **time.Time:
		*p = r.ntime(name)
	case *history.OrchestrationStatus:
		*p = r.status(name)
	default:
		if text := r.jsonText(name); text != nil {
			if err := history.UnmarshalValue(m, text); err != nil {
				r.fail(name, err)
			}
		}
	}
}

// edmName names the EDM type of a property value, for error messages.
func edmName(v any) string {
	switch v.(type) {
	case string:
		return edmString
	case int32:
		return edmInt32
	case int64:
		return edmInt64
	case bool:
		return edmBoolean
	case time.Time:
		return edmDateTime
	case float64:
		return edmDouble
	case []byte:
		return edmBinary
	case GUID:
		return edmGuid
	}
	return fmt.Sprintf("%T", v)
}

// ErrNotHistoryEvent is wrapped by DecodeHistoryRow's error when a row has
// no usable EventType (the sentinel, or a corrupt row).
var ErrNotHistoryEvent = errors.New("row is not a history event")

// DecodeHistoryRow decodes a History-table row into its event. It accepts
// every row C# writes: columns may be missing (null members, optional
// payloads), unknown columns are ignored, and JSON columns may hold "null".
// Large columns must already be resolved (see LargeColumnRefs); an
// offloaded column reads as "". ExecutionId and the keys are not part of the
// event; read them from the entity. Every error names the row's keys. A row
// without EventType, or with a value that names no event class (including
// ExecutionFailed), gives an error wrapping ErrNotHistoryEvent; a column of
// the wrong EDM type, invalid JSON in a JSON column or a DateTime outside
// .NET's range gives a plain error.
func DecodeHistoryRow(e *Entity) (history.Event, error) {
	ev, err := decodeHistoryRow(e)
	if err != nil {
		return nil, fmt.Errorf("tables: history row %q/%q: %w", e.PartitionKey, e.RowKey, err)
	}
	return ev, nil
}

func decodeHistoryRow(e *Entity) (history.Event, error) {
	r := &colReader{e: e}
	name := r.nstr(colEventType)
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotHistoryEvent, r.err)
	}
	if name == nil {
		return nil, fmt.Errorf("%w: no EventType column", ErrNotHistoryEvent)
	}
	t, err := history.ParseEventType(*name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotHistoryEvent, err)
	}
	ev := history.NewEvent(t)
	if ev == nil {
		return nil, fmt.Errorf("%w: EventType %s has no event class", ErrNotHistoryEvent, t)
	}
	var buf [history.MaxMembers]history.Member
	for _, m := range history.Members(buf[:0], ev) {
		name := m.Name
		switch name {
		case colEventType:
			continue // read above: it chose the event class
		case "Timestamp":
			name = colEventTime // see HistoryRow
		}
		r.member(name, m)
	}
	if r.err != nil {
		return nil, r.err
	}
	return ev, nil
}

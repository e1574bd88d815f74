package tables

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// ParseHistoryRows decodes History table rows written as JSON into the
// events they hold, in row order, without the sentinel row: an array of
// entities as the Table service returns them (OData JSON), or an object
// whose "rows" member is such an array, where an item may also hold its
// entity (as an object, or as its JSON text) under "raw", as the recorded
// dumps of a task hub do. Rows whose payloads live in blobs keep their blob
// names; nothing is read from storage. Pass the events to
// durabletest.ReplayEvents to check orchestration code against them.
func ParseHistoryRows(data []byte) ([]history.Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("tables: no History rows")
	}
	if data[0] == '{' {
		o, err := netjson.ParseObject(data)
		if err != nil {
			return nil, err
		}
		raw, ok := o.Present("rows")
		if !ok {
			return nil, errors.New("tables: the object has no rows")
		}
		return ParseHistoryRows(raw)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("tables: History rows: %w", err)
	}
	var out []history.Event
	for i, raw := range items {
		ev, err := parseRow(raw)
		if err != nil {
			return nil, fmt.Errorf("tables: row %d: %w", i, err)
		}
		if ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

// parseRow decodes one row; the sentinel gives nil.
func parseRow(raw json.RawMessage) (history.Event, error) {
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return nil, err
	}
	if inner, ok := o.Present("raw"); ok {
		// A dump row: {"raw": "<entity JSON text>", ...} or {"raw": {...}}.
		var text string
		if err := json.Unmarshal(inner, &text); err == nil {
			raw = json.RawMessage(text)
		} else {
			raw = inner
		}
	}
	e, err := UnmarshalEntity(raw)
	if err != nil {
		return nil, err
	}
	if IsSentinel(e) {
		return nil, nil
	}
	return DecodeHistoryRow(e)
}

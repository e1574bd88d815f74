package durabletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/tables"
)

// Replay checks a stored history against the current code: it replays the
// events on a fresh engine with the registry's orchestration and fails the
// test if the code no longer produces what the history records (a
// non-determinism error), or if it would emit new actions although the
// history is complete. data is history JSON in any form azdurable reads:
// an array of events (C# Newtonsoft JSON with or without "$type", or
// `azdurable instances history --json`), an object with an "events" array
// (`dtfx-ref history`), or History table rows as OData entities (an array,
// or an object with "rows" whose items have the entity under "raw").
func Replay(t testing.TB, reg *durable.Registry, data []byte) {
	t.Helper()
	events, err := ParseHistory(data)
	if err != nil {
		t.Fatalf("durabletest: reading the history: %v", err)
	}
	if err := ReplayEvents(reg, events); err != nil {
		t.Fatalf("durabletest: %v", err)
	}
}

// ReplayEvents replays one execution's events against the registry; the
// error is a *durable.NonDeterminismError when the code changed.
func ReplayEvents(reg *durable.Registry, events []history.Event) error {
	var start *history.ExecutionStartedEvent
	completed := false
	for _, ev := range events {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			if start == nil {
				start = v
			}
		case *history.ExecutionCompletedEvent, *history.ContinueAsNewEvent:
			completed = true
		}
	}
	if start == nil {
		return errors.New("the history has no ExecutionStarted event")
	}
	fn, ok := reg.Orchestrator(start.Name, start.Version)
	if !ok && start.Version != "" {
		fn, ok = reg.Orchestrator(start.Name, "")
	}
	if !ok {
		return fmt.Errorf("orchestration %q (version %q) is not registered", start.Name, start.Version)
	}
	e := replay.New(fn, replay.Options{})
	defer e.Evict()
	res, err := e.Apply(events, nil)
	if err != nil {
		return fmt.Errorf("replaying %s (%d events): %w", start.Name, len(events), err)
	}
	// Every action of a committed episode is in its history, so a full
	// replay that emits one means the code does more than it did.
	if len(res.Actions) > 0 {
		return &replay.NonDeterminismError{TaskID: res.Actions[0].Base().EventID,
			History: "no further work", Code: "schedules " + res.Actions[0].Type().String()}
	}
	if res.Completion != nil && !completed {
		return &replay.NonDeterminismError{TaskID: res.Completion.ID, History: "an orchestration that is still running",
			Code: fmt.Sprintf("completes it as %s", res.Completion.Status)}
	}
	return nil
}

// ParseHistory reads history JSON in the forms Replay accepts.
func ParseHistory(data []byte) ([]history.Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty history")
	}
	if data[0] == '{' {
		o, err := netjson.ParseObject(data)
		if err != nil {
			return nil, err
		}
		for _, key := range []string{"events", "historyEvents", "rows"} {
			if raw, ok := o.Present(key); ok {
				return ParseHistory(raw)
			}
		}
		return nil, errors.New("the object has no events or rows")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	var out []history.Event
	for i, raw := range items {
		ev, err := parseItem(raw)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

func parseItem(raw json.RawMessage) (history.Event, error) {
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return nil, err
	}
	if inner, ok := o.Present("raw"); ok {
		// A dump row: {"raw": "<entity JSON text>", ...}.
		var text string
		if err := json.Unmarshal(inner, &text); err == nil {
			raw = json.RawMessage(text)
		} else {
			raw = inner
		}
		if o, err = netjson.ParseObject(raw); err != nil {
			return nil, err
		}
	}
	if o.Has("RowKey") || o.Has("PartitionKey") {
		e, err := tables.UnmarshalEntity(raw)
		if err != nil {
			return nil, err
		}
		if tables.IsSentinel(e) {
			return nil, nil
		}
		return tables.DecodeHistoryRow(e)
	}
	return history.DecodeEvent(o)
}

package durabletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
)

// ReplayOption configures Replay and ReplayEvents.
type ReplayOption func(*replayOptions)

type replayOptions struct {
	conv durable.DataConverter
}

// WithDataConverter decodes the history's payloads with c, the converter
// of the workers that wrote it (default durable.JSONConverter).
func WithDataConverter(c durable.DataConverter) ReplayOption {
	return func(o *replayOptions) { o.conv = c }
}

// Replay checks a stored history against the current code: it replays the
// events on a fresh engine with the orchestration among items that the
// history names, and fails the test if the code no longer produces what the
// history records (a non-determinism error), or if it would emit new
// actions although the history is complete. data is history JSON in any
// form of the events: an array of events (C# Newtonsoft JSON with or
// without "$type", or `azdurable instances history --json`), or an object
// with an "events" array (`dtfx-ref history`). History table rows are
// decoded with tables.ParseHistoryRows first and passed to ReplayEvents.
func Replay(t TB, data []byte, items []durable.Registrable, opts ...ReplayOption) {
	t.Helper()
	events, err := ParseHistory(data)
	if err != nil {
		t.Fatalf("durabletest: reading the history: %v", err)
	}
	if err := ReplayEvents(events, items, opts...); err != nil {
		t.Fatalf("durabletest: %v", err)
	}
}

// ReplayEvents replays one execution's events against the orchestration
// among items that the events name (activities among items are ignored).
// The error is a *durable.NonDeterminismError when the code changed.
func ReplayEvents(events []history.Event, items []durable.Registrable, opts ...ReplayOption) error {
	var o replayOptions
	for _, f := range opts {
		f(&o)
	}
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
	var conv durable.DataConverter = durable.JSONConverter{}
	if o.conv != nil {
		conv = o.conv
	}
	reg := registry.New(conv)
	if err := registry.Add(reg, items...); err != nil {
		return err
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
		var nde *replay.NonDeterminismError
		if errors.As(err, &nde) {
			err = &durable.NonDeterminismError{TaskID: nde.TaskID, History: nde.History, Code: nde.Code}
		}
		return fmt.Errorf("replaying %s (%d events): %w", start.Name, len(events), err)
	}
	// Every action of a committed episode is in its history, so a full
	// replay that emits one means the code does more than it did.
	if len(res.Actions) > 0 {
		return &durable.NonDeterminismError{TaskID: res.Actions[0].Base().EventID,
			History: "no further work", Code: "schedules " + res.Actions[0].Type().String()}
	}
	if res.Completion != nil && !completed {
		return &durable.NonDeterminismError{TaskID: res.Completion.ID, History: "an orchestration that is still running",
			Code: fmt.Sprintf("completes it as %s", res.Completion.Status)}
	}
	return nil
}

// ParseHistory reads history JSON in the forms Replay accepts. It refuses
// History table rows: tables.ParseHistoryRows decodes those.
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
		for _, key := range []string{"events", "historyEvents"} {
			if raw, ok := o.Present(key); ok {
				return ParseHistory(raw)
			}
		}
		if o.Has("rows") {
			return nil, errRows
		}
		return nil, errors.New("the object has no events")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	var out []history.Event
	for i, raw := range items {
		o, err := netjson.ParseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if o.Has("RowKey") || o.Has("PartitionKey") || o.Has("raw") {
			return nil, errRows
		}
		ev, err := history.UnmarshalEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

var errRows = errors.New("these are History table rows, not events: decode them with tables.ParseHistoryRows and pass the events to ReplayEvents")

package durabletest_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/tables"
)

func regs(items ...durable.Registrable) []durable.Registrable { return items }

// The C# worker's own HelloCities history replays against the Go
// HelloCities: same task ids, same actions. The recorded History rows are
// decoded by package tables first.
func TestReplayCSharpHistories(t *testing.T) {
	for _, f := range []string{"CsHub/History/capture-hello.json", "CsHub/History/capture-scheduled.json", "CsHubB64/History/capture-hello-b64.json"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "csharp", "tables", "final", f))
		if err != nil {
			t.Fatal(err)
		}
		events, err := tables.ParseHistoryRows(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := durabletest.ReplayEvents(events, hellocities.Registrations()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		// The replayer itself reads events, not rows.
		if _, err := durabletest.ParseHistory(data); err == nil || !strings.Contains(err.Error(), "tables.ParseHistoryRows") {
			t.Errorf("%s: ParseHistory of table rows gave %v", f, err)
		}
	}
}

// Replay reads the events azdurable instances history --json prints.
func TestReplayPrintedEvents(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "csharp", "tables", "final", "CsHub", "History", "capture-hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := tables.ParseHistoryRows(data)
	if err != nil {
		t.Fatal(err)
	}
	var printed []json.RawMessage
	for _, ev := range events {
		printed = append(printed, history.AppendEvent(nil, ev, history.TypeNames))
	}
	text, _ := json.Marshal(printed)
	durabletest.Replay(t, text, hellocities.Registrations())
}

// A Go HelloSequence (two activities) replays the hand-made two-activities
// vector, which is C#'s shape for that orchestration.
func TestReplayTwoActivitiesVector(t *testing.T) {
	seq := durable.NewOrchestration("HelloSequence", func(ctx durable.Context, name string) ([]string, error) {
		a, err := hellocities.SayHello.Call(ctx, "Tokyo").Await(ctx)
		if err != nil {
			return nil, err
		}
		b, err := hellocities.SayHello.Call(ctx, "Seattle").Await(ctx)
		return []string{a, b}, err
	})
	data, err := os.ReadFile("../testdata/azstorage-history-two-activities.json")
	if err != nil {
		t.Fatal(err)
	}
	events, err := tables.ParseHistoryRows(extract(t, data, "rowsAfterCompletion"))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 12 {
		t.Fatalf("%d events", len(events))
	}
	if err := durabletest.ReplayEvents(events, regs(seq, hellocities.SayHello)); err != nil {
		t.Fatal(err)
	}
	// Changed code: a third call, or a different activity, is reported.
	changed := durable.NewOrchestration("HelloSequence", func(ctx durable.Context, name string) ([]string, error) {
		a, _ := hellocities.SayHello.Call(ctx, "Tokyo").Await(ctx)
		_, err := durable.CallActivity[string](ctx, "Other", "x").Await(ctx)
		return []string{a}, err
	})
	err = durabletest.ReplayEvents(events, regs(changed))
	var nde *durable.NonDeterminismError
	if !errors.As(err, &nde) {
		t.Fatalf("changed code gave %v, want a NonDeterminismError", err)
	}
	longer := durable.NewOrchestration("HelloSequence", func(ctx durable.Context, name string) ([]string, error) {
		for i := 0; i < 3; i++ {
			if _, err := hellocities.SayHello.Call(ctx, "x").Await(ctx); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err := durabletest.ReplayEvents(events, regs(longer)); !errors.As(err, &nde) {
		t.Fatalf("code with one more call gave %v", err)
	}
}

func extract(t *testing.T, data []byte, key string) []byte {
	t.Helper()
	var m map[string]jsonRaw
	if err := unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

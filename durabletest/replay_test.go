package durabletest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/samples/hellocities"
)

func registry(t *testing.T, items ...durable.Registrable) *durable.Registry {
	r := durable.NewRegistry()
	if err := r.Add(items...); err != nil {
		t.Fatal(err)
	}
	return r
}

// The C# worker's own HelloCities history replays against the Go
// HelloCities: same task ids, same actions.
func TestReplayCSharpHistories(t *testing.T) {
	reg := registry(t, hellocities.Registrations()...)
	for _, f := range []string{"capture-hello.json", "capture-scheduled.json"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "csharp", "tables", "final", "CsHub", "History", f))
		if err != nil {
			t.Fatal(err)
		}
		durabletest.Replay(t, reg, data)
	}
	data, err := os.ReadFile("../testdata/csharp/tables/final/CsHubB64/History/capture-hello-b64.json")
	if err != nil {
		t.Fatal(err)
	}
	durabletest.Replay(t, reg, data)
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
	events, err := durabletest.ParseHistory(extract(t, data, "rowsAfterCompletion"))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 12 {
		t.Fatalf("%d events", len(events))
	}
	if err := durabletest.ReplayEvents(registry(t, seq, hellocities.SayHello), events); err != nil {
		t.Fatal(err)
	}
	// Changed code: a third call, or a different activity, is reported.
	changed := durable.NewOrchestration("HelloSequence", func(ctx durable.Context, name string) ([]string, error) {
		a, _ := hellocities.SayHello.Call(ctx, "Tokyo").Await(ctx)
		_, err := durable.CallActivity[string](ctx, "Other", "x").Await(ctx)
		return []string{a}, err
	})
	err = durabletest.ReplayEvents(registry(t, changed), events)
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
	if err := durabletest.ReplayEvents(registry(t, longer), events); !errors.As(err, &nde) {
		t.Fatalf("code with one more call gave %v", err)
	}
	_ = context.Background
}

func extract(t *testing.T, data []byte, key string) []byte {
	t.Helper()
	var m map[string]jsonRaw
	if err := unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

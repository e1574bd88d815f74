package provider_test

// The status a failed orchestration leaves behind is one rule for every
// backend (history.FailureOutput and rules.Checkpoint). This file runs the same
// failing orchestrations on the in-memory backend and on Azurite and
// compares the status objects field by field. It guards a cross-backend
// rule, not one backend: keep it, under this name, through any
// restructuring of the backends or of this package.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

var (
	itBroke = durable.NewOrchestration("CrossBackendItBroke", func(ctx durable.Context, _ string) (string, error) {
		return "", errors.New("it broke")
	})
	declines = durable.NewActivity("CrossBackendDecline", func(_ context.Context, s string) (string, error) {
		return "", fmt.Errorf("card declined: %s", s)
	})
	uncaught = durable.NewOrchestration("CrossBackendUncaught", func(ctx durable.Context, s string) (string, error) {
		return declines.Call(ctx, s).Await(ctx)
	})
	panics = durable.NewOrchestration("CrossBackendPanics", func(ctx durable.Context, _ string) (string, error) {
		panic("kaboom")
	})
	zeroRetry = durable.NewOrchestration("CrossBackendZeroRetry", func(ctx durable.Context, s string) (string, error) {
		return declines.Call(ctx, s, durable.WithRetry(durable.RetryPolicy{})).Await(ctx)
	})
)

// TestCrossBackendFailedOrchestrationStatus is the cross-backend guard for
// a failed orchestration's status (see the file comment).
func TestCrossBackendFailedOrchestrationStatus(t *testing.T) {
	runs := map[string]failingRun{
		"it-broke": {itBroke.Name(), `"x"`, "it broke"},
		"uncaught": {uncaught.Name(), `"order-2"`, "card declined: order-2"},
		"panics":   {panics.Name(), `"p"`, ""},
		"zero-retry": {zeroRetry.Name(), `"z"`, `durable: invalid RetryPolicy for "CrossBackendDecline": ` +
			"FirstRetryInterval is 0s; it must be positive; MaxAttempts is 0; it must be at least 1"},
	}
	hub := azuritetest.NewHub(t)
	az, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = az.DeleteTaskHub(context.Background()) })
	backends := []struct {
		name string
		be   provider.Backend
	}{{"memory", memory.New(memory.Options{})}, {"azurestorage", az}}

	states := map[string]map[string][2]*client.State{} // backend → id → (with payloads, without)
	for _, b := range backends {
		states[b.name] = runFailing(t, b.be, runs)
	}
	for id, r := range runs {
		mem, azs := states["memory"][id], states["azurestorage"][id]
		for i, what := range []string{"with payloads", "without payloads"} {
			m, a := mem[i], azs[i]
			if m.Status != client.Failed || a.Status != client.Failed {
				t.Fatalf("%s (%s): status memory %s, azurestorage %s; want Failed", id, what, m.Status, a.Status)
			}
			if i == 0 && r.output != "" {
				if m.Output == nil || *m.Output != r.output {
					t.Errorf("%s: memory output %s, want %q", id, show(m.Output), r.output)
				}
			}
			compareStates(t, id+" ("+what+")", m, a)
		}
	}
}

type failingRun struct {
	orch, input string
	// output is the Output every backend must show ("" when the test
	// leaves the text to the comparison).
	output string
}

// runFailing starts every run (instance id = its key) on be with a worker
// of its own, waits for each to end and returns its status read with and
// without payloads.
func runFailing(t *testing.T, be provider.Backend, runs map[string]failingRun) map[string][2]*client.State {
	t.Helper()
	w := worker.New(be, worker.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		ShutdownTimeout: 10 * time.Second})
	if err := w.Register(itBroke, declines, uncaught, panics, zeroRetry); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	c := client.New(be, client.Options{})
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	for id, r := range runs {
		if _, err := c.ScheduleNew(wctx, r.orch, json.RawMessage(r.input), client.WithInstanceID(id)); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string][2]*client.State{}
	for id := range runs {
		with, err := c.WaitForCompletion(wctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
		if err != nil {
			t.Fatalf("waiting for %s: %v", id, err)
		}
		without, err := c.GetState(wctx, id, client.WithInputsAndOutputs(false))
		if err != nil {
			t.Fatal(err)
		}
		out[id] = [2]*client.State{with, without}
	}
	return out
}

func show(p *string) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", *p)
}

// compareStates compares every field of two statuses of the same instance
// on two backends. Execution ids and times differ between runs by nature:
// they must be set on both (or unset on both).
func compareStates(t *testing.T, what string, m, a *client.State) {
	t.Helper()
	mv, av := reflect.ValueOf(*m), reflect.ValueOf(*a)
	typ := mv.Type()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue // the client's converter, not a stored field
		}
		x, y := mv.Field(i).Interface(), av.Field(i).Interface()
		switch f.Name {
		case "ExecutionID":
			if (x == "") != (y == "") {
				t.Errorf("%s: %s memory %v, azurestorage %v", what, f.Name, x, y)
			}
			continue
		case "CreatedAt", "LastUpdatedAt", "CompletedAt":
			if x.(time.Time).IsZero() != y.(time.Time).IsZero() {
				t.Errorf("%s: %s memory %v, azurestorage %v", what, f.Name, x, y)
			}
			continue
		}
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s: %s differs:\n  memory       %s\n  azurestorage %s", what, f.Name, describe(x), describe(y))
		}
	}
}

func describe(v any) string {
	switch x := v.(type) {
	case *string:
		return show(x)
	case *history.FailureDetails:
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("%+v", *x)
	}
	return fmt.Sprintf("%#v", v)
}

package samples_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
)

var update = flag.Bool("update", false, "rewrite the golden histories in testdata/golden")

// Checklist 8 (history shape change, dapr/durabletask-go PR #82): each
// sample's history is kept as a golden file. Today's code must (a) still
// replay every golden history without a non-determinism error and without
// new actions, and (b) produce the same shape (event types, task ids and
// names) when run again. Changing a sample's actions therefore shows up
// here before it breaks in-flight instances. Regenerate with -update only
// for a deliberate, versioned change.
func TestGoldenHistories(t *testing.T) {
	cases := map[string]func(e *durabletest.Env) string{
		"hellocities": func(e *durabletest.Env) string { return durabletest.Start(e, hellocities.HelloCities, "cities").ID },
		"indexing": func(e *durabletest.Env) string {
			return durabletest.Start(e, indexing.IndexRepositories, "fabrikam").ID
		},
		"orders-refunded": func(e *durabletest.Env) string {
			return durabletest.Start(e, orders.ProcessOrder, orders.Order{ID: "g1", Item: "widget", Quantity: 1, ShippingFails: true}).ID
		},
		"approval-expired": func(e *durabletest.Env) string {
			return durabletest.Start(e, approval.Approval, approval.Request{ID: "g", Requester: "x", TimeoutSeconds: 30}).ID
		},
		"monitor": func(e *durabletest.Env) string {
			return durabletest.Start(e, monitor.Monitor, monitor.Job{ID: "g", ReadyAfterChecks: 2, IntervalSeconds: 5}).ID
		},
	}
	for name, start := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name+".json")
			e := env(t, nil)
			id := start(e)
			st := waitDone(t, e, id)
			if st.Status != client.Completed {
				t.Fatalf("%s ended %s", name, st.Status)
			}
			got := e.History(id)
			if *update {
				var out []json.RawMessage
				for _, ev := range got {
					out = append(out, history.AppendEvent(nil, ev, history.TypeNames))
				}
				data, _ := json.MarshalIndent(out, "", " ")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			golden, err := durabletest.ParseHistory(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := durabletest.ReplayEvents(golden, samples.All(nil)); err != nil {
				t.Errorf("the golden history no longer replays: %v", err)
			}
			if a, b := shape(golden), shape(got); a != b {
				t.Errorf("the history shape changed\nwas: %s\nnow: %s", a, b)
			}
		})
	}
}

func waitDone(t *testing.T, e *durabletest.Env, id string) *client.State {
	t.Helper()
	ctx, cancel := e.Context()
	defer cancel()
	st, err := e.Client.WaitForCompletion(ctx, id, client.PollInterval(1e6, 2e7))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// shape is the history's events (type, id, task name) without the episode
// markers: how results are grouped into episodes depends on when they
// arrive (the indexing fan-out's two results come in one episode or in
// two), not on the orchestration's code.
func shape(events []history.Event) string {
	s := ""
	for _, ev := range events {
		switch ev.(type) {
		case *history.OrchestratorStartedEvent, *history.OrchestratorCompletedEvent:
			continue
		}
		s += fmt.Sprintf("%s#%d", ev.Type(), ev.Base().EventID)
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			s += "(" + v.Name + ")"
		case *history.SubOrchestrationInstanceCreatedEvent:
			s += "(" + v.Name + ")"
		}
		s += " "
	}
	return s
}

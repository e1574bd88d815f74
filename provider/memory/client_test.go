package memory

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// runToStatus gives an instance a row with the wanted status by driving
// one episode (Pending needs none).
func (f *fixture) runToStatus(id string, status history.OrchestrationStatus) {
	f.t.Helper()
	start := startMsg(id, id+"-e", "Job", history.Str(`"in-`+id+`"`), f.now())
	if status == history.StatusPending {
		// Scheduled a day ahead, so that it stays Pending.
		at := f.now().Add(24 * time.Hour)
		start.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &at
	}
	if err := f.b.CreateInstance(f.ctx, start, nil); err != nil {
		f.t.Fatal(err)
	}
	if status == history.StatusPending {
		return
	}
	wi := f.lock()
	if wi.InstanceID != id {
		f.t.Fatalf("locked %q while driving %q", wi.InstanceID, id)
	}
	var actions []history.Event
	switch status {
	case history.StatusCompleted, history.StatusFailed, history.StatusTerminated:
		c := completedEv(`"out-`+id+`"`, f.now())
		c.OrchestrationStatus = status
		actions = append(actions, c)
	}
	f.commit(wi, f.episode(wi, actions...))
}

func ids(states []*history.OrchestrationState) []string {
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = st.OrchestrationInstance.InstanceID
	}
	return out
}

func TestQueryFiltersAndContinuation(t *testing.T) {
	f := newFixture(t, Options{})
	plan := []struct {
		id     string
		status history.OrchestrationStatus
	}{
		{"a1", history.StatusCompleted}, {"a2", history.StatusRunning}, {"a3", history.StatusPending},
		{"b1", history.StatusFailed}, {"@counter@x", history.StatusRunning}, {"a4", history.StatusCompleted},
	}
	created := map[string]time.Time{}
	for _, p := range plan {
		f.clock.Advance(time.Minute)
		created[p.id] = f.now()
		f.runToStatus(p.id, p.status)
	}
	query := func(q provider.Query, token string) *provider.Page {
		t.Helper()
		page, err := f.b.Query(f.ctx, q, token)
		if err != nil {
			t.Fatalf("Query(%+v): %v", q, err)
		}
		return page
	}
	for _, tc := range []struct {
		name string
		q    provider.Query
		want []string
	}{
		{"all", provider.Query{}, []string{"@counter@x", "a1", "a2", "a3", "a4", "b1"}},
		{"statuses", provider.Query{Statuses: []history.OrchestrationStatus{history.StatusCompleted, history.StatusFailed}}, []string{"a1", "a4", "b1"}},
		{"prefix", provider.Query{InstanceIDPrefix: "a"}, []string{"a1", "a2", "a3", "a4"}},
		{"created range", provider.Query{CreatedFrom: created["a2"], CreatedTo: created["b1"]}, []string{"a2", "a3", "b1"}},
		{"exclude entities", provider.Query{ExcludeEntities: true, Statuses: []history.OrchestrationStatus{history.StatusRunning}}, []string{"a2"}},
		{"after", provider.Query{After: "a3"}, []string{"a4", "b1"}},
		{"after, prefix", provider.Query{After: "a2", InstanceIDPrefix: "a"}, []string{"a3", "a4"}},
		{"after the last", provider.Query{After: "b1"}, nil},
	} {
		if got := ids(query(tc.q, "").States); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	var pages [][]string
	token := ""
	for {
		page := query(provider.Query{PageSize: 2, ExcludeEntities: true}, token)
		pages = append(pages, ids(page.States))
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	if want := [][]string{{"a1", "a2"}, {"a3", "a4"}, {"b1"}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Fatalf("pages: %v, want %v", pages, want)
	}
	if page := query(provider.Query{PageSize: 5, ExcludeEntities: true}, ""); page.ContinuationToken != "" {
		t.Fatalf("an exactly full last page has a token %q", page.ContinuationToken)
	}
	noPayload := query(provider.Query{InstanceIDPrefix: "a1"}, "").States[0]
	withPayload := query(provider.Query{InstanceIDPrefix: "a1", FetchPayloads: true}, "").States[0]
	if noPayload.Input != nil || noPayload.Output != nil || history.Deref(withPayload.Input) != `"in-a1"` || history.Deref(withPayload.Output) != `"out-a1"` {
		t.Fatalf("payload projection: without %+v, with %+v", noPayload, withPayload)
	}
	// A token Query did not make is an empty last page, not an error.
	if page, err := f.b.Query(f.ctx, provider.Query{}, "not a token!"); err != nil || len(page.States) != 0 || page.ContinuationToken != "" {
		t.Fatalf("a foreign continuation token: %+v, %v", page, err)
	}
	if st, err := f.b.GetState(f.ctx, "a1", false); err != nil || st.Input != nil || st.Output != nil {
		t.Fatalf("GetState without payloads: %+v, %v", st, err)
	}
	if _, err := f.b.GetState(f.ctx, "nope", true); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("GetState of an unknown id: %v", err)
	}
	if _, err := f.b.History(f.ctx, "nope", ""); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("History of an unknown id: %v", err)
	}
}

func TestPurge(t *testing.T) {
	f := newFixture(t, Options{})
	f.runToStatus("done", history.StatusCompleted)
	f.runToStatus("failed", history.StatusFailed)
	f.runToStatus("running", history.StatusRunning)
	f.runToStatus("pending", history.StatusPending)
	f.clock.Advance(time.Hour)
	f.runToStatus("late", history.StatusCompleted)

	res, err := f.b.Purge(f.ctx, "done")
	if err != nil || res != (provider.PurgeResult{InstancesDeleted: 1, RowsDeleted: 5, Complete: true}) {
		t.Fatalf("purge one: %+v, %v", res, err)
	}
	if _, err := f.b.GetState(f.ctx, "done", false); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("row survived the purge: %v", err)
	}
	if res, err := f.b.Purge(f.ctx, "never"); err != nil || res.InstancesDeleted != 0 || res.RowsDeleted != 0 {
		t.Fatalf("purge of an unknown id: %+v, %v", res, err)
	}

	for _, bad := range []provider.PurgeFilter{{}, {Statuses: []history.OrchestrationStatus{history.StatusRunning, history.StatusPending}}} {
		if _, err := f.b.PurgeWhere(f.ctx, bad); !errors.Is(err, provider.ErrPurgeNeedsStatuses) {
			t.Fatalf("PurgeWhere(%+v): %v, want ErrPurgeNeedsStatuses", bad, err)
		}
	}
	res, err = f.b.PurgeWhere(f.ctx, provider.PurgeFilter{CreatedTo: t0.Add(time.Minute),
		Statuses: []history.OrchestrationStatus{history.StatusCompleted, history.StatusFailed, history.StatusRunning}})
	if err != nil || res.InstancesDeleted != 1 || !res.Complete {
		t.Fatalf("purge terminal before the hour: %+v, %v", res, err)
	}
	left, _ := f.b.Query(f.ctx, provider.Query{}, "")
	if got := ids(left.States); !slices.Equal(got, []string{"late", "pending", "running"}) {
		t.Fatalf("left after the filtered purge: %v", got)
	}
	// AllStatuses means every finished status: the running and pending
	// instances stay.
	res, err = f.b.PurgeWhere(f.ctx, provider.PurgeFilter{AllStatuses: true})
	if err != nil || res.InstancesDeleted != 1 {
		t.Fatalf("purge all statuses: %+v, %v", res, err)
	}
	left, _ = f.b.Query(f.ctx, provider.Query{}, "")
	if got := ids(left.States); !slices.Equal(got, []string{"pending", "running"}) {
		t.Fatalf("left after purging every finished status: %v", got)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, err := f.b.PurgeWhere(ctx, provider.PurgeFilter{AllStatuses: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("purge with a canceled ctx: %v", err)
	}
}

func TestDeleteAndCreateTaskHub(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	if err := f.b.DeleteTaskHub(f.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.GetState(f.ctx, "i", false); !errors.Is(err, ErrTaskHubNotFound) {
		t.Fatalf("GetState on a deleted hub: %v", err)
	}
	if err := f.create("j", "e1", "X", nil); !errors.Is(err, ErrTaskHubNotFound) {
		t.Fatalf("create on a deleted hub: %v", err)
	}
	for range 2 { // idempotent
		if err := f.b.CreateTaskHub(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.b.GetState(f.ctx, "i", false); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("state survived the hub's deletion: %v", err)
	}
	if s := f.b.Stats(); slices.Max(s.ControlMessages) != 0 {
		t.Fatalf("messages survived the hub's deletion: %+v", s)
	}
}

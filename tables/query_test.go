package tables

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

func TestInstanceFilter(t *testing.T) {
	from := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	got, err := instanceFilter(InstanceQuery{
		Statuses:         []history.OrchestrationStatus{history.StatusRunning, history.StatusPending},
		CreatedFrom:      from,
		CreatedTo:        from.Add(time.Hour),
		InstanceIDPrefix: "it's/a",
		TaskHubNames:     []string{"Hub"},
		ExcludeEntities:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "RowKey eq '' and CreatedTime ge datetime'2024-05-01T12:00:00.0000000Z' and CreatedTime le datetime'2024-05-01T13:00:00.0000000Z'" +
		" and (RuntimeStatus eq 'Running' or RuntimeStatus eq 'Pending') and TaskHubName eq 'Hub'" +
		" and PartitionKey ge 'it''s^0a' and PartitionKey lt 'it''s^0b' and (PartitionKey lt '@' or PartitionKey ge 'A')"
	if got != want {
		t.Fatalf("filter\n got %s\nwant %s", got, want)
	}
	if got, _ := instanceFilter(InstanceQuery{}); got != "RowKey eq ''" {
		t.Fatalf("empty query: %s", got)
	}
	if _, err := instanceFilter(InstanceQuery{Statuses: []history.OrchestrationStatus{42}}); err == nil {
		t.Fatal("invalid status accepted")
	}
}

func TestIncrementLast(t *testing.T) {
	for in, want := range map[string]string{"a": "b", "ab": "ac", "a^0": "a^1", "x\u00ff": "x\u0100", "\ud7ff": "\ue000"} {
		if got, ok := incrementLast(in); !ok || got != want {
			t.Errorf("incrementLast(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := incrementLast(string(rune(0x10FFFF))); ok {
		t.Error("U+10FFFF has no successor")
	}
}

func TestOdataString(t *testing.T) {
	if got := odataString("it's ''x'"); got != "'it''s ''''x'''" {
		t.Fatal(got)
	}
}

// Instances with different statuses, creation times and ids are selected
// by status, time range, id prefix and entity exclusion; small pages chain
// through continuation tokens to the full result; payloads are projected
// away unless asked for.
func TestQueryOnAzurite(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	type inst struct {
		id      string
		status  history.OrchestrationStatus
		created time.Time
	}
	all := []inst{
		{"order-1", history.StatusCompleted, base},
		{"order-2", history.StatusRunning, base.Add(time.Hour)},
		{"order-3", history.StatusFailed, base.Add(2 * time.Hour)},
		{"order-30", history.StatusCompleted, base.Add(3 * time.Hour)},
		{"orders", history.StatusPending, base.Add(4 * time.Hour)},
		{"ship/1", history.StatusCompleted, base.Add(5 * time.Hour)},
		{"@counter@k1", history.StatusRunning, base.Add(6 * time.Hour)},
		{"x'y", history.StatusTerminated, base.Add(7 * time.Hour)},
	}
	for _, in := range all {
		in2 := `"in"`
		start := &history.ExecutionStartedEvent{
			EventBase:             history.EventBase{EventID: -1, Timestamp: in.created},
			OrchestrationInstance: history.OrchestrationInstance{InstanceID: in.id, ExecutionID: "e"},
			Name:                  "Orch", Input: &in2,
		}
		row := PendingInstanceRow(start, e.hub, "", in.created)
		row.Set(colRuntimeStatus, in.status.String())
		row.Set(colOutput, `"out"`)
		if _, err := e.inst.Insert(c, row); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q InstanceQuery) []string {
		t.Helper()
		var out []string
		token := ""
		for pages := 0; ; pages++ {
			page, err := e.inst.Query(c, q, token)
			if err != nil {
				t.Fatal(err)
			}
			if q.PageSize > 0 && len(page.Instances) > q.PageSize {
				t.Fatalf("page of %d rows, size %d", len(page.Instances), q.PageSize)
			}
			for _, r := range page.Instances {
				out = append(out, r.State.OrchestrationInstance.InstanceID)
				if _, has := r.Entity.Get(colInput); has != q.FetchInput {
					t.Fatalf("%s: Input present %v, FetchInput %v", r.State.OrchestrationInstance.InstanceID, has, q.FetchInput)
				}
				if _, has := r.Entity.Get(colOutput); has != q.FetchOutput {
					t.Fatalf("%s: Output present %v, FetchOutput %v", r.State.OrchestrationInstance.InstanceID, has, q.FetchOutput)
				}
			}
			if token = page.ContinuationToken; token == "" {
				return out
			}
			if pages > 20 {
				t.Fatal("continuation does not end")
			}
		}
	}
	for name, tc := range map[string]struct {
		q    InstanceQuery
		want []string
	}{
		"all":       {InstanceQuery{FetchInput: true, FetchOutput: true}, []string{"@counter@k1", "order-1", "order-2", "order-3", "order-30", "orders", "ship/1", "x'y"}},
		"completed": {InstanceQuery{Statuses: []history.OrchestrationStatus{history.StatusCompleted}}, []string{"order-1", "order-30", "ship/1"}},
		"two statuses": {InstanceQuery{Statuses: []history.OrchestrationStatus{history.StatusFailed, history.StatusTerminated}, FetchOutput: true},
			[]string{"order-3", "x'y"}},
		"time range": {InstanceQuery{CreatedFrom: base.Add(time.Hour), CreatedTo: base.Add(3 * time.Hour), FetchInput: true},
			[]string{"order-2", "order-3", "order-30"}},
		"prefix":         {InstanceQuery{InstanceIDPrefix: "order-"}, []string{"order-1", "order-2", "order-3", "order-30"}},
		"prefix escaped": {InstanceQuery{InstanceIDPrefix: "ship/"}, []string{"ship/1"}},
		"prefix quote":   {InstanceQuery{InstanceIDPrefix: "x'"}, []string{"x'y"}},
		"no entities":    {InstanceQuery{ExcludeEntities: true}, []string{"order-1", "order-2", "order-3", "order-30", "orders", "ship/1", "x'y"}},
		"entities":       {InstanceQuery{InstanceIDPrefix: "@"}, []string{"@counter@k1"}},
		"hub":            {InstanceQuery{TaskHubNames: []string{e.hub}, Statuses: []history.OrchestrationStatus{history.StatusPending}}, []string{"orders"}},
		"other hub":      {InstanceQuery{TaskHubNames: []string{"Nope"}}, nil},
		"pages of 2":     {InstanceQuery{PageSize: 2, ExcludeEntities: true}, []string{"order-1", "order-2", "order-3", "order-30", "orders", "ship/1", "x'y"}},
		"pages of 1, prefix": {InstanceQuery{PageSize: 1, InstanceIDPrefix: "order"},
			[]string{"order-1", "order-2", "order-3", "order-30", "orders"}},
		"after": {InstanceQuery{After: "order-3"}, []string{"order-30", "orders", "ship/1", "x'y"}},
		"after, prefix, pages": {InstanceQuery{After: "order-2", InstanceIDPrefix: "order", PageSize: 1},
			[]string{"order-3", "order-30", "orders"}},
		"after escaped":  {InstanceQuery{After: "ship/1"}, []string{"x'y"}},
		"after the last": {InstanceQuery{After: "x'y"}, nil},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	// A page of 2 over 8 rows needs a token, which round-trips.
	page, err := e.inst.Query(c, InstanceQuery{PageSize: 2}, "")
	if err != nil || len(page.Instances) != 2 || page.ContinuationToken == "" {
		t.Fatalf("first page: %v %+v", err, page)
	}
	// The token is C#'s: NextPartitionKey, a space, NextRowKey.
	pk, _, ok := strings.Cut(page.ContinuationToken, " ")
	if !ok || pk == "" {
		t.Fatalf("token %q is not C#'s NextPartitionKey NextRowKey", page.ContinuationToken)
	}
	// Azurite's keys are base64 of the next id: a token made so, as C#
	// hands it out, starts there; HTTP clients trim its trailing space.
	if next, err := base64.StdEncoding.DecodeString(pk); err == nil && string(next) == "order-2" {
		cs := base64.StdEncoding.EncodeToString([]byte("order-3"))
		for _, tok := range []string{cs + " ", cs} {
			p, err := e.inst.Query(c, InstanceQuery{PageSize: 2}, tok)
			if err != nil || len(p.Instances) == 0 || p.Instances[0].State.OrchestrationInstance.InstanceID != "order-3" {
				t.Fatalf("C#'s token %q: %v %+v", tok, err, p)
			}
		}
		// A token past every row (Azurite decodes "junk" to bytes above
		// every id) is an empty last page, as C# answers it.
		if p, err := e.inst.Query(c, InstanceQuery{}, "junk"); err != nil || len(p.Instances) != 0 || p.ContinuationToken != "" {
			t.Fatalf("junk token: %v %+v", err, p)
		}
	}
	// A CreatedTo before CreatedFrom selects nothing.
	now := time.Now()
	if p, err := e.inst.Query(c, InstanceQuery{CreatedFrom: now, CreatedTo: now.Add(-time.Hour)}, ""); err != nil || len(p.Instances) != 0 || p.ContinuationToken != "" {
		t.Fatalf("reversed time range: %v %+v", err, p)
	}
}

package azurestorage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/samples/hellocities"
)

// TestCountingEntityRowsAreTheExtensions runs the Counter entity and the
// Counting orchestration on Azurite and compares what the entity's
// instance leaves in storage with what the extension left: History rows
// of one fresh execution (the same events and columns), the Instances
// row's custom status, name, version and status, and the scheduler state
// as the input, with the sorter's clock of the Counting instance.
func TestCountingEntityRowsAreTheExtensions(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	runWorker(t, be, counter.Registrations()...)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.SignalEntity(ctx, counter.K1, "reset", nil); err != nil {
		t.Fatal(err)
	}
	id, err := c.ScheduleNew(ctx, "Counting", nil, client.WithInstanceID("df-counting"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || st.Output == nil || *st.Output != "8" {
		t.Fatalf("Counting: %+v %v", st, err)
	}
	var m *client.EntityMetadata
	for {
		if m, err = c.GetEntity(ctx, counter.K1); err != nil {
			t.Fatal(err)
		}
		if m.LockedBy == "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the entity stayed locked")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !m.Exists || m.State == nil || *m.State != "8" {
		t.Fatalf("entity %+v", m)
	}

	recorded := recordedEntityRows(t)
	svc, _ := azuritetest.Account(t).TableService(nil)
	got := rawRows(t, svc.NewClient(hub+"History"), "@counter@k1")
	if len(got) != 4 {
		t.Fatalf("%d History rows for the entity, want 3 and the sentinel", len(got))
	}
	for i, raw := range got {
		var row map[string]any
		_ = json.Unmarshal(raw, &row)
		want := recorded[row["RowKey"].(string)]
		if want == nil {
			t.Fatalf("unexpected row %s", row["RowKey"])
		}
		if g, w := columnsOf(t, raw), columnsOf(t, want); fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("row %d (%v) columns\n got %v\nwant %v", i, row["EventType"], g, w)
		}
		if row["EventType"] == "ExecutionStarted" {
			var w map[string]any
			_ = json.Unmarshal(want, &w)
			for _, col := range []string{"Name", "Version", "ParentInstance", "Tags", "ParentTraceContext"} {
				if fmt.Sprint(row[col]) != fmt.Sprint(w[col]) {
					t.Errorf("ExecutionStarted %s = %v, want %v", col, row[col], w[col])
				}
			}
			in := row["Input"].(string)
			if !strings.HasPrefix(in, `{"exists":true,"state":"8","sorter":{"ReceivedFromInstance":{"df-counting":{"Last":"`) {
				t.Errorf("entity state %s", in)
			}
		}
	}
	rows := rawRows(t, svc.NewClient(hub+"Instances"), "@counter@k1")
	var row map[string]any
	_ = json.Unmarshal(rows[0], &row)
	if row["CustomStatus"] != `{"entityExists":true}` || row["RuntimeStatus"] != "Running" || row["Name"] != "@counter@k1" ||
		row["Version"] != "" || !strings.HasPrefix(row["Input"].(string), `{"exists":true,"state":"8",`) {
		t.Errorf("Instances row %v", row)
	}
	if _, ok := row["Generation"]; ok {
		t.Errorf("Instances row has a Generation (%v); the extension writes null", row["Generation"])
	}
}

// recordedEntityRows returns the History rows the extension wrote for the
// entity's last commit, by RowKey, without null columns (storage keeps
// none).
func recordedEntityRows(t *testing.T) map[string]json.RawMessage {
	f, err := os.Open("../../testdata/durable-functions/entities-wire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Kind string           `json:"kind"`
			Rows []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "historyRows" {
			last = r.Rows
		}
	}
	if last == nil {
		t.Fatal(errors.New("no recorded rows"))
	}
	out := map[string]json.RawMessage{}
	for _, r := range last {
		for k, v := range r {
			if v == nil {
				delete(r, k)
			}
		}
		raw, _ := json.Marshal(r)
		out[r["RowKey"].(string)] = raw
	}
	return out
}

var starter = durable.NewEntity[int]("Starter",
	durable.Op("start", func(ctx *durable.EntityContext[int], id string) (string, error) {
		return ctx.StartOrchestration("HelloCities", id, "x")
	}),
)

// An orchestration an entity starts (a fire-and-forget start without an
// Instances row) runs to completion on Azure Storage.
func TestEntityStartsAnOrchestration(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	runWorker(t, be, append(hellocities.Registrations(), starter)...)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.SignalEntity(ctx, durable.NewEntityID("Starter", "s"), "start", "started-by-entity"); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := c.GetState(ctx, "started-by-entity")
		if err == nil && st.Status == client.Completed {
			break
		}
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the orchestration did not complete: %+v %v", st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

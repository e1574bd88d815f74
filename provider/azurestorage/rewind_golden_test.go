package azurestorage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/tables"
)

// rewindCapture is one of testdata/csharp/rewind's files.
type rewindCapture struct {
	History   []json.RawMessage   `json:"history"`
	Instances []json.RawMessage   `json:"instances"`
	Queues    map[string][]string `json:"queues"`
}

func loadRewindCapture(t *testing.T, name string) rewindCapture {
	t.Helper()
	data, err := os.ReadFile("../../testdata/csharp/rewind/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var c rewindCapture
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func entities(t *testing.T, raws []json.RawMessage) map[string]*tables.Entity {
	t.Helper()
	out := map[string]*tables.Entity{}
	for _, raw := range raws {
		e, err := tables.UnmarshalEntity(raw)
		if err != nil {
			t.Fatal(err)
		}
		out[e.PartitionKey+"/"+e.RowKey] = e
	}
	return out
}

func readTable(t *testing.T, tc *aztables.Client) map[string]*tables.Entity {
	t.Helper()
	f := aztables.MetadataFormatFull
	p := tc.NewListEntitiesPager(&aztables.ListEntitiesOptions{Format: &f})
	var raws []json.RawMessage
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entities {
			raws = append(raws, e)
		}
	}
	return entities(t, raws)
}

func columns(e *tables.Entity, skip ...string) map[string]any {
	m := map[string]any{}
	for _, p := range e.Properties {
		if p.Value != nil && !slices.Contains(skip, p.Name) {
			m[p.Name] = p.Value
		}
	}
	return m
}

// TestRewindMatchesCSharp loads the rows C# left after two failures into
// a hub, rewinds both instances with the Go client, and compares every
// row and message with what C#'s rewind made of the same rows.
func TestRewindMatchesCSharp(t *testing.T) {
	before, after := loadRewindCapture(t, "before.json"), loadRewindCapture(t, "after.json")
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	tsvc, err := azuritetest.Account(t).TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	histTable, instTable := tsvc.NewClient(be.Resources().HistoryTable), tsvc.NewClient(be.Resources().InstancesTable)
	for tc, raws := range map[*aztables.Client][]json.RawMessage{histTable: before.History, instTable: before.Instances} {
		for _, e := range entities(t, raws) {
			body, err := tables.MarshalEntity(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tc.AddEntity(ctx, body, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := client.New(be, client.Options{})
	started := time.Now().UTC()
	if err := c.Rewind(ctx, "cs-uncaught", "fixed it"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rewind(ctx, "cs-parent", "rewound"); err != nil {
		t.Fatal(err)
	}

	want, got := entities(t, after.History), readTable(t, histTable)
	compareRows(t, "History", want, got)
	want, got = entities(t, after.Instances), readTable(t, instTable)
	compareRows(t, "Instances", want, got, "LastUpdatedTime")
	old := entities(t, before.Instances)
	for k, e := range got {
		lu, _ := e.Get("LastUpdatedTime")
		was, _ := old[k].Get("LastUpdatedTime")
		if st, _ := e.GetString("RuntimeStatus"); st == "Pending" {
			if ts, ok := lu.(time.Time); !ok || ts.Before(started.Add(-time.Second)) {
				t.Errorf("Instances %s: LastUpdatedTime %v, want the time of the rewind", k, lu)
			}
		} else if !reflect.DeepEqual(lu, was) {
			t.Errorf("Instances %s: LastUpdatedTime changed from %v to %v", k, was, lu)
		}
	}

	// The wake-ups: the same queues, instances, event and data as C#'s.
	qsvc, err := azuritetest.Account(t).QueueService(nil)
	if err != nil {
		t.Fatal(err)
	}
	describe := func(queue, body string) string {
		m, _, err := queues.DecodeBody(body)
		if err != nil {
			t.Fatal(err)
		}
		ev := m.TaskMessage.Event
		data := "<nil>"
		if g, ok := ev.(*history.GenericEvent); ok && g.Data != nil {
			data = *g.Data
		}
		sender := "<nil>"
		if m.Sender != nil {
			sender = m.Sender.InstanceID + "/" + m.Sender.ExecutionID
		}
		return fmt.Sprintf("%s %s %s exec=%q id=%d data=%s sender=%s episode=%v", queue[strings.LastIndex(queue, "-control-")+1:],
			ev.Type(), m.TaskMessage.OrchestrationInstance.InstanceID, m.TaskMessage.OrchestrationInstance.ExecutionID,
			ev.Base().EventID, data, sender, m.Episode)
	}
	var wantMsgs, gotMsgs []string
	for q, bodies := range after.Queues {
		for _, b := range bodies {
			wantMsgs = append(wantMsgs, describe(q, b))
		}
	}
	for i := 0; i < 4; i++ {
		name := be.Resources().ControlQueues[i]
		n := int32(32)
		r, err := qsvc.NewQueueClient(name).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: &n})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			gotMsgs = append(gotMsgs, describe(name, *m.MessageText))
		}
	}
	sort.Strings(wantMsgs)
	sort.Strings(gotMsgs)
	if !reflect.DeepEqual(wantMsgs, gotMsgs) {
		t.Errorf("messages:\n got %q\nwant %q", gotMsgs, wantMsgs)
	}
}

func compareRows(t *testing.T, table string, want, got map[string]*tables.Entity, skip ...string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d rows, want %d", table, len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s %s: missing", table, k)
			continue
		}
		wc, gc := columns(w, skip...), columns(g, skip...)
		if !reflect.DeepEqual(wc, gc) {
			t.Errorf("%s %s:\n got %v\nwant %v", table, k, gc, wc)
		}
	}
}

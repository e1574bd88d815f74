package tables

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// (a) Hand-made vectors: every row decodes, and HistoryRow of the event
// gives the same columns, EDM types and values (their member order is not
// C#'s, so the comparison ignores order).
func TestHistoryRowsFromHandVectors(t *testing.T) {
	var twoActivities struct {
		Rows []json.RawMessage `json:"rowsAfterCompletion"`
	}
	readJSON(t, "../testdata/azstorage-history-two-activities.json", &twoActivities)
	var suborch struct {
		Parent  []json.RawMessage `json:"parentHistoryRowsAfterCompletion"`
		Child   []json.RawMessage `json:"childHistoryRowsAfterCompletion"`
		Variant map[string]struct {
			Row json.RawMessage `json:"row"`
		} `json:"variantRows"`
	}
	readJSON(t, "../testdata/azstorage-history-suborch-timer-event.json", &suborch)
	var entity struct {
		Rows []json.RawMessage `json:"historyRowsAfterBatch"`
	}
	readJSON(t, "../testdata/azstorage-entity-example.json", &entity)

	rows := append(append(append(twoActivities.Rows, suborch.Parent...), suborch.Child...), entity.Rows...)
	for _, v := range suborch.Variant {
		rows = append(rows, v.Row)
	}
	events, sentinels := 0, 0
	for _, raw := range rows {
		e := unmarshal(t, raw)
		var got []byte
		if IsSentinel(e) {
			s, err := DecodeSentinel(e)
			if err != nil {
				t.Fatal(err)
			}
			got = marshal(t, SentinelRow(UnescapePartitionKey(e.PartitionKey), s.ExecutionID, s.IsCheckpointComplete, s.CheckpointCompleted))
			sentinels++
		} else {
			row, _ := reencode(t, e, nil)
			got = marshal(t, row)
			events++
		}
		if d := diffMembers(sortedMembers(t, got), sortedMembers(t, raw)); d != "" {
			t.Errorf("row %s/%s: %s\n got %s\nwant %s", e.PartitionKey, e.RowKey, d, got, raw)
		}
	}
	t.Logf("hand vectors: %d event rows, %d sentinels", events, sentinels)
	if events < 35 {
		t.Fatalf("only %d event rows checked", events)
	}
}

// (b) C#'s own $batch bodies: decode each row, build it again, and compare
// with the entity C# sent after dropping its explicit nulls: same members in
// the same order, same values and annotations. The large-column row is
// rebuilt from its blob's content and offloaded again with the blob name's
// random part, so ResultBlobName must match too.
func TestHistoryRowsMatchCSharpBatches(t *testing.T) {
	rows, sentinels := 0, 0
	types := map[string]int{}
	for _, b := range loadBatches(t) {
		hub := strings.TrimSuffix(b.Table, "History")
		container := strings.ToLower(hub) + "-largemessages"
		for i, op := range b.Parsed {
			raw := []byte(op.EntityRaw)
			want := members(t, raw)
			e := unmarshal(t, raw)
			if op.RowKey == SentinelRowKey {
				s, err := DecodeSentinel(e)
				if err != nil {
					t.Fatal(err)
				}
				got := marshal(t, SentinelRow(UnescapePartitionKey(e.PartitionKey), s.ExecutionID, s.IsCheckpointComplete, s.CheckpointCompleted))
				if d := diffMembers(members(t, got), want); d != "" {
					t.Errorf("%s op %d (sentinel): %s\n got %s\nwant %s", b.name, i, d, got, raw)
				}
				wantMethod := "PATCH"
				if op.Headers["If-Match"] == "" {
					wantMethod = "POST"
				}
				if op.Method != wantMethod || i != len(b.Parsed)-1 {
					t.Errorf("%s: sentinel op %d is %s, want last and %s", b.name, i, op.Method, wantMethod)
				}
				sentinels++
				continue
			}
			refs := resolveFromCapture(t, e, container)
			row, uploads := reencode(t, e, refs)
			got := marshal(t, row)
			if d := diffMembers(members(t, got), want); d != "" {
				t.Errorf("%s op %d (%s): %s\n got %s\nwant %s", b.name, i, op.RowKey, d, got, raw)
			}
			for j, u := range uploads {
				if u.BlobName != refs[j].BlobName || u.Text != blobText(t, container, refs[j].BlobName) {
					t.Errorf("%s op %d: upload %s differs from the recorded blob %s", b.name, i, u.BlobName, refs[j].BlobName)
				}
			}
			ty, _ := e.GetString("EventType")
			types[ty]++
			rows++
		}
	}
	t.Logf("C# batches: %d event rows, %d sentinels, event types %v", rows, sentinels, types)
	if rows < 80 || sentinels != 18 || len(types) < 15 {
		t.Fatalf("coverage too small: %d rows, %d sentinels, %d types", rows, sentinels, len(types))
	}
}

// (c) Every row of the final dumps (Azurite's serialization) decodes with
// the right event type and keys, and re-encodes to the same set of columns.
func TestHistoryRowsFromFinalDump(t *testing.T) {
	files, err := filepath.Glob(csharpTables + "/final/*/History/*.json")
	if err != nil || len(files) == 0 {
		t.Fatal("no final history files")
	}
	rows, sentinels := 0, 0
	for _, f := range files {
		var dump struct {
			Table        string   `json:"table"`
			PartitionKey string   `json:"PartitionKey"`
			EventTypes   []string `json:"event_types"`
			Rows         []struct {
				Raw string `json:"raw"`
			} `json:"rows"`
		}
		readJSON(t, f, &dump)
		container := strings.ToLower(strings.TrimSuffix(dump.Table, "History")) + "-largemessages"
		var execID string
		for i, r := range dump.Rows {
			raw := []byte(r.Raw)
			e := unmarshal(t, raw)
			if e.PartitionKey != dump.PartitionKey || e.ETag == "" || e.Timestamp.IsZero() {
				t.Errorf("%s row %d: keys/etag/timestamp %q %q %v", f, i, e.PartitionKey, e.ETag, e.Timestamp)
			}
			if IsSentinel(e) {
				s, err := DecodeSentinel(e)
				if err != nil {
					t.Fatal(err)
				}
				if dump.EventTypes[i] != "(sentinel)" || s.ETag != e.ETag || !s.IsCheckpointComplete || s.CheckpointCompleted.IsZero() || s.ExecutionID != execID {
					t.Errorf("%s: sentinel %+v", f, s)
				}
				sentinels++
				continue
			}
			if seq, ok := ParseRowKey(e.RowKey); !ok || seq != i {
				t.Errorf("%s row %d: RowKey %q", f, i, e.RowKey)
			}
			execID, _ = e.GetString("ExecutionId")
			refs := resolveFromCapture(t, e, container)
			row, _ := reencode(t, e, refs)
			if ty, _ := row.GetString("EventType"); ty != dump.EventTypes[i] {
				t.Errorf("%s row %d: event type %s, want %s", f, i, ty, dump.EventTypes[i])
			}
			got := marshal(t, row)
			if d := diffMembers(sortedMembers(t, got), sortedMembers(t, raw, "odata.etag", "Timestamp")); d != "" {
				t.Errorf("%s row %d: %s\n got %s\nwant %s", f, i, d, got, raw)
			}
			rows++
		}
	}
	t.Logf("final dumps: %d files, %d event rows, %d sentinels", len(files), rows, sentinels)
	if rows < 600 || sentinels != len(files) {
		t.Fatalf("coverage too small: %d rows, %d sentinels", rows, sentinels)
	}
}

func TestDecodeHistoryRowErrors(t *testing.T) {
	cases := map[string]string{
		"no EventType":      `{"PartitionKey":"p","RowKey":"0000000000000003","EventId":1}`,
		"unknown EventType": `{"PartitionKey":"p","RowKey":"0000000000000003","EventType":"Bogus"}`,
		"ExecutionFailed":   `{"PartitionKey":"p","RowKey":"0000000000000003","EventType":"ExecutionFailed"}`,
		"EventType type":    `{"PartitionKey":"p","RowKey":"0000000000000003","EventType":5}`,
	}
	for name, raw := range cases {
		_, err := DecodeHistoryRow(unmarshal(t, []byte(raw)))
		if err == nil || !errors.Is(err, ErrNotHistoryEvent) || !strings.Contains(err.Error(), "0000000000000003") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	bad := []string{
		`{"PartitionKey":"p","RowKey":"0000000000000001","EventType":"TaskCompleted","TaskScheduledId":"x"}`,
		`{"PartitionKey":"p","RowKey":"0000000000000001","EventType":"TaskFailed","FailureDetails":"{"}`,
		`{"PartitionKey":"p","RowKey":"0000000000000001","EventType":"ExecutionCompleted","OrchestrationStatus":"Nope"}`,
		`{"PartitionKey":"p","RowKey":"0000000000000001","EventType":"TimerFired","FireAt":true}`,
	}
	for _, raw := range bad {
		if _, err := DecodeHistoryRow(unmarshal(t, []byte(raw))); err == nil || !strings.Contains(err.Error(), "0000000000000001") {
			t.Errorf("%s: error %v", raw, err)
		}
	}
}

// sampleEvents returns one event of every class, with every optional
// member set, EventId i, alternating IsPlayed and a fixed Timestamp.
func sampleEvents() []history.Event {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC)
	s := history.Str
	fd := &history.FailureDetails{ErrorType: "E", ErrorMessage: "m", StackTrace: s("st"),
		InnerFailure: &history.FailureDetails{ErrorType: "I", ErrorMessage: "i"}, Properties: json.RawMessage(`{"k":1}`)}
	tc := &history.DistributedTraceContext{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: s("x=1"), ActivityStartTime: &ts}
	gen := int32(3)
	events := []history.Event{
		&history.ExecutionStartedEvent{
			OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i/1", ExecutionID: "e"},
			ParentInstance: &history.ParentInstance{Name: "P", TaskScheduleID: 4,
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}},
			Name:               "N",
			Version:            "1",
			Input:              s(`"in"`),
			Tags:               map[string]string{"b": "2", "a": "1"},
			Correlation:        s("c"),
			ParentTraceContext: tc,
			ScheduledStartTime: &ts,
			Generation:         &gen,
			GenerateNewTrace:   true,
		},
		&history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusFailed, Result: s("r"), FailureDetails: fd},
		&history.ContinueAsNewEvent{OrchestrationStatus: history.StatusContinuedAsNew, Result: s("2")},
		&history.ExecutionTerminatedEvent{Input: s("why")},
		&history.TaskScheduledEvent{Name: "A", Input: s("[1]"), ParentTraceContext: tc, Tags: map[string]string{}},
		&history.TaskCompletedEvent{TaskScheduledID: 7, Result: s("ok")},
		&history.TaskFailedEvent{TaskScheduledID: 7, Reason: s("r"), Details: s("d"), FailureDetails: fd},
		&history.SubOrchestrationInstanceCreatedEvent{Name: "C", InstanceID: "c", Input: s("1"), ClientSpanID: s("0123456789abcdef")},
		&history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 1, Result: s("1")},
		&history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: 1, Reason: s("r"), FailureDetails: fd},
		&history.TimerCreatedEvent{FireAt: ts},
		&history.TimerFiredEvent{TimerID: 2, FireAt: ts},
		&history.OrchestratorStartedEvent{},
		&history.OrchestratorCompletedEvent{},
		&history.EventSentEvent{InstanceID: "x", Name: "n", Input: s("1")},
		&history.EventRaisedEvent{Name: "n", Input: s("1"), ParentTraceContext: tc},
		&history.GenericEvent{Data: s("Rewound: TaskFailed")},
		&history.HistoryStateEvent{State: json.RawMessage(`{"a":[1,2]}`)},
		&history.ExecutionSuspendedEvent{Reason: s("pause")},
		&history.ExecutionResumedEvent{Reason: s("go")},
		&history.ExecutionRewoundEvent{Reason: s("r"), ParentExecutionID: s("pe"), InstanceID: s("i"), ParentTraceContext: tc},
	}
	for i, ev := range events {
		ev.Base().EventID = int32(i)
		ev.Base().IsPlayed = i%2 == 0
		ev.Base().Timestamp = ts
	}
	return events
}

// Events the capture lacks: every event class round-trips through its row,
// with all optional members set.
func TestHistoryRowAllEventTypes(t *testing.T) {
	events := sampleEvents()
	if len(events) != 21 {
		t.Fatalf("%d sample events, want one per event class", len(events))
	}
	for i, ev := range events {
		row := HistoryRow("i/1", "exec", i, ev)
		if row.PartitionKey != "i^01" || row.RowKey != RowKeyFor(i) {
			t.Fatalf("keys %q %q", row.PartitionKey, row.RowKey)
		}
		raw := marshal(t, row)
		back, err := DecodeHistoryRow(unmarshal(t, raw))
		if err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		got := history.AppendEvent(nil, back, history.Plain)
		want := history.AppendEvent(nil, ev, history.Plain)
		if string(got) != string(want) {
			t.Errorf("%T:\n got %s\nwant %s", ev, got, want)
		}
	}
	// Recursive is a queue-message member only.
	row := HistoryRow("i", "e", 0, &history.ExecutionTerminatedEvent{Recursive: true})
	if _, ok := row.Get("Recursive"); ok {
		t.Error("Recursive written as a column")
	}
}

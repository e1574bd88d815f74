package tables

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// (d) Instances rows decode: the hand-made rows and every row of the final
// dumps (Azurite's serialization).
func TestDecodeInstanceRows(t *testing.T) {
	var inst struct {
		Resulting json.RawMessage `json:"resultingRow"`
	}
	readJSON(t, "../testdata/azstorage-instances-row.json", &inst)
	s, err := DecodeInstanceRow(unmarshal(t, inst.Resulting))
	if err != nil {
		t.Fatal(err)
	}
	if s.OrchestrationInstance.InstanceID != "myorch-1" || s.Status != history.StatusCompleted || s.Name != "HelloSequence" ||
		history.Deref(s.Output) != `["Hello Tokyo!","Hello Seattle!"]` || history.Deref(s.Input) != `"World"` ||
		s.CustomStatus != nil || s.Tags != nil || s.Generation == nil || *s.Generation != 0 ||
		!s.CompletedTime.Equal(time.Date(2024, 5, 1, 12, 0, 2, 180000000, time.UTC)) ||
		s.OrchestrationInstance.ExecutionID != "5b0e7d2c8a1f4e3b9c6d2a1f0e9d8c7b" || s.ParentInstanceID != "" {
		t.Errorf("resulting row: %+v", s)
	}
	var ent struct {
		Row json.RawMessage `json:"instancesRowAfterBatch"`
	}
	readJSON(t, "../testdata/azstorage-entity-example.json", &ent)
	if s, err := DecodeInstanceRow(unmarshal(t, ent.Row)); err != nil || history.Deref(s.CustomStatus) != `{"entityExists":true}` || s.Generation != nil {
		t.Errorf("entity row: %+v, %v", s, err)
	}

	files, _ := filepath.Glob(csharpTables + "/final/*/Instances.json")
	n := 0
	for _, f := range files {
		var dump struct {
			Response []string `json:"response_raw"`
		}
		readJSON(t, f, &dump)
		for _, page := range dump.Response {
			var resp struct {
				Value []json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal([]byte(page), &resp); err != nil {
				t.Fatal(err)
			}
			for _, raw := range resp.Value {
				e := unmarshal(t, raw)
				s, err := DecodeInstanceRow(e)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := e.GetString("RuntimeStatus")
				if s.Status.String() != want || s.OrchestrationInstance.InstanceID != e.PartitionKey || e.ETag == "" ||
					s.CreatedTime.IsZero() || s.LastUpdatedTime.IsZero() || s.CompletedTime.IsZero() || s.Input == nil || s.Output == nil {
					t.Errorf("%s: %+v", e.PartitionKey, s)
				}
				if strings.HasSuffix(e.PartitionKey, ":0") && s.ParentInstanceID != "capture-parent" {
					t.Errorf("child parent id %q", s.ParentInstanceID)
				}
				if e.PartitionKey == "capture-parent" && history.Deref(s.CustomStatus) != `"done"` {
					t.Errorf("custom status %v", s.CustomStatus)
				}
				if e.PartitionKey == "capture-scheduled" && s.ScheduledStartTime == nil {
					t.Error("scheduled start time missing")
				}
				if IsBlobURL(*s.Output) || IsBlobURL(*s.Input) {
					t.Errorf("%s: payload taken for a blob URL", e.PartitionKey)
				}
				n++
			}
		}
	}
	t.Logf("final Instances rows decoded: %d", n)
	if n != 33 {
		t.Fatalf("decoded %d rows, want 33", n)
	}
	if _, err := DecodeInstanceRow(unmarshal(t, []byte(`{"PartitionKey":"x","RowKey":""}`))); err == nil {
		t.Error("row without RuntimeStatus accepted")
	}
	if _, err := DecodeInstanceRow(unmarshal(t, []byte(`{"PartitionKey":"x","RowKey":"","RuntimeStatus":"Running","Tags":"{"}`))); err == nil {
		t.Error("bad Tags accepted")
	}
}

func TestRepairAndTerminateRows(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	start := &history.ExecutionStartedEvent{Name: "N", Version: "v", Input: history.Str(`"in"`), Tags: map[string]string{"k": "v"}}
	start.Timestamp = t0
	done := &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusFailed, Result: history.Str("boom")}
	done.Timestamp = t0.Add(time.Second)
	r := &Repair{InstanceID: "a/b", ExecutionID: "e", TaskHubName: "H", Started: start, Completed: done, LastEventTime: t0.Add(2 * time.Second)}
	got := string(marshal(t, RepairInstanceRow(r)))
	want := `{"PartitionKey":"a^0b","RowKey":"","Name":"N","Version":"v",` +
		`"CreatedTime":"2024-05-01T12:00:00.0000000Z","CreatedTime@odata.type":"Edm.DateTime","CustomStatus":"null","ExecutionId":"e",` +
		`"LastUpdatedTime":"2024-05-01T12:00:02.0000000Z","LastUpdatedTime@odata.type":"Edm.DateTime","RuntimeStatus":"Failed",` +
		`"CompletedTime":"2024-05-01T12:00:01.0000000Z","CompletedTime@odata.type":"Edm.DateTime","Tags":"{\"k\":\"v\"}","TaskHubName":"H",` +
		`"Output":"boom","Input":"\"in\""}`
	if got != want {
		t.Errorf("repair:\n got %s\nwant %s", got, want)
	}
	// With the row present, Input is left alone; an offloaded Result becomes its URL.
	r.RowExists = true
	r.CompletedRow = &Entity{}
	r.CompletedRow.Set("ResultBlobName", "a^0b/history-0000000000000005-ExecutionCompleted-0000000A-Result.json.gz")
	r.LargeMessagesURL = "https://acct.blob.core.windows.net/h-largemessages/"
	e := RepairInstanceRow(r)
	if _, ok := e.Get("Input"); ok {
		t.Error("Input written for an existing row")
	}
	if out, _ := e.GetString("Output"); out != "https://acct.blob.core.windows.net/h-largemessages/a%5E0b/history-0000000000000005-ExecutionCompleted-0000000A-Result.json.gz" {
		t.Errorf("Output %q", out)
	}

	term := &history.ExecutionTerminatedEvent{Input: history.Str("stop")}
	term.Timestamp = t0
	got = string(marshal(t, TerminatedInstanceRow("p", term, t0.Add(time.Second))))
	want = `{"PartitionKey":"p","RowKey":"","RuntimeStatus":"Terminated","LastUpdatedTime":"2024-05-01T12:00:00.0000000Z",` +
		`"LastUpdatedTime@odata.type":"Edm.DateTime","CompletedTime":"2024-05-01T12:00:01.0000000Z","CompletedTime@odata.type":"Edm.DateTime","Output":"stop"}`
	if got != want {
		t.Errorf("terminate:\n got %s\nwant %s", got, want)
	}
	big := strings.Repeat("x", MaxColumnUTF16Bytes/2+1)
	term.Input = &big
	e = TerminatedInstanceRow("p", term, t0)
	up, err := OffloadLargeColumnsToURL(e, "http://h/c", func() uint32 { return 0x3A5B8C01 })
	if err != nil || len(up) != 1 || up[0].BlobName != "p/history--Output-3A5B8C01-Output.json.gz" || up[0].Text != big {
		t.Fatalf("%+v %v", up, err)
	}
	if out, _ := e.GetString("Output"); out != "http://h/c/p/history--Output-3A5B8C01-Output.json.gz" {
		t.Errorf("Output %q", out)
	}
	if _, ok := e.Get("OutputBlobName"); ok {
		t.Error("URL mode added a BlobName column")
	}
}

// A large result: the history row is offloaded and the Instances Output is
// the blob URL (the shape of azstorage-instances-row.json largeOutputVariant).
func TestLargeOutputBecomesURL(t *testing.T) {
	var inst struct {
		Large struct {
			HistoryRowColumns map[string]string `json:"historyRowColumns"`
			InstancesOutput   string            `json:"instancesRowOutput"`
		} `json:"largeOutputVariant"`
	}
	readJSON(t, "../testdata/azstorage-instances-row.json", &inst)
	big := `"` + strings.Repeat("é", MaxColumnUTF16Bytes/2) + `"`
	done := &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, Result: &big}
	row := HistoryRow("myorch-1", "x", 10, done)
	up, err := OffloadLargeColumns(row, func() uint32 { return 0x5D1C09A2 })
	if err != nil || len(up) != 1 || up[0].Text != big {
		t.Fatalf("%v %v", up, err)
	}
	for col, want := range inst.Large.HistoryRowColumns {
		if got, _ := row.GetString(col); got != want {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
	if n := len(row.Properties); row.Properties[n-1].Name != "ResultBlobName" || row.Properties[n-2].Name != "ExecutionId" {
		t.Errorf("ResultBlobName is not after ExecutionId: %+v", row.Properties)
	}
	c := &Checkpoint{InstanceID: "myorch-1", NewEvents: []history.Event{done}, NewRows: []*Entity{row},
		LargeMessagesURL: "https://myaccount.blob.core.windows.net/myhub-largemessages"}
	if got, _ := CheckpointInstanceRow(c).GetString("Output"); got != inst.Large.InstancesOutput {
		t.Errorf("Output %q, want %q", got, inst.Large.InstancesOutput)
	}
	if !IsBlobURL(inst.Large.InstancesOutput) {
		t.Error("IsBlobURL rejects the example URL")
	}
	name, ok := BlobNameFromURL(inst.Large.InstancesOutput, "myhub-largemessages")
	if !ok || name != inst.Large.HistoryRowColumns["ResultBlobName"] {
		t.Errorf("BlobNameFromURL = %q, %v", name, ok)
	}
	// read side
	refs := LargeColumnRefs(row)
	if len(refs) != 1 || refs[0].Column != "Result" || refs[0].BlobName != up[0].BlobName {
		t.Fatalf("%+v", refs)
	}
	ResolveLargeColumn(row, "Result", big)
	ev, err := DecodeHistoryRow(row)
	if err != nil || history.Deref(ev.(*history.ExecutionCompletedEvent).Result) != big {
		t.Fatal(err)
	}
	if _, ok := row.Get("ResultBlobName"); ok {
		t.Error("reference kept after resolving")
	}
}

func TestLargeValueHelpers(t *testing.T) {
	if UTF16Len("a😀é") != 4 || UTF16Len("\xff") != 1 {
		t.Error("UTF16Len")
	}
	if ExceedsColumnLimit(strings.Repeat("a", 30720)) || !ExceedsColumnLimit(strings.Repeat("a", 30721)) ||
		!ExceedsColumnLimit(strings.Repeat("😀", 15361)) || ExceedsColumnLimit(strings.Repeat("😀", 15360)) {
		t.Error("ExceedsColumnLimit threshold")
	}
	if got := HistoryBlobName("myorch-1", "0000000000000001", "ExecutionStarted", 0x0C4F2A9B, "Input"); got != "myorch-1/history-0000000000000001-ExecutionStarted-0C4F2A9B-Input.json.gz" {
		t.Error(got)
	}
	cols := LargeColumns()
	cols[0] = "changed"
	if LargeColumns()[0] != "Name" || len(cols) != 9 {
		t.Error("LargeColumns")
	}
	// An Instances insert with a large input gets InputBlobName (§2.3.1).
	big := strings.Repeat("x", 40000)
	start := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "myorch-1", ExecutionID: "e"}, Input: &big}
	e := PendingInstanceRow(start, "H", "", time.Time{})
	up, err := OffloadLargeColumns(e, func() uint32 { return 0x7E11D0F3 })
	if err != nil || len(up) != 1 || up[0].BlobName != "myorch-1/history--Input-7E11D0F3-Input.json.gz" {
		t.Fatalf("%+v %v", up, err)
	}
	if v, _ := e.GetString("Input"); v != "" {
		t.Error("Input not cleared")
	}
	e = &Entity{}
	e.Set("Reason", big)
	if _, err := OffloadLargeColumns(e, nil); err == nil {
		t.Error("Reason offloaded without EventType")
	}
	if n := EstimatedRowBytes(HistoryRow("i", "e", 0, &history.TaskCompletedEvent{Result: history.Str("ab")})); n != 1028 {
		t.Errorf("EstimatedRowBytes = %d", n)
	}
	for s, want := range map[string]bool{
		"https://a.blob.core.windows.net/c/n": true, "http://127.0.0.1:10000/devstoreaccount1/c/n": true,
		`"https://a/b"`: false, "note:done": false, "operator request": false, "2": false, "null": false,
		"https://a b/c": false, "ftp://a/b": false, "https:///x": false,
	} {
		if IsBlobURL(s) != want {
			t.Errorf("IsBlobURL(%q) != %v", s, want)
		}
	}
	u := BlobURL("http://127.0.0.1:10000/devstoreaccount1/cshub-largemessages", "99c9:0/history-x y+z~.json.gz")
	if u != "http://127.0.0.1:10000/devstoreaccount1/cshub-largemessages/99c9%3A0/history-x%20y%2Bz~.json.gz" {
		t.Error(u)
	}
	if n, ok := BlobNameFromURL(u, "cshub-largemessages"); !ok || n != "99c9:0/history-x y+z~.json.gz" {
		t.Error(n, ok)
	}
	if _, ok := BlobNameFromURL(u, "other"); ok {
		t.Error("wrong container accepted")
	}
}

func TestSentinelRow(t *testing.T) {
	e := SentinelRow("a#b", "x", false, time.Time{})
	if got := string(marshal(t, e)); got != `{"PartitionKey":"a^2b","RowKey":"sentinel","ExecutionId":"x","IsCheckpointComplete":false}` {
		t.Error(got)
	}
	e.ETag = "W/1"
	s, err := DecodeSentinel(e)
	if err != nil || s.ETag != "W/1" || s.IsCheckpointComplete || !s.CheckpointCompleted.IsZero() {
		t.Errorf("%+v %v", s, err)
	}
	if _, err := DecodeSentinel(HistoryRow("a", "x", 0, &history.OrchestratorStartedEvent{})); err == nil {
		t.Error("event row decoded as sentinel")
	}
}

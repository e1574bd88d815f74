package tables

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// twoActivities is the hand-made vector of a 2-activity orchestration.
type twoActivities struct {
	InstanceID  string            `json:"instanceId"`
	ExecutionID string            `json:"executionId"`
	Rows        []json.RawMessage `json:"rowsAfterCompletion"`
}

func loadTwoActivities(t *testing.T) (v twoActivities, rows []*Entity, events []history.Event) {
	t.Helper()
	readJSON(t, "../testdata/azstorage-history-two-activities.json", &v)
	for _, raw := range v.Rows {
		e := unmarshal(t, raw)
		rows = append(rows, e)
		if IsSentinel(e) {
			continue
		}
		ev, err := DecodeHistoryRow(e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return v, rows, events
}

// clock returns the given times one by one.
func clock(t *testing.T, times ...string) func() time.Time {
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if len(times) == 0 {
			t.Fatal("clock read more often than expected")
		}
		tm, err := time.Parse(time.RFC3339Nano, times[0])
		if err != nil {
			t.Fatal(err)
		}
		times = times[1:]
		return tm
	}
}

// The vector's history, appended episode by episode as C# writes it
// (sentinel Insert, then Merge with the ETag the previous episode got),
// is stored with the vector's columns, values and EDM types, and Load
// gives the same events back, with the last ETag. Each Append is one
// $batch call and nothing else: the sentinel's ETag comes from the batch
// answer, not from a read.
func TestHistoryTwoActivitiesEpisodeByEpisode(t *testing.T) {
	e := newEnv(t, &StoreOptions{Now: clock(t, "2024-05-01T12:00:00.6Z", "2024-05-01T12:00:01.3Z", "2024-05-01T12:00:02.2Z")})
	c := testCtx(t)
	v, want, events := loadTwoActivities(t)
	etag := ""
	for ep, start := range []int{0, 4, 8} {
		res, err := e.hist.Append(c, v.InstanceID, v.ExecutionID, start, events[start:start+4], etag)
		if err != nil {
			t.Fatalf("episode %d: %v", ep+1, err)
		}
		if res.ETag == "" || res.ETag == etag || res.Transactions != 1 || len(res.Rows) != 4 {
			t.Fatalf("episode %d: result %+v", ep+1, res)
		}
		ops := parseBatchRequest(t, e.batches.take()[0])
		sentinel := ops[len(ops)-1]
		wantMethod, wantIfMatch := "POST", ""
		if ep > 0 {
			wantMethod, wantIfMatch = "PATCH", "If-Match: "+etag
		}
		if len(ops) != 5 || sentinel.RowKey != SentinelRowKey || !strings.Contains(sentinel.Method, wantMethod) ||
			!strings.Contains(sentinel.Header, wantIfMatch) {
			t.Fatalf("episode %d: sentinel op %s %q, headers %q", ep+1, sentinel.Method, sentinel.RowKey, sentinel.Header)
		}
		for _, op := range ops[:4] {
			if op.Method != "PUT" || strings.Contains(op.Header, "If-Match") {
				t.Fatalf("episode %d: row %s sent as %s with %q, want PUT (InsertOrReplace) without If-Match", ep+1, op.RowKey, op.Method, op.Header)
			}
		}
		etag = res.ETag
	}
	if n, total := e.count("table/history/batch"), e.calls.Snapshot().Total; n != 3 || total != 3 {
		t.Fatalf("appending 3 episodes took %d batches and %d calls in all, want 3 and 3", n, total)
	}

	stored := e.rawRows(t, e.histName, v.InstanceID)
	if len(stored) != len(want) {
		t.Fatalf("%d rows stored, vector has %d", len(stored), len(want))
	}
	for i := range want {
		got, exp := marshal(t, stored[i]), marshal(t, want[i])
		if d := diffMembers(sortedMembers(t, got), sortedMembers(t, exp)); d != "" {
			t.Errorf("row %s: %s\n got %s\nwant %s", want[i].RowKey, d, got, exp)
		}
	}

	h, err := e.hist.Load(c, v.InstanceID, v.ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Events, events) {
		t.Fatalf("loaded events differ from the appended ones")
	}
	if h.ETag != etag || h.ExecutionID != v.ExecutionID || len(h.Rows) != 12 || len(h.BlobNames) != 0 {
		t.Fatalf("load: etag %q (want %q), exec %q, %d rows", h.ETag, etag, h.ExecutionID, len(h.Rows))
	}
	if want := time.Date(2024, 5, 1, 12, 0, 2, 200_000_000, time.UTC); !h.CheckpointCompleted.Equal(want) ||
		h.Sentinel == nil || !h.Sentinel.IsCheckpointComplete {
		t.Fatalf("load: checkpoint %v, sentinel %+v", h.CheckpointCompleted, h.Sentinel)
	}
	for i, r := range h.Rows {
		got, exp := marshal(t, r), marshal(t, want[i])
		if d := diffMembers(sortedMembers(t, got), sortedMembers(t, exp)); d != "" {
			t.Errorf("loaded row %s: %s", r.RowKey, d)
		}
	}
	// Without an expected execution the whole partition is read: same result.
	all, err := e.hist.Load(c, v.InstanceID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all.Events, events) || all.ETag != etag {
		t.Fatal("load without execution id differs")
	}
}

func raised(name string, at time.Time) *history.EventRaisedEvent {
	in := `"` + name + `"`
	return &history.EventRaisedEvent{EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: at}, Name: name, Input: &in}
}

func someEvents(n int, tag string) []history.Event {
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	out := make([]history.Event, n)
	for i := range out {
		out[i] = raised(fmt.Sprintf("%s-%d", tag, i), base.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

// Two writers that loaded the same history race to append the same rows:
// exactly one commits, the other gets ErrConflict (412 when merging the
// sentinel, 409 when both think the history is new), and the history
// holds the winner's rows only.
func TestHistoryTwoWritersOneWins(t *testing.T) {
	// A frozen clock gives both writers the same reading: the loser must
	// still not take the winner's checkpoint for its own.
	frozen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		existing bool
		opts     *StoreOptions
	}{{false, nil}, {true, nil}, {false, &StoreOptions{Now: func() time.Time { return frozen }}}, {true, &StoreOptions{Now: func() time.Time { return frozen }}}} {
		existing := tc.existing
		t.Run(fmt.Sprintf("existing=%v/frozenClock=%v", existing, tc.opts != nil), func(t *testing.T) {
			e := newEnv(t, tc.opts)
			c := testCtx(t)
			const id, exec = "race-1", "e1"
			etag, start := "", 0
			if existing {
				res, err := e.hist.Append(c, id, exec, 0, someEvents(3, "base"), "")
				if err != nil {
					t.Fatal(err)
				}
				etag, start = res.ETag, 3
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					_, errs[w] = e.hist.Append(c, id, exec, start, someEvents(5, fmt.Sprintf("writer%d", w)), etag)
				})
			}
			wg.Wait()
			winner := -1
			for w, err := range errs {
				switch {
				case err == nil:
					winner = w
				case errors.Is(err, ErrConflict):
					var te *Error
					wantStatus := map[bool]int{false: 409, true: 412}[existing]
					if !errors.As(err, &te) || te.StatusCode != wantStatus || te.RowKey != SentinelRowKey {
						t.Errorf("writer %d: %v, want %d on the sentinel", w, err, wantStatus)
					}
				default:
					t.Errorf("writer %d: %v, want nil or ErrConflict", w, err)
				}
			}
			if winner < 0 || errs[1-winner] == nil {
				t.Fatalf("want exactly one winner, got %v", errs)
			}
			h, err := e.hist.Load(c, id, exec)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Events) != start+5 {
				t.Fatalf("%d events, want %d", len(h.Events), start+5)
			}
			for i, ev := range h.Events[start:] {
				if want := fmt.Sprintf("writer%d-%d", winner, i); ev.(*history.EventRaisedEvent).Name != want {
					t.Fatalf("row %d holds %q, want the winner's %q", start+i, ev.(*history.EventRaisedEvent).Name, want)
				}
			}
			if rows := e.rawRows(t, e.histName, id); len(rows) != start+5+1 {
				t.Fatalf("%d rows stored, want %d plus the sentinel", len(rows), start+5)
			}
		})
	}
}

// 250 events go out as ⌈250/99⌉ = 3 transactions of 99, 99 and 52 rows
// plus the sentinel: Insert first, then Merges with the chained ETag;
// IsCheckpointComplete false and no CheckpointCompletedTimestamp until the
// last one.
func TestHistoryMultiBatchAppend(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	events := someEvents(250, "ev")
	res, err := e.hist.Append(c, "multi", "x1", 0, events, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 3 || e.count("table/history/batch") != 3 {
		t.Fatalf("%d transactions (%d batch calls), want 3", res.Transactions, e.count("table/history/batch"))
	}
	bodies := e.batches.take()
	wantRows := []int{99, 99, 52}
	for i, body := range bodies {
		ops := parseBatchRequest(t, body)
		s := ops[len(ops)-1]
		last := i == len(bodies)-1
		_, hasTime := s.Entity["CheckpointCompletedTimestamp"]
		if len(ops) != wantRows[i]+1 || s.RowKey != SentinelRowKey || s.Entity["IsCheckpointComplete"] != last || hasTime != last {
			t.Fatalf("batch %d: %d ops, sentinel %v %v", i, len(ops), s.Method, s.Entity)
		}
		if (i == 0) != strings.HasPrefix(s.Method, "POST") {
			t.Fatalf("batch %d: sentinel sent as %s", i, s.Method)
		}
	}
	h, err := e.hist.Load(c, "multi", "x1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Events, events) || h.ETag != res.ETag || !h.Sentinel.IsCheckpointComplete {
		t.Fatalf("loaded %d events, etag match %v", len(h.Events), h.ETag == res.ETag)
	}
}

func TestSplitBatches(t *testing.T) {
	small := func(n int) []*Entity {
		out := make([]*Entity, n)
		for i := range out {
			out[i] = &Entity{}
		}
		return out
	}
	big := &Entity{}
	big.Set(colResult, strings.Repeat("r", 30000)) // 60,000 UTF-16 bytes + 1,024
	bigs := make([]*Entity, 60)
	for i := range bigs {
		bigs[i] = big
	}
	for _, tc := range []struct {
		rows []*Entity
		want []int
	}{
		{small(1), []int{1}},
		{small(99), []int{99}},
		{small(100), []int{99, 1}},
		{small(250), []int{99, 99, 52}},
		// 61,024 bytes a row: the 52nd crosses 3 MiB and closes the batch.
		{bigs, []int{52, 8}},
	} {
		if got := splitBatches(tc.rows); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d rows: %v, want %v", len(tc.rows), got, tc.want)
		}
	}
}

// A 1 MiB result goes to a gzip blob under the escaped instance id; the
// row holds "" plus ResultBlobName, the blob is uploaded before the row is
// written, and Load puts the value back.
func TestHistoryLargeColumnRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	const id = "big/1"
	payload := `"` + strings.Repeat("0123456789abcdef", 1<<16) + `"` // 1 MiB + 2
	ts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	events := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: ts}},
		&history.TaskCompletedEvent{EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: ts}, TaskScheduledID: 0, Result: &payload},
	}
	res, err := e.hist.Append(c, id, "x", 0, events, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blobs) != 1 || !strings.HasPrefix(res.Blobs[0], "big^01/history-0000000000000001-TaskCompleted-") ||
		!strings.HasSuffix(res.Blobs[0], "-Result.json.gz") {
		t.Fatalf("blobs %v", res.Blobs)
	}
	stored := e.rawRows(t, e.histName, EscapePartitionKey(id))
	row := stored[1]
	if r, _ := row.GetString(colResult); r != "" {
		t.Fatalf("stored Result has %d characters, want \"\"", len(r))
	}
	if name, _ := row.GetString("ResultBlobName"); name != res.Blobs[0] {
		t.Fatalf("ResultBlobName %q, want %q", name, res.Blobs[0])
	}
	if ok, err := e.blobs.Exists(c, res.Blobs[0]); err != nil || !ok {
		t.Fatalf("blob exists: %v %v", ok, err)
	}
	h, err := e.hist.Load(c, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Events[1].(*history.TaskCompletedEvent).Result; got == nil || *got != payload {
		t.Fatal("large result did not round-trip")
	}
	if !reflect.DeepEqual(h.BlobNames, res.Blobs) {
		t.Fatalf("BlobNames %v", h.BlobNames)
	}
	if name, _ := h.Rows[1].GetString("ResultBlobName"); name != res.Blobs[0] {
		t.Fatal("History.Rows must keep the stored form (with ResultBlobName)")
	}
	// A missing blob is an error naming it, not a silently empty column.
	if _, err := e.blobs.DeletePrefix(c, "big^01/"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hist.Load(c, id, ""); err == nil || !strings.Contains(err.Error(), res.Blobs[0]) {
		t.Fatalf("load with the blob gone: %v", err)
	}
}

// A new execution written from row 0 over an older, longer one: Load
// returns the new execution's rows only and stops at the old rows; asking
// for the old execution gives an empty history that still carries the
// sentinel's ETag, so the next checkpoint can merge it.
func TestHistoryNewExecutionOverOlder(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	const id = "reborn"
	old, err := e.hist.Append(c, id, "old", 0, someEvents(10, "old"), "")
	if err != nil {
		t.Fatal(err)
	}
	newer := someEvents(3, "new")
	res, err := e.hist.Append(c, id, "new", 0, newer, old.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if rows := e.rawRows(t, e.histName, id); len(rows) != 11 {
		t.Fatalf("%d rows stored, want 10 + sentinel (7 stale rows stay)", len(rows))
	}
	for _, exec := range []string{"", "new"} {
		h, err := e.hist.Load(c, id, exec)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h.Events, newer) || h.ExecutionID != "new" || h.ETag != res.ETag {
			t.Fatalf("load(%q): %d events of %q", exec, len(h.Events), h.ExecutionID)
		}
	}
	h, err := e.hist.Load(c, id, "old")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 0 || h.ETag != res.ETag || h.Sentinel.ExecutionID != "new" || h.ExecutionID != "" {
		t.Fatalf("load(old): %d events, etag %q (want %q), sentinel %+v", len(h.Events), h.ETag, res.ETag, h.Sentinel)
	}
	// The empty load's ETag is good for the next write.
	if _, err := e.hist.Append(c, id, "third", 0, someEvents(1, "third"), h.ETag); err != nil {
		t.Fatal(err)
	}
}

// Rows written before sentinels existed: the whole-partition load returns
// them (execution from the first row, no ETag, so the next write inserts
// the sentinel); an execution-filtered load finds no sentinel and judges
// the history empty. A partition with no rows at all is empty too.
func TestHistoryLoadWithoutSentinel(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	const id = "legacy"
	events := someEvents(3, "l")
	ops := make([]txOp, len(events))
	for i, ev := range events {
		ops[i] = txOp{typ: "insertreplace", entity: HistoryRow(id, "x0", i, ev)}
	}
	if _, err := submitTransaction(c, e.hist.client, e.histName, ops); err != nil {
		t.Fatal(err)
	}
	h, err := e.hist.Load(c, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Events, events) || h.ExecutionID != "x0" || h.ETag != "" || h.Sentinel != nil {
		t.Fatalf("load: %d events, exec %q, etag %q", len(h.Events), h.ExecutionID, h.ETag)
	}
	if h, err := e.hist.Load(c, id, "x0"); err != nil || len(h.Events) != 0 || h.ETag != "" {
		t.Fatalf("filtered load without sentinel: %v, %+v", err, h)
	}
	if h, err := e.hist.Load(c, "nobody", ""); err != nil || len(h.Events) != 0 || h.ETag != "" || h.Sentinel != nil {
		t.Fatalf("load of an unknown instance: %v, %+v", err, h)
	}
	if _, err := e.hist.Append(c, id, "x0", 3, someEvents(1, "m"), ""); err != nil {
		t.Fatalf("first append after legacy rows (sentinel insert): %v", err)
	}
}

// A history longer than one query page (the service returns at most 1,000
// entities a page) is read through every page.
func TestHistoryLoadPagesThroughLongHistory(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	events := someEvents(1100, "p")
	if _, err := e.hist.Append(c, "pages", "x", 0, events, ""); err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	h, err := e.hist.Load(c, "pages", "x")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Events, events) || h.ETag == "" {
		t.Fatalf("loaded %d events", len(h.Events))
	}
	if n := e.count("table/history/query"); n < 2 {
		t.Fatalf("%d query pages, want at least 2", n)
	}
}

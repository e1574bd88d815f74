package tables

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// instanceWrite is one recorded Instances write.
type instanceWrite struct {
	WireIndex int     `json:"wire_index"`
	Method    string  `json:"method"`
	IfMatch   *string `json:"If-Match"`
	BodyRaw   string  `json:"body_raw"`
}

func loadInstanceWrites(t testing.TB, hub, partitionKey string) []instanceWrite {
	t.Helper()
	var f struct {
		Writes []instanceWrite `json:"writes"`
	}
	name := regexp.MustCompile(`[^A-Za-z0-9._-]`).ReplaceAllString(partitionKey, "_")
	readJSON(t, csharpTables+"/instance-writes/"+hub+"/"+name+".json", &f)
	return f.Writes
}

// bodyString returns a string member of a recorded body.
func bodyString(t testing.TB, raw []byte, name string) (string, bool) {
	s, ok := unmarshal(t, raw).GetString(name)
	return s, ok
}

func bodyTime(t testing.TB, raw []byte, name string) time.Time {
	v, _ := unmarshal(t, raw).Get(name)
	ts, _ := v.(time.Time)
	return ts
}

// episode is the new events of one checkpoint with the History rows written
// for them (after offloading).
type episode struct {
	instanceID, executionID string
	events                  []history.Event
	rows                    []*Entity
}

// episodeFromRows decodes the history rows of one checkpoint.
func episodeFromRows(t testing.TB, raws [][]byte, container string) *episode {
	t.Helper()
	ep := &episode{}
	for _, raw := range raws {
		e := unmarshal(t, raw)
		refs := resolveFromCapture(t, e, container)
		ev, err := DecodeHistoryRow(e)
		if err != nil {
			t.Fatal(err)
		}
		row, _ := reencode(t, e, refs)
		ep.instanceID = UnescapePartitionKey(e.PartitionKey)
		ep.executionID, _ = e.GetString("ExecutionId")
		ep.events = append(ep.events, ev)
		ep.rows = append(ep.rows, row)
	}
	return ep
}

// checkpointFor builds the merge for an episode. The runtime's own state
// (custom status, task hub, the parent id when no ExecutionStarted is among
// the new events, and the clock) is taken from the recorded body; every
// other column must come out of the events.
func checkpointFor(t testing.TB, ep *episode, body []byte, containerURL string) *Entity {
	t.Helper()
	c := &Checkpoint{
		InstanceID:       ep.instanceID,
		ExecutionID:      ep.executionID,
		NewEvents:        ep.events,
		NewRows:          ep.rows,
		LargeMessagesURL: containerURL,
		Now:              bodyTime(t, body, "CompletedTime"),
	}
	c.TaskHubName, _ = bodyString(t, body, "TaskHubName")
	if cs, _ := bodyString(t, body, "CustomStatus"); cs != "null" {
		c.CustomStatus = &cs
	}
	c.ParentInstanceID, _ = bodyString(t, body, "ParentInstanceId")
	for _, ev := range ep.events {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			c.ParentInstanceID = ""
			if es.ParentInstance != nil {
				c.ParentInstanceID = es.ParentInstance.OrchestrationInstance.InstanceID
			}
		}
	}
	return CheckpointInstanceRow(c)
}

// (d) The checkpoint merge that follows each recorded history batch.
func TestCheckpointMergeMatchesCSharp(t *testing.T) {
	covered := map[string]bool{}
	for _, b := range loadBatches(t) {
		hub := strings.TrimSuffix(b.Table, "History")
		container := strings.ToLower(hub) + "-largemessages"
		var raws [][]byte
		for _, op := range b.Parsed {
			if op.RowKey != SentinelRowKey {
				raws = append(raws, []byte(op.EntityRaw))
			}
		}
		ep := episodeFromRows(t, raws, container)
		var merge *instanceWrite
		for _, w := range loadInstanceWrites(t, hub, b.PartitionKey) {
			if w.WireIndex > b.WireIndex {
				merge = &w
				break
			}
		}
		if merge == nil || merge.Method != "PATCH" || merge.IfMatch != nil {
			t.Fatalf("%s: no upsert-merge after the batch", b.name)
		}
		body := []byte(merge.BodyRaw)
		got := marshal(t, checkpointFor(t, ep, body, "http://127.0.0.1:10000/devstoreaccount1/"+container))
		if d := diffMembers(members(t, got), members(t, body)); d != "" {
			t.Errorf("%s: %s\n got %s\nwant %s", b.name, d, got, body)
		}
		covered[b.name] = true
	}
	t.Logf("checkpoint merges compared: %d", len(covered))
	for _, want := range []string{"01-hello-episode1.json", "03-hello-final.json", "06-continue-as-new.json",
		"08-child-first-episode.json", "13-taskfailed-uncaught.json", "14-terminated.json",
		"15-suspended.json", "17-resumed-complete.json"} {
		if !covered[want] {
			t.Errorf("case %s not covered", want)
		}
	}
}

// The hand-made vectors' merges, fed with their episodes' rows.
func TestCheckpointMergeHandVectors(t *testing.T) {
	var two struct {
		Rows []json.RawMessage `json:"rowsAfterCompletion"`
		Tx   []struct {
			Ops []struct {
				RowKey string `json:"rowKey"`
			} `json:"ops"`
		} `json:"checkpointTransactions"`
	}
	readJSON(t, "../testdata/azstorage-history-two-activities.json", &two)
	var inst struct {
		Pending, Merge1, Merge3 struct {
			Entity json.RawMessage `json:"entity"`
		}
	}
	var instRaw map[string]json.RawMessage
	readJSON(t, "../testdata/azstorage-instances-row.json", &instRaw)
	for k, dst := range map[string]any{"pendingRowWrittenByClient": &inst.Pending, "mergeAfterEpisode1": &inst.Merge1, "mergeAfterEpisode3": &inst.Merge3} {
		if err := json.Unmarshal(instRaw[k], dst); err != nil {
			t.Fatal(err)
		}
	}
	var sub struct {
		Parent []json.RawMessage `json:"parentHistoryRowsAfterCompletion"`
		Child  []json.RawMessage `json:"childHistoryRowsAfterCompletion"`
		Tx     []struct {
			Instance string `json:"instance"`
			Ops      []struct {
				RowKey string `json:"rowKey"`
			} `json:"ops"`
		} `json:"checkpointTransactions"`
		Instances struct {
			Parent []struct {
				Entity json.RawMessage `json:"entity"`
			} `json:"parent"`
			Child []struct {
				Entity json.RawMessage `json:"entity"`
			} `json:"child"`
		} `json:"instancesRows"`
	}
	readJSON(t, "../testdata/azstorage-history-suborch-timer-event.json", &sub)

	pick := func(rows []json.RawMessage, keys []string) [][]byte {
		var out [][]byte
		for _, k := range keys {
			for _, r := range rows {
				if unmarshal(t, r).RowKey == k && k != SentinelRowKey {
					out = append(out, r)
				}
			}
		}
		return out
	}
	keysOf := func(ops []struct {
		RowKey string `json:"rowKey"`
	}) []string {
		var ks []string
		for _, o := range ops {
			ks = append(ks, o.RowKey)
		}
		return ks
	}
	type check struct {
		name string
		rows [][]byte
		body []byte
	}
	checks := []check{
		{"two-activities episode 1", pick(two.Rows, keysOf(two.Tx[0].Ops)), inst.Merge1.Entity},
		{"two-activities episode 3", pick(two.Rows, keysOf(two.Tx[2].Ops)), inst.Merge3.Entity},
	}
	parentEpisode := 0
	for _, tx := range sub.Tx {
		if tx.Instance == "order-42" {
			parentEpisode++
			checks = append(checks, check{"order-42 episode", pick(sub.Parent, keysOf(tx.Ops)), sub.Instances.Parent[parentEpisode].Entity})
		} else {
			checks = append(checks, check{"order-42-ship episode", pick(sub.Child, keysOf(tx.Ops)), sub.Instances.Child[0].Entity})
		}
	}
	for _, c := range checks {
		ep := episodeFromRows(t, c.rows, "myhub-largemessages")
		got := marshal(t, checkpointFor(t, ep, c.body, ""))
		if d := diffMembers(members(t, got), members(t, c.body)); d != "" {
			t.Errorf("%s: %s\n got %s\nwant %s", c.name, d, got, c.body)
		}
	}
	if len(checks) != 7 {
		t.Fatalf("%d hand-made merges checked, want 7", len(checks))
	}
	// The client's Pending rows of the same vectors.
	pendings := []struct {
		start json.RawMessage
		body  json.RawMessage
	}{{two.Rows[1], inst.Pending.Entity}, {sub.Parent[1], sub.Instances.Parent[0].Entity}}
	for _, p := range pendings {
		es := decodeStart(t, p.start)
		hub, _ := bodyString(t, p.body, "TaskHubName")
		got := marshal(t, PendingInstanceRow(es, hub, "", bodyTime(t, p.body, "LastUpdatedTime")))
		if d := diffMembers(members(t, got), members(t, p.body)); d != "" {
			t.Errorf("pending %s: %s\n got %s\nwant %s", es.OrchestrationInstance.InstanceID, d, got, p.body)
		}
	}
}

func decodeStart(t testing.TB, raw []byte) *history.ExecutionStartedEvent {
	t.Helper()
	ev, err := DecodeHistoryRow(unmarshal(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	es, ok := ev.(*history.ExecutionStartedEvent)
	if !ok {
		t.Fatalf("%T is not ExecutionStarted", ev)
	}
	return es
}

// (d) The client's Pending inserts. The ExecutionStarted event comes from
// the recorded history (its row keeps the client's Timestamp) and the clock
// from the recorded LastUpdatedTime.
func TestPendingInsertMatchesCSharp(t *testing.T) {
	files, _ := filepath.Glob(csharpTables + "/instance-writes/*/*.json")
	compared, missing := 0, 0
	for _, f := range files {
		if filepath.Base(f) == "index.json" {
			continue
		}
		hub := filepath.Base(filepath.Dir(f))
		var iw struct {
			PartitionKey string          `json:"PartitionKey"`
			Writes       []instanceWrite `json:"writes"`
		}
		readJSON(t, f, &iw)
		for _, w := range iw.Writes {
			if w.Method != "POST" {
				continue
			}
			body := []byte(w.BodyRaw)
			execID, _ := bodyString(t, body, "ExecutionId")
			es := findStart(t, hub, iw.PartitionKey, execID)
			if es == nil {
				missing++ // capture-counter: its first generation never reached the History table
				continue
			}
			got := marshal(t, PendingInstanceRow(es, hub, "", bodyTime(t, body, "LastUpdatedTime")))
			if d := diffMembers(members(t, got), members(t, body)); d != "" {
				t.Errorf("%s: %s\n got %s\nwant %s", f, d, got, body)
			}
			compared++
		}
	}
	t.Logf("client inserts compared: %d (no ExecutionStarted row recorded for %d)", compared, missing)
	if compared < 30 || missing > 1 {
		t.Fatalf("coverage: %d compared, %d missing", compared, missing)
	}
}

// findStart returns the recorded ExecutionStarted event of an execution.
func findStart(t testing.TB, hub, partitionKey, execID string) *history.ExecutionStartedEvent {
	name := regexp.MustCompile(`[^A-Za-z0-9._-]`).ReplaceAllString(partitionKey, "_")
	var dump struct {
		Rows []struct {
			Raw string `json:"raw"`
		} `json:"rows"`
	}
	readJSON(t, csharpTables+"/final/"+hub+"/History/"+name+".json", &dump)
	for _, r := range dump.Rows {
		e := unmarshal(t, []byte(r.Raw))
		ty, _ := e.GetString("EventType")
		id, _ := e.GetString("ExecutionId")
		if ty == "ExecutionStarted" && id == execID {
			return decodeStart(t, []byte(r.Raw))
		}
	}
	return nil
}

package tables

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// The client's Pending Insert followed by the checkpoint merges of the
// three episodes (InsertOrMerge) leaves the row the vector shows; Get
// reads it back with every column and EDM type, and without Input when
// the input is not asked for.
func TestInstancesRowFromVector(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	v, _, events := loadTwoActivities(t)
	var vec struct {
		Pending struct {
			Entity json.RawMessage `json:"entity"`
		} `json:"pendingRowWrittenByClient"`
		Resulting json.RawMessage `json:"resultingRow"`
	}
	readJSON(t, "../testdata/azstorage-instances-row.json", &vec)

	start := events[1].(*history.ExecutionStartedEvent)
	pending := PendingInstanceRow(start, "MyHub", "", mustTime(t, "2024-05-01T12:00:00.105Z"))
	if d := diffMembers(sortedMembers(t, marshal(t, pending)), sortedMembers(t, vec.Pending.Entity)); d != "" {
		t.Fatalf("pending row: %s", d)
	}
	etag, err := e.inst.Insert(c, pending)
	if err != nil || etag == "" {
		t.Fatalf("insert: %q %v", etag, err)
	}
	got, err := e.inst.Get(c, v.InstanceID, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != etag || got.State.Status != history.StatusPending {
		t.Fatalf("after insert: etag %q (want %q), status %v", got.ETag, etag, got.State.Status)
	}
	for i, ep := range [][2]int{{0, 4}, {4, 8}, {8, 12}} {
		cp := CheckpointInstanceRow(&Checkpoint{
			InstanceID: v.InstanceID, ExecutionID: v.ExecutionID, TaskHubName: "MyHub",
			NewEvents: events[ep[0]:ep[1]], Now: mustTime(t, "2024-05-01T12:00:02.18Z"),
		})
		if _, err := e.inst.Merge(c, cp, ""); err != nil {
			t.Fatalf("merge after episode %d: %v", i+1, err)
		}
	}
	if n := e.count("table/instances/upsert-merge"); n != 3 {
		t.Fatalf("%d upsert-merges, want 3", n)
	}
	got, err = e.inst.Get(c, v.InstanceID, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffMembers(sortedMembers(t, marshal(t, got.Entity)), sortedMembers(t, vec.Resulting)); d != "" {
		t.Fatalf("resulting row: %s\n got %s", d, marshal(t, got.Entity))
	}
	st := got.State
	if st.Status != history.StatusCompleted || st.Input == nil || *st.Input != `"World"` || st.Output == nil ||
		st.OrchestrationInstance.InstanceID != v.InstanceID || !st.CompletedTime.Equal(mustTime(t, "2024-05-01T12:00:02.18Z")) {
		t.Fatalf("state %+v", st)
	}
	noInput, err := e.inst.Get(c, v.InstanceID, false)
	if err != nil {
		t.Fatal(err)
	}
	var want []member
	for _, m := range sortedMembers(t, vec.Resulting) {
		if m.Name != "Input" && m.Name != "TaskHubName" { // C#'s $select names neither
			want = append(want, m)
		}
	}
	if d := diffMembers(sortedMembers(t, marshal(t, noInput.Entity)), want); d != "" || noInput.State.Input != nil || noInput.ETag != got.ETag {
		t.Fatalf("without input: %s\n got %s", d, marshal(t, noInput.Entity))
	}
}

// Insert, Replace, Merge and Delete map the service's answers: an existing
// row or a stale ETag is ErrConflict, a missing row ErrNotFound.
func TestInstanceStoreConditionalWrites(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	const id = "o'brien/1" // a quote for the filter, a slash for the key
	row := func(status string) *Entity {
		r := &Entity{PartitionKey: EscapePartitionKey(id)}
		r.Set(colRuntimeStatus, status)
		r.Set(colName, "Orch")
		return r
	}
	if _, err := e.inst.Get(c, id, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get before insert: %v", err)
	}
	etag1, err := e.inst.Insert(c, row("Pending"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inst.Insert(c, row("Pending")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second insert: %v", err)
	}
	etag2, err := e.inst.Replace(c, row("Running"), etag1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inst.Replace(c, row("Failed"), etag1); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace with a stale ETag: %v", err)
	}
	if _, err := e.inst.Merge(c, row("Failed"), etag1); !errors.Is(err, ErrConflict) {
		t.Fatalf("merge with a stale ETag: %v", err)
	}
	if _, err := e.inst.Replace(c, row("Failed"), ""); err == nil {
		t.Fatal("replace without an ETag was accepted")
	}
	etag3, err := e.inst.Merge(c, row("Completed"), etag2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.inst.Get(c, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != etag3 || got.State.Status != history.StatusCompleted || got.State.OrchestrationInstance.InstanceID != id {
		t.Fatalf("after merge: %+v", got.State)
	}
	if err := e.inst.Delete(c, id); err != nil {
		t.Fatal(err)
	}
	if err := e.inst.Delete(c, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := e.inst.Merge(c, row("Terminated"), "*"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("merge * on a missing row: %v", err)
	}
	if _, err := e.inst.Merge(c, row("Terminated"), ""); err != nil {
		t.Fatalf("insert-or-merge on a missing row: %v", err)
	}
	if got, err := e.inst.Get(c, id, true); err != nil || got.State.Status != history.StatusTerminated {
		t.Fatalf("after insert-or-merge: %v", err)
	}
}

// CreateTables and DeleteTables are idempotent; stores on a deleted table
// report ErrTableNotFound.
func TestTableLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	if err := CreateTables(c, e.svc, e.histName, e.instName); err != nil {
		t.Fatalf("create again: %v", err)
	}
	if err := DeleteTables(c, e.svc, e.histName, e.instName); err != nil {
		t.Fatal(err)
	}
	if err := DeleteTables(c, e.svc, e.histName, e.instName); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if _, err := e.hist.Load(c, "x", ""); !errors.Is(err, ErrTableNotFound) || errors.Is(err, ErrNotFound) {
		t.Fatalf("load from a deleted table: %v", err)
	}
	if _, err := e.hist.Append(c, "x", "e", 0, someEvents(1, "a"), ""); !errors.Is(err, ErrTableNotFound) || errors.Is(err, ErrConflict) {
		t.Fatalf("append to a deleted table: %v", err)
	}
}

package tables

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/azdurable/azdurable/history"
)

// seed writes an instance as a worker would: its history (with one
// offloaded column when large is set, and a message blob under the raw
// id), and an Instances row with the given status and creation time.
func (e *env) seed(t *testing.T, id string, events int, status history.OrchestrationStatus, created time.Time, large bool) {
	t.Helper()
	c := testCtx(t)
	evs := someEvents(events, id)
	if large {
		big := `"` + strings.Repeat("z", 40000) + `"`
		evs[0].(*history.EventRaisedEvent).Input = &big
	}
	res, err := e.hist.Append(c, id, "e", 0, evs, "")
	if err != nil {
		t.Fatal(err)
	}
	if large && len(res.Blobs) != 1 {
		t.Fatalf("%s: blobs %v", id, res.Blobs)
	}
	if err := e.blobs.UploadGzip(c, id+"/message-0123456789abcdef0123456789abcdef-ExecutionStarted.json.gz", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	start := &history.ExecutionStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: created},
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: id, ExecutionID: "e"}, Name: "Orch"}
	row := PendingInstanceRow(start, e.hub, "", created)
	row.Set(colRuntimeStatus, status.String())
	if _, err := e.inst.Insert(c, row); err != nil {
		t.Fatal(err)
	}
}

// left reports what storage still holds for an instance: History rows,
// whether the Instances row exists, and its blobs (columns under the
// escaped id, messages under the raw one).
func (e *env) left(t *testing.T, id string) (rows int, instance bool, blobs int) {
	t.Helper()
	c := testCtx(t)
	rows = len(e.rawRows(t, e.histName, EscapePartitionKey(id)))
	_, err := e.inst.Get(c, id, false)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	for _, prefix := range []string{EscapePartitionKey(id) + "/history-", id + "/message-"} {
		names, err := listBlobs(c, e, prefix)
		if err != nil {
			t.Fatal(err)
		}
		blobs += len(names)
	}
	return rows, err == nil, blobs
}

// blobsUnder counts every blob whose name starts with prefix.
func (e *env) blobsUnder(t *testing.T, prefix string) int {
	t.Helper()
	names, err := listBlobs(testCtx(t), e, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// listBlobs lists the blob names under prefix in the hub's large-message
// container; a container that does not exist holds none.
func listBlobs(ctx context.Context, e *env, prefix string) ([]string, error) {
	var out []string
	pager := e.bsvc.ServiceClient().NewContainerClient(e.container).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out, nil
}

// Purging one instance deletes its History rows (all executions and the
// sentinel), its Instances row and its blobs under both the raw and the
// escaped id, and nothing of an instance whose id extends it.
func TestPurgeInstance(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	p := NewPurger(e.hist, e.inst, nil)
	now := time.Now().UTC()
	e.seed(t, "ab/c", 5, history.StatusCompleted, now, true)
	e.seed(t, "ab/cd", 4, history.StatusCompleted, now, true)
	e.seed(t, "ab", 3, history.StatusCompleted, now, false)
	res, err := p.Instance(c, "ab/c")
	if err != nil {
		t.Fatal(err)
	}
	// 5 rows + sentinel; the column blob (escaped prefix) + the message blob (raw prefix).
	if res != (PurgeResult{Instances: 1, HistoryRows: 6, Blobs: 2, Complete: true}) {
		t.Fatalf("result %+v", res)
	}
	if rows, inst, _ := e.left(t, "ab/c"); rows != 0 || inst {
		t.Fatalf("left behind: %d rows, instance row %v", rows, inst)
	}
	if n, m := e.blobsUnder(t, "ab^0c/"), e.blobsUnder(t, "ab/c/"); n != 0 || m != 0 {
		t.Fatalf("blobs left: %d under the escaped id, %d under the raw id", n, m)
	}
	for other, want := range map[string]struct{ rows, blobs int }{"ab/cd": {5, 2}, "ab": {4, 1}} {
		if rows, inst, blobs := e.left(t, other); rows != want.rows || !inst || blobs != want.blobs {
			t.Fatalf("%s was touched: %d rows, instance %v, %d blobs; want %+v", other, rows, inst, blobs, want)
		}
	}
	h, err := e.hist.Load(c, "ab/cd", "")
	if err != nil || len(h.Events) != 4 {
		t.Fatalf("ab/cd history after purging ab/c: %v", err)
	}
	// Purging "ab" leaves the message blob of "ab/cd" ("ab/cd/message-…") alone.
	if res, err := p.Instance(c, "ab"); err != nil || res.Blobs != 1 {
		t.Fatalf("purge of ab: %+v %v", res, err)
	}
	if rows, inst, blobs := e.left(t, "ab/cd"); rows != 5 || !inst || blobs != 2 {
		t.Fatalf("purging ab touched ab/cd: %d rows, instance %v, %d blobs", rows, inst, blobs)
	}
	// Purging again finds nothing.
	if res, err := p.Instance(c, "ab/c"); err != nil || res != (PurgeResult{Complete: true}) {
		t.Fatalf("second purge: %+v %v", res, err)
	}
}

// Without an Instances row nothing is deleted, not even History rows (as
// in C#).
func TestPurgeWithoutInstancesRow(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	if _, err := e.hist.Append(c, "orphan", "e", 0, someEvents(3, "o"), ""); err != nil {
		t.Fatal(err)
	}
	res, err := NewPurger(e.hist, e.inst, nil).Instance(c, "orphan")
	if err != nil || res != (PurgeResult{Complete: true}) {
		t.Fatalf("%+v %v", res, err)
	}
	if rows := e.rawRows(t, e.histName, "orphan"); len(rows) != 4 {
		t.Fatalf("%d rows left, want all 4", len(rows))
	}
}

// 250 History rows (two executions' worth) go in ⌈251/100⌉ delete
// transactions, and rows already gone are skipped by the one-by-one path.
func TestPurgeManyRows(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	e.seed(t, "long", 250, history.StatusFailed, time.Now(), false)
	e.calls.Reset()
	res, err := NewPurger(e.hist, e.inst, nil).Instance(c, "long")
	if err != nil || res.HistoryRows != 251 || res.Instances != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := e.count("table/history/batch"); n != 3 {
		t.Fatalf("%d delete transactions, want 3", n)
	}
	if rows := e.rawRows(t, e.histName, "long"); len(rows) != 0 {
		t.Fatalf("%d rows left", len(rows))
	}

	if _, err := e.hist.Append(c, "few", "e", 0, someEvents(2, "f"), ""); err != nil {
		t.Fatal(err)
	}
	rows := e.rawRows(t, e.histName, "few")
	rows = append(rows, &Entity{PartitionKey: "few", RowKey: "00000000000000FF"}) // never existed
	n, err := NewPurger(e.hist, e.inst, nil).deleteOneByOne(c, rows)
	if err != nil || n != 3 {
		t.Fatalf("one by one: %d deleted, %v", n, err)
	}
}

func TestPurgeFilter(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	p := NewPurger(e.hist, e.inst, &PurgeOptions{Concurrency: 3})
	for name, f := range map[string]PurgeFilter{
		"no statuses":       {},
		"only non-terminal": {Statuses: []history.OrchestrationStatus{history.StatusRunning, history.StatusPending, history.StatusSuspended}},
	} {
		if _, err := p.Filter(c, f); !errors.Is(err, ErrNoPurgeStatuses) {
			t.Errorf("%s: %v, want ErrNoPurgeStatuses", name, err)
		}
	}
	if _, err := p.Filter(c, PurgeFilter{AllStatuses: true, Statuses: []history.OrchestrationStatus{history.StatusCompleted}}); err == nil {
		t.Error("AllStatuses with Statuses accepted")
	}

	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	recent := old.Add(48 * time.Hour)
	terminal := map[string]history.OrchestrationStatus{
		"done-1": history.StatusCompleted, "done-2": history.StatusCompleted, "bad/1": history.StatusFailed,
		"stop-1": history.StatusTerminated, "gone-1": history.StatusCanceled,
	}
	for id, st := range terminal {
		e.seed(t, id, 3, st, old, id == "bad/1")
	}
	e.seed(t, "run-1", 3, history.StatusRunning, old, false)
	e.seed(t, "wait-1", 3, history.StatusPending, old, false)
	e.seed(t, "done-new", 3, history.StatusCompleted, recent, false)

	res, err := p.Filter(c, PurgeFilter{
		CreatedTo: old.Add(time.Hour),
		// Running is dropped, as C# does: only terminal statuses purge.
		Statuses: []history.OrchestrationStatus{history.StatusCompleted, history.StatusFailed, history.StatusTerminated,
			history.StatusCanceled, history.StatusRunning},
	})
	if err != nil || res.Instances != len(terminal) || res.HistoryRows != 4*len(terminal) || res.Blobs != len(terminal)+1 || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	for id := range terminal {
		if rows, inst, blobs := e.left(t, id); rows != 0 || inst || blobs != 0 {
			t.Errorf("%s left behind: %d rows, instance %v, %d blobs", id, rows, inst, blobs)
		}
	}
	if n, m := e.blobsUnder(t, "bad^01/"), e.blobsUnder(t, "bad/1/"); n != 0 || m != 0 {
		t.Errorf("blobs of bad/1 left: %d %d", n, m)
	}
	for _, id := range []string{"run-1", "wait-1", "done-new"} {
		if rows, inst, _ := e.left(t, id); rows != 4 || !inst {
			t.Errorf("%s was purged: %d rows, instance %v", id, rows, inst)
		}
	}

	canceled, cancel := context.WithCancel(c)
	cancel()
	res, err = p.Filter(canceled, PurgeFilter{AllStatuses: true})
	if !errors.Is(err, context.Canceled) || res.Complete || res.Instances != 0 {
		t.Fatalf("canceled purge: %+v %v", res, err)
	}

	res, err = p.Filter(c, PurgeFilter{AllStatuses: true})
	if err != nil || res.Instances != 3 || !res.Complete {
		t.Fatalf("purge of all statuses: %+v %v", res, err)
	}
	page, err := e.inst.Query(c, InstanceQuery{}, "")
	if err != nil || len(page.Instances) != 0 {
		t.Fatalf("instances left: %v %d", err, len(page.Instances))
	}
}

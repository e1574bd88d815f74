package azurestorage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/providertest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// column is a stored column's name and EDM kind.
type column struct{ Name, Kind string }

// columnsOf reduces an OData entity to its columns and EDM kinds (values of
// keys and JSON kinds, annotations folded in), dropping service metadata.
func columnsOf(t *testing.T, raw json.RawMessage) []column {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []column
	for k, v := range m {
		if strings.Contains(k, "@odata") || strings.HasPrefix(k, "odata.") || k == "Timestamp" {
			continue
		}
		kind := "Edm.String"
		switch {
		case m[k+"@odata.type"] != nil:
			_ = json.Unmarshal(m[k+"@odata.type"], &kind)
		case string(v) == "true" || string(v) == "false":
			kind = "Edm.Boolean"
		case len(v) > 0 && v[0] != '"':
			kind = "Edm.Int32"
		}
		out = append(out, column{k, kind})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func rawRows(t *testing.T, table *aztables.Client, pk string) []json.RawMessage {
	t.Helper()
	filter := fmt.Sprintf("PartitionKey eq '%s'", pk)
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []json.RawMessage
	for pager.More() {
		p, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entities {
			out = append(out, e)
		}
	}
	return out
}

// TestTwoActivityRowsMatchCSharp drives a hand-built two-activity
// orchestration through the contract, with no worker, and compares the
// stored History and Instances rows with the C#-shaped vectors: columns,
// EDM types and event order.
func TestTwoActivityRowsMatchCSharp(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer be.Stop(context.Background(), true)
	const id, exec = "myorch-1", "5b0e7d2c8a1f4e3b9c6d2a1f0e9d8c7b"
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: exec}
	now := func() history.EventBase { return history.EventBase{EventID: -1, Timestamp: time.Now().UTC()} }
	start := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "HelloSequence", Input: history.Str(`"World"`), EventBase: now()}
	if err := be.CreateInstance(ctx, &history.TaskMessage{Event: start, OrchestrationInstance: inst}, nil); err != nil {
		t.Fatal(err)
	}
	results := []string{`"Hello Tokyo!"`, `"Hello Seattle!"`}
	for episode := 0; episode < 3; episode++ {
		wi, err := be.LockNextOrchestration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events := []history.Event{&history.OrchestratorStartedEvent{EventBase: now()}}
		for _, m := range wi.Messages {
			m.Event.Base().IsPlayed = true
			events = append(events, m.Event)
		}
		var outbox []*history.TaskMessage
		if episode < 2 {
			ts := &history.TaskScheduledEvent{Name: "SayHello", EventBase: history.EventBase{EventID: int32(episode), Timestamp: time.Now().UTC()}}
			events = append(events, ts)
			msg := *ts
			msg.Input = history.Str(`["Tokyo"]`)
			outbox = append(outbox, &history.TaskMessage{Event: &msg, OrchestrationInstance: inst,
				OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: map[string]string{}}})
		} else {
			events = append(events, &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted,
				Result: history.Str(`["Hello Tokyo!","Hello Seattle!"]`), EventBase: history.EventBase{EventID: 2, Timestamp: time.Now().UTC()}})
		}
		events = append(events, &history.OrchestratorCompletedEvent{EventBase: now()})
		if err := be.CompleteOrchestration(ctx, wi, &provider.EpisodeResult{NewEvents: events, Outbox: outbox}); err != nil {
			t.Fatal(err)
		}
		if episode < 2 {
			aw, err := be.LockNextActivity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if history.Deref(aw.Event.Input) != `["Tokyo"]` || aw.Event.EventID != int32(episode) {
				t.Fatalf("activity work item %+v", aw.Event)
			}
			res := &history.TaskCompletedEvent{TaskScheduledID: aw.Event.EventID, Result: &results[episode], EventBase: now()}
			if err := be.CompleteActivity(ctx, aw, res); err != nil {
				t.Fatal(err)
			}
		}
	}
	acct := azuritetest.Account(t)
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		RowsAfterCompletion []json.RawMessage
	}
	data, _ := os.ReadFile("../../testdata/azstorage-history-two-activities.json")
	if err := json.Unmarshal(data, &vec); err != nil {
		t.Fatal(err)
	}
	got := rawRows(t, svc.NewClient(hub+"History"), id)
	if len(got) != len(vec.RowsAfterCompletion) {
		t.Fatalf("%d History rows, the vector has %d", len(got), len(vec.RowsAfterCompletion))
	}
	for i := range got {
		g, w := columnsOf(t, got[i]), columnsOf(t, vec.RowsAfterCompletion[i])
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("row %d columns\n got %v\nwant %v", i, g, w)
		}
		var gm, wm map[string]any
		_ = json.Unmarshal(got[i], &gm)
		_ = json.Unmarshal(vec.RowsAfterCompletion[i], &wm)
		for _, k := range []string{"RowKey", "EventType", "EventId", "IsPlayed", "Name", "Input", "Result", "TaskScheduledId", "OrchestrationStatus", "ExecutionId"} {
			if fmt.Sprint(gm[k]) != fmt.Sprint(wm[k]) {
				t.Errorf("row %d %s = %v, want %v", i, k, gm[k], wm[k])
			}
		}
	}
	var ivec struct{ ResultingRow json.RawMessage }
	data, _ = os.ReadFile("../../testdata/azstorage-instances-row.json")
	if err := json.Unmarshal(data, &ivec); err != nil {
		t.Fatal(err)
	}
	rows := rawRows(t, svc.NewClient(hub+"Instances"), id)
	if len(rows) != 1 {
		t.Fatalf("%d Instances rows", len(rows))
	}
	g, w := columnsOf(t, rows[0]), columnsOf(t, ivec.ResultingRow)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("Instances columns\n got %v\nwant %v", g, w)
	}
	var gm, wm map[string]any
	_ = json.Unmarshal(rows[0], &gm)
	_ = json.Unmarshal(ivec.ResultingRow, &wm)
	for _, k := range []string{"Name", "Version", "ExecutionId", "Input", "Output", "CustomStatus", "RuntimeStatus", "ParentInstanceId", "Generation", "Tags"} {
		if fmt.Sprint(gm[k]) != fmt.Sprint(wm[k]) {
			t.Errorf("Instances %s = %v, want %v", k, gm[k], wm[k])
		}
	}
}

// TestSplitBrainOneCommitWins: two backends (two processes' view) lock the
// same work item with the same history ETag before either commits, after
// the first owner's lease was lost; exactly one commit wins, the other gets
// provider.ErrLockLost, and the history holds no duplicate rows.
func TestSplitBrainOneCommitWins(t *testing.T) {
	hub := azuritetest.NewHub(t)
	short := func(worker string) *azurestorage.Backend {
		o := azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1, WorkerID: worker,
			MaxPollingInterval: 200 * time.Millisecond, ControlQueueVisibility: 2 * time.Second, DisableAppLease: true}
		o.Table.LeaseInterval = 3 * time.Second
		o.Table.AcquireInterval = 500 * time.Millisecond
		o.Table.SafetyMargin = time.Second
		be, err := azurestorage.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return be
	}
	a, b := short("worker-a"), short("worker-b")
	t.Cleanup(func() { _ = a.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	inst := history.OrchestrationInstance{InstanceID: "split", ExecutionID: "e1"}
	start := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "X", Input: history.Str(`1`),
		EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}}
	if err := a.CreateInstance(ctx, &history.TaskMessage{Event: start, OrchestrationInstance: inst}, nil); err != nil {
		t.Fatal(err)
	}
	wiA, err := a.LockNextOrchestration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A stops renewing (hard stop) while it still holds the work item; B
	// takes the partition after the lease expires and receives the same
	// message once its visibility runs out.
	if err := a.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background(), false)
	wiB, err := b.LockNextOrchestration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wiA.HistoryETag != wiB.HistoryETag {
		t.Fatalf("ETags differ: %q %q", wiA.HistoryETag, wiB.HistoryETag)
	}
	episode := func() *provider.EpisodeResult {
		b := history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}
		return &provider.EpisodeResult{NewEvents: []history.Event{&history.OrchestratorStartedEvent{EventBase: b}, start,
			&history.OrchestratorCompletedEvent{EventBase: b}}}
	}
	errA := a.CompleteOrchestration(ctx, wiA, episode())
	errB := b.CompleteOrchestration(ctx, wiB, episode())
	if (errA == nil) == (errB == nil) {
		t.Fatalf("commits: A %v, B %v; want exactly one to win", errA, errB)
	}
	lost := errA
	if lost == nil {
		lost = errB
	}
	if !errors.Is(lost, provider.ErrLockLost) {
		t.Fatalf("the losing commit failed with %v, want ErrLockLost", lost)
	}
	svc, _ := azuritetest.Account(t).TableService(nil)
	rows := rawRows(t, svc.NewClient(hub+"History"), "split")
	if len(rows) != 4 { // 3 events + sentinel
		t.Errorf("%d History rows, want 4", len(rows))
	}
}

// TestPartitionCountGuard: a backend configured with another partition
// count than the hub's fails at start with PartitionCountError.
func TestPartitionCountGuard(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub) // 4 partitions
	ctx := context.Background()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	var pce *provider.PartitionCountError
	if err := other.Start(ctx); !errors.As(err, &pce) || pce.Hub != 4 || pce.Configured != 8 {
		t.Fatalf("worker start: %v", err)
	}
	inst := history.OrchestrationInstance{InstanceID: "x", ExecutionID: "e"}
	es := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: "X"}
	if err := other.CreateInstance(ctx, &history.TaskMessage{Event: es, OrchestrationInstance: inst}, nil); !errors.As(err, &pce) {
		t.Fatalf("client start: %v", err)
	}
	if !strings.Contains(pce.Error(), "has 4 partitions, but 8 are configured") {
		t.Errorf("message %q", pce.Error())
	}
}

// TestPurgeLeavesNothingBehind: purging an instance with large payloads
// removes its rows and its blobs.
func TestPurgeLeavesNothingBehind(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	runWorker(t, be, providertest.Big, providertest.EchoLen)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := c.ScheduleNew(ctx, providertest.Big.Name(), strings.Repeat("b", 200_000), client.WithInstanceID("big/one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	acct := azuritetest.Account(t)
	blobsOf := func() int {
		bs, _ := acct.BlobService(nil)
		n := 0
		pager := bs.NewListBlobsFlatPager(be.Resources().LargeMessagesContainer, nil)
		for pager.More() {
			p, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(p.Segment.BlobItems)
		}
		return n
	}
	if blobsOf() == 0 {
		t.Fatal("a 200 KB payload left no blob to purge")
	}
	res, err := c.Purge(ctx, id)
	if err != nil || res.InstancesDeleted != 1 {
		t.Fatalf("purge %+v %v", res, err)
	}
	svc, _ := acct.TableService(nil)
	if rows := rawRows(t, svc.NewClient(hub+"History"), "big^0one"); len(rows) != 0 {
		t.Errorf("%d History rows left", len(rows))
	}
	if rows := rawRows(t, svc.NewClient(hub+"Instances"), "big^0one"); len(rows) != 0 {
		t.Errorf("%d Instances rows left", len(rows))
	}
	if n := blobsOf(); n != 0 {
		t.Errorf("%d blobs left", n)
	}
}

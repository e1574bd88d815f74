package azurestorage_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/tables"
	"github.com/azdurable/azdurable/worker"
)

// TestFreshStartSkipsTheHistoryRead: a first start of an id (Generation 0,
// first delivery) runs without reading history; a restart of the id
// (Generation 1) reads it; and a first start over history left behind
// (here: the Instances row deleted, the rows kept) still completes, through
// the sentinel conflict and a retry with a history read.
func TestFreshStartSkipsTheHistoryRead(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	counter := storage.NewCallCounter(acct.Endpoints())
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, MaxPollingInterval: 200 * time.Millisecond,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cbe.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	c := client.New(cbe, client.Options{})
	historyReads := func() int64 {
		return counter.Snapshot().Counts[storage.CallKey{Service: "table", Category: "history", Operation: "query"}]
	}
	run := func(id string) *client.State {
		t.Helper()
		if _, err := c.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID(id)); err != nil {
			t.Fatal(err)
		}
		st, err := c.WaitForCompletion(ctx, id, client.PollInterval(20*time.Millisecond, 200*time.Millisecond))
		if err != nil || st.Status != client.Completed || *st.Output != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
			t.Fatalf("%s: %+v %v", id, st, err)
		}
		return st
	}
	// Started before the worker runs, so that the row exists when the
	// worker first sees the message.
	if _, err := c.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID("fresh")); err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, be)
	if st, err := c.WaitForCompletion(ctx, "fresh", client.PollInterval(20*time.Millisecond, 200*time.Millisecond)); err != nil || st.Status != client.Completed {
		t.Fatalf("fresh: %+v %v", st, err)
	}
	if n := historyReads(); n != 0 {
		t.Fatalf("%d history reads for a first start, want 0", n)
	}

	first := run("again")
	before := historyReads()
	second := run("again")
	if second.ExecutionID == first.ExecutionID || second.Generation == nil || *second.Generation != 1 {
		t.Fatalf("restart: execution %s (was %s), generation %v", second.ExecutionID, first.ExecutionID, second.Generation)
	}
	if historyReads() == before {
		t.Fatal("the restart of an id (Generation 1) did not read its history")
	}

	run("orphan")
	ts, _ := acct.TableService(nil)
	if err := tables.NewInstanceStore(ts, be.Resources().InstancesTable).Delete(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	// A new worker, which has no session of the instance: the start looks
	// fresh (Generation 0, first delivery) but the history is there.
	stop()
	be2, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, MaxPollingInterval: 200 * time.Millisecond,
		WorkerID: "second", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w2 := startWorker(t, be2)
	defer w2()
	st := run("orphan")
	h, err := c.History(ctx, "orphan", "")
	if err != nil || len(h) == 0 || st.Generation == nil || *st.Generation != 0 {
		t.Fatalf("history over left-behind rows: %d events, %v, generation %v", len(h), err, st.Generation)
	}
}

// startWorker runs a HelloCities worker on be until the returned function
// is called.
func startWorker(t *testing.T, be *azurestorage.Backend) (stop func()) {
	t.Helper()
	w := worker.New(be, worker.Options{Logger: quiet()})
	if err := w.Register(hellocities.Registrations()...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// hook calls f after each response of the pipeline it is in.
type hook struct {
	f func(*policy.Request, *http.Response)
}

func (h hook) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err == nil {
		h.f(req, resp)
	}
	return resp, err
}

// TestStartWaitsBrieflyForItsRow: a start received before the client has
// written its Instances row (the client writes it just after sending) is
// not abandoned for two seconds: the row is read again shortly and the
// start runs. The row is inserted right after the worker's first read
// misses it, so the timing is fixed.
func TestStartWaitsBrieflyForItsRow(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	ts, _ := acct.TableService(nil)
	var rows *tables.InstanceStore
	gen := int32(0)
	es := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "late-row", ExecutionID: "0123456789abcdef0123456789abcdef"},
		Name: "HelloCities", Generation: &gen, EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}}
	var instanceReads atomic.Int32
	var inserted atomic.Bool
	counter := storage.NewCallCounter(acct.Endpoints())
	late := hook{func(req *policy.Request, resp *http.Response) {
		r := req.Raw()
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "Instances") || !strings.Contains(r.URL.RawQuery, "late-row") {
			return
		}
		instanceReads.Add(1)
		if inserted.CompareAndSwap(false, true) {
			if _, err := rows.Insert(req.Raw().Context(), tables.PendingInstanceRow(es, hub, "", time.Now().UTC())); err != nil {
				t.Errorf("inserting the row: %v", err)
			}
		}
	}}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, MaxPollingInterval: 200 * time.Millisecond,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy(), late}}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	rows = tables.NewInstanceStore(ts, be.Resources().InstancesTable)
	qs, _ := acct.QueueService(nil)
	msg := &queues.MessageData{ActivityID: "8d7a9f0e-0000-4000-8000-000000000001", Sender: &queues.Sender{},
		TaskMessage: &history.TaskMessage{Event: es, OrchestrationInstance: es.OrchestrationInstance}}
	if _, err := queues.NewQueue(qs, be.Resources().ControlQueues[0], nil).Send(ctx, queues.EncodeBody(msg, queues.UTF8), 0); err != nil {
		t.Fatal(err)
	}
	if err := be.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Stop(context.Background(), true) })
	wi, err := be.LockNextOrchestration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !wi.NewExecution || len(wi.Messages) != 1 || wi.Messages[0].DequeueCount != 1 || wi.Messages[0].Event.Type() != history.ExecutionStarted {
		t.Fatalf("work item: new execution %v, messages %+v", wi.NewExecution, wi.Messages)
	}
	if n := instanceReads.Load(); n != 2 {
		t.Fatalf("%d reads of the Instances row, want 2 (a miss, then the row)", n)
	}
	if n := counter.Snapshot().Counts[storage.CallKey{Service: "queue", Category: "control", Operation: "update"}]; n != 0 {
		t.Fatalf("the start was abandoned (%d visibility updates)", n)
	}
	if err := be.AbandonOrchestration(ctx, wi, 0); err != nil {
		t.Fatal(err)
	}
}

package azurestorage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		waitTick(50 * time.Millisecond)
	}
}

// TestFaultsLoseNothing runs a workload while 5% of all storage calls fail,
// before or after the service applied them; everything completes with the
// right output, and no history holds a duplicate event.
func TestFaultsLoseNothing(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	faults := storage.NewFaultInjector(0, 6)
	o := azurestorage.Options{TaskHub: hub, Account: acct, MaxPollingInterval: 500 * time.Millisecond, Logger: quiet(),
		ControlQueueVisibility: 3 * time.Second, WorkItemVisibility: 3 * time.Second,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 6, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 300 * time.Millisecond}}}
	be, err := azurestorage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { faults.SetRate(0); _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	faults.SetRate(0.05)
	runWorker(t, be, append(hellocities.Registrations(), killFanOut, slowItem)...)
	c := client.New(be, client.Options{})
	injected := func() int64 {
		n := int64(0)
		for _, v := range faults.Injected() {
			n += v
		}
		return n
	}
	var ids []string
	// Rounds of six HelloCities (and one fan-out in the first) until at
	// least 20 faults have hit the run: how many calls fail is chance.
	for round := 0; round == 0 || (injected() < 20 && round < 12); round++ {
		var batch []string
		for i := 0; i < 6; i++ {
			id := fmt.Sprintf("hello-%d-%d", round, i)
			for {
				if _, err := c.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID(id), client.WithDedupeStatuses()); err == nil {
					break
				} else if ctx.Err() != nil {
					t.Fatal(err)
				}
			}
			batch = append(batch, id)
		}
		if round == 0 {
			for {
				if _, err := c.ScheduleNew(ctx, killFanOut.Name(), 20, client.WithInstanceID("fan"), client.WithDedupeStatuses()); err == nil {
					break
				} else if ctx.Err() != nil {
					t.Fatal(err)
				}
			}
			batch = append(batch, "fan")
		}
		for _, id := range batch {
			var st *client.State
			waitUntil(t, id+" to complete", 5*time.Minute, func() bool {
				s, err := c.GetState(ctx, id)
				if err == nil && s.Status.IsTerminal() {
					st = s
					return true
				}
				return false
			})
			want := `["Hello Tokyo!","Hello Seattle!","Hello London!"]`
			if id == "fan" {
				want = "2470"
			}
			if st.Status != client.Completed || *st.Output != want {
				t.Errorf("%s: %s %s", id, st.Status, *st.Output)
			}
		}
		ids = append(ids, batch...)
	}
	faults.SetRate(0)
	regs := append(hellocities.Registrations(), killFanOut, slowItem)
	for _, id := range ids {
		h, err := c.History(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range h {
			key := ""
			switch v := ev.(type) {
			case *history.TaskScheduledEvent:
				key = "scheduled " + strconv.Itoa(int(v.EventID))
			case *history.TaskCompletedEvent:
				key = "completed " + strconv.Itoa(int(v.TaskScheduledID))
			case *history.ExecutionStartedEvent:
				key = "started"
			case *history.ExecutionCompletedEvent:
				key = "finished"
			}
			if key != "" && seen[key] {
				t.Errorf("%s: duplicate %s in history", id, key)
			}
			seen[key] = true
		}
		if err := durabletest.ReplayEvents(h, regs); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	n := injected()
	t.Logf("faults injected: %v (%d) over %d instances", faults.Injected(), n, len(ids))
	if n < 20 {
		t.Errorf("only %d faults were injected; the test proves little", n)
	}
}

// TestBadInputKeepsTheWorkerRunning feeds a running worker malformed
// bodies, unknown event types, a wrong $type, a truncated large-message
// blob, messages for unknown instances, duplicates and unknown names:
// the worker keeps running, other instances finish, the log names the
// message and the reason, and every message that cannot be decoded is
// quarantined on its first receive with its text kept whole, under its
// instance when it names one.
func TestBadInputKeepsTheWorkerRunning(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, MaxPollingInterval: 300 * time.Millisecond,
		Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	qs, _ := acct.QueueService(nil)
	control := queues.NewQueue(qs, be.Resources().ControlQueues[0], nil)
	work := queues.NewQueue(qs, be.Resources().WorkItemQueue, nil)
	bs, _ := acct.BlobService(nil)
	large := blobs.New(bs, be.Resources().LargeMessagesContainer, nil)
	// A wrapper whose blob is truncated gzip.
	if err := large.UploadGzip(ctx, "bad/placeholder", []byte("x")); err != nil { // creates the container
		t.Fatal(err)
	}
	gz := blobs.Compress([]byte(`{"$type":"DurableTask.AzureStorage.MessageData","TaskMessage":{}}`))
	if _, err := bs.UploadBuffer(ctx, large.Container(), "bad/message-0-TaskCompleted.json.gz", gz[:len(gz)/2], nil); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"not json":       "%%% this is not a message %%%",
		"unknown type":   `{"TaskMessage":{"Event":{"EventType":99},"OrchestrationInstance":{"InstanceId":"x"}}}`,
		"wrong $type":    `{"TaskMessage":{"Event":{"$type":"DurableTask.Core.History.NoSuchEvent","EventType":5},"OrchestrationInstance":{"InstanceId":"x"}}}`,
		"truncated blob": string(queues.Marshal(queues.NewWrapper("bad/message-0-TaskCompleted.json.gz"))),
	}
	for _, body := range bad {
		if _, err := control.Send(ctx, body, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := work.Send(ctx, "{not a work item", 0); err != nil {
		t.Fatal(err)
	}
	unknownEvent := &queues.MessageData{ActivityID: "a", Sender: &queues.Sender{}, TaskMessage: &history.TaskMessage{
		Event:                 &history.EventRaisedEvent{Name: "x", EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}},
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: "nobody-here"}}}
	if _, err := control.Send(ctx, queues.EncodeBody(unknownEvent, queues.UTF8), 0); err != nil {
		t.Fatal(err)
	}

	w := worker.New(be, worker.Options{Logger: log})
	if err := w.Register(hellocities.Registrations()...); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { wcancel(); <-done }()
	c := client.New(be, client.Options{})
	good, err := c.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID("good"))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := c.ScheduleNew(ctx, "NoSuchOrchestration", "x", client.WithInstanceID("unknown-name"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, good, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed {
		t.Fatalf("the good instance: %v %v", st, err)
	}
	// A duplicate of a completion already in history is dropped.
	h, _ := c.History(ctx, good, "")
	var tc *history.TaskCompletedEvent
	for _, ev := range h {
		if v, ok := ev.(*history.TaskCompletedEvent); ok {
			tc = v
			break
		}
	}
	dup := &queues.MessageData{ActivityID: "d", Sender: &queues.Sender{InstanceID: good}, TaskMessage: &history.TaskMessage{
		Event: tc, OrchestrationInstance: history.OrchestrationInstance{InstanceID: good, ExecutionID: st.ExecutionID}}}
	if _, err := control.Send(ctx, queues.EncodeBody(dup, queues.UTF8), 0); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	waitUntil(t, "the log to explain every bad message", 3*time.Minute, func() bool {
		l := logs.String()
		return strings.Count(l, "poison message quarantined") >= 5 &&
			strings.Contains(l, "no such instance") &&
			strings.Contains(l, `orchestration \"NoSuchOrchestration\" is not registered on this worker`) &&
			strings.Contains(l, "duplicate TaskCompleted for task 0")
	})
	l := logs.String()
	for _, want := range []string{"cannot be decoded", "queue=" + be.Resources().WorkItemQueue, "unknown event class", "NoSuchEvent", "unknown event type", "truncated"} {
		if !strings.Contains(l, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	// The unknown name is never failed: it waits, Pending, and says why.
	if st, err := c.GetState(ctx, unknown); err != nil || st.Status != client.Pending ||
		!strings.Contains(history.Deref(st.CustomStatus), `not registered on this worker`) {
		t.Errorf("unknown orchestration: %+v %v", st, err)
	}
	if h2, _ := c.History(ctx, good, ""); len(h2) != len(h) {
		t.Errorf("the duplicate changed the history: %d events, was %d", len(h2), len(h))
	}
	// The quarantined bodies are kept whole, each on its first receive.
	poison := blobs.New(bs, strings.ToLower(hub)+"-poison", nil)
	pager := bs.NewListBlobsFlatPager(poison.Container(), nil)
	found := map[string]bool{}
	for pager.More() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Segment.BlobItems {
			if strings.Contains(*it.Name, "/stalled/") {
				continue // why the unknown name waits
			}
			data, err := poison.DownloadGzip(ctx, *it.Name)
			if err != nil {
				t.Fatal(err)
			}
			var rec provider.Quarantined
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatalf("%s: %v", *it.Name, err)
			}
			found[rec.Body] = true
			if rec.DequeueCount != 1 || !strings.HasPrefix(rec.Reason, "cannot be decoded") {
				t.Errorf("%s: received %d times, reason %q", *it.Name, rec.DequeueCount, rec.Reason)
			}
			if wantUnder := strings.HasPrefix(*it.Name, "instances/x/quarantined/"); wantUnder != (rec.InstanceID == "x") {
				t.Errorf("%s is filed under the wrong name for instance %q", *it.Name, rec.InstanceID)
			}
		}
	}
	for name, body := range bad {
		if !found[body] {
			t.Errorf("the %s message was not kept in quarantine", name)
		}
	}
	if !found["{not a work item"] {
		t.Error("the bad work item was not kept in quarantine")
	}
}

// TestLostAnswerOnTheFinalCommitIsRepaired: the service applies the last
// episode's history batch but its answer is lost; the retry conflicts with
// our own write, the work item is abandoned, and its redelivered messages
// are duplicates. The terminal history must still bring the Instances row
// to Completed (C#'s repair of terminal instances).
func TestLostAnswerOnTheFinalCommitIsRepaired(t *testing.T) {
	hub := azuritetest.NewHub(t)
	faults := storage.NewFaultInjector(1, 1, storage.Fault500AfterWrite)
	var mu sync.Mutex
	batches := 0
	faults.Only(func(r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/$batch") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		batches++
		return batches == 4 // HelloCities commits four episodes; fail the last
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), MaxPollingInterval: 300 * time.Millisecond,
		ControlQueueVisibility: 3 * time.Second, Logger: quiet(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	runWorker(t, be, hellocities.Registrations()...)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := c.ScheduleNew(ctx, "HelloCities", "x")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Fatalf("state %+v %v", st, err)
	}
	if n := faults.Injected()[storage.Fault500AfterWrite]; n != 1 {
		t.Fatalf("%d faults injected, want 1", n)
	}
}

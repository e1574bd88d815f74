package azurestorage_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
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

// logBuffer returns a logger that writes everything from INFO on into buf.
func logBuffer(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// runWorkerLogged runs a worker with the registrations until the returned
// function (also a cleanup) is called.
func runWorkerLogged(t *testing.T, be *azurestorage.Backend, log *slog.Logger, regs ...durable.Registrable) (stop func()) {
	t.Helper()
	w := worker.New(be, worker.Options{Logger: log})
	if err := w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// poisonBlobs lists the blob names of the hub's poison container.
func poisonBlobs(t *testing.T, acct *storage.Account, hub string) []string {
	t.Helper()
	bs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	pager := bs.NewListBlobsFlatPager(strings.ToLower(hub)+"-poison", &azblob.ListBlobsFlatOptions{})
	for pager.More() {
		p, err := pager.NextPage(context.Background())
		if err != nil {
			if strings.Contains(err.Error(), "ContainerNotFound") {
				return nil
			}
			t.Fatal(err)
		}
		for _, it := range p.Segment.BlobItems {
			names = append(names, *it.Name)
		}
	}
	return names
}

// receiveAgain receives the message id from q once more, hiding it for a
// second, as a worker that dies while processing it would.
func receiveAgain(t *testing.T, ctx context.Context, q *queues.Queue, id string) *queues.Message {
	t.Helper()
	var got *queues.Message
	waitUntil(t, "message "+id+" to be visible again", 3*time.Minute, func() bool {
		msgs, err := q.Receive(ctx, 32, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID == id {
				got = m
			}
		}
		return got != nil
	})
	return got
}

var waitsForGo = durable.NewOrchestration("WaitsForGo", func(ctx durable.Context, _ string) (string, error) {
	if err := ctx.SetCustomStatus("waiting"); err != nil {
		return "", err
	}
	return durable.WaitForEvent[string](ctx, "Go").Await(ctx)
})

// TestPoisonControlMessageLeavesTheInstanceAsItIs: a control message of a
// live instance that was received five times without being processed (five
// workers died holding it) is quarantined on its sixth receive: copied
// whole to <hub>-poison under the instance, deleted from its queue, logged
// once with its id and the reason, and the instance's status, custom
// status and history are left exactly as they were. Meanwhile the worker
// serves another instance, and the instance still runs when a good event
// comes.
func TestPoisonControlMessageLeavesTheInstanceAsItIs(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logs := &syncbuf.Buffer{}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1,
		MaxPollingInterval: 300 * time.Millisecond, Logger: logBuffer(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	regs := append(hellocities.Registrations(), waitsForGo)
	stop := runWorkerLogged(t, be, logBuffer(logs), regs...)
	c := client.New(be, client.Options{})
	if _, err := c.ScheduleNew(ctx, "WaitsForGo", "x", client.WithInstanceID("victim")); err != nil {
		t.Fatal(err)
	}
	var before *client.State
	waitUntil(t, "the victim to wait", 2*time.Minute, func() bool {
		st, err := c.GetState(ctx, "victim", client.WithInputsAndOutputs(true))
		before = st
		return err == nil && st.Status == client.Running && st.CustomStatus != nil && *st.CustomStatus == `"waiting"`
	})
	histBefore, err := c.History(ctx, "victim", "")
	if err != nil {
		t.Fatal(err)
	}
	stop()

	// The bad message: an event the instance waits for, so that processing
	// it would visibly change the instance.
	qs, _ := acct.QueueService(nil)
	control := queues.NewQueue(qs, be.Resources().ControlQueues[0], nil)
	bad := &queues.MessageData{ActivityID: "5a5a5a5a-0000-0000-0000-000000000001", Sender: &queues.Sender{}, SequenceNumber: 1,
		TaskMessage: &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "victim"},
			Event: &history.EventRaisedEvent{Name: "Go", Input: ptr(`"poisoned"`),
				EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}}}}
	text := queues.EncodeBody(bad, queues.UTF8)
	sent, err := control.Send(ctx, text, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= provider.DefaultMaxDequeueCount; i++ {
		if m := receiveAgain(t, ctx, control, sent.ID); m.DequeueCount != int64(i) {
			t.Fatalf("receive %d: dequeue count %d", i, m.DequeueCount)
		}
	}
	if _, err := c.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID("bystander")); err != nil {
		t.Fatal(err)
	}
	runWorkerLogged(t, be, logBuffer(logs), regs...)

	st, err := c.WaitForCompletion(ctx, "bystander", client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed {
		t.Fatalf("bystander: %+v %v", st, err)
	}
	waitUntil(t, "the quarantine", 2*time.Minute, func() bool {
		return strings.Contains(logs.String(), "poison message quarantined")
	})
	l := logs.String()
	if n := strings.Count(l, "poison message quarantined"); n != 1 {
		t.Errorf("quarantine logged %d times, want once", n)
	}
	if !strings.Contains(l, "message="+sent.ID) || !strings.Contains(l, "received 6 times without being processed") {
		t.Errorf("the quarantine log does not name the message and the reason")
	}
	after, err := c.GetState(ctx, "victim", client.WithInputsAndOutputs(true))
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != before.Status || history.Deref(after.CustomStatus) != history.Deref(before.CustomStatus) ||
		after.Output != nil || !after.LastUpdatedAt.Equal(before.LastUpdatedAt) {
		t.Errorf("the victim's row changed: before %+v, after %+v", before, after)
	}
	if h, _ := c.History(ctx, "victim", ""); len(h) != len(histBefore) {
		t.Errorf("the victim's history changed: %d events, was %d", len(h), len(histBefore))
	}
	want := "instances/victim/quarantined/" + be.Resources().ControlQueues[0] + "/" + sent.ID + ".json.gz"
	if names := poisonBlobs(t, acct, hub); len(names) != 1 || names[0] != want {
		t.Errorf("poison container holds %q, want [%s]", names, want)
	}
	d, err := be.Diagnostics(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Quarantined) != 1 {
		t.Fatalf("diagnostics: %+v", d)
	}
	q := d.Quarantined[0]
	if q.MessageID != sent.ID || q.Body != text || q.DequeueCount != 6 || q.EventType != "EventRaised" || q.Name != "" ||
		q.Queue != be.Resources().ControlQueues[0] || q.InstanceID != "victim" || !strings.Contains(q.Reason, "received 6 times") {
		t.Errorf("quarantine record %+v", q)
	}
	if n, _ := control.ApproximateCount(ctx); n != 0 {
		t.Errorf("%d messages left on the control queue", n)
	}
	// The instance is alive: a good event completes it.
	if err := c.RaiseEvent(ctx, "victim", "Go", "go"); err != nil {
		t.Fatal(err)
	}
	st, err = c.WaitForCompletion(ctx, "victim", client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || history.Deref(st.Output) != `"go"` {
		t.Fatalf("victim: %+v %v", st, err)
	}
}

func ptr[T any](v T) *T { return &v }

var flakyRuns atomic.Int64

var flaky = durable.NewActivity("Flaky", func(_ context.Context, s string) (string, error) {
	flakyRuns.Add(1)
	return "ran " + s, nil
})

var catchesPoison = durable.NewOrchestration("CatchesPoison", func(ctx durable.Context, s string) (string, error) {
	out, err := flaky.Call(ctx, s).Await(ctx)
	var tf *durable.TaskFailedError
	if errors.As(err, &tf) && tf.Failure != nil {
		return "caught " + tf.Failure.ErrorType + ": " + tf.Reason, nil
	}
	return out, err
})

// TestPoisonActivityFailsItsTask: an activity work item received five
// times without being processed (five workers died holding it) is
// quarantined on its sixth receive and its task fails with failure details
// that say so, which the orchestration catches; the activity never runs.
// The work item had been given back before by a worker that lacks the
// activity: that give-back did not count.
func TestPoisonActivityFailsItsTask(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logs := &syncbuf.Buffer{}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1,
		MaxPollingInterval: 300 * time.Millisecond, NoLocalActivities: true, Logger: logBuffer(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := client.New(be, client.Options{})
	flakyRuns.Store(0)
	stop := runWorkerLogged(t, be, logBuffer(logs), catchesPoison)
	if _, err := c.ScheduleNew(ctx, "CatchesPoison", "x", client.WithInstanceID("poisoned-activity")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the activity to be given back", 2*time.Minute, func() bool {
		return strings.Contains(logs.String(), "gave an activity work item back")
	})
	stop()
	qs, _ := acct.QueueService(nil)
	work := queues.NewQueue(qs, be.Resources().WorkItemQueue, nil)
	var id string
	waitUntil(t, "the work item's copy", 2*time.Minute, func() bool {
		msgs, err := work.Receive(ctx, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			id = msgs[0].ID
			if msgs[0].DequeueCount != 1 {
				t.Fatalf("the copy was received %d times", msgs[0].DequeueCount)
			}
		}
		return id != ""
	})
	for i := 2; i <= provider.DefaultMaxDequeueCount; i++ {
		receiveAgain(t, ctx, work, id)
	}
	runWorkerLogged(t, be, logBuffer(logs), catchesPoison, flaky)
	st, err := c.WaitForCompletion(ctx, "poisoned-activity", client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed {
		t.Fatalf("state %+v %v", st, err)
	}
	out := history.Deref(st.Output)
	if !strings.Contains(out, "caught "+provider.PoisonErrorType+": ") || !strings.Contains(out, "quarantined as a poison message") ||
		!strings.Contains(out, "received 6 times") {
		t.Errorf("output %s", out)
	}
	if n := flakyRuns.Load(); n != 0 {
		t.Errorf("the activity ran %d times", n)
	}
	want := "instances/poisoned-activity/quarantined/" + be.Resources().WorkItemQueue + "/" + id + ".json.gz"
	names := poisonBlobs(t, acct, hub)
	if !slices.Contains(names, want) {
		t.Errorf("poison container holds %q, want %s among them", names, want)
	}
	// The quarantine sends the TaskFailed before it deletes the work item
	// and logs: the orchestration can complete before either.
	waitUntil(t, "the quarantine to be logged", 2*time.Minute, func() bool {
		return strings.Contains(logs.String(), "poison message quarantined")
	})
	if l := logs.String(); strings.Count(l, "poison message quarantined") != 1 || !strings.Contains(l, "failedTask=true") ||
		!strings.Contains(l, "message="+id) {
		t.Errorf("the quarantine was not logged once, with the message and the failed task")
	}
	if n, _ := work.ApproximateCount(ctx); n != 0 {
		t.Errorf("%d work items left", n)
	}
}

// TestStorageFailuresDoNotMakePoison: an activity whose result cannot be
// sent four times in a row (the control queue refuses it), on a worker
// that quarantines what it received more than twice, is given back
// uncounted each time, runs again, and completes once the queue takes its
// result: a storage outage never makes a message poison.
func TestStorageFailuresDoNotMakePoison(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logs := &syncbuf.Buffer{}
	control := strings.ToLower(hub) + "-control-00/messages"
	var mu sync.Mutex
	failed := 0
	faults := storage.NewFaultInjector(1, 1, storage.Fault500).Only(func(r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, control) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		failed++
		return failed <= 4
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1,
		MaxPollingInterval: 300 * time.Millisecond, NoLocalResults: true, NoLocalActivities: true, MaxDequeueCount: 2,
		Logger: logBuffer(logs), Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()}, Retry: &policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The client sends its start through a backend without faults.
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(cbe, client.Options{})
	flakyRuns.Store(0)
	runWorkerLogged(t, be, logBuffer(logs), catchesPoison, flaky)
	if _, err := c.ScheduleNew(ctx, "CatchesPoison", "x", client.WithInstanceID("outage")); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, "outage", client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || history.Deref(st.Output) != `"ran x"` {
		t.Fatalf("state %+v %v", st, err)
	}
	if n := flakyRuns.Load(); n != 5 {
		t.Errorf("the activity ran %d times, want 5 (4 results refused, the 5th delivered)", n)
	}
	if names := poisonBlobs(t, acct, hub); len(names) != 0 || strings.Contains(logs.String(), "quarantined") {
		t.Errorf("quarantined: %q", names)
	}
}

var countOnceRuns atomic.Int64

var countOnce = durable.NewActivity("CountOnce", func(_ context.Context, s string) (string, error) {
	countOnceRuns.Add(1)
	return s, nil
})

var callsCountOnce = durable.NewOrchestration("CallsCountOnce", func(ctx durable.Context, s string) (string, error) {
	return countOnce.Call(ctx, s).Await(ctx)
})

// TestCommitRefusedTheSameWayTwiceIsQuarantined: a start message whose
// instance id is empty (no client sends one; a hand-made or corrupted
// message) makes every commit of its episode fail the same way. The
// episode is quarantined after its second failure instead of being run,
// and its activity scheduled, again and again; the log says so once, in one
// line that names the instance, the orchestration and the reason.
func TestCommitRefusedTheSameWayTwiceIsQuarantined(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logs := &syncbuf.Buffer{}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1,
		MaxPollingInterval: 300 * time.Millisecond, Logger: logBuffer(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	qs, _ := acct.QueueService(nil)
	control := queues.NewQueue(qs, be.Resources().ControlQueues[0], nil)
	now := time.Now().UTC()
	start := &queues.MessageData{ActivityID: "5a5a5a5a-0000-0000-0000-000000000002", Sender: &queues.Sender{}, SequenceNumber: 1,
		TaskMessage: &history.TaskMessage{OrchestrationInstance: history.OrchestrationInstance{ExecutionID: "e0000000000000000000000000000001"},
			Event: &history.ExecutionStartedEvent{Name: "CallsCountOnce", Input: ptr(`"x"`),
				OrchestrationInstance: history.OrchestrationInstance{ExecutionID: "e0000000000000000000000000000001"},
				ParentInstance:        &history.ParentInstance{Name: "Parent", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "parent", ExecutionID: "p1"}},
				EventBase:             history.EventBase{EventID: -1, Timestamp: now}}}}
	sent, err := control.Send(ctx, queues.EncodeBody(start, queues.UTF8), 0)
	if err != nil {
		t.Fatal(err)
	}
	countOnceRuns.Store(0)
	runWorkerLogged(t, be, logBuffer(logs), callsCountOnce, countOnce)
	waitUntil(t, "the episode to be quarantined", 3*time.Minute, func() bool {
		return strings.Contains(logs.String(), "episode quarantined")
	})
	l := logs.String()
	var line string
	for _, s := range strings.Split(l, "\n") {
		if strings.Contains(s, "episode quarantined") {
			line = s
		}
	}
	if strings.Count(l, "episode quarantined") != 1 || !strings.Contains(line, `instance=""`) ||
		!strings.Contains(line, "orchestration=CallsCountOnce") ||
		!(strings.Contains(line, "failed the same way twice") || strings.Contains(line, "invalid and can never succeed")) ||
		!strings.Contains(line, "message="+sent.ID) {
		t.Errorf("quarantine line: %s", line)
	}
	want := "no-instance/" + be.Resources().ControlQueues[0] + "/" + sent.ID + ".json.gz"
	if names := poisonBlobs(t, acct, hub); !slices.Contains(names, want) {
		t.Errorf("poison container holds %q, want %s among them", names, want)
	}
	runs := countOnceRuns.Load()
	t.Logf("the activity ran %d times", runs)
	if runs > 2 {
		t.Errorf("the activity ran %d times; a commit that fails the same way twice must stop the episode", runs)
	}
	// Nothing runs any more: once neither queue holds a message (visible
	// or hidden), nothing is left that could run the activity again.
	work := queues.NewQueue(qs, be.Resources().WorkItemQueue, nil)
	azuritetest.WaitFor(t, 2*time.Minute, "the control and work-item queues to be empty", func() (bool, error) {
		c, err := control.ApproximateCount(ctx)
		if err != nil {
			return false, err
		}
		w, err := work.ApproximateCount(ctx)
		return c == 0 && w == 0, err
	})
	if n := countOnceRuns.Load(); n != runs {
		t.Errorf("the activity ran again after the quarantine: %d runs, was %d", n, runs)
	}
}

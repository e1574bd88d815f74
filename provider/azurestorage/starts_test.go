package azurestorage_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// startRuns counts the runs of startsActivity by its input.
var startRuns sync.Map

func runsOf(key string) *atomic.Int32 {
	v, _ := startRuns.LoadOrStore(key, new(atomic.Int32))
	return v.(*atomic.Int32)
}

var startsActivity = durable.NewActivity("StartsCount", func(_ context.Context, key string) (string, error) {
	runsOf(key).Add(1)
	return "ran " + key, nil
})

// startsOrchestration runs startsActivity once with its input.
var startsOrchestration = durable.NewOrchestration("StartsOnce", func(ctx durable.Context, key string) (string, error) {
	return startsActivity.Call(ctx, key).Await(ctx)
})

// startsHub is a one-partition hub with its backend, created.
type startsHub struct {
	t    *testing.T
	hub  string
	acct *storage.Account
	be   *azurestorage.Backend
	c    *client.Client
	ctx  context.Context
}

func newStartsHub(t *testing.T, clientOpts *storage.ClientOptions) *startsHub {
	t.Helper()
	h := &startsHub{t: t, hub: azuritetest.NewHub(t), acct: azuritetest.Account(t)}
	h.be = h.backend("client", clientOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	h.ctx = ctx
	if err := h.be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	h.c = client.New(h.be, client.Options{})
	return h
}

func (h *startsHub) backend(workerID string, co *storage.ClientOptions) *azurestorage.Backend {
	h.t.Helper()
	be, err := azurestorage.New(azurestorage.Options{TaskHub: h.hub, Account: h.acct, Partitions: 1, WorkerID: workerID,
		MaxPollingInterval: 500 * time.Millisecond, Client: co, Logger: quiet()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	return be
}

// worker runs a worker of StartsOnce on a backend of its own (wrapped by
// wrap, if set) until the test ends.
func (h *startsHub) worker(wrap func(*azurestorage.Backend) provider.Backend) {
	h.t.Helper()
	var be provider.Backend = h.backend("starts-worker", nil)
	if wrap != nil {
		be = wrap(be.(*azurestorage.Backend))
	}
	w := worker.New(be, worker.Options{Logger: quiet()})
	if err := w.Register(startsOrchestration, startsActivity); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// messages counts the messages of the control queue and the work-item
// queue, hidden ones included.
func (h *startsHub) messages() int {
	h.t.Helper()
	qs, err := h.acct.QueueService(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, name := range []string{h.be.Resources().ControlQueues[0], h.be.Resources().WorkItemQueue} {
		c, err := queues.NewQueue(qs, name, nil).ApproximateCount(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		n += c
	}
	return n
}

func (h *startsHub) waitDone(id string) *client.State {
	h.t.Helper()
	st, err := h.c.WaitForCompletion(h.ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		h.t.Fatalf("waiting for %s: %v", id, err)
	}
	return st
}

// TestInvalidStartsSendNothing: a start that storage would refuse (here:
// instance ids whose escaped PartitionKey is over 512 UTF-16 units, or
// that are empty or not UTF-8) is refused with ErrInvalid before anything
// is written, by the backend as by the client; an id of exactly 512 units
// is accepted.
func TestInvalidStartsSendNothing(t *testing.T) {
	h := newStartsHub(t, nil)
	start := func(id string) *history.TaskMessage {
		inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: "0123456789abcdef0123456789abcdef"}
		return &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{
			OrchestrationInstance: inst, Name: startsOrchestration.Name(), EventBase: history.EventBase{EventID: -1}}}
	}
	bad := map[string]string{
		"600 characters":             strings.Repeat("a", 600),
		"300 slashes (600 escaped)":  strings.Repeat("/", 300),
		"511 characters and a slash": strings.Repeat("a", 511) + "/",
		"empty":                      "",
		"invalid UTF-8":              "id-\xff",
		"300 control characters":     strings.Repeat("\x01", 300),
	}
	for what, id := range bad {
		if err := h.be.CreateInstance(h.ctx, start(id), nil); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("backend start, %s: %v, want ErrInvalid", what, err)
		}
		if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), "x", client.WithInstanceID(id)); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("client start, %s: %v, want ErrInvalid", what, err)
		}
		if err := h.c.RaiseEvent(h.ctx, id, "E", 1); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("raise, %s: %v, want ErrInvalid", what, err)
		}
	}
	if n := h.messages(); n != 0 {
		t.Fatalf("refused starts left %d messages behind", n)
	}
	if p, err := h.c.QueryPage(h.ctx, client.Query{}, ""); err != nil || len(p.States) != 0 {
		t.Fatalf("refused starts left rows: %v %v", p, err)
	}

	longest := strings.Repeat("a", 511) + "é"
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), "x", client.WithInstanceID(longest)); err != nil {
		t.Fatalf("an id of 512 units: %v", err)
	}
	if st, err := h.c.GetState(h.ctx, longest); err != nil || st.Status != client.Pending {
		t.Fatalf("an id of 512 units: %+v %v", st, err)
	}
}

// commitWatch records the errors of a backend's commits.
type commitWatch struct {
	*azurestorage.Backend
	mu     sync.Mutex
	failed []error
}

func (c *commitWatch) CompleteOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult) error {
	err := c.Backend.CompleteOrchestration(ctx, wi, r)
	if err != nil {
		c.mu.Lock()
		c.failed = append(c.failed, err)
		c.mu.Unlock()
	}
	return err
}

func (c *commitWatch) failures() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.failed...)
}

// TestEmptyInstanceIDRunsNothing: a start message for the empty instance
// id, as another client could send it (here a sub-orchestration start,
// which no Instances row gates), reaches a worker. No History write can
// succeed for it, so its commit is refused with ErrInvalid before its
// outbound messages are sent: however often it is retried, its activity
// never runs.
func TestEmptyInstanceIDRunsNothing(t *testing.T) {
	h := newStartsHub(t, nil)
	key := "empty-" + h.hub
	in := `"` + key + `"`
	inst := history.OrchestrationInstance{InstanceID: "", ExecutionID: "0123456789abcdef0123456789abcdef"}
	es := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: startsOrchestration.Name(), Input: &in,
		ParentInstance: &history.ParentInstance{Name: "Parent", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "parent", ExecutionID: "p1"}},
		EventBase:      history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}}
	msg := &queues.MessageData{ActivityID: "8d7a9f0e-0000-4000-8000-000000000009", Sender: &queues.Sender{InstanceID: "parent", ExecutionID: "p1"},
		TaskMessage: &history.TaskMessage{Event: es, OrchestrationInstance: inst}}
	qs, _ := h.acct.QueueService(nil)
	if _, err := queues.NewQueue(qs, h.be.Resources().ControlQueues[0], nil).Send(h.ctx, queues.EncodeBody(msg, queues.UTF8), 0); err != nil {
		t.Fatal(err)
	}
	var watch *commitWatch
	h.worker(func(be *azurestorage.Backend) provider.Backend { watch = &commitWatch{Backend: be}; return watch })
	// Two refused commits (the second one after the retry), or one and
	// the message gone (quarantined instead of retried).
	waitUntil(t, "the start's commit to be refused twice", 3*time.Minute, func() bool {
		n := len(watch.failures())
		return n >= 2 || (n == 1 && h.messages() == 0)
	})
	for _, err := range watch.failures() {
		if !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("commit failed with %v, want ErrInvalid", err)
		}
	}
	if n := runsOf(key).Load(); n != 0 {
		t.Fatalf("the activity of a start whose commit cannot succeed ran %d times", n)
	}
	qs2, _ := h.acct.QueueService(nil)
	if n, err := queues.NewQueue(qs2, h.be.Resources().WorkItemQueue, nil).ApproximateCount(h.ctx); err != nil || n != 0 {
		t.Fatalf("%d activity messages sent (%v)", n, err)
	}
}

// onFirst runs f once, before the first request that match accepts.
type onFirst struct {
	match func(*http.Request) bool
	f     func()
	done  atomic.Bool
}

func (o *onFirst) Do(req *policy.Request) (*http.Response, error) {
	if o.match(req.Raw()) && o.done.CompareAndSwap(false, true) {
		o.f()
	}
	return req.Next()
}

// TestStartRacingPurgeLeavesNothing: a start of a finished id reads its
// Instances row and sends its message; a purge deletes the row before the
// start replaces it. The start is decided again (now there is no row) and
// runs once; the message of the lost attempt is not left behind.
func TestStartRacingPurgeLeavesNothing(t *testing.T) {
	var purgeBE *azurestorage.Backend
	purged := make(chan error, 1)
	purger := &onFirst{
		match: func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "Instances(") && r.Header.Get("If-Match") != ""
		},
		f: func() {
			_, err := purgeBE.Purge(context.Background(), "raced")
			purged <- err
		},
	}
	h := newStartsHub(t, &storage.ClientOptions{PerRetryPolicies: []policy.Policy{purger}})
	purgeBE = h.backend("purger", nil)
	h.worker(nil)
	key := "purge-" + h.hub
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID("raced")); err != nil {
		t.Fatal(err)
	}
	if st := h.waitDone("raced"); st.Status != client.Completed {
		t.Fatalf("first run: %s", st.Status)
	}
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID("raced")); err != nil {
		t.Fatalf("a start that raced a purge: %v", err)
	}
	select {
	case err := <-purged:
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
	default:
		t.Fatal("the purge did not run between the start's read and its row write")
	}
	st := h.waitDone("raced")
	if st.Status != client.Completed || st.Generation == nil || *st.Generation != 0 {
		t.Fatalf("the start after the purge: %s, generation %v", st.Status, st.Generation)
	}
	waitUntil(t, "the queues to empty", 2*time.Minute, func() bool { return h.messages() == 0 })
	if n := runsOf(key).Load(); n != 2 {
		t.Fatalf("the activity ran %d times for two starts", n)
	}
}

// TestConcurrentStartsOneWins: of 40 concurrent starts of one id exactly
// one succeeds; the others get ErrInstanceExists, the instance runs once,
// and no message of the losers is left behind. The worker starts after the
// starts: an instance that has already completed may be started again.
func TestConcurrentStartsOneWins(t *testing.T) {
	h := newStartsHub(t, nil)
	key := "race-" + h.hub
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, errs[i] = h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID("contested"))
		}()
	}
	close(gate)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, client.ErrInstanceExists):
			t.Errorf("a losing start: %v, want ErrInstanceExists", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent starts succeeded, want 1", won, n)
	}
	h.worker(nil)
	if st := h.waitDone("contested"); st.Status != client.Completed {
		t.Fatalf("status %s", st.Status)
	}
	waitUntil(t, "the queues to empty", 2*time.Minute, func() bool { return h.messages() == 0 })
	if got := runsOf(key).Load(); got != 1 {
		t.Fatalf("the activity ran %d times", got)
	}
}

// TestTerminateBeforeScheduledStartSticks: an instance scheduled a minute
// ahead and terminated at once stays Terminated: when its start message
// becomes visible it is dropped, writes no history and runs nothing (C#
// runs it and the instance ends Completed).
func TestTerminateBeforeScheduledStartSticks(t *testing.T) {
	t.Parallel()
	h := newStartsHub(t, nil)
	h.worker(nil)
	key := "scheduled-" + h.hub
	at := time.Now().Add(time.Minute)
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID("later"), client.WithStartAt(at)); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Terminate(h.ctx, "later", "not wanted"); err != nil {
		t.Fatal(err)
	}
	if st := h.waitDone("later"); st.Status != client.Terminated {
		t.Fatalf("after the terminate: %s", st.Status)
	}
	// The start becomes visible a minute later and is consumed.
	waitUntil(t, "the start message to be consumed", 4*time.Minute, func() bool { return h.messages() == 0 })
	// Queue delays are whole seconds, truncated: a message may show up to
	// a second early.
	if time.Now().Before(at.Add(-2 * time.Second)) {
		t.Fatal("the start message left its queue before its time")
	}
	st, err := h.c.GetState(h.ctx, "later")
	if err != nil || st.Status != client.Terminated || st.Output == nil || *st.Output != "not wanted" {
		t.Fatalf("after the start's time: %+v %v", st, err)
	}
	if ev, err := h.c.History(h.ctx, "later", ""); err != nil || len(ev) != 0 {
		t.Fatalf("history written: %d events, %v", len(ev), err)
	}
	if n := runsOf(key).Load(); n != 0 {
		t.Fatalf("the activity of a terminated instance ran %d times", n)
	}
}

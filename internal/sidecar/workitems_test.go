package sidecar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sdkFixture is a sidecar without a Go worker, for SDK workers.
func sdkFixture(t *testing.T, be provider.Backend, hub string, configure ...func(*sidecar.Options)) *fixture {
	t.Helper()
	return newFixture(t, be, hub, false, append([]func(*sidecar.Options){func(o *sidecar.Options) {
		o.IdleRelease = time.Second
		o.DisconnectGrace = 2 * time.Second
	}}, configure...)...)
}

// waitFor waits (bounded by stepTimeout) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	azuritetest.WaitFor(t, stepTimeout, what, func() (bool, error) { return cond(), nil })
}

func eventTypes(events []history.Event) string {
	var s []string
	for _, ev := range events {
		s = append(s, ev.Type().String())
	}
	return strings.Join(s, " ")
}

// An SDK worker runs an orchestration and its activities; the history is
// what C# stores, and every work item carries all past events.
func testSDKChain(t *testing.T, be provider.Backend, hub string) {
	f := sdkFixture(t, be, hub)
	w := connectSDK(t, "w1", f.addr, nil, orchestrations, echo)
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "chain-1", Name: "Chain", Input: str(`"a"`)})
	st := f.complete(t, id)
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED || st.GetOutput().GetValue() != `"a"!!` {
		t.Fatalf("chain: %v", st)
	}
	events, err := be.History(ctxFor(t), id, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "ExecutionStarted OrchestratorStarted TaskScheduled OrchestratorCompleted OrchestratorStarted TaskCompleted TaskScheduled OrchestratorCompleted OrchestratorStarted TaskCompleted ExecutionCompleted OrchestratorCompleted"
	if got := eventTypes(events); strings.ReplaceAll(got, "OrchestratorStarted ExecutionStarted", "ExecutionStarted OrchestratorStarted") != want {
		t.Errorf("history %s", got)
	}
	for _, ev := range events {
		if ts, ok := ev.(*history.TaskScheduledEvent); ok && (ts.Input != nil || ts.Name != "Echo" || ts.EventID < 1) {
			t.Errorf("stored TaskScheduled %+v: C# stores it without its input", ts)
		}
	}
	// The last work item carried every past event of the execution.
	var last *pb.OrchestratorRequest
	for _, wi := range w.received() {
		if r := wi.GetOrchestratorRequest(); r != nil {
			last = r
		}
	}
	if last == nil || len(last.GetPastEvents()) != 8 || last.GetPastEvents()[0].GetOrchestratorStarted() == nil && last.GetPastEvents()[0].GetExecutionStarted() == nil {
		t.Errorf("the last orchestrator work item's past events: %d", len(last.GetPastEvents()))
	}
	if last.GetExecutionId().GetValue() == "" || last.GetNewEvents()[0].GetOrchestratorStarted() == nil {
		t.Errorf("the last work item: execution %q, new events %v", last.GetExecutionId().GetValue(), last.GetNewEvents())
	}
	// Activities got the input the orchestration sent, as sent.
	for _, wi := range w.received() {
		if r := wi.GetActivityRequest(); r != nil && (r.GetOrchestrationInstance().GetInstanceId() != id || r.GetTaskId() < 1) {
			t.Errorf("activity request %v", r)
		}
	}
	if len(w.answerErrs) > 0 {
		t.Errorf("answers refused: %v", w.answerErrs)
	}
	// The sidecar counts an episode once its commit returned (after the
	// row the client saw is written and the consumed messages deleted),
	// and an activity once its result was sent: wait for the counts.
	waitFor(t, "3 episodes and 2 activities to be counted", func() bool {
		return f.srv.Stats().Episodes.Load() >= 3 && f.srv.Stats().Activities.Load() >= 2
	})
	if f.srv.Stats().Episodes.Load() != 3 || f.srv.Stats().Activities.Load() != 2 {
		t.Errorf("episodes %d, activities %d", f.srv.Stats().Episodes.Load(), f.srv.Stats().Activities.Load())
	}
}

func TestSDKWorkerMemory(t *testing.T) {
	be, hub := memoryBackend(t)
	testSDKChain(t, be, hub)
}

func TestSDKWorkerAzurite(t *testing.T) {
	be, hub := azuriteBackend(t)
	testSDKChain(t, be, hub)
}

// The sidecar bounds the work items in flight at a worker that sets no
// limits (as the JavaScript SDK): 10 activities by default; a worker's
// own limit wins.
func TestWorkerLimits(t *testing.T) {
	for _, c := range []struct {
		name  string
		req   *pb.GetWorkItemsRequest
		limit int
	}{
		{"default", &pb.GetWorkItemsRequest{}, sidecar.DefaultMaxActivitiesPerWorker},
		{"own", &pb.GetWorkItemsRequest{MaxConcurrentActivityWorkItems: 3}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			be, hub := memoryBackend(t)
			f := sdkFixture(t, be, hub)
			release := make(chan struct{})
			w := connectSDK(t, "w", f.addr, c.req, orchestrations, func(r *pb.ActivityRequest) (string, error) {
				<-release
				return echo(r)
			})
			id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "fan-" + c.name, Name: "FanOut", Input: str("25")})
			waitFor(t, "the worker's limit of activities in flight", func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return w.inFlight[1] == c.limit
			})
			// Every activity of the fan-out is on the queue: a sidecar that
			// ignored the limit has more to send while the worker holds these.
			waitFor(t, "the fan-out's activities on the queue", func() bool {
				return be.(*memory.Backend).Stats().ActivityMessages == 25
			})
			waitFor(t, "the worker's limit of activities still in flight", func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return w.inFlight[1] == c.limit
			})
			close(release)
			if st := f.complete(t, id); st.GetOutput().GetValue() != "25" {
				t.Fatalf("fan-out: %v", st)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.maxInFlight[1] != c.limit {
				t.Errorf("at most %d activities in flight, want %d", w.maxInFlight[1], c.limit)
			}
		})
	}
}

// Work items go to the workers whose filters accept them; one that no
// connected worker accepts is given back with the reason, and runs once
// a worker that hosts it connects. Two workers share the work.
func TestWorkItemFilters(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	chainOnly := &pb.GetWorkItemsRequest{WorkItemFilters: &pb.WorkItemFilters{
		Orchestrations: []*pb.OrchestrationFilter{{Name: "Chain"}}, Activities: []*pb.ActivityFilter{{Name: "Echo"}}}}
	w1 := connectSDK(t, "w1", f.addr, chainOnly, orchestrations, echo)
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "filtered-fan", Name: "FanOut", Input: str("4")})
	chain := f.start(t, &pb.CreateInstanceRequest{InstanceId: "filtered-chain", Name: "Chain", Input: str("c")})
	f.complete(t, chain)
	waitFor(t, "the fan-out to be given back", func() bool { return f.srv.Stats().GivenBack.Load() > 0 })
	if st := f.get(t, "filtered-fan", false).GetOrchestrationState(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING {
		t.Fatalf("an instance no worker hosts: %v", st)
	}
	for _, wi := range w1.received() {
		if r := wi.GetOrchestratorRequest(); r != nil && r.GetInstanceId() == "filtered-fan" {
			t.Fatal("a filtered worker received an orchestration it does not host")
		}
	}
	connectSDK(t, "w2", f.addr, &pb.GetWorkItemsRequest{WorkItemFilters: &pb.WorkItemFilters{
		Orchestrations: []*pb.OrchestrationFilter{{Name: "FanOut", Versions: []string{""}}}, Activities: []*pb.ActivityFilter{{Name: "Echo"}}}},
		orchestrations, echo)
	if st := f.complete(t, "filtered-fan"); st.GetOutput().GetValue() != "4" {
		t.Fatalf("fan-out: %v", st)
	}
}

// A worker that goes away holding work items loses them to the next
// worker, and its late answers are refused; one that cancels its stream
// but keeps its connection may still answer what it holds.
func TestDisconnectedWorker(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	w1 := connectSDK(t, "w1", f.addr, nil, orchestrations, echo)
	w1.hold = func(*pb.WorkItem) bool { return true }
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "lost-1", Name: "Chain", Input: str("x")})
	waitFor(t, "the first worker to hold the work item", func() bool { return len(w1.received()) == 1 })
	held := w1.received()[0]
	w1.close()
	connectSDK(t, "w2", f.addr, nil, orchestrations, echo)
	if st := f.complete(t, id); st.GetOutput().GetValue() != "x!!" {
		t.Fatalf("after the first worker went away: %v", st)
	}
	_, err := f.client.CompleteOrchestratorTask(ctxFor(t), &pb.OrchestratorResponse{InstanceId: id,
		CompletionToken: held.GetCompletionToken(), Actions: orchestrations(viewOf(held.GetOrchestratorRequest()))})
	if status.Code(err) != codes.NotFound {
		t.Errorf("a late answer of a worker that went away: %v", err)
	}

}

// An SDK worker that stops gracefully cancels its stream first and then
// answers what it holds on the same connection: the answer counts.
func TestGracefulWorkerStop(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub, func(o *sidecar.Options) { o.DisconnectGrace = time.Minute })
	w := connectSDK(t, "w", f.addr, nil, orchestrations, echo)
	w.hold = func(*pb.WorkItem) bool { return true }
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "graceful-1", Name: "Chain", Input: str("g")})
	waitFor(t, "the worker to hold the work item", func() bool { return len(w.received()) == 1 })
	w.cancelStream()
	w.answer(w.received()[0], 0)
	if len(w.answerErrs) > 0 {
		t.Fatalf("the answer after the stream ended: %v", w.answerErrs)
	}
	connectSDK(t, "w2", f.addr, nil, orchestrations, echo)
	if st := f.complete(t, id); st.GetOutput().GetValue() != "g!!" {
		t.Fatalf("chain: %v", st)
	}
	if n := f.srv.Stats().Abandoned.Load(); n != 0 {
		t.Errorf("%d work items abandoned", n)
	}
}

// Completion tokens are checked: unknown, of another kind, for another
// instance.
func TestCompletionTokens(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	w := connectSDK(t, "w", f.addr, nil, orchestrations, echo)
	w.hold = func(*pb.WorkItem) bool { return true }
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "tokens-1", Name: "Chain", Input: str("t")})
	waitFor(t, "the work item", func() bool { return len(w.received()) == 1 })
	token := w.received()[0].GetCompletionToken()
	ctx := ctxFor(t)
	for name, err := range map[string]error{
		"empty":      second(f.client.CompleteOrchestratorTask(ctx, &pb.OrchestratorResponse{InstanceId: "tokens-1"})),
		"unknown":    second(f.client.CompleteOrchestratorTask(ctx, &pb.OrchestratorResponse{InstanceId: "tokens-1", CompletionToken: "00"})),
		"kind":       second(f.client.CompleteActivityTask(ctx, &pb.ActivityResponse{InstanceId: "tokens-1", CompletionToken: token})),
		"instance":   second(f.client.CompleteOrchestratorTask(ctx, &pb.OrchestratorResponse{InstanceId: "other", CompletionToken: token})),
		"abandonAct": second(f.client.AbandonTaskActivityWorkItem(ctx, &pb.AbandonActivityTaskRequest{CompletionToken: token})),
	} {
		want := codes.InvalidArgument
		if name == "unknown" {
			want = codes.NotFound
		}
		if status.Code(err) != want {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Abandoned: the work item comes again, and is answered then.
	if _, err := f.client.AbandonTaskOrchestratorWorkItem(ctx, &pb.AbandonOrchestrationTaskRequest{CompletionToken: token}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.hold = nil
	w.mu.Unlock()
	if st := f.complete(t, "tokens-1"); st.GetOutput().GetValue() != "t!!" {
		t.Fatalf("after an abandon: %v", st)
	}
}

// Continue-as-new generations run in one work item; recursive terminate
// reaches the children; an answer the sidecar cannot commit fails the
// instance; an executor failure without a task id fails it too.
func TestEpisodeShapes(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	connectSDK(t, "w", f.addr, nil, orchestrations, echo)

	if st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "counter", Name: "Counter", Input: str("0")})); st.GetOutput().GetValue() != "3" {
		t.Errorf("continue-as-new: %v", st)
	}
	events, err := be.History(ctxFor(t), "counter", "")
	if err != nil || !strings.Contains(eventTypes(events), "ExecutionCompleted") || strings.Contains(eventTypes(events), "ContinueAsNew") {
		t.Errorf("continue-as-new history: %v %v", eventTypes(events), err)
	}

	f.start(t, &pb.CreateInstanceRequest{InstanceId: "p1", Name: "Parent", Input: str("p1-child")})
	f.waitStatus(t, "p1-child", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "p1", Output: str(`"stop"`), Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if st := f.complete(t, "p1"); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED || st.GetOutput().GetValue() != `"stop"` {
		t.Errorf("terminated parent: %v", st)
	}
	if st := f.complete(t, "p1-child"); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED {
		t.Errorf("the child of a recursive terminate: %v", st)
	}

	f.start(t, &pb.CreateInstanceRequest{InstanceId: "p2", Name: "Parent", Input: str("p2-child")})
	f.waitStatus(t, "p2-child", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.RaiseEvent(ctxFor(t), &pb.RaiseEventRequest{InstanceId: "p2-child", Name: "go", Input: str(`"ok"`)}); err != nil {
		t.Fatal(err)
	}
	if st := f.complete(t, "p2"); st.GetOutput().GetValue() != `parent:"ok"` {
		t.Errorf("a parent of a completed child: %v", st)
	}

	st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "entity", Name: "Entity"}))
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED ||
		st.GetFailureDetails().GetErrorType() != "azdurable.InvalidWorkerAnswer" || !strings.Contains(st.GetFailureDetails().GetErrorMessage(), "sendEntityMessage #1 has no message") {
		t.Errorf("an answer with an entity action without a message: %v", st)
	}
	st = f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "throws", Name: "Throws"}))
	if fd := st.GetFailureDetails(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED ||
		fd.GetErrorType() != "TypeError" || fd.GetErrorMessage() != "x is undefined" || fd.GetStackTrace().GetValue() != "at f (app.js:1)" {
		t.Errorf("an executor failure: %v", st)
	}
}

// A timer beyond what a queue can delay fails the instance with the
// reason instead of failing its commit for ever.
func TestTimerTooFarAhead(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	far := timestamppb.New(time.Now().Add(30 * 24 * time.Hour))
	connectSDK(t, "w", f.addr, nil, func(v *view) []*pb.OrchestratorAction {
		if v.ended() {
			return nil
		}
		return []*pb.OrchestratorAction{timerAt(1, far)}
	}, echo)
	st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "far", Name: "Far"}))
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED || !strings.Contains(st.GetFailureDetails().GetErrorMessage(), "timer") {
		t.Errorf("a timer 30 days ahead: %v", st)
	}
}

// A sidecar that runs a Go worker refuses SDK workers.
func TestGoWorkerRefusesSDKWorkers(t *testing.T) {
	be, hub := memoryBackend(t)
	f := newFixture(t, be, hub, true)
	stream, err := f.client.GetWorkItems(ctxFor(t), &pb.GetWorkItemsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("GetWorkItems beside a Go worker: %v", err)
	}
}

// An idle stream gets health pings.
func TestHealthPings(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub, func(o *sidecar.Options) { o.HealthPingInterval = 20 * time.Millisecond })
	w := connectSDK(t, "w", f.addr, nil, orchestrations, echo)
	waitFor(t, "health pings", func() bool { return w.pings.Load() >= 2 })
}

// The sidecar's stop lets the workers answer what they hold, and
// releases the partitions after the last worker left.
func TestStopWithWorkInFlight(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub, func(o *sidecar.Options) { o.ShutdownGrace = time.Minute })
	release := make(chan struct{})
	connectSDK(t, "w", f.addr, nil, orchestrations, func(r *pb.ActivityRequest) (string, error) {
		<-release
		return echo(r)
	})
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "stop-chain", Name: "Chain", Input: str("s")})
	waitFor(t, "the activity to run", func() bool {
		events, _ := be.History(context.Background(), "stop-chain", "")
		return strings.Contains(eventTypes(events), "TaskScheduled")
	})
	closed := make(chan struct{})
	go func() { f.srv.Close(); close(closed) }()
	waitFor(t, "the stop to begin", f.srv.Stopping)
	close(release)
	<-closed
	if n := f.srv.Stats().Activities.Load(); n != 1 {
		t.Errorf("the activity answered during the stop was not reported (%d)", n)
	}
}

// The sidecar releases the partitions when its last worker has gone, and
// takes part again when a worker connects: the backend starts anew.
func TestReconnectAfterRelease(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := sdkFixture(t, be, hub)
	w := connectSDK(t, "w1", f.addr, nil, orchestrations, echo)
	if st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "again-1", Name: "Chain", Input: str("a")})); st.GetOutput().GetValue() != "a!!" {
		t.Fatalf("first chain: %v", st)
	}
	w.close()
	waitFor(t, "the partitions to be released", func() bool { return f.srv.Stats().Releases.Load() == 1 })
	connectSDK(t, "w2", f.addr, nil, orchestrations, echo)
	if st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "again-2", Name: "Chain", Input: str("b")})); st.GetOutput().GetValue() != "b!!" {
		t.Fatalf("after the release: %v", st)
	}
}

package sidecar_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeSDK stands in for an SDK worker, written after what the JavaScript
// SDK does: it opens GetWorkItems on its own connection and answers each
// work item from a goroutine of its own (no limit of its own), with
// CompleteOrchestratorTask or CompleteActivityTask on that connection.
// Its orchestrations are functions of the work item's events (an SDK
// replays them; these read them), see view.
type fakeSDK struct {
	t      *testing.T
	name   string
	conn   *grpc.ClientConn
	client pb.TaskHubSidecarServiceClient
	stop   context.CancelFunc
	done   chan struct{}

	orch func(*view) []*pb.OrchestratorAction
	act  func(*pb.ActivityRequest) (string, error)
	// ent runs entity batches (nil: the worker hosts no entity and
	// answers as the JavaScript SDK does, EntityTaskNotFound).
	ent func(*pb.EntityBatchRequest) *pb.EntityBatchResult
	// hold, when it returns true, keeps a work item unanswered.
	hold func(*pb.WorkItem) bool

	mu          sync.Mutex
	items       []*pb.WorkItem
	inFlight    [3]int
	maxInFlight [3]int
	pings       atomic.Int64
	answerErrs  []error
}

// connectSDK connects a fake worker to the sidecar at addr.
func connectSDK(t *testing.T, name, addr string, req *pb.GetWorkItemsRequest, orch func(*view) []*pb.OrchestratorAction,
	act func(*pb.ActivityRequest) (string, error)) *fakeSDK {
	t.Helper()
	return connectEntitySDK(t, name, addr, req, orch, act, nil, nil)
}

// connectEntitySDK connects a fake worker that also runs entity batches
// with ent; hold, when set, keeps the work items it returns true for.
func connectEntitySDK(t *testing.T, name, addr string, req *pb.GetWorkItemsRequest, orch func(*view) []*pb.OrchestratorAction,
	act func(*pb.ActivityRequest) (string, error), ent func(*pb.EntityBatchRequest) *pb.EntityBatchResult,
	hold func(*pb.WorkItem) bool) *fakeSDK {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeSDK{t: t, name: name, conn: conn, client: pb.NewTaskHubSidecarServiceClient(conn), stop: cancel,
		done: make(chan struct{}), orch: orch, act: act, ent: ent, hold: hold}
	if req == nil {
		req = &pb.GetWorkItemsRequest{}
	}
	stream, err := f.client.GetWorkItems(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(f.done)
		for {
			wi, err := stream.Recv()
			if err != nil {
				return
			}
			if wi.GetHealthPing() != nil {
				f.pings.Add(1)
				continue
			}
			f.mu.Lock()
			f.items = append(f.items, wi)
			k := 0
			switch {
			case wi.GetActivityRequest() != nil:
				k = 1
			case wi.GetEntityRequest() != nil:
				k = 2
			}
			f.inFlight[k]++
			f.maxInFlight[k] = max(f.maxInFlight[k], f.inFlight[k])
			hold := f.hold != nil && f.hold(wi)
			f.mu.Unlock()
			if !hold {
				go f.answer(wi, k)
			}
		}
	}()
	t.Cleanup(f.close)
	return f
}

// close cancels the stream and closes the connection, as a worker process
// that dies.
func (f *fakeSDK) close() {
	f.stop()
	f.conn.Close()
	<-f.done
}

// cancelStream cancels the stream only, as an SDK worker that stops
// gracefully does first.
func (f *fakeSDK) cancelStream() {
	f.stop()
	<-f.done
}

func (f *fakeSDK) answer(wi *pb.WorkItem, k int) {
	// The work item counts as in flight until its answer is ready, and no
	// longer once it goes out: the sidecar may send the next work item as
	// soon as it has the answer.
	var send func() error
	if req := wi.GetOrchestratorRequest(); req != nil {
		resp := &pb.OrchestratorResponse{InstanceId: req.GetInstanceId(), CompletionToken: wi.GetCompletionToken(),
			Actions: f.orch(viewOf(req))}
		send = func() error { _, err := f.client.CompleteOrchestratorTask(context.Background(), resp); return err }
	} else if req := wi.GetEntityRequest(); req != nil {
		var resp *pb.EntityBatchResult
		if f.ent != nil {
			resp = f.ent(req)
		} else {
			resp = &pb.EntityBatchResult{EntityState: req.GetEntityState()}
			for range req.GetOperations() {
				resp.Results = append(resp.Results, &pb.OperationResult{ResultType: &pb.OperationResult_Failure{Failure: &pb.OperationResultFailure{
					FailureDetails: &pb.TaskFailureDetails{ErrorType: "EntityTaskNotFound", ErrorMessage: "No entity task named it was found.", IsNonRetriable: true}}}})
			}
		}
		resp.CompletionToken = wi.GetCompletionToken()
		send = func() error { _, err := f.client.CompleteEntityTask(context.Background(), resp); return err }
	} else {
		req := wi.GetActivityRequest()
		resp := &pb.ActivityResponse{InstanceId: req.GetOrchestrationInstance().GetInstanceId(), TaskId: req.GetTaskId(),
			CompletionToken: wi.GetCompletionToken()}
		if out, aerr := f.act(req); aerr != nil {
			resp.FailureDetails = &pb.TaskFailureDetails{ErrorType: "Error", ErrorMessage: aerr.Error()}
		} else {
			resp.Result = str(out)
		}
		send = func() error { _, err := f.client.CompleteActivityTask(context.Background(), resp); return err }
	}
	f.mu.Lock()
	f.inFlight[k]--
	f.mu.Unlock()
	err := send()
	f.mu.Lock()
	if err != nil {
		f.answerErrs = append(f.answerErrs, err)
	}
	f.mu.Unlock()
}

// received returns the work items received so far.
func (f *fakeSDK) received() []*pb.WorkItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.WorkItem(nil), f.items...)
}

// view is what a fake orchestration reads of a work item: an SDK's
// replay, reduced to what the tests need.
type view struct {
	req        *pb.OrchestratorRequest
	name       string
	input      string
	scheduled  map[int32]bool
	results    map[int32]string
	failures   map[int32]string
	events     map[string][]string
	terminated *pb.ExecutionTerminatedEvent
	next       int32
	// The entity events: results and failures of calls by request id,
	// granted locks by critical section id.
	entityResults  map[string]string
	entityFailures map[string]string
	granted        map[string]bool
}

func viewOf(req *pb.OrchestratorRequest) *view {
	v := &view{req: req, scheduled: map[int32]bool{}, results: map[int32]string{}, failures: map[int32]string{},
		events: map[string][]string{}, next: 1, entityResults: map[string]string{}, entityFailures: map[string]string{},
		granted: map[string]bool{}}
	for _, ev := range append(append([]*pb.HistoryEvent(nil), req.GetPastEvents()...), req.GetNewEvents()...) {
		switch {
		case ev.GetExecutionStarted() != nil:
			v.name, v.input = ev.GetExecutionStarted().GetName(), ev.GetExecutionStarted().GetInput().GetValue()
		case ev.GetTaskScheduled() != nil, ev.GetTimerCreated() != nil, ev.GetSubOrchestrationInstanceCreated() != nil, ev.GetEventSent() != nil,
			ev.GetEntityOperationCalled() != nil, ev.GetEntityOperationSignaled() != nil, ev.GetEntityLockRequested() != nil,
			ev.GetEntityUnlockSent() != nil:
			v.scheduled[ev.GetEventId()] = true
			v.next = max(v.next, ev.GetEventId()+1)
		case ev.GetTaskCompleted() != nil:
			v.results[ev.GetTaskCompleted().GetTaskScheduledId()] = ev.GetTaskCompleted().GetResult().GetValue()
		case ev.GetTaskFailed() != nil:
			v.failures[ev.GetTaskFailed().GetTaskScheduledId()] = ev.GetTaskFailed().GetFailureDetails().GetErrorMessage()
		case ev.GetSubOrchestrationInstanceCompleted() != nil:
			v.results[ev.GetSubOrchestrationInstanceCompleted().GetTaskScheduledId()] = ev.GetSubOrchestrationInstanceCompleted().GetResult().GetValue()
		case ev.GetTimerFired() != nil:
			v.results[ev.GetTimerFired().GetTimerId()] = ""
		case ev.GetEventRaised() != nil:
			v.events[ev.GetEventRaised().GetName()] = append(v.events[ev.GetEventRaised().GetName()], ev.GetEventRaised().GetInput().GetValue())
		case ev.GetEntityOperationCompleted() != nil:
			v.entityResults[ev.GetEntityOperationCompleted().GetRequestId()] = ev.GetEntityOperationCompleted().GetOutput().GetValue()
		case ev.GetEntityOperationFailed() != nil:
			fd := ev.GetEntityOperationFailed().GetFailureDetails()
			v.entityFailures[ev.GetEntityOperationFailed().GetRequestId()] = fd.GetErrorType() + ": " + fd.GetErrorMessage()
		case ev.GetEntityLockGranted() != nil:
			v.granted[ev.GetEntityLockGranted().GetCriticalSectionId()] = true
		case ev.GetExecutionTerminated() != nil:
			if v.terminated == nil {
				v.terminated = ev.GetExecutionTerminated()
			}
		}
	}
	return v
}

// done reports whether the work item's history ended the execution.
func (v *view) ended() bool {
	for _, ev := range v.req.GetPastEvents() {
		if ev.GetExecutionCompleted() != nil {
			return true
		}
	}
	return false
}

func scheduleTask(id int32, name, input string) *pb.OrchestratorAction {
	return &pb.OrchestratorAction{Id: id, OrchestratorActionType: &pb.OrchestratorAction_ScheduleTask{
		ScheduleTask: &pb.ScheduleTaskAction{Name: name, Input: str(input)}}}
}

func subOrchestration(id int32, instanceID, name, input string) *pb.OrchestratorAction {
	return &pb.OrchestratorAction{Id: id, OrchestratorActionType: &pb.OrchestratorAction_CreateSubOrchestration{
		CreateSubOrchestration: &pb.CreateSubOrchestrationAction{InstanceId: instanceID, Name: name, Input: str(input)}}}
}

func completeWith(id int32, st pb.OrchestrationStatus, result string) *pb.OrchestratorAction {
	return &pb.OrchestratorAction{Id: id, OrchestratorActionType: &pb.OrchestratorAction_CompleteOrchestration{
		CompleteOrchestration: &pb.CompleteOrchestrationAction{OrchestrationStatus: st, Result: str(result)}}}
}

func timerAt(id int32, at *timestamppb.Timestamp) *pb.OrchestratorAction {
	return &pb.OrchestratorAction{Id: id, OrchestratorActionType: &pb.OrchestratorAction_CreateTimer{
		CreateTimer: &pb.CreateTimerAction{FireAt: at}}}
}

// orchestrations are the fake worker's code.
func orchestrations(v *view) []*pb.OrchestratorAction {
	if v.ended() {
		return nil
	}
	if t := v.terminated; t != nil {
		return []*pb.OrchestratorAction{completeWith(v.next, pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED, t.GetInput().GetValue())}
	}
	switch v.name {
	case "Chain": // Echo(input), then Echo(its result); the last result
		if !v.scheduled[1] {
			return []*pb.OrchestratorAction{scheduleTask(1, "Echo", v.input)}
		}
		r1, ok := v.results[1]
		if !ok {
			return nil
		}
		if !v.scheduled[2] {
			return []*pb.OrchestratorAction{scheduleTask(2, "Echo", r1)}
		}
		if r2, ok := v.results[2]; ok {
			return []*pb.OrchestratorAction{completeWith(3, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, r2)}
		}
	case "FanOut": // input n: n Echo calls at once; their number
		n, _ := strconv.Atoi(v.input)
		if !v.scheduled[1] {
			var out []*pb.OrchestratorAction
			for i := 1; i <= n; i++ {
				out = append(out, scheduleTask(int32(i), "Echo", strconv.Itoa(i)))
			}
			return out
		}
		if len(v.results) == n {
			return []*pb.OrchestratorAction{completeWith(int32(n+1), pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, strconv.Itoa(n))}
		}
	case "Counter": // continues as new with input+1 until 3
		n, _ := strconv.Atoi(v.input)
		if n >= 3 {
			return []*pb.OrchestratorAction{completeWith(1, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, v.input)}
		}
		return []*pb.OrchestratorAction{completeWith(1, pb.OrchestrationStatus_ORCHESTRATION_STATUS_CONTINUED_AS_NEW, strconv.Itoa(n+1))}
	case "Parent": // a Hold child "<input>", its result
		if !v.scheduled[1] {
			return []*pb.OrchestratorAction{subOrchestration(1, v.input, "Hold", "")}
		}
		if r, ok := v.results[1]; ok {
			return []*pb.OrchestratorAction{completeWith(2, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, "parent:"+r)}
		}
	case "Hold": // the payload of its "go" event
		if e := v.events["go"]; len(e) > 0 {
			return []*pb.OrchestratorAction{completeWith(1, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, e[0])}
		}
	case "Entity": // an entity action without its message
		return []*pb.OrchestratorAction{{Id: 1, OrchestratorActionType: &pb.OrchestratorAction_SendEntityMessage{
			SendEntityMessage: &pb.SendEntityMessageAction{}}}}
	case "Throws": // what the JavaScript SDK sends for an executor failure
		return []*pb.OrchestratorAction{{Id: -1, OrchestratorActionType: &pb.OrchestratorAction_CompleteOrchestration{
			CompleteOrchestration: &pb.CompleteOrchestrationAction{OrchestrationStatus: pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED,
				FailureDetails: &pb.TaskFailureDetails{ErrorType: "TypeError", ErrorMessage: "x is undefined", StackTrace: str("at f (app.js:1)")}}}}}
	default:
		panic(fmt.Sprintf("fake SDK: no orchestration %q", v.name))
	}
	return nil
}

// echo is the fake worker's activity: Echo returns its input with "!".
func echo(req *pb.ActivityRequest) (string, error) {
	if req.GetName() != "Echo" {
		return "", fmt.Errorf("no activity %q", req.GetName())
	}
	return req.GetInput().GetValue() + "!", nil
}

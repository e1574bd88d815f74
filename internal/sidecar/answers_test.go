package sidecar_test

import (
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// An SDK worker's answer that storage cannot hold (a version or an
// orchestration name longer than a table column) fails the instance with
// the reason, as every other answer that cannot be committed: it is
// neither quarantined with the instance left Running, nor committed with
// a child whose Instances row can never be written.
func TestAnswerStorageCannotHoldFailsTheInstance(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := sdkFixture(t, be, hub)
	long := strings.Repeat("n", 40000) // over a table column's 32 KiB of UTF-16
	connectSDK(t, "w", f.addr, nil, func(v *view) []*pb.OrchestratorAction {
		if v.ended() {
			return nil
		}
		switch v.input {
		case "task version":
			a := scheduleTask(1, "Echo", `"x"`)
			a.GetScheduleTask().Version = str(long)
			return []*pb.OrchestratorAction{a}
		case "child name":
			return []*pb.OrchestratorAction{subOrchestration(1, "child-"+v.req.GetInstanceId(), long, "")}
		case "new version":
			a := completeWith(1, pb.OrchestrationStatus_ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "")
			a.GetCompleteOrchestration().NewVersion = str(long)
			return []*pb.OrchestratorAction{a}
		}
		return nil
	}, echo)
	cases := map[string]string{"task version": "version", "child name": "name", "new version": "version"}
	for in := range cases {
		f.start(t, &pb.CreateInstanceRequest{InstanceId: "long-" + strings.ReplaceAll(in, " ", "-"), Name: "Long", Input: str(in)})
	}
	for in, what := range cases {
		id := "long-" + strings.ReplaceAll(in, " ", "-")
		st := f.complete(t, id)
		if fd := st.GetFailureDetails(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED ||
			fd.GetErrorType() != "azdurable.InvalidWorkerAnswer" || !strings.Contains(fd.GetErrorMessage(), what) {
			t.Errorf("%s: %v", in, st)
		}
		if f.get(t, "child-"+id, false).GetExists() {
			t.Errorf("%s: a child was started", in)
		}
	}
}

// An event, suspend or resume sent to an instance whose start is
// scheduled later is refused: the hub (as C#'s) drops a message for an
// instance that has no history yet, so the call would succeed and the
// message be lost.
func TestMessagesBeforeAScheduledStartAreRefused(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := sdkFixture(t, be, hub)
	connectSDK(t, "w", f.addr, nil, orchestrations, echo)
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "later-1", Name: "Hold",
		ScheduledStartTimestamp: timestamppb.New(time.Now().Add(time.Hour))})
	ctx := ctxFor(t)
	for what, err := range map[string]error{
		"raise":   second(f.client.RaiseEvent(ctx, &pb.RaiseEventRequest{InstanceId: id, Name: "go", Input: str(`"early"`)})),
		"suspend": second(f.client.SuspendInstance(ctx, &pb.SuspendRequest{InstanceId: id})),
		"resume":  second(f.client.ResumeInstance(ctx, &pb.ResumeRequest{InstanceId: id})),
	} {
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "scheduled") {
			t.Errorf("%s before the scheduled start: %v", what, err)
		}
	}
	// A terminate is carried out before the start.
	if _, err := f.client.TerminateInstance(ctx, &pb.TerminateRequest{InstanceId: id, Output: str(`"never mind"`)}); err != nil {
		t.Fatal(err)
	}
	if st := f.complete(t, id); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED {
		t.Errorf("terminated before its start: %v", st)
	}
}

// An entity message whose request id is not a GUID fails the instance:
// the extension's request messages carry a GUID, and a C# entity could
// not read one with other text.
func TestEntityRequestIDMustBeAGUID(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	connectSDK(t, "w", f.addr, nil, func(v *view) []*pb.OrchestratorAction {
		if v.ended() {
			return nil
		}
		return []*pb.OrchestratorAction{entityAction(1, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityOperationSignaled{
			EntityOperationSignaled: &pb.EntityOperationSignaledEvent{RequestId: "req-1", Operation: "add", Input: str("1"), TargetInstanceId: str("@counter@g")}}})}
	}, echo)
	st := f.complete(t, f.start(t, &pb.CreateInstanceRequest{InstanceId: "not-a-guid", Name: "Signals"}))
	if fd := st.GetFailureDetails(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED ||
		fd.GetErrorType() != "azdurable.InvalidWorkerAnswer" || !strings.Contains(fd.GetErrorMessage(), "GUID") {
		t.Errorf("a signal with request id req-1: %v", st)
	}
}

// The history of an execution the instance never had is NotFound, as an
// unknown instance's: an empty answer would read as an execution with
// no events.
func TestHistoryOfAnUnknownExecution(t *testing.T) {
	be, hub := memoryBackend(t)
	f := newFixture(t, be, hub, true)
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "hist-exec", Name: "HelloCities"})
	f.complete(t, id)
	stream, err := f.client.StreamInstanceHistory(ctxFor(t), &pb.StreamInstanceHistoryRequest{InstanceId: id, ExecutionId: str("no-such-execution")})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("the history of an unknown execution: %v", err)
	}
}

// An entity that starts an orchestration whose name storage cannot hold
// has its batch's operations failed with the reason (its state kept),
// rather than sending a start whose Instances row can never be written.
func TestEntityStartStorageCannotHold(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := sdkFixture(t, be, hub)
	long := strings.Repeat("n", 40000)
	noOrchestrations := func(*view) []*pb.OrchestratorAction { return nil }
	connectEntitySDK(t, "w", f.addr, nil, noOrchestrations, echo, func(req *pb.EntityBatchRequest) *pb.EntityBatchResult {
		res := &pb.EntityBatchResult{EntityState: str("1"), Actions: []*pb.OperationAction{{Id: 0, OperationActionType: &pb.OperationAction_StartNewOrchestration{
			StartNewOrchestration: &pb.StartNewOrchestrationAction{InstanceId: "started-by-entity", Name: long}}}}}
		for range req.GetOperations() {
			res.Results = append(res.Results, &pb.OperationResult{ResultType: &pb.OperationResult_Success{Success: &pb.OperationResultSuccess{}}})
		}
		return res
	}, nil)
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@starter@k", Name: "go"})
	waitFor(t, "the batch to be failed", func() bool { return f.srv.Stats().Failed.Load() == 1 })
	if f.get(t, "started-by-entity", false).GetExists() {
		t.Error("the entity's start was sent")
	}
	if res := f.getEntity(t, "@starter@k", true); res.GetExists() {
		t.Errorf("the failed batch's state was kept: %v", res)
	}
}

package sidecar_test

import (
	"strings"
	"testing"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
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

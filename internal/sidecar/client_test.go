package sidecar_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// scenarios are the client calls, each on its own instance ids, run one
// after the other on one sidecar and worker per backend.
var scenarios = []struct {
	name string
	run  func(*testing.T, *fixture)
}{
	{"StartAndGet", testStartAndGet},
	{"IDReuse", testIDReuse},
	{"ScheduledStart", testScheduledStart},
	{"RaiseEvent", testRaiseEvent},
	{"SuspendResumeTerminate", testSuspendResumeTerminate},
	{"RecursiveTerminate", testRecursiveTerminate},
	{"FailureDetails", testFailureDetails},
	{"Rewind", testRewind},
	{"Restart", testRestart},
	{"QueryAndList", testQueryAndList},
	{"History", testHistory},
	{"Purge", testPurge},
	{"TaskHubMetadata", testTaskHubMetadata},
	{"Refusals", testRefusals},
}

func runScenarios(t *testing.T, f *fixture) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.run(t, f) })
	}
}

func TestClientCallsMemory(t *testing.T) {
	be, hub := memoryBackend(t)
	runScenarios(t, newFixture(t, be, hub, true))
}

func TestClientCallsAzurite(t *testing.T) {
	be, hub := azuriteBackend(t)
	runScenarios(t, newFixture(t, be, hub, true))
}

func code(err error) codes.Code { return status.Code(err) }

// testStartAndGet starts as the JavaScript SDK does (input "" for no
// input, the Unix epoch for no start time) and reads the instance back,
// payloads exactly as stored.
func testStartAndGet(t *testing.T, f *fixture) {
	if _, err := f.client.Hello(ctxFor(t), &emptypb.Empty{}); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "start-1", Name: "HelloCities", Input: str(""),
		ScheduledStartTimestamp: timestamppb.New(time.Unix(0, 0)), Tags: map[string]string{"team": "js"}, Version: str("")})
	if id != "start-1" {
		t.Fatalf("instance id %q", id)
	}
	st := f.complete(t, id)
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED ||
		st.GetOutput().GetValue() != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` ||
		st.GetInput() == nil || st.GetInput().GetValue() != "" || st.GetName() != "HelloCities" ||
		st.GetTags()["team"] != "js" || st.GetVersion() != nil || st.GetScheduledStartTimestamp() != nil ||
		st.GetCompletedTimestamp() == nil || st.GetCreatedTimestamp() == nil || st.GetExecutionId().GetValue() == "" ||
		st.GetFailureDetails() != nil || st.GetParentInstanceId() != nil {
		t.Errorf("completed state: %v", st)
	}
	// The stored start is what was sent: "" is "", not null.
	stored, err := f.be.GetState(ctxFor(t), id, true)
	if err != nil || stored.Input == nil || *stored.Input != "" || stored.ScheduledStartTime != nil {
		t.Errorf("stored state: %+v, %v", stored, err)
	}
	lean := f.get(t, id, false).GetOrchestrationState()
	if lean.GetInput() != nil || lean.GetOutput() != nil || lean.GetCustomStatus() != nil {
		t.Errorf("payloads without getInputsAndOutputs: %v", lean)
	}
	if res := f.get(t, "start-none", true); res.GetExists() || res.GetOrchestrationState() != nil {
		t.Errorf("unknown id: %v", res)
	}

	// No input at all is stored as null; a generated id is 32 hex digits.
	id = f.start(t, &pb.CreateInstanceRequest{Name: "HelloCities"})
	if len(id) != 32 {
		t.Errorf("generated id %q", id)
	}
	f.complete(t, id)
	if stored, err := f.be.GetState(ctxFor(t), id, true); err != nil || stored.Input != nil {
		t.Errorf("stored input of a start without input: %+v, %v", stored, err)
	}
}

// testIDReuse: without a policy an unfinished instance's id is refused
// and a finished one's reused; a policy names the replaceable statuses.
func testIDReuse(t *testing.T, f *fixture) {
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "reuse-1", Name: "Waiter"})
	f.waitStatus(t, "reuse-1", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	_, err := f.client.StartInstance(ctxFor(t), &pb.CreateInstanceRequest{InstanceId: "reuse-1", Name: "Waiter"})
	if code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "Running") {
		t.Errorf("second start of a running id: %v", err)
	}
	_, err = f.client.StartInstance(ctxFor(t), &pb.CreateInstanceRequest{InstanceId: "reuse-1", Name: "Waiter",
		OrchestrationIdReusePolicy: &pb.OrchestrationIdReusePolicy{ReplaceableStatus: []pb.OrchestrationStatus{
			pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED}}})
	if code(err) != codes.AlreadyExists {
		t.Errorf("start over a running id that the policy does not replace: %v", err)
	}
	if _, err := f.client.RaiseEvent(ctxFor(t), &pb.RaiseEventRequest{InstanceId: "reuse-1", Name: "go", Input: str(`"one"`)}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "reuse-1")
	// Completed and not replaceable by the policy: refused.
	_, err = f.client.StartInstance(ctxFor(t), &pb.CreateInstanceRequest{InstanceId: "reuse-1", Name: "Waiter",
		OrchestrationIdReusePolicy: &pb.OrchestrationIdReusePolicy{ReplaceableStatus: []pb.OrchestrationStatus{
			pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED}}})
	if code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "Completed") {
		t.Errorf("start over a completed id that the policy does not replace: %v", err)
	}
	// Without a policy a finished instance is replaced.
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "reuse-1", Name: "HelloCities"})
	if st := f.complete(t, "reuse-1"); st.GetName() != "HelloCities" {
		t.Errorf("replaced instance: %v", st)
	}
}

func testScheduledStart(t *testing.T, f *fixture) {
	at := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "sched-1", Name: "HelloCities", ScheduledStartTimestamp: timestamppb.New(at)})
	st := f.get(t, id, true).GetOrchestrationState()
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING && time.Now().Before(at) {
		t.Errorf("before its start time: %v", st)
	}
	if !st.GetScheduledStartTimestamp().AsTime().Equal(at) {
		t.Errorf("scheduled start %v, want %v", st.GetScheduledStartTimestamp().AsTime(), at)
	}
	res, err := f.client.WaitForInstanceStart(ctxFor(t), &pb.GetInstanceRequest{InstanceId: id})
	if err != nil || res.GetOrchestrationState().GetOrchestrationStatus() == pb.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING {
		t.Fatalf("WaitForInstanceStart: %v, %v", res, err)
	}
	// Queue visibility delays are whole seconds (as in C#): a start may
	// come up to a second early, never more.
	if time.Now().Before(at.Add(-time.Second)) {
		t.Errorf("started before %v", at)
	}
	f.complete(t, id)
}

func testRaiseEvent(t *testing.T, f *fixture) {
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "raise-1", Name: "Waiter"})
	if _, err := f.client.RaiseEvent(ctxFor(t), &pb.RaiseEventRequest{InstanceId: "raise-1", Name: "go", Input: str(`"hello"`)}); err != nil {
		t.Fatal(err)
	}
	if st := f.complete(t, "raise-1"); st.GetOutput().GetValue() != `"hello"` {
		t.Errorf("output %v", st)
	}
	_, err := f.client.RaiseEvent(ctxFor(t), &pb.RaiseEventRequest{InstanceId: "raise-1", Name: "go", Input: str(`"late"`)})
	if code(err) != codes.FailedPrecondition {
		t.Errorf("event for a finished instance: %v", err)
	}
	_, err = f.client.RaiseEvent(ctxFor(t), &pb.RaiseEventRequest{InstanceId: "raise-none", Name: "go"})
	if code(err) != codes.NotFound {
		t.Errorf("event for an unknown instance: %v", err)
	}
}

func testSuspendResumeTerminate(t *testing.T, f *fixture) {
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "srt-1", Name: "Waiter"})
	f.waitStatus(t, id, pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.SuspendInstance(ctxFor(t), &pb.SuspendRequest{InstanceId: id}); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, id, pb.OrchestrationStatus_ORCHESTRATION_STATUS_SUSPENDED)
	if _, err := f.client.ResumeInstance(ctxFor(t), &pb.ResumeRequest{InstanceId: id, Reason: str("go on")}); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, id, pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: id, Output: str(`"bye"`)}); err != nil {
		t.Fatal(err)
	}
	st := f.complete(t, id)
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED || st.GetOutput().GetValue() != `"bye"` {
		t.Errorf("terminated: %v", st)
	}
	// The reasons are stored as sent: none is null, a given one as it is.
	events, err := f.be.History(ctxFor(t), id, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		switch e := ev.(type) {
		case *history.ExecutionSuspendedEvent:
			if e.Reason != nil {
				t.Errorf("suspend without a reason stored %q", *e.Reason)
			}
		case *history.ExecutionResumedEvent:
			if e.Reason == nil || *e.Reason != "go on" {
				t.Errorf("resume reason %v", e.Reason)
			}
		}
	}
	// Terminating a finished instance changes nothing and is no error;
	// suspending or resuming it is refused.
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: id}); err != nil {
		t.Errorf("terminate of a terminated instance: %v", err)
	}
	if _, err := f.client.SuspendInstance(ctxFor(t), &pb.SuspendRequest{InstanceId: id}); code(err) != codes.FailedPrecondition {
		t.Errorf("suspend of a terminated instance: %v", err)
	}
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "srt-none"}); code(err) != codes.NotFound {
		t.Errorf("terminate of an unknown instance: %v", err)
	}
	if _, err := f.client.ResumeInstance(ctxFor(t), &pb.ResumeRequest{InstanceId: "srt-none"}); code(err) != codes.NotFound {
		t.Errorf("resume of an unknown instance: %v", err)
	}
}

func testRecursiveTerminate(t *testing.T, f *fixture) {
	for _, recursive := range []bool{true, false} {
		id := "rt-flat"
		if recursive {
			id = "rt-deep"
		}
		f.start(t, &pb.CreateInstanceRequest{InstanceId: id, Name: "Parent"})
		f.waitStatus(t, id+"-child", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
		if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: id, Recursive: recursive}); err != nil {
			t.Fatal(err)
		}
		if st := f.complete(t, id); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED || st.GetOutput() != nil {
			t.Errorf("parent: %v", st)
		}
		if recursive {
			f.complete(t, id+"-child")
		} else if st := f.get(t, id+"-child", false).GetOrchestrationState(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING {
			t.Errorf("child of a parent terminated without recursive: %v", st)
		}
	}
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "rt-flat-child"}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "rt-flat-child")
}

func testFailureDetails(t *testing.T, f *fixture) {
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "fail-1", Name: "Failing", Input: str(`"disk"`)})
	st := f.complete(t, id)
	fd := st.GetFailureDetails()
	if st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED || fd == nil ||
		!strings.Contains(fd.GetErrorMessage(), "boom: disk") || fd.GetErrorType() == "" {
		t.Fatalf("failed state: %v", st)
	}
	// The details are the history's, with or without payloads.
	events, err := f.be.History(ctxFor(t), id, "")
	if err != nil {
		t.Fatal(err)
	}
	done := events[len(events)-2].(*history.ExecutionCompletedEvent)
	if done.FailureDetails == nil || fd.GetErrorType() != done.FailureDetails.ErrorType || fd.GetErrorMessage() != done.FailureDetails.ErrorMessage {
		t.Errorf("failure details %v, history %+v", fd, done.FailureDetails)
	}
	if lean := f.get(t, id, false).GetOrchestrationState(); lean.GetFailureDetails().GetErrorMessage() != fd.GetErrorMessage() {
		t.Errorf("failure details without payloads: %v", lean)
	}
}

func testRewind(t *testing.T, f *fixture) {
	// Flaky fails the first call for each key, in the whole test binary.
	key := fmt.Sprintf("%s-%d", f.hub, time.Now().UnixNano())
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "rewind-1", Name: "Rewindable", Input: str(`"` + key + `"`)})
	if st := f.complete(t, id); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED {
		t.Fatalf("first run: %v", st)
	}
	if _, err := f.client.RewindInstance(ctxFor(t), &pb.RewindInstanceRequest{InstanceId: id, Reason: str("fixed")}); err != nil {
		t.Fatal(err)
	}
	if st := f.complete(t, id); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED ||
		st.GetOutput().GetValue() != `"ok `+key+`"` {
		t.Errorf("after the rewind: %v", st)
	}
	if _, err := f.client.RewindInstance(ctxFor(t), &pb.RewindInstanceRequest{InstanceId: id}); code(err) != codes.FailedPrecondition {
		t.Errorf("rewind of a completed instance: %v", err)
	}
	if _, err := f.client.RewindInstance(ctxFor(t), &pb.RewindInstanceRequest{InstanceId: "rewind-none"}); code(err) != codes.NotFound {
		t.Errorf("rewind of an unknown instance: %v", err)
	}
}

func testRestart(t *testing.T, f *fixture) {
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "restart-1", Name: "HelloCities", Input: str(`"x"`)})
	first := f.complete(t, id)
	res, err := f.client.RestartInstance(ctxFor(t), &pb.RestartInstanceRequest{InstanceId: id})
	if err != nil || res.GetInstanceId() != id {
		t.Fatalf("restart in place: %v, %v", res, err)
	}
	again := f.complete(t, id)
	if again.GetExecutionId().GetValue() == first.GetExecutionId().GetValue() || again.GetInput().GetValue() != `"x"` {
		t.Errorf("restarted in place: %v (first %v)", again, first)
	}
	res, err = f.client.RestartInstance(ctxFor(t), &pb.RestartInstanceRequest{InstanceId: id, RestartWithNewInstanceId: true})
	if err != nil || res.GetInstanceId() == id || res.GetInstanceId() == "" {
		t.Fatalf("restart with a new id: %v, %v", res, err)
	}
	f.complete(t, res.GetInstanceId())

	f.start(t, &pb.CreateInstanceRequest{InstanceId: "restart-2", Name: "Waiter"})
	f.waitStatus(t, "restart-2", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.RestartInstance(ctxFor(t), &pb.RestartInstanceRequest{InstanceId: "restart-2"}); code(err) != codes.FailedPrecondition {
		t.Errorf("restart of a running instance in place: %v", err)
	}
	if _, err := f.client.RestartInstance(ctxFor(t), &pb.RestartInstanceRequest{InstanceId: "restart-none"}); code(err) != codes.NotFound {
		t.Errorf("restart of an unknown instance: %v", err)
	}
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "restart-2"}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "restart-2")
}

func testQueryAndList(t *testing.T, f *fixture) {
	ids := []string{"query-a", "query-b", "query-c"}
	before := time.Now().Add(-time.Minute)
	for _, id := range ids {
		f.start(t, &pb.CreateInstanceRequest{InstanceId: id, Name: "HelloCities", Input: str(`"` + id + `"`)})
	}
	for _, id := range ids {
		f.complete(t, id)
	}
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "query-running", Name: "Waiter"})
	f.waitStatus(t, "query-running", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)

	// Page by page, one instance per page.
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		q := &pb.InstanceQuery{InstanceIdPrefix: str("query-"), MaxInstanceCount: 1, FetchInputsAndOutputs: true,
			RuntimeStatus: []pb.OrchestrationStatus{pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED}}
		if token != "" {
			q.ContinuationToken = str(token)
		}
		res, err := f.client.QueryInstances(ctxFor(t), &pb.QueryInstancesRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.GetOrchestrationState()) > 1 || pages > 10 {
			t.Fatalf("page %d: %v", pages, res)
		}
		for _, st := range res.GetOrchestrationState() {
			got = append(got, st.GetInstanceId())
			if st.GetInput().GetValue() != `"`+st.GetInstanceId()+`"` {
				t.Errorf("input of %s: %v", st.GetInstanceId(), st.GetInput())
			}
		}
		if res.GetContinuationToken() == nil {
			break
		}
		token = res.GetContinuationToken().GetValue()
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("queried %v, want %v", got, ids)
	}

	res, err := f.client.QueryInstances(ctxFor(t), &pb.QueryInstancesRequest{Query: &pb.InstanceQuery{InstanceIdPrefix: str("query-"),
		CreatedTimeFrom: timestamppb.New(before)}})
	if err != nil || len(res.GetOrchestrationState()) != 4 {
		t.Errorf("query without status: %v, %v", res, err)
	}
	for _, st := range res.GetOrchestrationState() {
		if st.GetInput() != nil || st.GetOutput() != nil {
			t.Errorf("payloads without fetchInputsAndOutputs: %v", st)
		}
	}
	res, err = f.client.QueryInstances(ctxFor(t), &pb.QueryInstancesRequest{Query: &pb.InstanceQuery{InstanceIdPrefix: str("query-"),
		TaskHubNames: []*wrapperspb.StringValue{str("SomeOtherHub")}}})
	if err != nil || len(res.GetOrchestrationState()) != 0 {
		t.Errorf("query of another task hub: %v, %v", res, err)
	}
	res, err = f.client.QueryInstances(ctxFor(t), &pb.QueryInstancesRequest{Query: &pb.InstanceQuery{InstanceIdPrefix: str("query-"),
		TaskHubNames: []*wrapperspb.StringValue{str(strings.ToUpper(f.hub))}}})
	if err != nil || len(res.GetOrchestrationState()) != 4 {
		t.Errorf("query naming the task hub: %v, %v", res, err)
	}

	// Ids by status and completion time, page by page.
	var listed []string
	key := ""
	for pages := 0; ; pages++ {
		req := &pb.ListInstanceIdsRequest{PageSize: 2, CompletedTimeFrom: timestamppb.New(before),
			CompletedTimeTo: timestamppb.New(time.Now().Add(time.Minute)),
			RuntimeStatus:   []pb.OrchestrationStatus{pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED}}
		if key != "" {
			req.LastInstanceKey = str(key)
		}
		res, err := f.client.ListInstanceIds(ctxFor(t), req)
		if err != nil || pages > 50 {
			t.Fatal(res, err)
		}
		listed = append(listed, res.GetInstanceIds()...)
		if res.GetLastInstanceKey() == nil {
			break
		}
		key = res.GetLastInstanceKey().GetValue()
	}
	for _, id := range ids {
		if !slices.Contains(listed, id) {
			t.Errorf("ListInstanceIds left out %s: %v", id, listed)
		}
	}
	if slices.Contains(listed, "query-running") {
		t.Errorf("ListInstanceIds listed a running instance: %v", listed)
	}
	late, err := f.client.ListInstanceIds(ctxFor(t), &pb.ListInstanceIdsRequest{CompletedTimeFrom: timestamppb.New(time.Now().Add(time.Hour)), PageSize: 1000})
	if err != nil || len(late.GetInstanceIds()) != 0 {
		t.Errorf("ids completed in the future: %v, %v", late, err)
	}
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "query-running"}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "query-running")
}

func testHistory(t *testing.T, f *fixture) {
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "history-1", Name: "HelloCities", Input: str(`"h"`)})
	f.complete(t, id)
	stream, err := f.client.StreamInstanceHistory(ctxFor(t), &pb.StreamInstanceHistoryRequest{InstanceId: id})
	if err != nil {
		t.Fatal(err)
	}
	eventType := (&pb.HistoryEvent{}).ProtoReflect().Descriptor().Oneofs().ByName("eventType")
	var kinds []string
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range chunk.GetEvents() {
			kinds = append(kinds, string(ev.ProtoReflect().WhichOneof(eventType).Name()))
			if ev.GetTimestamp() == nil {
				t.Errorf("event without timestamp: %v", ev)
			}
			if es := ev.GetExecutionStarted(); es != nil && (es.GetInput().GetValue() != `"h"` || es.GetOrchestrationInstance().GetInstanceId() != id) {
				t.Errorf("ExecutionStarted: %v", es)
			}
		}
	}
	want := []string{"orchestratorStarted", "executionStarted", "taskScheduled", "orchestratorCompleted",
		"orchestratorStarted", "taskCompleted", "taskScheduled", "orchestratorCompleted",
		"orchestratorStarted", "taskCompleted", "taskScheduled", "orchestratorCompleted",
		"orchestratorStarted", "taskCompleted", "executionCompleted", "orchestratorCompleted"}
	if !slices.Equal(kinds, want) {
		t.Errorf("history %v\nwant %v", kinds, want)
	}
	stream, err = f.client.StreamInstanceHistory(ctxFor(t), &pb.StreamInstanceHistoryRequest{InstanceId: "history-none"})
	if err == nil {
		_, err = stream.Recv()
	}
	if code(err) != codes.NotFound {
		t.Errorf("history of an unknown instance: %v", err)
	}
}

func testPurge(t *testing.T, f *fixture) {
	purge := func(req *pb.PurgeInstancesRequest) *pb.PurgeInstancesResponse {
		t.Helper()
		res, err := f.client.PurgeInstances(ctxFor(t), req)
		if err != nil {
			t.Fatalf("PurgeInstances %v: %v", req, err)
		}
		if res.GetIsComplete() == nil || !res.GetIsComplete().GetValue() {
			t.Errorf("purge incomplete: %v", res)
		}
		return res
	}
	// A running instance is not purged.
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "purge-run", Name: "Waiter"})
	f.waitStatus(t, "purge-run", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if res := purge(&pb.PurgeInstancesRequest{Request: &pb.PurgeInstancesRequest_InstanceId{InstanceId: "purge-run"}}); res.GetDeletedInstanceCount() != 0 {
		t.Errorf("purged a running instance: %v", res)
	}
	if !f.get(t, "purge-run", false).GetExists() {
		t.Error("the running instance is gone")
	}
	// A parent and its child, recursive.
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "purge-tree", Name: "Parent"})
	f.waitStatus(t, "purge-tree-child", pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING)
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "purge-tree", Recursive: true}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "purge-tree")
	f.complete(t, "purge-tree-child")
	if res := purge(&pb.PurgeInstancesRequest{Request: &pb.PurgeInstancesRequest_InstanceId{InstanceId: "purge-tree"}, Recursive: true}); res.GetDeletedInstanceCount() != 2 {
		t.Errorf("recursive purge: %v", res)
	}
	// A batch: two finished, one running, one unknown.
	for _, id := range []string{"purge-b1", "purge-b2"} {
		f.start(t, &pb.CreateInstanceRequest{InstanceId: id, Name: "HelloCities"})
		f.complete(t, id)
	}
	res := purge(&pb.PurgeInstancesRequest{Request: &pb.PurgeInstancesRequest_InstanceBatch{InstanceBatch: &pb.InstanceBatch{
		InstanceIds: []string{"purge-b1", "purge-b2", "purge-run", "purge-none"}}}})
	if res.GetDeletedInstanceCount() != 2 {
		t.Errorf("batch purge: %v", res)
	}
	// A filter: only what it selects, never the running one.
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "purge-f1", Name: "Failing", Input: str(`"f"`)})
	f.complete(t, "purge-f1")
	res = purge(&pb.PurgeInstancesRequest{Request: &pb.PurgeInstancesRequest_PurgeInstanceFilter{PurgeInstanceFilter: &pb.PurgeInstanceFilter{
		RuntimeStatus: []pb.OrchestrationStatus{pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED, pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING},
		Timeout:       durationpb.New(time.Minute)}}})
	if res.GetDeletedInstanceCount() < 1 || f.get(t, "purge-f1", false).GetExists() || !f.get(t, "purge-run", false).GetExists() {
		t.Errorf("purge by filter: %v", res)
	}
	// Refusals, before anything is purged.
	batch := make([]string, 501)
	for i := range batch {
		batch[i] = "purge-x"
	}
	for _, req := range []*pb.PurgeInstancesRequest{
		{},
		{Request: &pb.PurgeInstancesRequest_InstanceId{InstanceId: ""}},
		{Request: &pb.PurgeInstancesRequest_InstanceBatch{InstanceBatch: &pb.InstanceBatch{InstanceIds: batch}}},
		{Request: &pb.PurgeInstancesRequest_InstanceBatch{InstanceBatch: &pb.InstanceBatch{InstanceIds: []string{"purge-run", ""}}}},
		{Request: &pb.PurgeInstancesRequest_PurgeInstanceFilter{PurgeInstanceFilter: &pb.PurgeInstanceFilter{
			RuntimeStatus: []pb.OrchestrationStatus{pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING}}}},
		{Request: &pb.PurgeInstancesRequest_PurgeInstanceFilter{PurgeInstanceFilter: &pb.PurgeInstanceFilter{
			Timeout: durationpb.New(-time.Second)}}},
	} {
		if _, err := f.client.PurgeInstances(ctxFor(t), req); code(err) != codes.InvalidArgument {
			t.Errorf("purge %v: %v", req, err)
		}
	}
	if _, err := f.client.TerminateInstance(ctxFor(t), &pb.TerminateRequest{InstanceId: "purge-run"}); err != nil {
		t.Fatal(err)
	}
	f.complete(t, "purge-run")
}

func testTaskHubMetadata(t *testing.T, f *fixture) {
	for key, hub := range map[string]string{"taskhub": strings.ToLower(f.hub), "durable-taskhub": f.hub} {
		ctx := metadata.AppendToOutgoingContext(ctxFor(t), key, hub)
		if _, err := f.client.GetInstance(ctx, &pb.GetInstanceRequest{InstanceId: "meta-none"}); err != nil {
			t.Errorf("%s %s: %v", key, hub, err)
		}
	}
	ctx := metadata.AppendToOutgoingContext(ctxFor(t), "taskhub", "OtherHub")
	_, err := f.client.StartInstance(ctx, &pb.CreateInstanceRequest{InstanceId: "meta-1", Name: "HelloCities"})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "OtherHub") {
		t.Errorf("a call for another task hub: %v", err)
	}
	if f.get(t, "meta-1", false).GetExists() {
		t.Error("the call for another task hub started an instance")
	}
	stream, err := f.client.StreamInstanceHistory(metadata.AppendToOutgoingContext(ctxFor(t), "taskhub", "OtherHub"),
		&pb.StreamInstanceHistoryRequest{InstanceId: "meta-1"})
	if err == nil {
		_, err = stream.Recv()
	}
	if code(err) != codes.InvalidArgument {
		t.Errorf("a stream for another task hub: %v", err)
	}
}

func testRefusals(t *testing.T, f *fixture) {
	ctx := ctxFor(t)
	for what, err := range map[string]error{
		"start without a name":        second(f.client.StartInstance(ctx, &pb.CreateInstanceRequest{InstanceId: "bad-1"})),
		"start a week and more ahead": second(f.client.StartInstance(ctx, &pb.CreateInstanceRequest{InstanceId: "bad-2", Name: "HelloCities", ScheduledStartTimestamp: timestamppb.New(time.Now().Add(8 * 24 * time.Hour))})),
		"start with an unknown reuse status": second(f.client.StartInstance(ctx, &pb.CreateInstanceRequest{InstanceId: "bad-3", Name: "HelloCities",
			OrchestrationIdReusePolicy: &pb.OrchestrationIdReusePolicy{ReplaceableStatus: []pb.OrchestrationStatus{99}}})),
		"get without an id":       second(f.client.GetInstance(ctx, &pb.GetInstanceRequest{})),
		"wait without an id":      second(f.client.WaitForInstanceCompletion(ctx, &pb.GetInstanceRequest{})),
		"query an unknown status": second(f.client.QueryInstances(ctx, &pb.QueryInstancesRequest{Query: &pb.InstanceQuery{RuntimeStatus: []pb.OrchestrationStatus{42}}})),
		"query a bad time":        second(f.client.QueryInstances(ctx, &pb.QueryInstancesRequest{Query: &pb.InstanceQuery{CreatedTimeFrom: &timestamppb.Timestamp{Seconds: -1 << 62}}})),
		"list an unknown status":  second(f.client.ListInstanceIds(ctx, &pb.ListInstanceIdsRequest{RuntimeStatus: []pb.OrchestrationStatus{-1}})),
	} {
		if code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", what, err)
		}
	}
	for _, id := range []string{"bad-1", "bad-2", "bad-3"} {
		if f.get(t, id, false).GetExists() {
			t.Errorf("a refused start left %s behind", id)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestWaitEndsWhenTheServerStops: a wait in flight answers Unavailable
// when the server closes.
func TestWaitEndsWhenTheServerStops(t *testing.T) {
	be, hub := memoryBackend(t)
	f := newFixture(t, be, hub, false)
	f.start(t, &pb.CreateInstanceRequest{InstanceId: "stop-1", Name: "Waiter"})
	errc := make(chan error, 1)
	go func() {
		_, err := f.client.WaitForInstanceCompletion(ctxFor(t), &pb.GetInstanceRequest{InstanceId: "stop-1"})
		errc <- err
	}()
	// Whether the wait has begun or not, it must answer Unavailable.
	f.srv.Close()
	select {
	case err := <-errc:
		if code(err) != codes.Unavailable {
			t.Errorf("wait after Close: %v", err)
		}
	case <-time.After(stepTimeout):
		t.Fatal("the wait did not end when the server closed")
	}
}

// TestNotServedYet: every call the sidecar does not serve answers
// Unimplemented with its own message.
func TestNotServedYet(t *testing.T) {
	be, hub := memoryBackend(t)
	f := newFixture(t, be, hub, false)
	ctx := ctxFor(t)
	calls := map[string]error{
		"DeleteTaskHub":           second(f.client.DeleteTaskHub(ctx, &pb.DeleteTaskHubRequest{})),
		"CreateTaskHub(recreate)": second(f.client.CreateTaskHub(ctx, &pb.CreateTaskHubRequest{RecreateIfExists: true})),
		"SkipGracefulOrchestrationTerminations": second(f.client.SkipGracefulOrchestrationTerminations(ctx,
			&pb.SkipGracefulOrchestrationTerminationsRequest{})),
	}
	for name, err := range calls {
		if code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "azdurable sidecar does not") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Every method of the service is either served or in the list above.
	served := []string{"Hello", "StartInstance", "GetInstance", "RewindInstance", "RestartInstance", "WaitForInstanceStart",
		"WaitForInstanceCompletion", "RaiseEvent", "TerminateInstance", "SuspendInstance", "ResumeInstance", "QueryInstances",
		"ListInstanceIds", "PurgeInstances", "StreamInstanceHistory", "CreateTaskHub",
		"GetWorkItems", "CompleteOrchestratorTask", "CompleteActivityTask", "AbandonTaskOrchestratorWorkItem",
		"AbandonTaskActivityWorkItem", "SignalEntity", "GetEntity", "QueryEntities", "CleanEntityStorage",
		"CompleteEntityTask", "AbandonTaskEntityWorkItem"}
	methods := pb.File_taskhub_sidecar_proto.Services().Get(0).Methods()
	for i := 0; i < methods.Len(); i++ {
		name := string(methods.Get(i).Name())
		if _, listed := calls[name]; !listed && !slices.Contains(served, name) {
			t.Errorf("method %s is neither served nor refused in this test", name)
		}
	}
	if _, err := f.client.CreateTaskHub(ctx, &pb.CreateTaskHubRequest{}); err != nil {
		t.Errorf("CreateTaskHub: %v", err)
	}
}

package sidecar

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ptr[T any](v T) *T { return &v }

// TestEveryHistoryEventConverts: each event type C# can store has a
// counterpart in the protocol, with the base members carried over.
func TestEveryHistoryEventConverts(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 800, time.UTC)
	for ty := history.EventType(0); ty.Valid(); ty++ {
		ev := history.NewEvent(ty)
		if ev == nil {
			continue // ExecutionFailed has no class
		}
		ev.Base().EventID, ev.Base().Timestamp = 7, at
		pe, err := eventProto(ev)
		if err != nil {
			t.Errorf("%s: %v", ty, err)
			continue
		}
		if pe.GetEventType() == nil || pe.GetEventId() != 7 || !pe.GetTimestamp().AsTime().Equal(at) {
			t.Errorf("%s: %v", ty, pe)
		}
	}
}

// TestEventFields pins the mapping of the members of each event, in the
// protocol's JSON form.
func TestEventFields(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	fd := &history.FailureDetails{ErrorType: "Error", ErrorMessage: "it broke", StackTrace: ptr("at x"),
		InnerFailure: &history.FailureDetails{ErrorType: "Inner", ErrorMessage: "cause"}, IsNonRetriable: true,
		Properties: json.RawMessage(`{"code":42,"tag":"t"}`)}
	trace := &history.DistributedTraceContext{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		TraceState: ptr("k=v"), SpanID: ptr("b7ad6b7169203331")}
	cases := []struct {
		ev   history.Event
		want string
	}{
		{&history.ExecutionStartedEvent{Name: "Orch", Version: "", Input: ptr(`{"a":1}`),
			OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e"},
			ParentInstance: &history.ParentInstance{Name: "P", TaskScheduleID: 3, Version: "2",
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "pe"}},
			ScheduledStartTime: &at, ParentTraceContext: trace, Tags: map[string]string{"t": "v"}, Generation: ptr(int32(2))},
			`{"executionStarted":{"name":"Orch","input":"{\"a\":1}","orchestrationInstance":{"instanceId":"i","executionId":"e"},` +
				`"parentInstance":{"taskScheduledId":3,"name":"P","version":"2","orchestrationInstance":{"instanceId":"p","executionId":"pe"}},` +
				`"scheduledStartTimestamp":"2026-03-04T05:06:07Z","parentTraceContext":{"traceParent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",` +
				`"spanID":"b7ad6b7169203331","traceState":"k=v"},"tags":{"t":"v"}}}`},
		{&history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusFailed, FailureDetails: fd},
			`{"executionCompleted":{"orchestrationStatus":"ORCHESTRATION_STATUS_FAILED","failureDetails":{"errorType":"Error","errorMessage":"it broke",` +
				`"stackTrace":"at x","innerFailure":{"errorType":"Inner","errorMessage":"cause"},"isNonRetriable":true,"properties":{"code":42,"tag":"t"}}}}`},
		{&history.ExecutionTerminatedEvent{Input: ptr(`"bye"`), Recursive: true}, `{"executionTerminated":{"input":"\"bye\"","recurse":true}}`},
		{&history.ExecutionTerminatedEvent{}, `{"executionTerminated":{}}`},
		{&history.TaskScheduledEvent{Name: "Act", Version: "1", Input: ptr(`[1]`), Tags: map[string]string{"a": "b"}},
			`{"taskScheduled":{"name":"Act","version":"1","input":"[1]","tags":{"a":"b"}}}`},
		{&history.TaskCompletedEvent{TaskScheduledID: 4, Result: ptr("")}, `{"taskCompleted":{"taskScheduledId":4,"result":""}}`},
		{&history.TaskFailedEvent{TaskScheduledID: 4, FailureDetails: &history.FailureDetails{ErrorType: "E", ErrorMessage: "m"}},
			`{"taskFailed":{"taskScheduledId":4,"failureDetails":{"errorType":"E","errorMessage":"m"}}}`},
		// C#'s legacy failure: the reason becomes the message.
		{&history.TaskFailedEvent{TaskScheduledID: 5, Reason: ptr("legacy"), Details: ptr("{}")},
			`{"taskFailed":{"taskScheduledId":5,"failureDetails":{"errorMessage":"legacy"}}}`},
		{&history.SubOrchestrationInstanceCreatedEvent{Name: "Child", InstanceID: "c", Input: ptr("1")},
			`{"subOrchestrationInstanceCreated":{"instanceId":"c","name":"Child","input":"1"}}`},
		{&history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 1, Result: ptr("2")},
			`{"subOrchestrationInstanceCompleted":{"taskScheduledId":1,"result":"2"}}`},
		{&history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: 1, Reason: ptr("r")},
			`{"subOrchestrationInstanceFailed":{"taskScheduledId":1,"failureDetails":{"errorMessage":"r"}}}`},
		{&history.TimerCreatedEvent{FireAt: at}, `{"timerCreated":{"fireAt":"2026-03-04T05:06:07Z"}}`},
		{&history.TimerFiredEvent{TimerID: 2, FireAt: at}, `{"timerFired":{"fireAt":"2026-03-04T05:06:07Z","timerId":2}}`},
		{&history.EventSentEvent{InstanceID: "o", Name: "n", Input: ptr("3")}, `{"eventSent":{"instanceId":"o","name":"n","input":"3"}}`},
		{&history.EventRaisedEvent{Name: "n"}, `{"eventRaised":{"name":"n"}}`},
		{&history.GenericEvent{Data: ptr("d")}, `{"genericEvent":{"data":"d"}}`},
		{&history.ContinueAsNewEvent{Result: ptr("4")}, `{"continueAsNew":{"input":"4"}}`},
		{&history.ExecutionSuspendedEvent{Reason: ptr("why")}, `{"executionSuspended":{"input":"why"}}`},
		{&history.ExecutionResumedEvent{}, `{"executionResumed":{}}`},
		{&history.ExecutionRewoundEvent{Reason: ptr("r"), InstanceID: ptr("i"), ParentExecutionID: ptr("pe")},
			`{"executionRewound":{"reason":"r","parentExecutionId":"pe","instanceId":"i"}}`},
	}
	for _, c := range cases {
		pe, err := eventProto(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		pe.EventId, pe.Timestamp = 0, nil
		got, _ := protojson.Marshal(pe)
		if !jsonEqual(t, string(got), c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.ev.Type(), got, c.want)
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestStateProto(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &client.State{InstanceID: "i", ExecutionID: "e", Name: "N", Version: "", Status: client.Failed,
		CreatedAt: at, LastUpdatedAt: at.Add(time.Second), CompletedAt: at.Add(2 * time.Second), Input: ptr(""),
		Output: ptr("E: m"), Tags: map[string]string{"k": "v"}, ParentInstanceID: "p"}
	got, _ := protojson.Marshal(stateProto(st, &history.FailureDetails{ErrorType: "E", ErrorMessage: "m"}))
	want := `{"instanceId":"i","name":"N","orchestrationStatus":"ORCHESTRATION_STATUS_FAILED","createdTimestamp":"2026-01-02T03:04:05Z",` +
		`"lastUpdatedTimestamp":"2026-01-02T03:04:06Z","input":"","output":"E: m","failureDetails":{"errorType":"E","errorMessage":"m"},` +
		`"executionId":"e","completedTimestamp":"2026-01-02T03:04:07Z","parentInstanceId":"p","tags":{"k":"v"}}`
	if !jsonEqual(t, string(got), want) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	// A running instance: no completion time, version when set.
	st = &client.State{InstanceID: "i", Name: "N", Version: "2", Status: client.Running, CreatedAt: at, LastUpdatedAt: at}
	got, _ = protojson.Marshal(stateProto(st, nil))
	// (RUNNING is the enum's zero: proto3 JSON leaves it out.)
	want = `{"instanceId":"i","name":"N","version":"2",` +
		`"createdTimestamp":"2026-01-02T03:04:05Z","lastUpdatedTimestamp":"2026-01-02T03:04:05Z"}`
	if !jsonEqual(t, string(got), want) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

func TestStatusNumbersAreCSharps(t *testing.T) {
	for _, st := range history.Statuses() {
		name := pb.OrchestrationStatus(st).String()
		if want := map[history.OrchestrationStatus]string{
			history.StatusRunning: "ORCHESTRATION_STATUS_RUNNING", history.StatusCompleted: "ORCHESTRATION_STATUS_COMPLETED",
			history.StatusContinuedAsNew: "ORCHESTRATION_STATUS_CONTINUED_AS_NEW", history.StatusFailed: "ORCHESTRATION_STATUS_FAILED",
			history.StatusCanceled: "ORCHESTRATION_STATUS_CANCELED", history.StatusTerminated: "ORCHESTRATION_STATUS_TERMINATED",
			history.StatusPending: "ORCHESTRATION_STATUS_PENDING", history.StatusSuspended: "ORCHESTRATION_STATUS_SUSPENDED",
		}[st]; name != want {
			t.Errorf("%s is %s in the protocol, want %s", st, name, want)
		}
	}
}

func TestDedupeStatuses(t *testing.T) {
	S := func(s ...pb.OrchestrationStatus) *pb.OrchestrationIdReusePolicy {
		return &pb.OrchestrationIdReusePolicy{ReplaceableStatus: s}
	}
	cases := []struct {
		policy *pb.OrchestrationIdReusePolicy
		want   []history.OrchestrationStatus
	}{
		// Nothing replaceable: every status refuses.
		{S(), history.Statuses()},
		{S(pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED,
			pb.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED, pb.OrchestrationStatus_ORCHESTRATION_STATUS_CANCELED),
			[]history.OrchestrationStatus{history.StatusRunning, history.StatusContinuedAsNew, history.StatusPending, history.StatusSuspended}},
		// Running replaceable takes ContinuedAsNew along.
		{S(pb.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING),
			[]history.OrchestrationStatus{history.StatusCompleted, history.StatusFailed, history.StatusCanceled,
				history.StatusTerminated, history.StatusPending, history.StatusSuspended}},
	}
	for _, c := range cases {
		got, err := dedupeStatuses(c.policy)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, %v; want %v", c.policy, got, err, c.want)
		}
	}
	if _, err := dedupeStatuses(S(12)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown status: %v", err)
	}
}

func TestScheduledStart(t *testing.T) {
	for _, ts := range []*timestamppb.Timestamp{nil, timestamppb.New(time.Unix(0, 0)), {}} {
		if at, err := scheduledStart(ts); at != nil || err != nil {
			t.Errorf("%v: %v, %v", ts, at, err)
		}
	}
	want := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if at, err := scheduledStart(timestamppb.New(want)); err != nil || !at.Equal(want) {
		t.Errorf("%v, %v", at, err)
	}
	if _, err := scheduledStart(&timestamppb.Timestamp{Seconds: 1, Nanos: -5}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid timestamp: %v", err)
	}
}

package sidecar_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/worker"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// sdkCounter is the fake SDK's Counter entity, the twin of
// samples/counter's: its state is an int; add (an int), get, boom (fails),
// relay (signals add 1 to the Counter its input names) and delete.
func sdkCounter(req *pb.EntityBatchRequest) *pb.EntityBatchResult {
	state, exists := 0, req.GetEntityState() != nil
	if exists {
		state, _ = strconv.Atoi(req.GetEntityState().GetValue())
	}
	res := &pb.EntityBatchResult{}
	ok := func(result *wrapperspb.StringValue) {
		res.Results = append(res.Results, &pb.OperationResult{ResultType: &pb.OperationResult_Success{
			Success: &pb.OperationResultSuccess{Result: result}}})
	}
	for _, op := range req.GetOperations() {
		switch op.GetOperation() {
		case "add":
			n, _ := strconv.Atoi(op.GetInput().GetValue())
			state, exists = state+n, true
			ok(nil)
		case "get":
			ok(str(strconv.Itoa(state)))
		case "relay":
			key, _ := strconv.Unquote(op.GetInput().GetValue())
			res.Actions = append(res.Actions, &pb.OperationAction{Id: int32(len(res.Actions)), OperationActionType: &pb.OperationAction_SendSignal{
				SendSignal: &pb.SendSignalAction{InstanceId: "@counter@" + key, Name: "add", Input: str("1")}}})
			ok(nil)
		case "delete":
			state, exists = 0, false
			ok(nil)
		default:
			res.Results = append(res.Results, &pb.OperationResult{ResultType: &pb.OperationResult_Failure{Failure: &pb.OperationResultFailure{
				FailureDetails: &pb.TaskFailureDetails{ErrorType: "Error", ErrorMessage: op.GetOperation() + " in " + req.GetInstanceId()}}}})
		}
	}
	if exists {
		res.EntityState = str(strconv.Itoa(state))
	}
	return res
}

func entityAction(id int32, m *pb.SendEntityMessageAction) *pb.OrchestratorAction {
	return &pb.OrchestratorAction{Id: id, OrchestratorActionType: &pb.OrchestratorAction_SendEntityMessage{SendEntityMessage: m}}
}

// usesCounter is the fake SDK's orchestration that uses a Counter as the
// JavaScript SDK's entity API does: its input is "<entity id>" or
// "<entity id> boom". It signals add 5, calls add 2, locks the entity,
// calls get inside the critical section and unlocks it; with boom it then
// calls boom, which fails. Its result is get's, and boom's failure.
func usesCounter(v *view) []*pb.OrchestratorAction {
	in, _ := strconv.Unquote(v.input)
	target, boomToo := strings.CutSuffix(in, " boom")
	self, exec := v.req.GetInstanceId(), v.req.GetExecutionId()
	rid := func(n int) string {
		return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "%s-req-%d", self, n)).String()
	}
	call := func(id int32, op, input string) *pb.OrchestratorAction {
		c := &pb.EntityOperationCalledEvent{RequestId: rid(int(id)), Operation: op, TargetInstanceId: str(target),
			ParentInstanceId: str(self), ParentExecutionId: exec}
		if input != "" {
			c.Input = str(input)
		}
		return entityAction(id, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityOperationCalled{EntityOperationCalled: c}})
	}
	unlock := entityAction(5, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityUnlockSent{
		EntityUnlockSent: &pb.EntityUnlockSentEvent{CriticalSectionId: rid(3), TargetInstanceId: str(target), ParentInstanceId: str(self)}}})
	switch {
	case !v.scheduled[1]:
		return []*pb.OrchestratorAction{
			entityAction(1, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityOperationSignaled{
				EntityOperationSignaled: &pb.EntityOperationSignaledEvent{RequestId: rid(1), Operation: "add", Input: str("5"), TargetInstanceId: str(target)}}}),
			call(2, "add", "2"),
		}
	case v.entityResults[rid(2)] == "" && !hasKey(v.entityResults, rid(2)):
		return nil
	case !v.scheduled[3]:
		return []*pb.OrchestratorAction{entityAction(3, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityLockRequested{
			EntityLockRequested: &pb.EntityLockRequestedEvent{CriticalSectionId: rid(3), LockSet: []string{target}, ParentInstanceId: str(self)}}})}
	case !v.granted[rid(3)]:
		return nil
	case !v.scheduled[4]:
		return []*pb.OrchestratorAction{call(4, "get", "")}
	}
	got, ok := v.entityResults[rid(4)]
	if !ok {
		return nil
	}
	if !boomToo {
		return []*pb.OrchestratorAction{unlock, completeWith(6, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, got)}
	}
	if !v.scheduled[5] {
		return []*pb.OrchestratorAction{unlock, call(6, "boom", "")}
	}
	if f, ok := v.entityFailures[rid(6)]; ok {
		return []*pb.OrchestratorAction{completeWith(7, pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED, got+"|"+f)}
	}
	return nil
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// lockAndFail locks the entity its input names and fails inside the
// critical section, without releasing it.
func lockAndFail(v *view) []*pb.OrchestratorAction {
	target, _ := strconv.Unquote(v.input)
	cs := uuid.NewSHA1(uuid.NameSpaceURL, []byte(v.req.GetInstanceId()+"-cs")).String()
	if !v.scheduled[1] {
		return []*pb.OrchestratorAction{entityAction(1, &pb.SendEntityMessageAction{EntityMessageType: &pb.SendEntityMessageAction_EntityLockRequested{
			EntityLockRequested: &pb.EntityLockRequestedEvent{CriticalSectionId: cs, LockSet: []string{target}, ParentInstanceId: str(v.req.GetInstanceId())}}})}
	}
	if !v.granted[cs] {
		return nil
	}
	return []*pb.OrchestratorAction{{Id: 2, OrchestratorActionType: &pb.OrchestratorAction_CompleteOrchestration{
		CompleteOrchestration: &pb.CompleteOrchestrationAction{OrchestrationStatus: pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED,
			FailureDetails: &pb.TaskFailureDetails{ErrorType: "Error", ErrorMessage: "failed holding the lock"}}}}}
}

// entityOrchestrations are the fake SDK's orchestrations with usesCounter
// and lockAndFail.
func entityOrchestrations(v *view) []*pb.OrchestratorAction {
	switch v.name {
	case "UsesCounter", "LockAndFail":
		if v.ended() {
			return nil
		}
		if v.name == "LockAndFail" {
			return lockAndFail(v)
		}
		return usesCounter(v)
	}
	return orchestrations(v)
}

// getEntity reads an entity through the sidecar.
func (f *fixture) getEntity(t *testing.T, id string, withState bool) *pb.GetEntityResponse {
	t.Helper()
	res, err := f.client.GetEntity(ctxFor(t), &pb.GetEntityRequest{InstanceId: id, IncludeState: withState})
	if err != nil {
		t.Fatalf("GetEntity %s: %v", id, err)
	}
	return res
}

// waitEntity waits until the entity's state is want.
func (f *fixture) waitEntity(t *testing.T, id, want string) {
	t.Helper()
	azuritetest.WaitFor(t, stepTimeout, fmt.Sprintf("entity %s to hold %s", id, want), func() (bool, error) {
		res := f.getEntity(t, id, true)
		return res.GetExists() && res.GetEntity().GetSerializedState().GetValue() == want, nil
	})
}

func (f *fixture) signal(t *testing.T, req *pb.SignalEntityRequest) {
	t.Helper()
	if _, err := f.client.SignalEntity(ctxFor(t), req); err != nil {
		t.Fatalf("SignalEntity %v: %v", req, err)
	}
}

// The entity client calls on a Go worker's Counter: signals (one of them
// scheduled), reads with and without state, queries by name and key
// prefix with paging, transient entities, and a clean.
func TestEntityClientCallsAzurite(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := newFixture(t, be, hub, true)
	ctx := ctxFor(t)
	for _, bad := range []*pb.SignalEntityRequest{{InstanceId: "counter", Name: "add"}, {InstanceId: "@@k", Name: "add"},
		{InstanceId: "@counter@k"}, {InstanceId: "@counter@k", Name: "add", RequestId: "r-1"},
		{InstanceId: "@counter@k", Name: "add", RequestId: "urn:uuid:5a1e5b6c-0000-4000-8000-000000000001"}} {
		if _, err := f.client.SignalEntity(ctx, bad); code(err) != codes.InvalidArgument {
			t.Errorf("SignalEntity %v: %v", bad, err)
		}
	}
	if _, err := f.client.GetEntity(ctx, &pb.GetEntityRequest{InstanceId: "nope"}); code(err) != codes.InvalidArgument {
		t.Errorf("GetEntity of a non-entity id: %v", err)
	}
	if res := f.getEntity(t, "@counter@c1", true); res.GetExists() || res.GetEntity() != nil {
		t.Errorf("an entity that never ran: %v", res)
	}
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@Counter@c1", Name: "add", Input: str("5"), RequestId: "5a1e5b6c-0000-4000-8000-000000000001"})
	at := time.Now().Add(3 * time.Second)
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@c1", Name: "add", Input: str("1"), RequestId: "5a1e5b6c-0000-4000-8000-000000000002",
		ScheduledTime: timestamppb.New(at)})
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@c2", Name: "add", Input: str("2")})
	f.waitEntity(t, "@counter@c1", "6")
	// (A delayed queue message may come up to a second early.)
	if time.Now().Before(at.Add(-time.Second)) {
		t.Errorf("the scheduled signal ran before its time")
	}
	f.waitEntity(t, "@counter@c2", "2")
	res := f.getEntity(t, "@counter@c1", false)
	if e := res.GetEntity(); e.GetInstanceId() != "@counter@c1" || e.GetSerializedState() != nil || e.GetLastModifiedTime() == nil ||
		e.GetLockedBy() != nil || e.GetBacklogQueueSize() != 0 {
		t.Errorf("GetEntity without state: %v", e)
	}
	// What the Go client (and `azdurable entities get`) reads.
	m, err := client.New(be, client.Options{}).GetEntity(ctx, durable.NewEntityID("Counter", "c1"))
	if err != nil || !m.Exists || m.State == nil || *m.State != "6" {
		t.Fatalf("client.GetEntity: %+v, %v", m, err)
	}

	query := func(q *pb.EntityQuery) (ids []string, pages int) {
		t.Helper()
		for {
			res, err := f.client.QueryEntities(ctx, &pb.QueryEntitiesRequest{Query: q})
			if err != nil {
				t.Fatalf("QueryEntities %v: %v", q, err)
			}
			pages++
			for _, e := range res.GetEntities() {
				if q.GetIncludeState() != (e.GetSerializedState() != nil) {
					t.Errorf("entity %v with includeState %v", e, q.GetIncludeState())
				}
				ids = append(ids, e.GetInstanceId())
			}
			if res.GetContinuationToken() == nil {
				return ids, pages
			}
			q.ContinuationToken = res.GetContinuationToken()
		}
	}
	if ids, pages := query(&pb.EntityQuery{InstanceIdStartsWith: str("Count"), PageSize: wrapperspb.Int32(1), IncludeState: true}); !slices.Equal(ids, []string{"@counter@c1", "@counter@c2"}) || pages < 2 {
		t.Errorf("query by name prefix, one per page: %v in %d pages", ids, pages)
	}
	if ids, _ := query(&pb.EntityQuery{InstanceIdStartsWith: str("@counter@c2")}); !slices.Equal(ids, []string{"@counter@c2"}) {
		t.Errorf("query by key prefix: %v", ids)
	}
	if ids, _ := query(&pb.EntityQuery{InstanceIdStartsWith: str("@counter@C")}); len(ids) != 0 {
		t.Errorf("keys are compared as they are: %v", ids)
	}
	if ids, _ := query(&pb.EntityQuery{LastModifiedFrom: timestamppb.New(time.Now().Add(time.Hour))}); len(ids) != 0 {
		t.Errorf("query modified from an hour ahead: %v", ids)
	}
	// A deleted entity is transient: listed only when asked for.
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@c2", Name: "delete"})
	azuritetest.WaitFor(t, stepTimeout, "c2 to be deleted", func() (bool, error) { return !f.getEntity(t, "@counter@c2", true).GetExists(), nil })
	if ids, _ := query(&pb.EntityQuery{}); !slices.Equal(ids, []string{"@counter@c1"}) {
		t.Errorf("query without transient entities: %v", ids)
	}
	if ids, _ := query(&pb.EntityQuery{IncludeTransient: true}); !slices.Equal(ids, []string{"@counter@c1", "@counter@c2"}) {
		t.Errorf("query with transient entities: %v", ids)
	}
	// Clean: c2 is empty but too recent to remove (the reorder window).
	cr, err := f.client.CleanEntityStorage(ctx, &pb.CleanEntityStorageRequest{RemoveEmptyEntities: true, ReleaseOrphanedLocks: true})
	if err != nil || cr.GetContinuationToken() != nil || cr.GetEmptyEntitiesRemoved() != 0 || cr.GetOrphanedLocksReleased() != 0 {
		t.Errorf("CleanEntityStorage: %v, %v", cr, err)
	}
}

// An orchestration and a Counter entity both run by an SDK worker through
// the sidecar: signal, call, lock, call inside the critical section,
// unlock, a failing call; an entity signal from an operation; read by the
// Go client in the extension's format.
func TestSDKEntityAzurite(t *testing.T) {
	be, hub := azuriteBackend(t)
	f := sdkFixture(t, be, hub)
	w := connectEntitySDK(t, "w", f.addr, nil, entityOrchestrations, echo, sdkCounter, nil)
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "uses-1", Name: "UsesCounter", Input: str(`"@counter@k boom"`)})
	st := f.complete(t, id)
	if want := "7|Error: boom in @counter@k"; st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED || st.GetOutput().GetValue() != want {
		t.Fatalf("UsesCounter: %v, want output %q", st, want)
	}
	ctx := ctxFor(t)
	c := client.New(be, client.Options{})
	// The entity sends boom's failure before it writes its Instances row
	// (C#'s commit order: messages, history, row), so the orchestration
	// can complete before the row says the lock is released: wait for it.
	azuritetest.WaitFor(t, stepTimeout, "the entity's row to show the released lock", func() (bool, error) {
		m, err := c.GetEntity(ctx, durable.NewEntityID("Counter", "k"))
		if err != nil {
			return false, err
		}
		return m.Exists && m.State != nil && *m.State == "7" && m.LockedBy == "" && m.QueueSize == 0, nil
	})
	// The orchestration's history holds the messages a Go orchestration
	// sends: typed RequestMessages from it, stamped with its clock, and
	// the release.
	events, err := be.History(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, ev := range events {
		e, ok := ev.(*history.EventSentEvent)
		if !ok {
			continue
		}
		sent = append(sent, e.Name)
		if e.InstanceID != "@counter@k" {
			t.Errorf("EventSent to %q", e.InstanceID)
		}
		if e.Name == entity.OpEvent {
			r, err := entity.DecodeRequest(*e.Input)
			if err != nil || !r.Typed || r.Parent != id || r.ParentExecution == "" || r.Timestamp.IsZero() {
				t.Errorf("request %s: %+v, %v", *e.Input, r, err)
			}
		}
	}
	if want := []string{"op", "op", "op", "op", "release", "op"}; !slices.Equal(sent, want) {
		t.Errorf("EventSent names %v, want %v", sent, want)
	}
	// The work items the SDK got carried the protocol's entity events.
	var kinds []string
	for _, wi := range w.received() {
		for _, ev := range wi.GetOrchestratorRequest().GetNewEvents() {
			switch {
			case ev.GetEntityOperationCompleted() != nil:
				kinds = append(kinds, "completed")
			case ev.GetEntityOperationFailed() != nil:
				kinds = append(kinds, "failed")
			case ev.GetEntityLockGranted() != nil:
				kinds = append(kinds, "granted")
			case ev.GetEventRaised() != nil:
				kinds = append(kinds, "raised "+ev.GetEventRaised().GetName())
			}
		}
	}
	// (A work item may be sent again after a failed commit: each kind is
	// counted once.)
	slices.Sort(kinds)
	if want := []string{"completed", "failed", "granted"}; !slices.Equal(slices.Compact(kinds), want) {
		t.Errorf("entity events in the work items %v, want %v", kinds, want)
	}
	// A signal through the sidecar whose operation signals another entity.
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@k", Name: "relay", Input: str(`"other"`), RequestId: "5a1e5b6c-0000-4000-8000-0000000000a1"})
	f.waitEntity(t, "@counter@other", "1")
	f.waitEntity(t, "@counter@k", "7")
	// An orchestration that fails holding a lock releases it as it ends,
	// as a Go orchestration does: a later signal runs.
	lf := f.start(t, &pb.CreateInstanceRequest{InstanceId: "lock-and-fail", Name: "LockAndFail", Input: str(`"@counter@l"`)})
	if st := f.complete(t, lf); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED {
		t.Fatalf("LockAndFail: %v", st)
	}
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@l", Name: "add", Input: str("1")})
	f.waitEntity(t, "@counter@l", "1")
	if e := f.getEntity(t, "@counter@l", false).GetEntity(); e.GetLockedBy() != nil {
		t.Errorf("the entity is still locked by %v", e.GetLockedBy())
	}
	if n := f.srv.Stats().EntityBatches.Load(); n < 3 {
		t.Errorf("%d entity batches ran in the SDK worker", n)
	}
	if len(w.answerErrs) > 0 {
		t.Errorf("answers refused: %v", w.answerErrs)
	}
}

// An SDK orchestration calls, signals and locks a Counter entity hosted by
// a Go worker of the same hub: the messages and responses are the ones
// Go code exchanges.
func TestSDKOrchestrationGoEntity(t *testing.T) {
	be, hub := memoryBackend(t)
	// One work item at a time on either side: the memory backend hands
	// work items to its waiters in turn, so each side soon gets what the
	// other gave back.
	f := sdkFixture(t, be, hub, func(o *sidecar.Options) { o.MaxOrchestrationsPerWorker = 1 })
	// The SDK worker hosts the orchestration, not the entity.
	connectEntitySDK(t, "w", f.addr, &pb.GetWorkItemsRequest{WorkItemFilters: &pb.WorkItemFilters{
		Orchestrations: []*pb.OrchestrationFilter{{Name: "UsesCounter"}}}}, entityOrchestrations, echo, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	gw := worker.New(be, worker.Options{Logger: testLogger(), ShutdownTimeout: 10 * time.Second, MaxConcurrentOrchestrations: 1})
	if err := gw.Register(registrations()...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	id := f.start(t, &pb.CreateInstanceRequest{InstanceId: "uses-go", Name: "UsesCounter", Input: str(`"@counter@g"`)})
	res, err := f.client.WaitForInstanceCompletion(longCtx(t), &pb.GetInstanceRequest{InstanceId: id, GetInputsAndOutputs: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := res.GetOrchestrationState(); st.GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED || st.GetOutput().GetValue() != "7" {
		t.Fatalf("UsesCounter on a Go entity: %v", st)
	}
	// The release goes out with the completion; the entity runs it after.
	c := client.New(be, client.Options{})
	azuritetest.WaitFor(t, stepTimeout, "the Go entity to hold 7, unlocked", func() (bool, error) {
		m, err := c.GetEntity(ctxFor(t), durable.NewEntityID("Counter", "g"))
		if err != nil {
			return false, err
		}
		return m.Exists && m.State != nil && *m.State == "7" && m.LockedBy == "", nil
	})
}

// longCtx is for a test whose work items move between two kinds of
// workers, each giving back what it does not host with C#'s back-off.
func longCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// An entity batch abandoned by its worker runs again; one held by a worker
// that dies runs at another; the late answer is refused.
func TestEntityAbandonAndDisconnect(t *testing.T) {
	be, hub := memoryBackend(t)
	f := sdkFixture(t, be, hub)
	ctx := ctxFor(t)
	w1 := connectEntitySDK(t, "w1", f.addr, nil, entityOrchestrations, echo, sdkCounter,
		func(wi *pb.WorkItem) bool { return wi.GetEntityRequest() != nil })
	f.signal(t, &pb.SignalEntityRequest{InstanceId: "@counter@a", Name: "add", Input: str("3")})
	entityItems := func() []*pb.WorkItem {
		var out []*pb.WorkItem
		for _, wi := range w1.received() {
			if wi.GetEntityRequest() != nil {
				out = append(out, wi)
			}
		}
		return out
	}
	waitFor(t, "the first entity batch", func() bool { return len(entityItems()) == 1 })
	first := entityItems()[0]
	if ops := first.GetEntityRequest().GetOperations(); len(ops) != 1 || ops[0].GetOperation() != "add" || ops[0].GetInput().GetValue() != "3" ||
		first.GetEntityRequest().GetEntityState() != nil {
		t.Fatalf("the batch: %v", first.GetEntityRequest())
	}
	if _, err := f.client.AbandonTaskEntityWorkItem(ctx, &pb.AbandonEntityTaskRequest{CompletionToken: first.GetCompletionToken()}); err != nil {
		t.Fatalf("AbandonTaskEntityWorkItem: %v", err)
	}
	if _, err := f.client.AbandonTaskEntityWorkItem(ctx, &pb.AbandonEntityTaskRequest{CompletionToken: first.GetCompletionToken()}); code(err) != codes.NotFound {
		t.Errorf("a second abandon: %v", err)
	}
	waitFor(t, "the abandoned batch to come back", func() bool { return len(entityItems()) == 2 })
	second := entityItems()[1]
	w1.close() // dies holding it
	connectEntitySDK(t, "w2", f.addr, nil, entityOrchestrations, echo, sdkCounter, nil)
	f.waitEntity(t, "@counter@a", "3")
	late := sdkCounter(second.GetEntityRequest())
	late.CompletionToken = second.GetCompletionToken()
	if _, err := f.client.CompleteEntityTask(ctx, late); code(err) != codes.NotFound {
		t.Errorf("the late answer of the worker that went away: %v", err)
	}
	if res := f.getEntity(t, "@counter@a", true); res.GetEntity().GetSerializedState().GetValue() != "3" {
		t.Errorf("the entity after the late answer: %v", res)
	}
}

package memory

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider"
)

// A two-activity orchestration driven episode by episode ends with C#'s
// history shape and a Completed row, with every message routed and
// stamped as the contract says.
func TestTwoActivitySequence(t *testing.T) {
	f := newFixture(t, Options{})
	const id, exec = "order-1", "e1"
	f.mustCreate(id, exec)
	if st := f.state(id); st.Status != history.StatusPending || *st.Generation != 0 || st.Input == nil {
		t.Fatalf("row after create: %+v", st)
	}

	wi := f.lock()
	wantPart := f.b.names.ControlQueue(taskhub.PartitionIndex(id, 4))
	if wi.Partition != wantPart || wi.HistoryETag != "" || wi.HistoryLen != 0 || len(wi.History) != 0 || len(wi.Messages) != 1 {
		t.Fatalf("first work item: %+v", wi)
	}
	if m := wi.Messages[0]; m.DequeueCount != 1 || m.Sender != (history.OrchestrationInstance{}) || m.ID == "" {
		t.Fatalf("start message: %+v", m)
	}
	f.commit(wi, f.episode(wi, scheduled(0, "SayHello", f.now())))
	if wi.HistoryETag == "" || wi.HistoryLen != 4 || wi.ExecutionID != exec {
		t.Fatalf("work item after commit: etag %q len %d exec %q", wi.HistoryETag, wi.HistoryLen, wi.ExecutionID)
	}
	if st := f.state(id); st.Status != history.StatusRunning || st.OrchestrationInstance.ExecutionID != exec {
		t.Fatalf("row after episode 1: %+v", st)
	}

	a := f.lockActivity()
	if a.Instance != (history.OrchestrationInstance{InstanceID: id, ExecutionID: exec}) || a.Episode == nil || *a.Episode != 1 ||
		a.Tags["team"] != "blue" || a.Event.EventID != 0 || a.Event.Input == nil {
		t.Fatalf("activity work item: %+v", a)
	}
	if err := f.b.CompleteActivity(f.ctx, a, taskDone(0, `"Hello Tokyo"`, f.now())); err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(time.Second)
	wi = f.lock()
	if wi.HistoryLen != 4 || len(wi.History) != 4 || wi.ExecutionID != exec {
		t.Fatalf("second work item: len %d history %d exec %q", wi.HistoryLen, len(wi.History), wi.ExecutionID)
	}
	if m := wi.Messages[0]; m.Sender.InstanceID != id || m.Event.Type() != history.TaskCompleted {
		t.Fatalf("activity result message: %+v", m)
	}
	f.commit(wi, f.episode(wi, scheduled(1, "SayHello", f.now())))
	f.runActivity(`"Hello Seattle"`)

	f.clock.Advance(time.Second)
	wi = f.lock()
	f.commit(wi, f.episode(wi, completedEv(`["Hello Tokyo","Hello Seattle"]`, f.now())))

	want := []history.EventType{
		history.OrchestratorStarted, history.ExecutionStarted, history.TaskScheduled, history.OrchestratorCompleted,
		history.OrchestratorStarted, history.TaskCompleted, history.TaskScheduled, history.OrchestratorCompleted,
		history.OrchestratorStarted, history.TaskCompleted, history.ExecutionCompleted, history.OrchestratorCompleted,
	}
	if got := types(f.history(id)); !slices.Equal(got, want) {
		t.Fatalf("history:\n got %v\nwant %v", got, want)
	}
	st := f.state(id)
	if st.Status != history.StatusCompleted || history.Deref(st.Output) != `["Hello Tokyo","Hello Seattle"]` ||
		!st.CompletedTime.Equal(f.now()) || st.CreatedTime.IsZero() {
		t.Fatalf("final row: %+v", st)
	}
	if s := f.b.Stats(); s.ActivityMessages != 0 || slices.Max(s.ControlMessages) != 0 || !f.b.Idle() {
		t.Fatalf("queues not empty at the end: %+v", s)
	}
}

// Two work items built on the same history ETag (the first one's lock
// expired): the first commit wins, the second gets ErrLockLost, and the
// history holds the episode once.
func TestETagConflictSecondCommitLosesLock(t *testing.T) {
	f := newFixture(t, Options{LockDuration: time.Minute})
	f.mustCreate("i", "e1")
	wi1 := f.lock()
	f.clock.Advance(time.Minute) // wi1's lock expires
	wi2 := f.lock()
	if wi2.HistoryETag != wi1.HistoryETag || wi2.Messages[0].DequeueCount != 2 {
		t.Fatalf("second work item: etag %q (first %q), dequeue count %d", wi2.HistoryETag, wi1.HistoryETag, wi2.Messages[0].DequeueCount)
	}
	if err := f.b.RenewOrchestration(f.ctx, wi1); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("renewing the superseded work item: %v, want ErrMessageGone", err)
	}
	f.commit(wi1, f.episode(wi1, scheduled(0, "A", f.now())))
	err := f.b.CompleteOrchestration(f.ctx, wi2, f.episode(wi2, scheduled(0, "A", f.now())))
	if !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("second commit: %v, want ErrLockLost", err)
	}
	if err := f.b.LoadHistory(f.ctx, wi2); !errors.Is(err, provider.ErrLockLost) {
		t.Fatalf("LoadHistory of the losing work item: %v, want ErrLockLost", err)
	}
	h := f.history("i")
	if len(h) != 4 || countType(h, history.ExecutionStarted) != 1 || countType(h, history.TaskScheduled) != 1 {
		t.Fatalf("history after the conflict: %v", types(h))
	}
	if err := f.b.AbandonOrchestration(f.ctx, wi2, 0); err != nil {
		t.Fatal(err)
	}
	// wi2 had received the start message again, so wi1's delete missed
	// it; once abandoned it comes back and is dropped as a duplicate.
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("a work item after the conflict: %+v", wi.Messages)
	}
	if !strings.Contains(f.logs.String(), "duplicate ExecutionStarted") {
		t.Fatalf("the redelivered start was not dropped as a duplicate")
	}
}

// A completion that overtakes its scheduling event is abandoned with
// AbandonDelay back-off until the history holds the TaskScheduled.
func TestOutOfOrderCompletionAbandonedUntilScheduled(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	early := &history.TaskMessage{Event: taskDone(1, `"early"`, f.now()),
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e1"}}
	if err := f.b.SendMessages(f.ctx, early); err != nil {
		t.Fatal(err)
	}
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("out-of-order completion handed out: %+v", wi.Messages)
	}
	if next, ok := f.b.NextVisibleAt(); !ok || !next.Equal(t0.Add(provider.AbandonDelay(1))) {
		t.Fatalf("abandoned completion visible at %v (%v), want now + %v", next, ok, provider.AbandonDelay(1))
	}
	f.clock.Advance(provider.AbandonDelay(1))
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("second delivery handed out before its scheduling event: %+v", wi.Messages)
	}
	if next, _ := f.b.NextVisibleAt(); !next.Equal(f.now().Add(provider.AbandonDelay(2))) {
		t.Fatalf("second back-off ends at %v, want now + %v", next, provider.AbandonDelay(2))
	}
	// Task 0 completes and its episode schedules task 1.
	f.runActivity(`"a"`)
	wi = f.lock()
	f.commit(wi, f.episode(wi, scheduled(1, "B", f.now())))
	f.clock.Advance(provider.AbandonDelay(2))
	wi = f.lock()
	if len(wi.Messages) != 1 || wi.Messages[0].DequeueCount != 3 {
		t.Fatalf("completion after its scheduling event: %+v", wi.Messages[0])
	}
	if got := f.b.Stats().Abandoned; got != 2 {
		t.Fatalf("abandoned %d times, want 2", got)
	}
}

// A completion for a task already completed is dropped, in a later batch
// and within one batch.
func TestDuplicateCompletionDropped(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now()), scheduled(1, "B", f.now())))
	self := history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e1"}
	send := func(id int32) {
		t.Helper()
		if err := f.b.SendMessages(f.ctx, &history.TaskMessage{Event: taskDone(id, `"r"`, f.now()), OrchestrationInstance: self}); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	send(0) // duplicate inside the same batch
	wi = f.lock()
	if len(wi.Messages) != 1 {
		t.Fatalf("batch with an in-batch duplicate kept %d messages", len(wi.Messages))
	}
	f.commit(wi, f.episode(wi))
	send(0) // duplicate of a completion in history
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("duplicate completion handed out: %+v", wi.Messages)
	}
	if got := f.b.Stats().Dropped; got != 2 {
		t.Fatalf("dropped %d, want 2", got)
	}
	if h := f.history("i"); countType(h, history.TaskCompleted) != 1 {
		t.Fatalf("history holds %d completions: %v", countType(h, history.TaskCompleted), types(h))
	}
	if !strings.Contains(f.logs.String(), "duplicate TaskCompleted for task 0") {
		t.Fatalf("drop reason not logged")
	}
}

// Messages that arrive while an instance is locked wait for its next work
// item.
func TestMessagesWaitWhileInstanceLocked(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	raise := &history.TaskMessage{Event: &history.EventRaisedEvent{Name: "go", EventBase: base(f.now())},
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"}}
	if err := f.b.SendMessages(f.ctx, raise); err != nil {
		t.Fatal(err)
	}
	if other := f.tryLock(); other != nil {
		t.Fatalf("a second work item for a locked instance: %+v", other.Messages)
	}
	f.commit(wi, f.episode(wi))
	wi = f.lock()
	if len(wi.Messages) != 1 || wi.Messages[0].Event.Type() != history.EventRaised {
		t.Fatalf("next work item: %+v", wi.Messages)
	}
}

// ExecutionStarted de-duplication: dedupe statuses refuse a second start,
// a re-creation after completion gets Generation+1 and runs against an
// empty history that its first commit replaces.
func TestCreateInstanceDedupeAndRecreate(t *testing.T) {
	f := newFixture(t, Options{})
	dedupe := []history.OrchestrationStatus{history.StatusPending, history.StatusRunning}
	if err := f.create("i", "e1", "Hello", nil, dedupe...); err != nil {
		t.Fatal(err)
	}
	if err := f.create("i", "e2", "Hello", nil, dedupe...); !errors.Is(err, provider.ErrInstanceExists) {
		t.Fatalf("second create while Pending: %v, want ErrInstanceExists", err)
	}
	wi := f.lock()
	f.commit(wi, f.episode(wi, completedEv(`"done"`, f.now())))
	oldETag := wi.HistoryETag

	f.clock.Advance(time.Minute)
	if err := f.create("i", "e2", "Hello", history.Str(`"again"`), dedupe...); err != nil {
		t.Fatalf("re-create after completion: %v", err)
	}
	st := f.state("i")
	if st.Status != history.StatusPending || *st.Generation != 1 || st.OrchestrationInstance.ExecutionID != "e2" ||
		st.Output != nil || !st.CompletedTime.IsZero() {
		t.Fatalf("row after re-create: %+v", st)
	}
	wi = f.lock()
	if wi.ExecutionID != "" || wi.HistoryLen != 0 || wi.History == nil || len(wi.History) != 0 || wi.HistoryETag != oldETag {
		t.Fatalf("new-execution work item: exec %q len %d history %v etag %q (stored %q)",
			wi.ExecutionID, wi.HistoryLen, wi.History, wi.HistoryETag, oldETag)
	}
	es := wi.Messages[0].Event.(*history.ExecutionStartedEvent)
	if es.Generation == nil || *es.Generation != 1 {
		t.Fatalf("start message generation: %v", es.Generation)
	}
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	h := f.history("i")
	if len(h) != 4 || h[1].(*history.ExecutionStartedEvent).OrchestrationInstance.ExecutionID != "e2" {
		t.Fatalf("history after the new execution's first commit: %v", types(h))
	}
	if old, err := f.b.History(f.ctx, "i", "e1"); err != nil || len(old) != 0 {
		t.Fatalf("history of the overwritten execution: %v, %v", old, err)
	}
	if st := f.state("i"); st.Status != history.StatusRunning || *st.Generation != 1 || history.Deref(st.Input) != `"again"` {
		t.Fatalf("row after the new execution's first commit: %+v", st)
	}
}

// A terminate that reaches an instance without history (a scheduled start
// not yet due) marks its row Terminated with the reason as output, and the
// start message, when it becomes visible, is dropped rather than run (C#
// runs it, undoing the terminate): no work item, no history.
func TestTerminateBeforeStart(t *testing.T) {
	f := newFixture(t, Options{})
	start := startMsg("i", "e1", "Hello", nil, f.now())
	at := t0.Add(time.Hour)
	start.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &at
	if err := f.b.CreateInstance(f.ctx, start, nil); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	term := &history.TaskMessage{Event: &history.ExecutionTerminatedEvent{Input: history.Str("operator request"), EventBase: base(f.now())},
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"}}
	if err := f.b.SendMessages(f.ctx, term); err != nil {
		t.Fatal(err)
	}
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("terminate without history handed out: %+v", wi.Messages)
	}
	st := f.state("i")
	if st.Status != history.StatusTerminated || history.Deref(st.Output) != "operator request" ||
		!st.CompletedTime.Equal(f.now()) || !st.LastUpdatedTime.Equal(f.now()) {
		t.Fatalf("row after terminate: %+v", st)
	}
	if s := f.b.Stats(); s.Dropped != 1 || s.ControlMessages[f.b.PartitionOf("i")] != 1 {
		t.Fatalf("terminate not consumed or start lost: %+v", s)
	}
	f.clock.Set(at)
	if wi := f.tryLock(); wi != nil {
		t.Fatalf("the start of a terminated instance was handed out: %+v", wi.Messages)
	}
	if s := f.b.Stats(); s.Dropped != 2 || s.ControlMessages[f.b.PartitionOf("i")] != 0 {
		t.Fatalf("the start was not dropped: %+v", s)
	}
	if h, _ := f.b.History(f.ctx, "i", ""); len(h) != 0 {
		t.Fatalf("history written: %v", types(h))
	}
	if st := f.state("i"); st.Status != history.StatusTerminated || history.Deref(st.Output) != "operator request" {
		t.Fatalf("row after the start was due: %+v", st)
	}
}

// A scheduled start stays invisible until the clock reaches its time, and
// a waiting locker wakes when the clock moves there.
func TestScheduledStartInvisibleUntilDue(t *testing.T) {
	f := newFixture(t, Options{})
	start := startMsg("i", "e1", "Hello", nil, f.now())
	at := t0.Add(10 * time.Minute)
	start.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &at
	if err := f.b.CreateInstance(f.ctx, start, nil); err != nil {
		t.Fatal(err)
	}
	if next, ok := f.b.NextVisibleAt(); !ok || !next.Equal(at) {
		t.Fatalf("NextVisibleAt = %v, %v; want %v", next, ok, at)
	}
	if !f.b.Idle() {
		t.Fatal("backend not idle while only a future start is queued")
	}
	f.clock.Set(at.Add(-time.Nanosecond))
	if wi := f.tryLock(); wi != nil {
		t.Fatal("scheduled start handed out early")
	}
	got := make(chan *provider.OrchestrationWorkItem, 1)
	go func() { got <- f.lock() }()
	f.waitUntil("the locker to wait", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		return len(f.b.orchWaiters) == 1
	})
	f.clock.Set(at)
	select {
	case wi := <-got:
		if wi.Messages[0].Event.Type() != history.ExecutionStarted {
			t.Fatalf("woken with %+v", wi.Messages)
		}
	case <-time.After(wait):
		t.Fatal("the waiting locker was not woken when the clock reached the start time")
	}
}

// A top-level start with no matching status row (here: sent without the
// client's row write) is abandoned with back-off and dropped on its 10th
// delivery, as C#'s ExecutionStarted de-duplication does when quarantine
// is off.
func TestStartWithoutRowAbandonedThenDropped(t *testing.T) {
	f := newFixture(t, Options{MaxDequeueCount: -1})
	if err := f.b.SendMessages(f.ctx, startMsg("i", "e1", "Hello", nil, f.now())); err != nil {
		t.Fatal(err)
	}
	for delivery := 1; delivery <= 10; delivery++ {
		if wi := f.tryLock(); wi != nil {
			t.Fatalf("delivery %d: a start without a row was handed out", delivery)
		}
		if delivery < 10 {
			next, ok := f.b.NextVisibleAt()
			if !ok || next.Sub(f.now()) != provider.AbandonDelay(delivery) {
				t.Fatalf("delivery %d: next visible %v (%v), want back-off %v", delivery, next, ok, provider.AbandonDelay(delivery))
			}
			f.clock.Set(next)
		}
	}
	if s := f.b.Stats(); s.Abandoned != 9 || s.Dropped != 1 || s.ControlMessages[f.b.PartitionOf("i")] != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if !strings.Contains(f.logs.String(), "after 10 deliveries") {
		t.Fatal("drop reason not logged")
	}
}

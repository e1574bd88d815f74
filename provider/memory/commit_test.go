package memory

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// Visibility delays over 7 days are refused with a clear error and nothing
// committed; exactly 7 days is accepted.
func TestDelaysOverSevenDaysRefused(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	tooLate := f.now().Add(provider.MaxVisibilityDelay + time.Second)
	err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi, timerCreated(0, tooLate, f.now())))
	if !errors.Is(err, ErrDelayTooLong) {
		t.Fatalf("commit with an 8-day timer: %v, want ErrDelayTooLong", err)
	}
	if s := f.b.Stats(); s.Sent != 1 || wi.HistoryETag != "" {
		t.Fatalf("something was committed: sent %d, etag %q", s.Sent, wi.HistoryETag)
	}
	if h, _ := f.b.History(f.ctx, "i", ""); len(h) != 0 {
		t.Fatalf("history written: %v", types(h))
	}
	if st := f.state("i"); st.Status != history.StatusPending {
		t.Fatalf("row changed: %s", st.Status)
	}
	// The work item is still held and can commit a legal episode.
	fireAt := f.now().Add(provider.MaxVisibilityDelay)
	f.commit(wi, f.episode(wi, timerCreated(0, fireAt, f.now())))
	if next, _ := f.b.NextVisibleAt(); !next.Equal(fireAt) {
		t.Fatalf("timer visible at %v, want %v", next, fireAt)
	}

	start := startMsg("j", "e1", "Hello", nil, f.now())
	late := f.now().Add(8 * 24 * time.Hour)
	start.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &late
	if err := f.b.CreateInstance(f.ctx, start, nil); !errors.Is(err, ErrDelayTooLong) {
		t.Fatalf("start 8 days ahead: %v, want ErrDelayTooLong", err)
	}
	if _, err := f.b.GetState(f.ctx, "j", false); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("refused start left a row: %v", err)
	}
	f.mustCreate("k", "e1")
	wk := f.lock()
	if err := f.b.AbandonOrchestration(f.ctx, wk, 8*24*time.Hour); !errors.Is(err, ErrDelayTooLong) {
		t.Fatalf("abandon for 8 days: %v, want ErrDelayTooLong", err)
	}
}

// Continue-as-new (NewExecution) replaces the history from row 0; the row
// keeps its generation and moves to the new execution.
func TestContinueAsNewReplacesHistory(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	f.runActivity(`1`)
	wi = f.lock()
	now := f.now()
	next := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e2"},
		Name: "Hello", Input: history.Str(`2`), EventBase: base(now)}
	f.commit(wi, &provider.EpisodeResult{NewExecution: true, NewEvents: []history.Event{
		&history.OrchestratorStartedEvent{EventBase: base(now)}, next,
		&history.OrchestratorCompletedEvent{EventBase: base(now)}}})
	if wi.ExecutionID != "e2" || wi.HistoryLen != 3 {
		t.Fatalf("work item after continue-as-new: exec %q len %d", wi.ExecutionID, wi.HistoryLen)
	}
	want := []history.EventType{history.OrchestratorStarted, history.ExecutionStarted, history.OrchestratorCompleted}
	if got := types(f.history("i")); !slices.Equal(got, want) {
		t.Fatalf("history: %v, want %v", got, want)
	}
	if old, _ := f.b.History(f.ctx, "i", "e1"); len(old) != 0 {
		t.Fatalf("old execution still readable: %v", types(old))
	}
	st := f.state("i")
	if st.OrchestrationInstance.ExecutionID != "e2" || st.Status != history.StatusRunning || *st.Generation != 0 ||
		history.Deref(st.Input) != "2" {
		t.Fatalf("row after continue-as-new: %+v", st)
	}
	// The first execution's longer rows (4) are still counted by purge,
	// plus the sentinel, as in the History table.
	res, err := f.b.Purge(f.ctx, "i")
	if err != nil || res.InstancesDeleted != 1 || res.RowsDeleted != 5 {
		t.Fatalf("purge: %+v, %v", res, err)
	}
}

// A commit whose history has no ExecutionStarted, or a new execution
// without one, is refused before anything is sent.
func TestCommitValidation(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	bad := &provider.EpisodeResult{NewEvents: []history.Event{&history.OrchestratorStartedEvent{EventBase: base(f.now())}},
		Outbox: []*history.TaskMessage{{Event: scheduled(0, "A", f.now())}}}
	if err := f.b.CompleteOrchestration(f.ctx, wi, bad); err == nil {
		t.Fatal("a first episode without ExecutionStarted was accepted")
	}
	r := f.episode(wi)
	r.NewExecution = true
	r.NewEvents = r.NewEvents[:1]
	if err := f.b.CompleteOrchestration(f.ctx, wi, r); err == nil {
		t.Fatal("a new execution without ExecutionStarted was accepted")
	}
	if s := f.b.Stats(); s.Sent != 1 {
		t.Fatalf("refused commits sent messages: %d", s.Sent)
	}
	if err := f.b.CompleteOrchestration(f.ctx, &provider.OrchestrationWorkItem{InstanceID: "i"}, f.episode(wi)); !errors.Is(err, ErrForeignWorkItem) {
		t.Fatalf("foreign work item: %v", err)
	}
	f.commit(wi, f.episode(wi))
	if err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi)); !errors.Is(err, ErrForeignWorkItem) {
		t.Fatalf("second commit of one work item: %v", err)
	}
}

// Sub-orchestration routing: the child's start goes to the child's
// partition with the parent as Sender, the child's first commit writes its
// first row with ParentInstanceID, and its completion goes back to the
// parent's partition.
func TestSubOrchestrationRouting(t *testing.T) {
	f := newFixture(t, Options{Partitions: 16})
	f.mustCreate("parent", "p1")
	wi := f.lock()
	r := f.episode(wi, &history.SubOrchestrationInstanceCreatedEvent{Name: "Child", InstanceID: "child-1",
		EventBase: history.EventBase{EventID: 0, Timestamp: f.now()}})
	parentRef := history.OrchestrationInstance{InstanceID: "parent", ExecutionID: "p1"}
	childRef := history.OrchestrationInstance{InstanceID: "child-1", ExecutionID: "c1"}
	r.Outbox = append(r.Outbox, &history.TaskMessage{OrchestrationInstance: childRef,
		Event: &history.ExecutionStartedEvent{OrchestrationInstance: childRef, Name: "Child",
			ParentInstance: &history.ParentInstance{Name: "Hello", OrchestrationInstance: parentRef, TaskScheduleID: 0},
			EventBase:      base(f.now())}})
	f.commit(wi, r)
	if f.b.PartitionOf("child-1") == f.b.PartitionOf("parent") {
		t.Fatal("test ids share a partition; pick others")
	}
	if got := f.b.Stats().ControlMessages[f.b.PartitionOf("child-1")]; got != 1 {
		t.Fatalf("child partition holds %d messages", got)
	}
	if _, err := f.b.GetState(f.ctx, "child-1", false); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("child has a row before its first commit: %v", err)
	}
	cw := f.lock()
	if cw.InstanceID != "child-1" || cw.Messages[0].Sender != parentRef || cw.Partition != f.b.names.ControlQueue(f.b.PartitionOf("child-1")) {
		t.Fatalf("child work item: %+v sender %+v", cw, cw.Messages[0].Sender)
	}
	cr := f.episode(cw, completedEv(`"child done"`, f.now()))
	cr.Outbox = append(cr.Outbox, &history.TaskMessage{OrchestrationInstance: parentRef,
		Event: &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: 0, Result: history.Str(`"child done"`), EventBase: base(f.now())}})
	f.commit(cw, cr)
	if st := f.state("child-1"); st.ParentInstanceID != "parent" || st.Status != history.StatusCompleted {
		t.Fatalf("child row: %+v", st)
	}
	pw := f.lock()
	if pw.InstanceID != "parent" || pw.Messages[0].Sender != childRef || pw.Messages[0].Event.Type() != history.SubOrchestrationInstanceCompleted {
		t.Fatalf("parent work item: %+v", pw.Messages[0])
	}
}

// Every crash point leaves exactly the state a process crash there leaves,
// and a retry (after abandon or after the lock expires) converges to one
// clean history.
func TestCrashPointsConverge(t *testing.T) {
	for _, tc := range []struct {
		point             CrashPoint
		expire            bool // recover by lock expiry instead of abandon
		history           int  // events in history after the crash
		status            history.OrchestrationStatus
		redeliversEpisode bool // the start message yields a work item again
	}{
		{AfterOutbox, false, 0, history.StatusPending, true},
		{AfterHistory, true, 4, history.StatusPending, false},
		{AfterStatus, false, 4, history.StatusRunning, false},
	} {
		t.Run(tc.point.String(), func(t *testing.T) {
			f := newFixture(t, Options{})
			f.mustCreate("i", "e1")
			wi := f.lock()
			f.b.CrashNext(tc.point)
			err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi, scheduled(0, "A", f.now())))
			var ce *CrashError
			if !errors.Is(err, ErrInjectedCrash) || !errors.As(err, &ce) || ce.Point != tc.point {
				t.Fatalf("commit: %v, want a crash %s", err, tc.point)
			}
			s := f.b.Stats()
			if s.ActivityMessages != 1 || s.ControlMessages[f.b.PartitionOf("i")] != 1 || s.LockedOrchestrations != 1 {
				t.Fatalf("after the crash: %+v", s)
			}
			h, _ := f.b.History(f.ctx, "i", "")
			if len(h) != tc.history || f.state("i").Status != tc.status {
				t.Fatalf("after the crash: history %v, status %s", types(h), f.state("i").Status)
			}
			if tc.expire {
				f.clock.Advance(f.b.opts.LockDuration)
			} else if err := f.b.AbandonOrchestration(f.ctx, wi, 0); err != nil {
				t.Fatal(err)
			}
			if again := f.tryLock(); (again != nil) != tc.redeliversEpisode {
				t.Fatalf("redelivered start gave work item %v, want %v", again != nil, tc.redeliversEpisode)
			} else if again != nil {
				if again.Messages[0].DequeueCount != 2 {
					t.Fatalf("redelivery dequeue count %d", again.Messages[0].DequeueCount)
				}
				f.commit(again, f.episode(again, scheduled(0, "A", f.now())))
			}
			// Run every copy of the activity; the results converge.
			for f.b.Stats().ActivityMessages > 0 {
				f.runActivity(`"a"`)
			}
			wi = f.lock()
			f.commit(wi, f.episode(wi, completedEv(`"done"`, f.now())))
			if extra := f.tryLock(); extra != nil {
				t.Fatalf("leftover work item: %+v", extra.Messages)
			}
			h = f.history("i")
			for _, et := range []history.EventType{history.ExecutionStarted, history.TaskScheduled, history.TaskCompleted, history.ExecutionCompleted} {
				if countType(h, et) != 1 {
					t.Fatalf("history has %d %s: %v", countType(h, et), et, types(h))
				}
			}
			if st := f.state("i"); st.Status != history.StatusCompleted {
				t.Fatalf("final status %s", st.Status)
			}
		})
	}
}

// A crash after the final history write leaves a stale Running row; the
// redelivered trigger finds a terminal history and repairs the row.
func TestCrashAfterFinalHistoryRepairsRow(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	f.runActivity(`"a"`)
	wi = f.lock()
	f.clock.Advance(time.Second)
	f.b.CrashNext(AfterHistory)
	if err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi, completedEv(`"out"`, f.now()))); !errors.Is(err, ErrInjectedCrash) {
		t.Fatal(err)
	}
	if st := f.state("i"); st.Status != history.StatusRunning {
		t.Fatalf("row after the crash: %s", st.Status)
	}
	completedAt := f.now()
	f.clock.Advance(time.Minute)
	if err := f.b.AbandonOrchestration(f.ctx, wi, 0); err != nil {
		t.Fatal(err)
	}
	if again := f.tryLock(); again != nil {
		t.Fatalf("a terminal instance got a work item: %+v", again.Messages)
	}
	st := f.state("i")
	if st.Status != history.StatusCompleted || history.Deref(st.Output) != `"out"` || !st.CompletedTime.Equal(completedAt) ||
		history.Deref(st.Input) != `"Tokyo"` {
		t.Fatalf("repaired row: %+v", st)
	}
}

// A crash between sending an activity result and deleting the work item
// gives a second run and a duplicate result, which the orchestration's
// message rules drop.
func TestActivityCrashAfterResult(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	a := f.lockActivity()
	f.b.CrashNext(AfterActivityResult)
	if err := f.b.CompleteActivity(f.ctx, a, taskDone(0, `"a"`, f.now())); !errors.Is(err, ErrInjectedCrash) {
		t.Fatalf("CompleteActivity: %v", err)
	}
	if s := f.b.Stats(); s.ActivityMessages != 1 || s.LockedActivities != 1 {
		t.Fatalf("after the crash: %+v", s)
	}
	wi = f.lock()
	f.commit(wi, f.episode(wi))
	f.clock.Advance(f.b.opts.LockDuration)
	a2 := f.runActivity(`"a"`)
	if a2.DequeueCount != 2 || a2.ID != a.ID {
		t.Fatalf("redelivered activity: %+v", a2)
	}
	if extra := f.tryLock(); extra != nil {
		t.Fatalf("duplicate result handed out: %+v", extra.Messages)
	}
	if h := f.history("i"); countType(h, history.TaskCompleted) != 1 {
		t.Fatalf("history: %v", types(h))
	}
}

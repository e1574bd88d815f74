package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// Stop unblocks waiting lockers with ErrStopped, refuses new ones until
// Start, and without graceful abandons locked work items at once.
func TestStopUnblocksAndAbandons(t *testing.T) {
	f := newFixture(t, Options{})
	orch := make(chan *provider.OrchestrationWorkItem, 1)
	actErr := make(chan error, 1)
	go func() {
		wi, err := f.b.LockNextOrchestration(context.Background())
		if err != nil {
			t.Errorf("orchestration locker: %v", err)
		}
		orch <- wi
	}()
	go func() { _, err := f.b.LockNextActivity(context.Background()); actErr <- err }()
	f.waitUntil("both lockers to wait", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		return len(f.b.orchWaiters) == 1 && len(f.b.actWaiters) == 1
	})
	f.mustCreate("i", "e1") // handed to the waiting orchestration locker
	select {
	case wi := <-orch:
		if wi == nil || wi.InstanceID != "i" {
			t.Fatalf("waiting locker got %+v", wi)
		}
	case <-time.After(wait):
		t.Fatal("the waiting locker was not given the new instance")
	}
	if err := f.b.Stop(f.ctx, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-actErr:
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("waiting activity locker: %v, want ErrStopped", err)
		}
	case <-time.After(wait):
		t.Fatal("Stop did not unblock the waiting activity locker")
	}
	if _, err := f.b.LockNextActivity(f.ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("LockNextActivity after Stop: %v", err)
	}
	if s := f.b.Stats(); s.LockedOrchestrations != 0 {
		t.Fatalf("work items still locked after a hard stop: %+v", s)
	}
	if err := f.b.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	if wi := f.lock(); wi.InstanceID != "i" || wi.Messages[0].DequeueCount != 2 {
		t.Fatalf("after restart: %+v", wi.Messages[0])
	}
}

// A graceful Stop waits for locked work items; at its deadline it
// abandons the rest, whose holder can still commit like a worker that
// lost its lease.
func TestGracefulStop(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	wi := f.lock()
	done := make(chan error, 1)
	go func() { done <- f.b.Stop(f.ctx, true) }()
	f.waitUntil("Stop to begin", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		return f.b.state == stopped
	})
	select {
	case <-done:
		t.Fatal("graceful Stop returned while a work item was locked")
	default:
	}
	f.commit(wi, f.episode(wi))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("graceful Stop did not return after the work item completed")
	}

	if err := f.b.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.b.SendMessages(f.ctx, &history.TaskMessage{Event: &history.EventRaisedEvent{Name: "x", EventBase: base(f.now())},
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"}}); err != nil {
		t.Fatal(err)
	}
	wi = f.lock()
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := f.b.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	if s := f.b.Stats(); s.LockedOrchestrations != 0 {
		t.Fatalf("Stop past its deadline left a work item locked: %+v", s)
	}
	f.commit(wi, f.episode(wi)) // the history write still succeeds
	if h := f.history("i"); countType(h, history.EventRaised) != 1 {
		t.Fatalf("history: %v", types(h))
	}
}

func TestLockNextHonorsContext(t *testing.T) {
	f := newFixture(t, Options{})
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := f.b.LockNextOrchestration(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockNextOrchestration: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(f.ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := f.b.LockNextActivity(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockNextActivity: %v", err)
	}
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	if len(f.b.orchWaiters)+len(f.b.actWaiters) != 0 {
		t.Fatal("canceled lockers are still queued")
	}
}

// With the wall clock, a timer wakes a waiting locker at FireAt.
func TestWallClockTimerWakesLocker(t *testing.T) {
	f := newFixture(t, Options{Clock: provider.WallClock{}})
	f.mustCreate("i", "e1")
	wi := f.lock()
	fireAt := time.Now().UTC().Add(30 * time.Millisecond)
	f.commit(wi, f.episode(wi, timerCreated(0, fireAt, f.now())))
	wi = f.lock()
	if _, ok := wi.Messages[0].Event.(*history.TimerFiredEvent); !ok {
		t.Fatalf("woken with %+v", wi.Messages[0].Event)
	}
	if now := time.Now(); now.Before(fireAt.Truncate(100 * time.Nanosecond)) {
		t.Fatalf("timer delivered at %v, before FireAt %v", now, fireAt)
	}
}

// Activity work items: results are checked, locks renew, and a renewal
// after the message was received again fails.
func TestActivityLocks(t *testing.T) {
	f := newFixture(t, Options{LockDuration: time.Minute})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, scheduled(0, "A", f.now())))
	a := f.lockActivity()
	if err := f.b.CompleteActivity(f.ctx, a, taskDone(5, `"x"`, f.now())); err == nil {
		t.Fatal("a result for another task id was accepted")
	}
	if err := f.b.CompleteActivity(f.ctx, a, &history.EventRaisedEvent{EventBase: base(f.now())}); err == nil {
		t.Fatal("a result that is not TaskCompleted/TaskFailed was accepted")
	}
	f.clock.Advance(50 * time.Second)
	if err := f.b.RenewActivity(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(50 * time.Second) // within the renewed lock
	if other := f.tryLockActivity(); other != nil {
		t.Fatal("a renewed activity was handed out again")
	}
	f.clock.Advance(time.Minute)
	again := f.lockActivity()
	if again.DequeueCount != 2 {
		t.Fatalf("dequeue count %d", again.DequeueCount)
	}
	if err := f.b.RenewActivity(f.ctx, a); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("renewing a superseded activity: %v", err)
	}
	if err := f.b.AbandonActivity(f.ctx, again, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.b.AbandonActivity(f.ctx, again, time.Second); !errors.Is(err, ErrForeignWorkItem) {
		t.Fatalf("second abandon: %v", err)
	}
	if next, _ := f.b.NextVisibleAt(); !next.Equal(f.now().Add(time.Second)) {
		t.Fatalf("abandoned activity visible at %v", next)
	}
	failed := &history.TaskFailedEvent{TaskScheduledID: 0, Reason: history.Str("boom"), EventBase: base(f.now())}
	f.clock.Advance(time.Second)
	if err := f.b.CompleteActivity(f.ctx, f.lockActivity(), failed); err != nil {
		t.Fatal(err)
	}
	wi = f.lock()
	if wi.Messages[0].Event.Type() != history.TaskFailed {
		t.Fatalf("result message: %+v", wi.Messages[0])
	}
}

// Idle is false while a work item is locked; WaitIdle returns once it is
// completed and only future messages remain.
func TestWaitIdle(t *testing.T) {
	f := newFixture(t, Options{})
	f.mustCreate("i", "e1")
	if f.b.Idle() {
		t.Fatal("idle with a visible start message")
	}
	wi := f.lock()
	if f.b.Idle() {
		t.Fatal("idle with a locked work item")
	}
	idle := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		idle <- f.b.WaitIdle(ctx)
	}()
	f.commit(wi, f.episode(wi, timerCreated(0, t0.Add(time.Hour), f.now())))
	if err := <-idle; err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	if !f.b.Idle() {
		t.Fatal("not idle with only a future timer queued")
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"17 partitions":            {Partitions: 17},
		"invalid hub name":         {TaskHub: "no-dashes"},
		"auto-advance, wall clock": {AutoAdvance: true, Clock: provider.WallClock{}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(opts)
		}()
	}
	b := New(Options{Partitions: 16, TaskHub: "Orders"})
	if b.Partitions() != 16 || b.names.ControlQueue(15) != "orders-control-15" {
		t.Fatalf("valid options: %d partitions, %s", b.Partitions(), b.names.ControlQueue(15))
	}
	if err := b.SetAutoAdvance(true); err == nil {
		t.Fatal("SetAutoAdvance accepted the wall clock")
	}
}

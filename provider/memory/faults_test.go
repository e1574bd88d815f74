package memory

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// AutoAdvance jumps the clock to the next timer once the locker waits and
// nothing is locked or visible, and never while a work item is locked.
func TestAutoAdvanceSkipsToNextTimer(t *testing.T) {
	f := newFixture(t, Options{AutoAdvance: true})
	f.mustCreate("a", "e1")
	wi := f.lock()
	fireAt := t0.Add(time.Hour)
	f.commit(wi, f.episode(wi, timerCreated(0, fireAt, f.now())))
	f.mustCreate("b", "e1")
	held := f.lock() // b is locked: the clock must not move
	if held.InstanceID != "b" {
		t.Fatalf("locked %q", held.InstanceID)
	}
	got := make(chan *provider.OrchestrationWorkItem, 1)
	go func() { got <- f.lock() }()
	f.waitUntil("the locker to wait", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		return len(f.b.orchWaiters) == 1
	})
	if now := f.now(); !now.Equal(t0) || f.b.Stats().Advances != 0 {
		t.Fatalf("the clock moved to %v while a work item was locked", now)
	}
	f.commit(held, f.episode(held))
	select {
	case wi = <-got:
	case <-time.After(wait):
		t.Fatal("the locker was not given the timer")
	}
	if fired, ok := wi.Messages[0].Event.(*history.TimerFiredEvent); !ok || fired.TimerID != 0 {
		t.Fatalf("woken with %+v", wi.Messages[0].Event)
	}
	if now := f.now(); !now.Equal(fireAt) || f.b.Stats().Advances != 1 {
		t.Fatalf("clock at %v after %d advances, want %v after 1", now, f.b.Stats().Advances, fireAt)
	}
}

// drive runs a two-activity orchestration on i to completion with the
// synchronous helpers, retrying crashed commits after abandoning them and
// moving the clock when only future messages are left. It returns the
// crash points met, in order.
func (f *fixture) drive(id string) []CrashPoint {
	f.t.Helper()
	var crashes []CrashPoint
	for step := 0; step < 1000; step++ {
		if wi := f.tryLock(); wi != nil {
			all := slices.Clone(wi.History)
			for _, m := range wi.Messages {
				all = append(all, m.Event)
			}
			var actions []history.Event
			switch sched, done := countType(all, history.TaskScheduled), countType(all, history.TaskCompleted); {
			case sched == 0:
				actions = append(actions, scheduled(0, "A", f.now()))
			case sched == 1 && done == 1:
				actions = append(actions, scheduled(1, "B", f.now()))
			case done == 2:
				actions = append(actions, completedEv(`"done"`, f.now()))
			}
			err := f.b.CompleteOrchestration(f.ctx, wi, f.episode(wi, actions...))
			var ce *CrashError
			switch {
			case errors.As(err, &ce):
				crashes = append(crashes, ce.Point)
				if err := f.b.AbandonOrchestration(f.ctx, wi, 0); err != nil {
					f.t.Fatal(err)
				}
			case err != nil:
				f.t.Fatalf("commit: %v", err)
			}
			continue
		}
		if a := f.tryLockActivity(); a != nil {
			if err := f.b.CompleteActivity(f.ctx, a, taskDone(a.Event.EventID, `"r"`, f.now())); err != nil {
				f.t.Fatal(err)
			}
			continue
		}
		next, ok := f.b.NextVisibleAt()
		if !ok {
			return crashes
		}
		f.clock.Set(next)
	}
	f.t.Fatal("the orchestration did not settle in 1000 steps")
	return nil
}

func (f *fixture) checkClean(id string) {
	f.t.Helper()
	h := f.history(id)
	for et, n := range map[history.EventType]int{history.ExecutionStarted: 1, history.TaskScheduled: 2,
		history.TaskCompleted: 2, history.ExecutionCompleted: 1} {
		if countType(h, et) != n {
			f.t.Fatalf("history has %d %s, want %d: %v", countType(h, et), et, n, types(h))
		}
	}
	if st := f.state(id); st.Status != history.StatusCompleted {
		f.t.Fatalf("final status %s", st.Status)
	}
}

// Every message delivered twice: the message rules drop the copies and
// the history stays clean.
func TestDuplicateDeliveryConverges(t *testing.T) {
	f := newFixture(t, Options{Faults: Faults{DuplicateRate: 1}})
	f.mustCreate("i", "e1")
	f.drive("i")
	f.checkClean("i")
	if s := f.b.Stats(); s.Duplicated == 0 || s.Dropped == 0 || s.Sent != 2*s.Duplicated {
		t.Fatalf("stats: %+v", s)
	}
}

// Random crashes and duplicates with a seed: the run is reproducible and
// converges to a clean history.
func TestSeededCrashesReproducibleAndConverge(t *testing.T) {
	run := func() []CrashPoint {
		f := newFixture(t, Options{Faults: Faults{Seed: 42, CrashRate: 0.5, DuplicateRate: 0.3}})
		f.mustCreate("i", "e1")
		crashes := f.drive("i")
		f.checkClean("i")
		return crashes
	}
	first, second := run(), run()
	if len(first) == 0 {
		t.Fatal("seed 42 injected no crash; the test proves nothing")
	}
	if !slices.Equal(first, second) {
		t.Fatalf("same seed, different crashes: %v vs %v", first, second)
	}
}

// Shuffle keeps an ExecutionStarted first and one sender's messages in
// order, and does reorder messages of different senders.
func TestShuffleKeepsPerSenderOrder(t *testing.T) {
	reordered := false
	for seed := uint64(0); seed < 20 && !reordered; seed++ {
		f := newFixture(t, Options{Faults: Faults{Shuffle: true, Seed: seed}})
		f.mustCreate("i", "e1")
		wi := f.lock()
		f.commit(wi, f.episode(wi, scheduled(0, "A", f.now()), scheduled(1, "B", f.now()), scheduled(2, "C", f.now())))
		raise := func(name string) {
			t.Helper()
			m := &history.TaskMessage{Event: &history.EventRaisedEvent{Name: name, EventBase: base(f.now())},
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i"}}
			if err := f.b.SendMessages(f.ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		raise("first")
		f.runActivity(`0`)
		raise("second")
		f.runActivity(`1`)
		raise("third")
		f.runActivity(`2`)
		wi = f.lock()
		var order, events []string
		for _, m := range wi.Messages {
			switch ev := m.Event.(type) {
			case *history.EventRaisedEvent:
				order = append(order, ev.Name)
				events = append(events, ev.Name)
			case *history.TaskCompletedEvent:
				order = append(order, history.Deref(ev.Result))
			}
		}
		if len(order) != 6 {
			t.Fatalf("seed %d: batch %v", seed, order)
		}
		if !slices.Equal(events, []string{"first", "second", "third"}) {
			t.Fatalf("seed %d: client messages reordered: %v", seed, order)
		}
		reordered = !slices.Equal(order, []string{"first", "0", "second", "1", "third", "2"})
	}
	if !reordered {
		t.Fatal("no seed in 0..19 reordered the batch")
	}
}

// TruncateDelays makes a timer visible at whole seconds, up to 1 s before
// FireAt, as the Azure SDK does.
func TestTruncateDelays(t *testing.T) {
	f := newFixture(t, Options{Faults: Faults{TruncateDelays: true}})
	f.mustCreate("i", "e1")
	wi := f.lock()
	f.commit(wi, f.episode(wi, timerCreated(0, f.now().Add(1900*time.Millisecond), f.now())))
	if next, _ := f.b.NextVisibleAt(); !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("timer visible at %v, want %v", next, t0.Add(time.Second))
	}
}

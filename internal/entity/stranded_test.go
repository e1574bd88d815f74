package entity

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// The tests in this file are cases where a lock or a queued request could
// wait for ever after a worker died, a batch ran twice, or a message came
// back late.

func continueEvent() *history.EventRaisedEvent {
	return &history.EventRaisedEvent{Name: ContinueEvent}
}

func sentContinue(res *Result) bool {
	for _, m := range res.Outbox {
		if ev, ok := m.Event.(*history.EventRaisedEvent); ok && ev.Name == ContinueEvent {
			return true
		}
	}
	return false
}

// TestHoldersCallQueuedBeforeItsGrant is a lock holder's first call
// received in the batch that unlocks the previous holder (its release was
// held until then, or the batch ran again after its worker died having
// granted the lock and answered): the call is queued while another holds
// the lock, behind the next caller's lock request, and the lock is granted
// to its sender afterwards in the same batch. Left behind the other lock
// request it would never run: the holder waits for its answer, the other
// caller for the lock.
func TestHoldersCallQueuedBeforeItsGrant(t *testing.T) {
	e := NewID("acct", "a")
	x := &sender{id: "x", exec: "xx"}
	p := &sender{id: "p", exec: "px"}
	q := &sender{id: "q", exec: "qx"}
	res, _ := run(t, e, nil, 0, x.keyedLock(t0, "lock-x", "xx:0", e))
	res, _ = run(t, e, encoded(res.State), 0,
		p.keyedLock(t0.Add(time.Second), "lock-p", "px:0", e),
		q.keyedLock(t0.Add(2*time.Second), "lock-q", "qx:0", e))
	if res.State.LockedBy != "x" || len(res.State.Queue) != 2 {
		t.Fatalf("locked by %q, %d queued", res.State.LockedBy, len(res.State.Queue))
	}
	res, ran := run(t, e, encoded(res.State), 0,
		p.keyed(e, "get", false, t0.Add(3*time.Second), "get-p", "px:1"),
		releaseAfter("x", "lock-x", x, e))
	if len(ran) != 0 || res.State.LockedBy != "p" {
		t.Fatalf("ran %v, locked by %q", ran, res.State.LockedBy)
	}
	if !sentContinue(res) {
		t.Fatal("no continue message: the holder's call waits behind another caller's lock request")
	}
	res, ran = run(t, e, encoded(res.State), 0, continueEvent())
	if join(ran) != "get" || res.State.LockedBy != "p" || len(res.State.Queue) != 1 {
		t.Fatalf("the next batch ran %v, locked by %q, %d queued", ran, res.State.LockedBy, len(res.State.Queue))
	}
}

// TestLockSetAgreesOnNoLockID is a lock request sent twice by an episode
// that ran again (two ids, one delivery key), whose entities take
// different ones for the original: the first entity took the first run's
// and passed the second run's on as its copy, and the second entity got
// that copy first (the batch that took the forwarded original did not
// commit, so the original came back later). The orchestration is granted
// the lock under the second id and releases it under that id; the first
// entity, which holds the lock under the first id, must take the release
// for its own, or it stays locked.
func TestLockSetAgreesOnNoLockID(t *testing.T) {
	a, b := NewID("acct", "a"), NewID("acct", "b")
	first := &sender{id: "o", exec: "x1"}
	resA, _ := run(t, a, nil, 0, first.keyedLock(t0, "lock-1", "x1:0", a, b))
	fwd1 := resA.Outbox[0].Event.(*history.EventRaisedEvent)
	rerun := &sender{id: "o", exec: "x1"}
	resA, _ = run(t, a, encoded(resA.State), 0, rerun.keyedLock(t0.Add(time.Second), "lock-2", "x1:0", a, b))
	if len(resA.Outbox) != 1 || resA.State.Dedupe.LockID != "lock-1" {
		t.Fatalf("the copy at the first entity: %d messages, lock %q", len(resA.Outbox), resA.State.Dedupe.LockID)
	}
	fwd2 := resA.Outbox[0].Event.(*history.EventRaisedEvent)
	resB, _ := run(t, b, nil, 0, fwd2)
	resB, _ = run(t, b, encoded(resB.State), 0, fwd1)
	if resB.State.LockedBy != "o" || resB.State.Dedupe.LockID != "lock-2" {
		t.Fatalf("the second entity: locked by %q under %q", resB.State.LockedBy, resB.State.Dedupe.LockID)
	}
	// The orchestration releases what it was granted: lock-2.
	relA, _ := run(t, a, encoded(resA.State), 0, releaseAfter("o", "lock-2", rerun, a))
	relB, _ := run(t, b, encoded(resB.State), 0, releaseAfter("o", "lock-2", rerun, b))
	if relA.State.LockedBy != "" || relB.State.LockedBy != "" {
		t.Fatalf("after the releases: the first entity locked by %q, the second by %q", relA.State.LockedBy, relB.State.LockedBy)
	}
	// A release under the other id, come back after the orchestration
	// locked the entity again, leaves the new lock alone.
	again, _ := run(t, a, encoded(relA.State), 0, rerun.keyedLock(t0.Add(5*time.Second), "lock-3", "x1:5", a, b))
	stale, _ := run(t, a, encoded(again.State), 0, releaseAfter("o", "lock-1", first, a))
	if stale.State.LockedBy != "o" || stale.State.Dedupe.LockID != "lock-3" {
		t.Fatalf("a stale release under the other id: locked by %q under %q", stale.State.LockedBy, stale.State.Dedupe.LockID)
	}
}

// TestCopyDoesNotWaitForItsGap is an episode that ran again and sent its
// requests to a counter again, under new clocks: the copy of its first
// request never arrived, and its second, also a copy, waited in the
// sorter for it, and the execution's next (new) request behind them, for
// the sorter's 30-minute reorder window. A request whose delivery key was
// accepted is a copy whose original came in order, after every request its
// run sent before it: the requests it waits for are copies too, and it
// needs no order.
func TestCopyDoesNotWaitForItsGap(t *testing.T) {
	e := NewID("c", "k")
	first := &sender{id: "o", exec: "x1"}
	res, ran := run(t, e, nil, 0,
		first.keyed(e, "add", true, t0, "id-0", "x1:0"),
		first.keyed(e, "add", true, t0, "id-3", "x1:3"))
	if join(ran) != "add,add" {
		t.Fatalf("ran %v", ran)
	}
	rerun := &sender{id: "o", exec: "x1"}
	_ = rerun.keyed(e, "add", true, t0.Add(6*time.Second), "id-0b", "x1:0") // never arrives
	copy3 := rerun.keyed(e, "add", true, t0.Add(6*time.Second), "id-3b", "x1:3")
	next := rerun.keyed(e, "add", true, t0.Add(7*time.Second), "id-6", "x1:6")
	res, ran = run(t, e, encoded(res.State), 0, copy3)
	if len(ran) != 0 {
		t.Fatalf("the copy ran %v", ran)
	}
	res, ran = run(t, e, encoded(res.State), 0, next)
	if join(ran) != "add" || res.State.Sorter.Buffered() != 0 {
		t.Fatalf("the next request ran %v, %d wait in the sorter", ran, res.State.Sorter.Buffered())
	}
	// A copy that waited since before its original arrived does not hold
	// up what came behind it either.
	o2 := &sender{id: "o2", exec: "y1"}
	orig := o2.keyed(e, "add", true, t0, "y-0", "y1:0")
	orig1 := o2.keyed(e, "add", true, t0, "y-1", "y1:1")
	again := &sender{id: "o2", exec: "y1"}
	_ = again.keyed(e, "add", true, t0.Add(5*time.Second), "y-0b", "y1:0") // never arrives
	again1 := again.keyed(e, "add", true, t0.Add(5*time.Second), "y-1b", "y1:1")
	after := again.keyed(e, "add", true, t0.Add(6*time.Second), "y-2", "y1:2")
	res, ran = run(t, e, encoded(res.State), 0, again1, after)
	if len(ran) != 0 {
		t.Fatalf("ran %v before the originals", ran)
	}
	res, ran = run(t, e, encoded(res.State), 0, orig, orig1)
	if join(ran) != "add,add,add" || res.State.Sorter.Buffered() != 0 {
		t.Fatalf("ran %v, %d wait in the sorter", ran, res.State.Sorter.Buffered())
	}
}

// TestHoldersCallBeforeItsReleaseRunsFirst is a lock holder's call and its
// release (one without "after", as the extension's orchestrations send it)
// received in one batch, with another caller's lock request queued: the
// call belongs to the critical section and runs before the lock passes on,
// as the extension puts the holder's requests back first.
func TestHoldersCallBeforeItsReleaseRunsFirst(t *testing.T) {
	e := NewID("acct", "a")
	x := &sender{id: "x", exec: "xx"}
	q := &sender{id: "q", exec: "qx"}
	res, _ := run(t, e, nil, 0, x.keyedLock(t0, "lock-x", "xx:0", e))
	res, _ = run(t, e, encoded(res.State), 0, q.keyedLock(t0.Add(time.Second), "lock-q", "qx:0", e))
	res, ran := run(t, e, encoded(res.State), 0,
		x.keyed(e, "set", false, t0.Add(2*time.Second), "set-x", "xx:1"),
		releaseOf("x", "lock-x"))
	if join(ran) != "set" || res.State.LockedBy != "q" {
		t.Fatalf("ran %v, locked by %q", ran, res.State.LockedBy)
	}
}

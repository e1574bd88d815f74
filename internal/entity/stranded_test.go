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

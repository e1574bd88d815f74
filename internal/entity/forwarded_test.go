package entity

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// TestForwardedLockCopyIsDropped is the entity left locked for ever after a
// crash between granting a lock and deleting the request: the second
// entity of a lock set grants a lock forwarded by the first, the holder
// releases it, and then the forwarded request comes back (the worker died
// after the entity's commit and before it deleted the message). The copy
// carries the forwarder's message clock, not later than the one already
// delivered, so it must be dropped; granted again, it would lock the
// entity for an orchestration that will never release it.
func TestForwardedLockCopyIsDropped(t *testing.T) {
	a, b := NewID("acct", "a"), NewID("acct", "b")
	o := &sender{id: "o", exec: "x1"}
	lockEv := o.lock(t0, a, b)
	// The first entity grants the lock and forwards it to the second.
	res, _ := run(t, a, nil, 0, lockEv)
	if res.State.LockedBy != "o" || len(res.Outbox) != 1 {
		t.Fatalf("first entity: locked by %q, %d messages", res.State.LockedBy, len(res.Outbox))
	}
	fwd := res.Outbox[0].Event.(*history.EventRaisedEvent)
	resA, _ := run(t, a, encoded(res.State), 0, release("o"))
	aState := encoded(resA.State)
	if res.Outbox[0].OrchestrationInstance.InstanceID != b.InstanceID() {
		t.Fatalf("forwarded to %s", res.Outbox[0].OrchestrationInstance.InstanceID)
	}
	// The second grants it and answers the orchestration.
	res, _ = run(t, b, nil, 0, fwd)
	if res.State.LockedBy != "o" || len(res.Outbox) != 1 {
		t.Fatalf("second entity: locked by %q, %d messages", res.State.LockedBy, len(res.Outbox))
	}
	// The holder releases it.
	res, _ = run(t, b, encoded(res.State), 0, release("o"))
	if res.State.LockedBy != "" {
		t.Fatalf("after the release: locked by %q", res.State.LockedBy)
	}
	// The forwarded request comes back, alone or with the release.
	after := encoded(res.State)
	for _, evs := range [][]*history.EventRaisedEvent{{fwd}, {fwd, fwd}} {
		res, _ := run(t, b, after, 0, evs...)
		if res.State.LockedBy != "" || len(res.Outbox) != 0 || len(res.State.Queue) != 0 {
			t.Fatalf("a copy of the forwarded lock request: locked by %q, %d messages, %d queued",
				res.State.LockedBy, len(res.Outbox), len(res.State.Queue))
		}
	}
	// A new lock forwarded later by the same entity is granted (the
	// entity's clock for the second one is later, even at the same time).
	o2 := &sender{id: "o2", exec: "y1"}
	res2, _ := run(t, a, aState, 0, o2.lock(t0.Add(time.Second), a, b))
	res3, _ := run(t, b, after, 0, res2.Outbox[0].Event.(*history.EventRaisedEvent))
	if res3.State.LockedBy != "o2" || len(res3.Outbox) != 1 {
		t.Fatalf("a later forwarded lock: locked by %q, %d messages", res3.State.LockedBy, len(res3.Outbox))
	}
}

package entity

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

func clientSignal(id, op string) *history.EventRaisedEvent {
	r := &Request{Op: &op, Signal: true, ID: id}
	in := r.Encode()
	return &history.EventRaisedEvent{Name: OpEvent, Input: &in}
}

// keyed is a request an azdurable orchestration sends: labelled by the
// sender's clock at `at`, with a delivery key.
func (s *sender) keyed(target ID, op string, signal bool, at time.Time, id, key string) *history.EventRaisedEvent {
	r := &Request{Typed: true, Signal: signal, ID: id, Parent: s.id, ParentExecution: s.exec, Key: key}
	if op != "" {
		r.Op = &op
	}
	s.sorter.LabelOutgoing(r, target.InstanceID(), UTCStamp(at))
	in := r.Encode()
	return &history.EventRaisedEvent{Name: OpEvent, Input: &in}
}

func (s *sender) keyedLock(at time.Time, id, key string, ids ...ID) *history.EventRaisedEvent {
	r := &Request{Typed: true, ID: id, Parent: s.id, ParentExecution: s.exec, LockSet: ids, Key: key}
	s.sorter.LabelOutgoing(r, ids[0].InstanceID(), UTCStamp(at))
	in := r.Encode()
	return &history.EventRaisedEvent{Name: OpEvent, Input: &in}
}

func releaseOf(parent, id string) *history.EventRaisedEvent {
	in := (&Release{Parent: parent, ID: id}).Encode()
	return &history.EventRaisedEvent{Name: ReleaseEvent, Input: &in}
}

// TestClientRequestCopyIsDropped is a client signal received again after
// the batch that ran it committed (the worker died before deleting it, or
// lost its partition lease): the sorter passes client requests unsorted,
// so only its id tells the copy from a new signal.
func TestClientRequestCopyIsDropped(t *testing.T) {
	e := NewID("c", "k")
	sig := clientSignal("5b7c2a0e-0000-4000-8000-000000000001", "add")
	res, ran := run(t, e, nil, 0, sig)
	if join(ran) != "add" {
		t.Fatalf("ran %v", ran)
	}
	// Alone in a later batch, and twice in one batch with a new signal.
	res2, ran := run(t, e, encoded(res.State), 0, sig)
	if len(ran) != 0 || res2.Copies != 1 {
		t.Fatalf("the copy ran %v (%d copies)", ran, res2.Copies)
	}
	_, ran = run(t, e, encoded(res.State), 0, sig, clientSignal("5b7c2a0e-0000-4000-8000-000000000002", "b"), sig)
	if join(ran) != "b" {
		t.Fatalf("ran %v, want only the new signal", ran)
	}
	// A scheduled client signal that comes due is de-duplicated as well.
	due := UTCStamp(t0)
	op := "late"
	r := &Request{Op: &op, Signal: true, ID: "5b7c2a0e-0000-4000-8000-000000000003", Due: &due}
	in := r.Encode()
	ev := &history.EventRaisedEvent{Name: ScheduledOpEvent(t0), Input: &in}
	res, ran = run(t, e, nil, 0, ev)
	_, ran2 := run(t, e, encoded(res.State), 0, ev)
	if join(ran) != "late" || len(ran2) != 0 {
		t.Fatalf("a scheduled signal ran %v, then its copy %v", ran, ran2)
	}
}

// TestStaleReleaseKeepsALaterLock is a release received again after its
// orchestration locked the entity anew: it names the earlier lock's
// request, so the later lock must hold (released, another transfer takes
// the entity and two of them wait on each other for ever).
func TestStaleReleaseKeepsALaterLock(t *testing.T) {
	e := NewID("acct", "a")
	o := &sender{id: "o", exec: "x1"}
	res, _ := run(t, e, nil, 0, o.keyedLock(t0, "lock-1", "x1:0", e))
	if res.State.LockedBy != "o" {
		t.Fatalf("locked by %q", res.State.LockedBy)
	}
	rel1 := releaseOf("o", "lock-1")
	res, _ = run(t, e, encoded(res.State), 0, rel1)
	if res.State.LockedBy != "" {
		t.Fatalf("the release left it locked by %q", res.State.LockedBy)
	}
	res, _ = run(t, e, encoded(res.State), 0, o.keyedLock(t0.Add(time.Second), "lock-2", "x1:1", e))
	if res.State.LockedBy != "o" {
		t.Fatalf("the second lock: locked by %q", res.State.LockedBy)
	}
	res, _ = run(t, e, encoded(res.State), 0, rel1)
	if res.State.LockedBy != "o" {
		t.Fatal("a copy of the first lock's release unlocked the second lock")
	}
	// The second lock's own release, and the clean's, unlock.
	if r, _ := run(t, e, encoded(res.State), 0, releaseOf("o", "lock-2")); r.State.LockedBy != "" {
		t.Fatalf("the second lock's release left it locked by %q", r.State.LockedBy)
	}
	if r, _ := run(t, e, encoded(res.State), 0, releaseOf("o", OrphanedLockReleaseID)); r.State.LockedBy != "" {
		t.Fatalf("the clean's release left it locked by %q", r.State.LockedBy)
	}
	// A lock whose request is not known (taken by the extension) is
	// released by any release of its holder, as the extension does.
	st := &State{Exists: true, LockedBy: "o"}
	if r, _ := run(t, e, encoded(st), 0, releaseOf("o", "whatever")); r.State.LockedBy != "" {
		t.Fatalf("a lock of unknown request: locked by %q", r.State.LockedBy)
	}
}

// TestRerunCopyIsDropped is an orchestration episode that ran again after
// its requests went out (its worker died before its history was written):
// the second run sends them with new ids and later clocks, which the
// sorter takes for new requests, but with the same delivery keys. The
// copies must not run; a call's copy is answered with the original's id,
// which the orchestration then waits for.
func TestRerunCopyIsDropped(t *testing.T) {
	e := NewID("c", "k")
	first := &sender{id: "o", exec: "x1"}
	res, ran := run(t, e, nil, 0,
		first.keyed(e, "add", true, t0, "id-1", "x1:0"),
		first.keyed(e, "get", false, t0, "id-2", "x1:1"))
	if join(ran) != "add,get" || len(res.Outbox) != 1 {
		t.Fatalf("ran %v, %d messages", ran, len(res.Outbox))
	}
	// The rerun: the sender's clock as replay rebuilt it (nothing sent
	// yet in this episode), a later time.
	rerun := &sender{id: "o", exec: "x1"}
	res2, ran := run(t, e, encoded(res.State), 0,
		rerun.keyed(e, "add", true, t0.Add(5*time.Second), "id-3", "x1:0"),
		rerun.keyed(e, "get", false, t0.Add(5*time.Second), "id-4", "x1:1"),
		rerun.keyed(e, "add", true, t0.Add(5*time.Second), "id-5", "x1:2"))
	if join(ran) != "add" || res2.Copies != 2 {
		t.Fatalf("the rerun ran %v (%d copies), want only the new add", ran, res2.Copies)
	}
	if len(res2.Outbox) != 1 {
		t.Fatalf("%d messages, want the answer to the call's copy", len(res2.Outbox))
	}
	// The copy gets the answer the original got, under its own id.
	m := res2.Outbox[0]
	ev := m.Event.(*history.EventRaisedEvent)
	want := *res.Outbox[0].Event.(*history.EventRaisedEvent).Input
	if m.OrchestrationInstance.InstanceID != "o" || m.OrchestrationInstance.ExecutionID != "x1" || ev.Name != "id-4" || *ev.Input != want {
		t.Fatalf("answer %s %s %s %s, want %s", m.OrchestrationInstance.InstanceID, m.OrchestrationInstance.ExecutionID, ev.Name, *ev.Input, want)
	}
	// A copy of a call still queued behind a lock is told to wait for
	// the original's answer.
	holder := &sender{id: "h", exec: "hx"}
	locked, _ := run(t, e, encoded(res2.State), 0, holder.keyedLock(t0.Add(6*time.Second), "lock-h", "hx:0", e))
	waiting := &sender{id: "w", exec: "wx"}
	q, _ := run(t, e, encoded(locked.State), 0, waiting.keyed(e, "get", false, t0.Add(7*time.Second), "w-1", "wx:0"))
	rerunW := &sender{id: "w", exec: "wx"}
	q2, ran := run(t, e, encoded(q.State), 0, rerunW.keyed(e, "get", false, t0.Add(8*time.Second), "w-2", "wx:0"))
	if len(ran) != 0 || len(q2.Outbox) != 1 || !strings.Contains(*q2.Outbox[0].Event.(*history.EventRaisedEvent).Input, `"copyOf":"w-1"`) ||
		len(q2.State.Queue) != 1 {
		t.Fatalf("a queued call's copy: ran %v, %d messages, %d queued", ran, len(q2.Outbox), len(q2.State.Queue))
	}
	// Another execution of the sender uses other keys.
	next := &sender{id: "o", exec: "x2"}
	if _, ran := run(t, e, encoded(res2.State), 0, next.keyed(e, "add", true, t0.Add(6*time.Second), "id-6", "x2:0")); join(ran) != "add" {
		t.Fatalf("a new execution's request ran %v", ran)
	}
}

// TestRerunLockCopy is a lock request sent again by an episode that ran
// again: the first copy holds (or waits for) the lock, the second is
// answered with the first's id, and the release under the first's id
// unlocks.
func TestRerunLockCopy(t *testing.T) {
	a, b := NewID("acct", "a"), NewID("acct", "b")
	first := &sender{id: "o", exec: "x1"}
	res, _ := run(t, a, nil, 0, first.keyedLock(t0, "lock-1", "x1:0", a, b))
	fwd := res.Outbox[0].Event.(*history.EventRaisedEvent)
	// The second entity grants the forwarded request, and gets it twice
	// (its forwarder sent it again): granted once, answered once.
	resB, _ := run(t, b, nil, 0, fwd)
	resB2, _ := run(t, b, encoded(resB.State), 0, fwd)
	if resB2.State.LockedBy != "o" || len(resB2.Outbox) != 0 {
		t.Fatalf("the forwarded copy: locked by %q, %d messages", resB2.State.LockedBy, len(resB2.Outbox))
	}
	// The rerun's copy is passed on as the original was, and the last
	// entity answers it as granted, naming the lock's id.
	rerun := &sender{id: "o", exec: "x1"}
	res2, _ := run(t, a, encoded(res.State), 0, rerun.keyedLock(t0.Add(time.Second), "lock-2", "x1:0", a, b))
	if len(res2.Outbox) != 1 || res2.Outbox[0].OrchestrationInstance.InstanceID != b.InstanceID() {
		t.Fatalf("the lock's copy: %d messages", len(res2.Outbox))
	}
	resB3, _ := run(t, b, encoded(resB2.State), 0, res2.Outbox[0].Event.(*history.EventRaisedEvent))
	if len(resB3.Outbox) != 1 || resB3.Outbox[0].OrchestrationInstance.InstanceID != "o" {
		t.Fatalf("the copy at the last entity: %d messages", len(resB3.Outbox))
	}
	grant, _ := DecodeResponse(*resB3.Outbox[0].Event.(*history.EventRaisedEvent).Input)
	if resB3.Outbox[0].Event.(*history.EventRaisedEvent).Name != "lock-2" || grant.CopyOf != "lock-1" || grant.Result == nil || *grant.Result != LockAcquired {
		t.Fatalf("the copy's grant: %s %s", resB3.Outbox[0].Event.(*history.EventRaisedEvent).Name, *resB3.Outbox[0].Event.(*history.EventRaisedEvent).Input)
	}
	// After the release, a copy is stale: dropped without an answer.
	rel, _ := run(t, a, encoded(res2.State), 0, releaseOf("o", "lock-1"))
	stale, _ := run(t, a, encoded(rel.State), 0, (&sender{id: "o", exec: "x1"}).keyedLock(t0.Add(2*time.Second), "lock-3", "x1:0", a, b))
	if len(stale.Outbox) != 0 || stale.State.LockedBy != "" {
		t.Fatalf("a stale copy: %d messages, locked by %q", len(stale.Outbox), stale.State.LockedBy)
	}
	if r, _ := run(t, a, encoded(res2.State), 0, releaseOf("o", "lock-1")); r.State.LockedBy != "" {
		t.Fatalf("the release under the first id left it locked by %q", r.State.LockedBy)
	}
}

// TestDedupeKeysExpire keeps the state small: keys older than the window
// are forgotten, and no more than MaxDedupeKeys are kept.
func TestDedupeKeysExpire(t *testing.T) {
	e := NewID("c", "k")
	var evs []*history.EventRaisedEvent
	for i := 0; i < MaxDedupeKeys+10; i++ {
		evs = append(evs, clientSignal(fmt.Sprintf("id-%d", i), "add"))
	}
	res, _ := run(t, e, nil, len(evs), evs...)
	if n := res.State.Dedupe.Keys(); n != MaxDedupeKeys {
		t.Fatalf("%d keys kept, want %d", n, MaxDedupeKeys)
	}
	st, err := DecodeState(encoded(res.State))
	if err != nil || st.Dedupe.Keys() != MaxDedupeKeys {
		t.Fatalf("read back: %v", err)
	}
	later, err := Step(&Batch{Self: history.OrchestrationInstance{InstanceID: e.InstanceID(), ExecutionID: "e"},
		Input: encoded(res.State), Now: func() time.Time { return t0.Add(DedupeWindow + time.Minute) },
		NewGUID: func() string { return "g" }, NewExecutionID: func() string { return "x" }})
	if err != nil || later.State.Dedupe.Keys() != 0 || strings.Contains(later.State.Encode(), DedupeMember) {
		t.Fatalf("after the window: %d keys, state %s (%v)", later.State.Dedupe.Keys(), later.State.Encode(), err)
	}
}

func releaseAfter(parent, id string, s *sender, target ID) *history.EventRaisedEvent {
	after, _ := s.sorter.LastSent(target.InstanceID())
	in := (&Release{Parent: parent, ID: id, After: &after}).Encode()
	return &history.EventRaisedEvent{Name: ReleaseEvent, Input: &in}
}

// TestReleaseWaitsForTheHoldersLateRequest is a critical section whose
// last call came back late: the worker that ran it died after answering and
// before committing, so the call's message is received again after the
// release. The release must wait for it; unlocked at once, the entity
// would let another orchestration read the balance before the late call
// changes it, and the later writes would overwrite each other.
func TestReleaseWaitsForTheHoldersLateRequest(t *testing.T) {
	e := NewID("acct", "a")
	o := &sender{id: "o", exec: "x1"}
	res, _ := run(t, e, nil, 0, o.keyedLock(t0, "lock-1", "x1:0", e))
	set := o.keyed(e, "set", false, t0.Add(time.Second), "set-1", "x1:1")
	rel := releaseAfter("o", "lock-1", o, e)
	other := &sender{id: "o2", exec: "y1"}
	res, ran := run(t, e, encoded(res.State), 0, rel, other.keyedLock(t0.Add(2*time.Second), "lock-2", "y1:0", e))
	if len(ran) != 0 || res.State.LockedBy != "o" {
		t.Fatalf("before the late call: ran %v, locked by %q (the release did not wait)", ran, res.State.LockedBy)
	}
	res, ran = run(t, e, encoded(res.State), 0, set)
	if join(ran) != "set" || res.State.LockedBy != "o2" || res.State.Dedupe.LockID != "lock-2" {
		t.Fatalf("after the late call: ran %v, locked by %q", ran, res.State.LockedBy)
	}
	// A release whose requests all arrived applies at once, in the batch
	// that brings it.
	o = &sender{id: "o", exec: "x2"}
	res, _ = run(t, e, nil, 0, o.keyedLock(t0.Add(3*time.Second), "lock-3", "x2:0", e))
	set2 := o.keyed(e, "set", false, t0.Add(4*time.Second), "set-2", "x2:1")
	res, ran = run(t, e, encoded(res.State), 0, set2, releaseAfter("o", "lock-3", o, e),
		(&sender{id: "o3", exec: "z1"}).request(e, "get", false, t0.Add(5*time.Second)))
	if join(ran) != "set,get" || res.State.LockedBy != "" || len(res.State.Dedupe.held) != 0 {
		t.Fatalf("ran %v, locked by %q, %d held", ran, res.State.LockedBy, len(res.State.Dedupe.held))
	}
	// A copy of the release that comes back later is dropped.
	res, _ = run(t, e, encoded(res.State), 0, releaseAfter("o", "lock-3", o, e))
	if len(res.State.Dedupe.held) != 0 || res.State.LockedBy != "" {
		t.Fatalf("a release copy: %d held, locked by %q", len(res.State.Dedupe.held), res.State.LockedBy)
	}
}

// TestReleaseWaitsForALateForwardedLock is the second entity of a lock set
// whose worker answered the orchestration and died before committing the
// grant: the orchestration runs its section and releases, and the
// forwarded lock request is received again after the release. Applied at
// once the release finds nothing to unlock, and the lock granted again
// afterwards would hold the entity for ever.
func TestReleaseWaitsForALateForwardedLock(t *testing.T) {
	a, b := NewID("acct", "a"), NewID("acct", "b")
	o := &sender{id: "o", exec: "x1"}
	res, _ := run(t, a, nil, 0, o.keyedLock(t0, "lock-1", "x1:0", a, b))
	fwd := res.Outbox[0].Event.(*history.EventRaisedEvent)
	res, _ = run(t, b, nil, 0, releaseAfter("o", "lock-1", o, b))
	if len(res.State.Dedupe.held) != 1 {
		t.Fatalf("the release before its lock: %d held", len(res.State.Dedupe.held))
	}
	res, _ = run(t, b, encoded(res.State), 0, fwd)
	if res.State.LockedBy != "" || len(res.State.Dedupe.held) != 0 {
		t.Fatalf("after the late lock: locked by %q, %d held", res.State.LockedBy, len(res.State.Dedupe.held))
	}
	// A request that waited behind the lock gets a batch of its own.
	other := &sender{id: "o2", exec: "y1"}
	res, _ = run(t, b, nil, 0, releaseAfter("o", "lock-1", o, b))
	res, ran := run(t, b, encoded(res.State), 0, fwd, other.request(b, "get", false, t0.Add(time.Second)))
	if len(ran) != 0 || res.State.LockedBy != "" || len(res.State.Queue) != 1 || len(res.Outbox) != 2 ||
		res.Outbox[1].Event.(*history.EventRaisedEvent).Name != ContinueEvent {
		t.Fatalf("ran %v, locked by %q, %d queued, %d messages", ran, res.State.LockedBy, len(res.State.Queue), len(res.Outbox))
	}
}

// TestEarlierCopyIsAnswered is an episode run twice at once (a worker that
// renewed its partition lease late ran it beside the new owner): the run
// whose history won has the earlier clock, so the sorter drops its call as
// a duplicate of the other run's. The caller waits under the dropped
// request's id and must be told the original's.
func TestEarlierCopyIsAnswered(t *testing.T) {
	e := NewID("c", "k")
	late := &sender{id: "o", exec: "x1"}
	res, ran := run(t, e, nil, 0, late.keyed(e, "add", false, t0.Add(time.Second), "id-late", "x1:0"))
	if join(ran) != "add" {
		t.Fatalf("ran %v", ran)
	}
	early := &sender{id: "o", exec: "x1"}
	res2, ran := run(t, e, encoded(res.State), 0, early.keyed(e, "add", false, t0, "id-early", "x1:0"))
	if len(ran) != 0 || len(res2.Outbox) != 1 || res2.Outbox[0].Event.(*history.EventRaisedEvent).Name != "id-early" ||
		*res2.Outbox[0].Event.(*history.EventRaisedEvent).Input != *res.Outbox[0].Event.(*history.EventRaisedEvent).Input {
		t.Fatalf("ran %v, %d messages", ran, len(res2.Outbox))
	}
	// The later run's copy, delivered by the sorter, is answered once.
	again := &sender{id: "o", exec: "x1"}
	res3, _ := run(t, e, encoded(res.State), 0, again.keyed(e, "add", false, t0.Add(2*time.Second), "id-again", "x1:0"))
	if len(res3.Outbox) != 1 {
		t.Fatalf("%d answers to one copy", len(res3.Outbox))
	}
}

// TestLockWithItsHoldersCallBehindIt is a lock request that came back
// late (the worker that granted it died before committing) with the
// holder's first call, which waited in the sorter for it: both are
// delivered in one batch, the lock ends the batch, and the call must run
// next although no further message may come.
func TestLockWithItsHoldersCallBehindIt(t *testing.T) {
	e := NewID("acct", "a")
	o := &sender{id: "o", exec: "x1"}
	lock := o.keyedLock(t0, "lock-1", "x1:0", e)
	get := o.keyed(e, "get", false, t0.Add(time.Second), "get-1", "x1:1")
	res, ran := run(t, e, nil, 0, get)
	if len(ran) != 0 {
		t.Fatalf("ran %v before its predecessor", ran)
	}
	res, ran = run(t, e, encoded(res.State), 0, lock)
	if len(ran) != 0 || res.State.LockedBy != "o" || len(res.State.Queue) != 1 {
		t.Fatalf("ran %v, locked by %q, %d queued", ran, res.State.LockedBy, len(res.State.Queue))
	}
	last := res.Outbox[len(res.Outbox)-1]
	ev := last.Event.(*history.EventRaisedEvent)
	if last.OrchestrationInstance.InstanceID != e.InstanceID() || ev.Name != ContinueEvent {
		t.Fatalf("no continue message: the call waits for a message that may never come")
	}
	if _, ran = run(t, e, encoded(res.State), 0, ev); join(ran) != "get" {
		t.Fatalf("the continue ran %v", ran)
	}
}

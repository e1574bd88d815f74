package entity

import (
	"strconv"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

var t0 = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)

// sender labels requests as an orchestration does.
type sender struct {
	id, exec string
	sorter   Sorter
	n        int
}

func (s *sender) request(target ID, op string, signal bool, at time.Time) *history.EventRaisedEvent {
	s.n++
	r := &Request{Typed: true, Op: &op, Signal: signal, ID: s.id + "-" + strconv.Itoa(s.n), Parent: s.id, ParentExecution: s.exec}
	s.sorter.LabelOutgoing(r, target.InstanceID(), UTCStamp(at))
	in := r.Encode()
	return &history.EventRaisedEvent{Name: OpEvent, Input: &in}
}

func (s *sender) lock(at time.Time, ids ...ID) *history.EventRaisedEvent {
	s.n++
	r := &Request{Typed: true, ID: s.id + "-lock", Parent: s.id, ParentExecution: s.exec, LockSet: ids}
	s.sorter.LabelOutgoing(r, ids[0].InstanceID(), UTCStamp(at))
	in := r.Encode()
	return &history.EventRaisedEvent{Name: OpEvent, Input: &in}
}

func release(parent string) *history.EventRaisedEvent {
	in := (&Release{Parent: parent, ID: parent + "-lock"}).Encode()
	return &history.EventRaisedEvent{Name: ReleaseEvent, Input: &in}
}

// run applies events to an entity whose ops append their name to its
// state (a JSON string).
func run(t *testing.T, self ID, input *string, max int, events ...*history.EventRaisedEvent) (*Result, []string) {
	t.Helper()
	var ran []string
	res, err := Step(&Batch{Self: history.OrchestrationInstance{InstanceID: self.InstanceID(), ExecutionID: "e"},
		Input: input, Events: events, Now: func() time.Time { return t0 }, MaxBatch: max,
		NewGUID: func() string { return "g" }, NewExecutionID: func() string { return "x" },
		Run: func(op *Operation) {
			ran = append(ran, op.Name)
			v := strconv.Quote(op.Name)
			op.Exists, op.Value = true, &v
			if op.Name == "boom" {
				op.Failure = &Failure{Type: "T", Payload: `{"Message":"m"}`}
			}
			if op.Name == "del" {
				op.Exists, op.Value = false, nil
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return res, ran
}

func encoded(s *State) *string { e := s.Encode(); return &e }

func TestSorterDeliversInOrderOnceEach(t *testing.T) {
	e := NewID("c", "k")
	s := &sender{id: "o", exec: "x1"}
	a := s.request(e, "a", true, t0)
	b := s.request(e, "b", true, t0)
	c := s.request(e, "c", true, t0.Add(time.Second))
	// Out of order, with a duplicate: b waits for a, the copy of a is
	// dropped.
	res, ran := run(t, e, nil, 0, c, b, a, a)
	if got := strconv.Quote(join(ran)); got != `"a,b,c"` {
		t.Fatalf("ran %s", got)
	}
	// A copy that comes in a later batch is dropped too.
	_, ran = run(t, e, encoded(res.State), 0, b)
	if len(ran) != 0 {
		t.Fatalf("duplicate ran %v", ran)
	}
}

func TestSorterHoldsAMissingPredecessor(t *testing.T) {
	e := NewID("c", "k")
	s := &sender{id: "o", exec: "x1"}
	a := s.request(e, "a", true, t0)
	b := s.request(e, "b", true, t0)
	res, ran := run(t, e, nil, 0, b)
	if len(ran) != 0 || res.State.Sorter.Buffered() != 1 {
		t.Fatalf("ran %v, buffered %d", ran, res.State.Sorter.Buffered())
	}
	res, ran = run(t, e, encoded(res.State), 0, a)
	if join(ran) != "a,b" || res.State.Sorter.Buffered() != 0 {
		t.Fatalf("ran %v", ran)
	}
}

func TestLocksQueueOthersAndForward(t *testing.T) {
	e1, e2 := NewID("c", "1"), NewID("c", "2")
	holder := &sender{id: "h", exec: "x"}
	other := &sender{id: "o", exec: "y"}
	// The lock request is forwarded to the next entity of the lock set.
	res, _ := run(t, e1, nil, 0, holder.lock(t0, e1, e2))
	if res.State.LockedBy != "h" || len(res.Outbox) != 1 || res.Outbox[0].OrchestrationInstance.InstanceID != e2.InstanceID() {
		t.Fatalf("state %+v outbox %v", res.State, res.Outbox)
	}
	fwd := res.Outbox[0].Event.(*history.EventRaisedEvent)
	r, err := DecodeRequest(*fwd.Input)
	if err != nil || r.Position != 1 || r.Parent != "h" {
		t.Fatalf("forwarded %s %v", *fwd.Input, err)
	}
	// The last entity answers the holder.
	res2, _ := run(t, e2, nil, 0, fwd)
	if len(res2.Outbox) != 1 || res2.Outbox[0].OrchestrationInstance.InstanceID != "h" ||
		*res2.Outbox[0].Event.(*history.EventRaisedEvent).Input != `{"$type":"`+responseType+`","result":"Lock Acquisition Completed"}` {
		t.Fatalf("outbox %v", res2.Outbox)
	}
	// While locked, another sender waits; the holder's call runs.
	res, ran := run(t, e1, encoded(res.State), 0, other.request(e1, "theirs", true, t0), holder.request(e1, "mine", false, t0))
	if join(ran) != "mine" || len(res.State.Queue) != 1 || res.State.Status() != `{"entityExists":true,"queueSize":1,"lockedBy":"h"}` {
		t.Fatalf("ran %v, state %s", ran, res.State.Encode())
	}
	// The release lets the queue run.
	res, ran = run(t, e1, encoded(res.State), 0, release("h"))
	if join(ran) != "theirs" || res.State.LockedBy != "" || res.State.Queue != nil {
		t.Fatalf("ran %v, state %s", ran, res.State.Encode())
	}
	// A release from someone else changes nothing.
	res, _ = run(t, e1, encoded(&State{LockedBy: "h", Sorter: &Sorter{}}), 0, release("o"))
	if res.State.LockedBy != "h" {
		t.Fatal("released by a stranger")
	}
}

func TestBatchLimitContinuesLater(t *testing.T) {
	e := NewID("c", "k")
	var evs []*history.EventRaisedEvent
	for i := 0; i < 5; i++ {
		op := "op" + strconv.Itoa(i)
		r := &Request{Op: &op, Signal: true, ID: op}
		in := r.Encode()
		evs = append(evs, &history.EventRaisedEvent{Name: OpEvent, Input: &in})
	}
	res, ran := run(t, e, nil, 2, evs...)
	if len(ran) != 2 || len(res.State.Queue) != 3 || !res.State.Suspended {
		t.Fatalf("ran %v, state %s", ran, res.State.Encode())
	}
	last := res.Outbox[len(res.Outbox)-1]
	if ev := last.Event.(*history.EventRaisedEvent); ev.Name != ContinueEvent || last.OrchestrationInstance.InstanceID != e.InstanceID() {
		t.Fatalf("no continue message: %v", res.Outbox)
	}
	cont := last.Event.(*history.EventRaisedEvent)
	res, ran = run(t, e, encoded(res.State), 10, cont)
	if join(ran) != "op2,op3,op4" || res.State.Suspended {
		t.Fatalf("ran %v", ran)
	}
}

func TestFailureRollsBackAndAnswers(t *testing.T) {
	e := NewID("c", "k")
	s := &sender{id: "o", exec: "x"}
	res, _ := run(t, e, nil, 0, s.request(e, "boom", false, t0))
	if res.State.Exists {
		t.Fatal("failed operation kept its state")
	}
	ev := res.Outbox[0].Event.(*history.EventRaisedEvent)
	if *ev.Input != `{"result":"{\"Message\":\"m\"}","exceptionType":"T"}` || ev.Name != "o-1" {
		t.Fatalf("response %s %s", ev.Name, *ev.Input)
	}
	res, _ = run(t, e, nil, 0, s.request(e, "set", true, t0), s.request(e, "del", true, t0))
	if res.State.Exists || res.State.Value != nil || res.State.Status() != `{}` || !res.State.Empty() {
		t.Fatalf("deleted entity: %s", res.State.Encode())
	}
}

func TestStateRoundTrip(t *testing.T) {
	e := NewID("c", "k")
	s := &sender{id: "o", exec: "x"}
	res, _ := run(t, e, nil, 0, s.lock(t0, e), s.request(e, "queued", true, t0.Add(time.Second)))
	other := &sender{id: "p", exec: "y"}
	res, _ = run(t, e, encoded(res.State), 0, other.request(e, "waits", false, t0.Add(time.Second)))
	text := res.State.Encode()
	back, err := DecodeState(&text)
	if err != nil || back.Encode() != text {
		t.Fatalf("%s\n%v", text, err)
	}
}

func TestIDs(t *testing.T) {
	id, ok := Parse("@counter@k1@x")
	if !ok || id.Name != "counter" || id.Key != "k1@x" || id.InstanceID() != "@counter@k1@x" {
		t.Fatal(id, ok)
	}
	for _, bad := range []string{"", "@", "counter@k", "@counter"} {
		if IsInstanceID(bad) {
			t.Errorf("%q is an entity id", bad)
		}
	}
	if NewID("Counter", "K").InstanceID() != "@counter@K" {
		t.Fatal("names are stored lower-cased, keys as given")
	}
	if (ID{Name: "a@b"}).Validate() == nil || (ID{}).Validate() == nil {
		t.Fatal("bad names accepted")
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

package entity

import (
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// DefaultMaxBatch bounds the operations one episode runs; the rest wait in
// the queue for the next episode, which a continue message starts.
const DefaultMaxBatch = 100

// earlyDelivery is how early a scheduled request may arrive and still run.
const earlyDelivery = 100 * time.Millisecond

// Operation is one operation as a Runner sees it: the request, and the
// entity's state, which the Runner reads and changes.
type Operation struct {
	Entity    ID
	Name      string
	Input     *string
	Signal    bool
	RequestID string
	// Caller is the orchestration that sent the request ("" for a client).
	Caller string
	// Exists and Value are the entity's state: the Runner changes them
	// (Exists false and Value nil delete the entity).
	Exists bool
	Value  *string
	// Result is the operation's result (JSON text, or nil).
	Result *string
	// Failure is set when the operation failed: the state and the actions
	// of the operation are rolled back, and a caller gets the failure.
	Failure *Failure
	// Actions are the signals and orchestration starts the operation asks
	// for, sent when the batch commits.
	Actions []Action
}

// Failure is an operation's failure as a ResponseMessage carries it.
type Failure struct {
	// Type is the exception's type name (the extension writes .NET's
	// assembly-qualified name).
	Type string
	// Payload is the serialized exception (JSON text).
	Payload string
}

// Action is a signal to an entity or the start of an orchestration, asked
// for by an operation.
type Action struct {
	// Signal target, operation, input and optional delivery time.
	Target ID
	Op     string
	Input  *string
	At     *time.Time
	// Start of an orchestration (Name set): instance id and input.
	Name       string
	InstanceID string
}

// Runner runs one operation's code.
type Runner func(op *Operation)

// BatchRunner runs a whole batch at once, where the operations' code runs
// elsewhere (an SDK worker behind the sidecar): ops hold the requests and
// the state before the batch. It sets each operation's Result or Failure
// and returns the batch's outcome; an error leaves the batch unrun (Step
// returns it).
type BatchRunner func(ops []*Operation) (*BatchOutcome, error)

// BatchOutcome is the state after a batch run by a BatchRunner and the
// actions of its operations that succeeded, in order.
type BatchOutcome struct {
	Exists  bool
	Value   *string
	Actions []Action
}

// Batch is one entity work item.
type Batch struct {
	// Self is the entity's instance and current execution.
	Self history.OrchestrationInstance
	// Input is the execution's input: the scheduler state (nil when the
	// instance was started by its first message).
	Input *string
	// StartedAt is the Timestamp of the execution's ExecutionStarted.
	StartedAt time.Time
	// Events are the work item's EventRaised messages, in order.
	Events []*history.EventRaisedEvent
	// Now tells the time; NewGUID makes request ids of the entity's
	// signals; NewExecutionID makes execution ids.
	Now            func() time.Time
	NewGUID        func() string
	NewExecutionID func() string
	// Run runs operations one at a time; RunBatch, when set instead, runs
	// the batch at once. MaxBatch bounds them (0: DefaultMaxBatch).
	Run      Runner
	RunBatch BatchRunner
	MaxBatch int
}

// Result is what one batch commits.
type Result struct {
	// State is the new scheduler state, the next execution's input.
	State *State
	// Outbox holds responses, forwarded lock requests, signals, starts and
	// rescheduled requests, in the order the batch produced them.
	Outbox []*history.TaskMessage
	// Operations counts the operations run; Problems lists messages that
	// could not be read (they are dropped, as the extension logs and drops
	// them); Copies counts requests dropped as copies by their delivery
	// key (Dedupe).
	Operations int
	Problems   []string
	Copies     int
}

// Step runs one batch: it reads the messages (requests through the sorter,
// releases, continue), fills a batch of operations from the queue (up to a
// lock request, which ends it), runs them and grants the lock.
func Step(b *Batch) (*Result, error) {
	st, err := DecodeState(b.Input)
	if err != nil {
		return nil, err
	}
	if st.Sorter == nil {
		st.Sorter = &Sorter{}
	}
	if st.Dedupe == nil {
		st.Dedupe = &Dedupe{}
	}
	self, _ := Parse(b.Self.InstanceID)
	res := &Result{State: st}
	now := b.Now()
	var reschedule []*Request
	// holder collects the requests of the lock's holder, which go before
	// the queue (also when the holder's release in this batch unlocks, as
	// the extension puts them back first).
	var holder []*Request
	answered := map[*Request]bool{}
	// take queues a request the sorter delivered, unless it is a copy.
	take := func(m *Request) {
		if !st.Dedupe.accept(m, now) {
			res.Copies++
			if !answered[m] {
				s := st.Dedupe.find(m)
				res.Outbox = append(res.Outbox, st.answerCopy(m, s, now)...)
				st.Dedupe.alias(m, s, now)
			}
			return
		}
		if st.LockedBy != "" && st.LockedBy == m.Parent {
			holder = append(holder, m)
		} else {
			st.Queue = append(st.Queue, m)
		}
	}
	for _, ev := range b.Events {
		input := ""
		if ev.Input != nil {
			input = *ev.Input
		}
		switch {
		case IsRequestEvent(ev.Name):
			r, err := DecodeRequest(input)
			if err != nil {
				res.Problems = append(res.Problems, "request "+ev.Name+": "+err.Error())
				continue
			}
			// A copy is answered as soon as it comes, whatever the sorter
			// makes of it: it drops a copy whose clock is not later than
			// the original's (the two runs of an episode ran at once, on
			// two workers, and the later one's history won), and the
			// copy still has to reach the sorter, whose clock of the
			// sender must follow the run that committed.
			if s := st.Dedupe.find(r); s != nil {
				answered[r] = true
				res.Outbox = append(res.Outbox, st.answerCopy(r, s, now)...)
				st.Dedupe.alias(r, s, now)
			}
			var deliver []*Request
			if r.Due != nil {
				if r.Due.T.Sub(now) > earlyDelivery {
					reschedule = append(reschedule, r)
					continue
				}
				deliver = []*Request{r}
			} else {
				deliver = st.Sorter.ReceiveInOrder(r)
			}
			for _, m := range deliver {
				take(m)
			}
		case ev.Name == ReleaseEvent:
			rel, err := DecodeRelease(input)
			if err != nil {
				res.Problems = append(res.Problems, "release: "+err.Error())
				continue
			}
			switch {
			case rel.After != nil:
				st.Dedupe.hold(rel, now)
			case st.LockedBy == rel.Parent && st.Dedupe.releases(rel):
				st.LockedBy, st.Dedupe.LockID = "", ""
			}
		default:
			st.Suspended = false
		}
	}
	for _, m := range st.Sorter.ReleaseCopies(func(r *Request) bool { return st.Dedupe.find(r) != nil }) {
		take(m)
	}
	if len(holder) > 0 {
		st.Queue = append(holder, st.Queue...)
	}
	st.Dedupe.expire(now)
	st.holderAhead()
	st.applyHeld(now)
	if st.Suspended && b.StartedAt.Before(now.Add(-10*time.Second)) {
		st.Suspended = false
	}
	maxBatch := b.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	var ops []*Request
	var lock *Request
	continueLater := false
	for !st.Suspended && len(st.Queue) > 0 && (st.LockedBy == "" || st.LockedBy == st.Queue[0].Parent) {
		if len(ops) == maxBatch {
			continueLater = true
			break
		}
		r := st.Queue[0]
		st.Queue = st.Queue[1:]
		if r.IsLock() {
			lock = r
			break
		}
		ops = append(ops, r)
	}
	if len(st.Queue) == 0 {
		st.Queue = nil
	}
	operations := make([]*Operation, len(ops))
	for i, r := range ops {
		operations[i] = &Operation{Entity: self, Name: deref(r.Op), Input: r.Input, Signal: r.Signal, RequestID: r.ID,
			Caller: r.Parent, Exists: st.Exists, Value: st.Value}
	}
	var whole *BatchOutcome
	if b.RunBatch != nil && len(operations) > 0 {
		if whole, err = b.RunBatch(operations); err != nil {
			return nil, err
		}
	}
	for i, r := range ops {
		res.Operations++
		op := operations[i]
		switch {
		case b.RunBatch != nil:
		case b.Run != nil:
			op.Exists, op.Value = st.Exists, st.Value
			b.Run(op)
		default:
			op.Failure = &Failure{Type: "azdurable.EntityNotFound", Payload: netjsonString("no entity named " + self.Name + " is registered")}
		}
		if op.Failure == nil && whole == nil {
			st.Exists, st.Value = op.Exists, op.Value
			if !st.Exists {
				st.Value = nil
			}
			for _, a := range op.Actions {
				res.Outbox = append(res.Outbox, st.action(b, self, a, now))
			}
		}
		if r.Signal || r.Parent == "" {
			continue
		}
		resp := &Response{Result: op.Result}
		if op.Failure != nil {
			p, t := op.Failure.Payload, op.Failure.Type
			resp.Result, resp.ExceptionType = &p, &t
		}
		answer := resp.Encode()
		st.Dedupe.keepAnswer(r, answer)
		res.Outbox = append(res.Outbox, eventTo(r.Parent, r.ParentExecution, r.ID, answer, now))
	}
	if whole != nil {
		st.Exists, st.Value = whole.Exists, whole.Value
		if !st.Exists {
			st.Value = nil
		}
		for _, a := range whole.Actions {
			res.Outbox = append(res.Outbox, st.action(b, self, a, now))
		}
	}
	if lock != nil {
		st.LockedBy, st.Dedupe.LockID = lock.Parent, lock.ID
		next := *lock
		next.Position++
		if next.Position < len(next.LockSet) {
			next.Typed = true
			target := next.LockSet[next.Position].InstanceID()
			st.Sorter.LabelOutgoing(&next, target, UTCStamp(now))
			res.Outbox = append(res.Outbox, eventTo(target, "", OpEvent, next.Encode(), now))
		} else {
			result := LockAcquired
			resp := &Response{Typed: true, Result: &result}
			res.Outbox = append(res.Outbox, eventTo(lock.Parent, lock.ParentExecution, lock.ID, resp.Encode(), now))
		}
		st.holderAhead()
	}
	// A held release may apply once the batch ran its holder's requests
	// (or granted its lock): the queue then waits for the next batch.
	st.applyHeld(now)
	for _, r := range reschedule {
		res.Outbox = append(res.Outbox, eventTo(b.Self.InstanceID, "", ScheduledOpEvent(DeliveryTime(r.Due.T, now)), r.Encode(), now))
	}
	if continueLater && !st.Suspended {
		st.Suspended = true
		cont := eventTo(b.Self.InstanceID, "", ContinueEvent, "", now)
		cont.Event.(*history.EventRaisedEvent).Input = nil
		res.Outbox = append(res.Outbox, cont)
	} else if runnable := len(st.Queue) > 0 && (st.LockedBy == "" || st.LockedBy == st.Queue[0].Parent); runnable && !st.Suspended {
		// The queue can go on (a late unlock, or a lock granted with its
		// holder's next request already queued behind it, as when the
		// lock request came back late): no message may come to start
		// the next batch, so send one.
		cont := eventTo(b.Self.InstanceID, "", ContinueEvent, "", now)
		cont.Event.(*history.EventRaisedEvent).Input = nil
		res.Outbox = append(res.Outbox, cont)
	}
	return res, nil
}

// holderAhead moves the lock holder's queued requests to the front of the
// queue, in their order: they belong to the critical section that holds
// the lock, and run before anybody else's. A holder's request can be
// queued behind others' when it came before its lock was granted here: in
// the batch that unlocks the previous holder (whose release was held until
// the end of the batch, or which ran again after its worker died having
// granted the lock and answered), or behind a late lock request. Left
// there, behind another caller's lock request, it would never run: the
// holder waits for its answer and the other caller for the lock.
func (st *State) holderAhead() {
	if st.LockedBy == "" {
		return
	}
	var holder, others []*Request
	for _, r := range st.Queue {
		if r.Parent == st.LockedBy {
			holder = append(holder, r)
		} else {
			others = append(others, r)
		}
	}
	if len(holder) == 0 || len(others) == 0 {
		return
	}
	st.Queue = append(holder, others...)
}

// action builds the message of an operation's signal or start.
func (st *State) action(b *Batch, self ID, a Action, now time.Time) *history.TaskMessage {
	if a.Name != "" {
		inst := history.OrchestrationInstance{InstanceID: a.InstanceID, ExecutionID: b.NewExecutionID()}
		// The extension starts it as a fire-and-forget sub-orchestration:
		// no parent, the FireAndForget tag, version "".
		return &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{
			OrchestrationInstance: inst, Name: a.Name, Input: a.Input, Tags: map[string]string{"FireAndForget": ""},
			EventBase: history.EventBase{EventID: -1, Timestamp: now}}}
	}
	op := a.Op
	r := &Request{Typed: true, Op: &op, Signal: true, Input: a.Input, ID: b.NewGUID(),
		Parent: self.InstanceID(), ParentExecution: b.Self.ExecutionID}
	target := a.Target.InstanceID()
	name := OpEvent
	if a.At != nil {
		due := UTCStamp(*a.At)
		r.Due = &due
		name = ScheduledOpEvent(DeliveryTime(*a.At, now))
	} else {
		st.Sorter.LabelOutgoing(r, target, UTCStamp(now))
	}
	return eventTo(target, "", name, r.Encode(), now)
}

// copyAnswer tells the caller, which waits under the copy's id, to wait
// for the original's answer instead.
func copyAnswer(r *Request, original string, now time.Time) *history.TaskMessage {
	return eventTo(r.Parent, r.ParentExecution, r.ID, (&Response{CopyOf: original}).Encode(), now)
}

func eventTo(instanceID, executionID, name, input string, now time.Time) *history.TaskMessage {
	return &history.TaskMessage{
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: instanceID, ExecutionID: executionID},
		Event:                 &history.EventRaisedEvent{Name: name, Input: &input, EventBase: history.EventBase{EventID: -1, Timestamp: now}},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func netjsonString(s string) string { return string(netjson.AppendString(nil, s)) }

// Commit builds the history an entity's episode writes: a new execution
// whose input is the state (OrchestratorStarted, ExecutionStarted,
// OrchestratorCompleted, as the extension's continue-as-new leaves it), and
// the instance's custom status.
func Commit(self history.OrchestrationInstance, st *State, newExecutionID string, now time.Time) ([]history.Event, *history.ExecutionStartedEvent, string) {
	input := st.Encode()
	start := &history.ExecutionStartedEvent{
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: self.InstanceID, ExecutionID: newExecutionID},
		Name:                  self.InstanceID, Input: &input,
		EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: now}}
	events := []history.Event{
		&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}},
		start,
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: now}},
	}
	return events, start, st.Status()
}

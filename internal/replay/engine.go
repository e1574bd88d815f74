package replay

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/history"
)

// Orchestrator is orchestrator code as the engine runs it: JSON input in,
// JSON output or an error out. Returning a *ContinueAsNewError continues the
// orchestration as new.
type Orchestrator func(ctx *Context, input *string) (*string, error)

// Options configure an Engine.
type Options struct {
	// Logger is the base logger; Context.Logger wraps it so that nothing is
	// logged while replaying. Nil discards.
	Logger *slog.Logger
	// DeadlockTimeout bounds how long orchestrator code may wait for
	// something other than a durable call (a channel, a lock, a sleep,
	// I/O) before Apply fails with ErrDeadlock (default 10 s; negative
	// disables). Code that computes is never stopped, however long it
	// takes.
	DeadlockTimeout time.Duration
	// MaxTimerPiece is the longest single durable timer; longer timers are
	// split into pieces (default 3 days).
	MaxTimerPiece time.Duration
}

// DefaultMaxTimerPiece is the default length limit of one timer piece.
const DefaultMaxTimerPiece = 3 * 24 * time.Hour

// Result is the outcome of Apply.
type Result struct {
	// Actions are the new scheduling events, sorted by task id:
	// *TaskScheduledEvent and *SubOrchestrationInstanceCreatedEvent (with
	// their Input, which travels in the message), *TimerCreatedEvent and
	// *EventSentEvent. EventID is the task id; Timestamp is left zero for
	// the caller to fill.
	Actions []history.Event
	// CustomStatus is the current custom status (JSON), or nil.
	CustomStatus *string
	// Completion is set when the orchestration ended in this Apply.
	Completion *Completion
}

// Completion describes how an orchestration ended.
type Completion struct {
	// ID is the task id C# gives the completion (EventId of
	// ExecutionCompleted).
	ID     int32
	Status history.OrchestrationStatus
	// Output is the JSON result (Completed), the failure message (Failed)
	// or the reason (Terminated).
	Output  *string
	Failure *history.FailureDetails
	// ContinueAsNew is set when Status is ContinuedAsNew.
	ContinueAsNew *ContinueAsNew
	// TerminateChildren lists running sub-orchestrations to terminate
	// (recursive terminate).
	TerminateChildren []string
}

// ContinueAsNew is the request to restart the orchestration.
type ContinueAsNew struct {
	Input *string
	// Version is the new version, or nil to keep the current one.
	Version *string
	// Carry holds the unprocessed events to carry over, in arrival order.
	Carry []*history.EventRaisedEvent
}

// Info describes the running execution (from its ExecutionStarted event).
type Info struct {
	InstanceID  string
	ExecutionID string
	Name        string
	Version     string
	Parent      *history.ParentInstance
	Tags        map[string]string
}

type action struct {
	event history.Event
	task  *Task // nil for EventSent
}

type waiter struct {
	name  string
	exact bool // compare names ordinally (C#'s DTFx string keys), else ignoring case
	task  *Task
}

// matches reports whether an event of this name completes the waiter.
func (w *waiter) matches(name string) bool { return eventNameMatches(w.name, name, w.exact) }

func eventNameMatches(want, got string, exact bool) bool {
	if exact {
		return want == got
	}
	return strings.EqualFold(want, got)
}

// buffered is an external event that arrived while nobody waited for it.
type buffered struct {
	ev  *history.EventRaisedEvent
	seq int64 // its position in history
}

type panicInfo struct {
	coroutine string
	value     any
	stack     string
}

// Engine runs one execution of an orchestration. It is not safe for
// concurrent use: the worker drives it from one goroutine at a time.
type Engine struct {
	fn   Orchestrator
	opts Options
	log  *slog.Logger

	info      Info
	started   bool
	now       time.Time
	replaying bool

	nextID     int32
	pending    map[int32]*action // emitted, not yet in history
	recorded   map[int32]history.EventType
	maxPastID  int32
	rewoundIDs map[int32]bool
	rewound    bool
	open       map[int32]*Task // awaiting a completion event
	children   map[int32]string

	waiters []*waiter
	buffer  []buffered

	suspended       bool
	suspendedEvents []history.Event

	customStatus      *string
	carryEvents       bool
	completion        *Completion
	completionHistory bool // an ExecutionCompleted from history matched it
	guidCounter       int
	rng               *rand.Rand  // Context.Rand's stream, nil until first use
	locals            map[any]any // Context.Local's values
	seq               int64

	cos     []*coroutine
	running *coroutine
	// holder is the coroutine that holds the token, for the deadlock
	// watch (which runs on the dispatcher while coroutines switch).
	holder        atomic.Pointer[coroutine]
	evicting      atomic.Bool
	dead          atomic.Bool
	deadlockStack string
	panicked      *panicInfo
	fault         error
	foreign       atomic.Pointer[error]
}

// New returns an engine for one execution of fn.
func New(fn Orchestrator, opts Options) *Engine {
	if opts.DeadlockTimeout == 0 {
		opts.DeadlockTimeout = 10 * time.Second
	}
	if opts.MaxTimerPiece <= 0 {
		opts.MaxTimerPiece = DefaultMaxTimerPiece
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{fn: fn, opts: opts, log: log, maxPastID: -1,
		pending: map[int32]*action{}, recorded: map[int32]history.EventType{},
		rewoundIDs: map[int32]bool{}, open: map[int32]*Task{}, children: map[int32]string{}}
}

// Info returns what the engine knows of the execution.
func (e *Engine) Info() Info { return e.info }

// Completed reports whether the orchestration has ended.
func (e *Engine) Completed() bool { return e.completion != nil }

// DeadlockStack returns the goroutine dump taken when a deadlock was
// detected, for the worker's log.
func (e *Engine) DeadlockStack() string { return e.deadlockStack }

// Apply applies past events (already in history) and then new events (this
// episode's), running the orchestrator code as they unblock it, and returns
// the actions to record. A cached engine is given only new events.
//
// Errors: *NonDeterminismError when the code no longer matches its history
// (use FailureResult to fail the instance), ErrDeadlock, or an error for a
// durable call made from a foreign goroutine. After an error the engine must
// be evicted.
func (e *Engine) Apply(past, newEvents []history.Event) (*Result, error) {
	if e.dead.Load() || e.evicting.Load() {
		return nil, errors.New("replay: engine is no longer usable")
	}
	e.replaying = len(past) > 0
	for _, ev := range past {
		if err := e.step(ev); err != nil {
			return nil, err
		}
	}
	if len(past) > 0 {
		if err := e.leftoverCheck(); err != nil {
			e.fault = err
			return nil, err
		}
	}
	e.replaying = false
	for _, ev := range newEvents {
		if err := e.step(ev); err != nil {
			return nil, err
		}
	}
	res := &Result{CustomStatus: e.customStatus}
	ids := make([]int32, 0, len(e.pending))
	for id := range e.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		a := e.pending[id]
		res.Actions = append(res.Actions, a.event)
		// The caller records them in this episode's history.
		e.recorded[id] = a.event.Type()
		delete(e.pending, id)
	}
	if e.completion != nil && !e.completionHistory {
		res.Completion = e.completion
	}
	return res, nil
}

// FailureResult returns the result that fails the orchestration because of
// err (a non-determinism error, typically): no actions, a Failed completion
// with the next task id.
func (e *Engine) FailureResult(err error) *Result {
	fd := FailureDetailsOf(err)
	msg := err.Error()
	return &Result{CustomStatus: e.customStatus, Completion: &Completion{
		ID: e.nextID, Status: history.StatusFailed, Output: &msg, Failure: fd}}
}

// step applies one event and runs the code it unblocks.
func (e *Engine) step(ev history.Event) error {
	if err := e.applyEvent(ev); err != nil {
		e.fault = err
		return err
	}
	if err := e.runReady(); err != nil {
		e.fault = err
		return err
	}
	return e.checkFaults()
}

func (e *Engine) checkFaults() error {
	if p := e.foreign.Load(); p != nil {
		e.fault = *p
		return *p
	}
	if e.fault != nil {
		return e.fault
	}
	if e.panicked != nil && e.completion == nil {
		p := e.panicked
		e.complete(history.StatusFailed, nil, PanicFailure(p.coroutine, p.value, p.stack), nil)
	}
	return nil
}

func (e *Engine) applyEvent(ev history.Event) error {
	e.seq++
	if os, ok := ev.(*history.OrchestratorStartedEvent); ok {
		if os.Timestamp.After(e.now) {
			e.now = os.Timestamp
		}
		return nil
	}
	if e.completion != nil {
		return e.afterCompletion(ev)
	}
	if e.suspended {
		switch ev.(type) {
		case *history.ExecutionResumedEvent, *history.ExecutionTerminatedEvent:
		case *history.TaskScheduledEvent, *history.TimerCreatedEvent,
			*history.SubOrchestrationInstanceCreatedEvent, *history.EventSentEvent,
			*history.ExecutionCompletedEvent, *history.ContinueAsNewEvent:
			// Scheduling events are written by the code itself and cannot be
			// held back; match them now.
		default:
			e.suspendedEvents = append(e.suspendedEvents, ev)
			return nil
		}
	}
	switch v := ev.(type) {
	case *history.ExecutionStartedEvent:
		return e.start(v)
	case *history.TaskScheduledEvent, *history.TimerCreatedEvent,
		*history.SubOrchestrationInstanceCreatedEvent, *history.EventSentEvent:
		return e.match(ev)
	case *history.TaskCompletedEvent:
		e.resolve(v.TaskScheduledID, ev, v.Result, nil)
	case *history.TaskFailedEvent:
		e.resolve(v.TaskScheduledID, ev, nil, e.taskFailure(v.TaskScheduledID, history.TaskScheduled, v.Reason, v.Details, v.FailureDetails))
	case *history.SubOrchestrationInstanceCompletedEvent:
		e.resolve(v.TaskScheduledID, ev, v.Result, nil)
	case *history.SubOrchestrationInstanceFailedEvent:
		e.resolve(v.TaskScheduledID, ev, nil, e.taskFailure(v.TaskScheduledID, history.SubOrchestrationInstanceCreated, v.Reason, v.Details, v.FailureDetails))
	case *history.TimerFiredEvent:
		e.resolve(v.TimerID, ev, nil, nil)
	case *history.EventRaisedEvent:
		e.raise(v)
	case *history.ExecutionTerminatedEvent:
		e.terminate(v)
	case *history.ExecutionSuspendedEvent:
		e.suspended = true
	case *history.ExecutionResumedEvent:
		if e.suspended {
			e.suspended = false
			held := e.suspendedEvents
			e.suspendedEvents = nil
			for _, h := range held {
				if err := e.applyEvent(h); err != nil {
					return err
				}
				if err := e.runReady(); err != nil {
					return err
				}
			}
		}
	case *history.ExecutionCompletedEvent:
		return e.historyCompletion(v.EventID, v.OrchestrationStatus)
	case *history.ContinueAsNewEvent:
		return e.historyCompletion(v.EventID, history.StatusContinuedAsNew)
	case *history.GenericEvent:
		if v.EventID >= 0 {
			e.rewoundIDs[v.EventID] = true
		}
	case *history.ExecutionRewoundEvent:
		e.rewound = true
	}
	return nil
}

// afterCompletion handles events that arrive once the code has returned:
// the completion recorded in history must match; anything else is ignored
// (late responses to tasks the code no longer waits for).
func (e *Engine) afterCompletion(ev history.Event) error {
	switch v := ev.(type) {
	case *history.ExecutionCompletedEvent:
		return e.historyCompletion(v.EventID, v.OrchestrationStatus)
	case *history.ContinueAsNewEvent:
		return e.historyCompletion(v.EventID, history.StatusContinuedAsNew)
	case *history.TaskScheduledEvent, *history.TimerCreatedEvent,
		*history.SubOrchestrationInstanceCreatedEvent, *history.EventSentEvent:
		// Actions emitted just before the code returned are still matched.
		id := ev.Base().EventID
		_, pending := e.pending[id]
		_, dup := e.recorded[id]
		if pending || dup {
			return e.match(ev)
		}
		return &NonDeterminismError{TaskID: id, History: describe(ev),
			Code: fmt.Sprintf("completed the orchestration (%s) with task id %d", e.completion.Status, e.completion.ID)}
	case *history.EventRaisedEvent:
		// Events that arrive in the same batch after a continue-as-new that
		// keeps unprocessed events are carried over too.
		if can := e.completion.ContinueAsNew; can != nil && e.carryEvents {
			can.Carry = append(can.Carry, v)
		}
	}
	return nil
}

func (e *Engine) historyCompletion(id int32, status history.OrchestrationStatus) error {
	if e.completion == nil {
		return &NonDeterminismError{TaskID: id, History: fmt.Sprintf("the completion of the orchestration (%s)", status),
			Code: "is still running"}
	}
	if e.completion.Status != status && !(status == history.StatusContinuedAsNew && e.completion.ContinueAsNew != nil) {
		return &NonDeterminismError{TaskID: id, History: fmt.Sprintf("the completion of the orchestration (%s)", status),
			Code: fmt.Sprintf("ended it as %s", e.completion.Status)}
	}
	if id > e.maxPastID {
		e.maxPastID = id
	}
	e.completionHistory = true
	return nil
}

func (e *Engine) start(v *history.ExecutionStartedEvent) error {
	if e.started {
		return nil
	}
	e.started = true
	e.info = Info{InstanceID: v.OrchestrationInstance.InstanceID, ExecutionID: v.OrchestrationInstance.ExecutionID,
		Name: v.Name, Version: v.Version, Parent: v.ParentInstance, Tags: v.Tags}
	input := v.Input
	co := e.newCoroutine("root", func(ctx *Context) {
		out, err := e.fn(ctx, input)
		e.rootReturned(out, err)
	})
	_ = co
	return nil
}

func (e *Engine) rootReturned(out *string, err error) {
	if e.evicting.Load() || e.dead.Load() || e.completion != nil {
		return
	}
	var can *ContinueAsNewError
	switch {
	case err == nil:
		e.complete(history.StatusCompleted, out, nil, nil)
	case errors.As(err, &can):
		carry := []*history.EventRaisedEvent(nil)
		if can.KeepUnprocessedEvents {
			e.carryEvents = true
			for _, b := range e.buffer {
				carry = append(carry, b.ev)
			}
		}
		e.complete(history.StatusContinuedAsNew, nil, nil, &ContinueAsNew{Input: can.Input, Version: can.Version, Carry: carry})
	default:
		fd := FailureDetailsOf(err)
		msg := err.Error()
		e.complete(history.StatusFailed, &msg, fd, nil)
	}
}

func (e *Engine) complete(status history.OrchestrationStatus, out *string, fd *history.FailureDetails, can *ContinueAsNew) {
	if fd != nil && out == nil {
		msg := fd.ErrorMessage
		out = &msg
	}
	e.completion = &Completion{ID: e.nextID, Status: status, Output: out, Failure: fd, ContinueAsNew: can}
	e.nextID++
}

func (e *Engine) terminate(v *history.ExecutionTerminatedEvent) {
	e.complete(history.StatusTerminated, v.Input, nil, nil)
	if v.Recursive {
		ids := make([]int32, 0, len(e.children))
		for id := range e.children {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			e.completion.TerminateChildren = append(e.completion.TerminateChildren, e.children[id])
		}
	}
}

// match pairs a scheduling event from history with the action the code
// emitted for the same task id.
func (e *Engine) match(ev history.Event) error {
	id := ev.Base().EventID
	a, ok := e.pending[id]
	if !ok {
		if _, dup := e.recorded[id]; dup {
			// A checkpoint that was retried can record a scheduling event twice.
			return nil
		}
		return &NonDeterminismError{TaskID: id, History: describe(ev), Code: "did not schedule it"}
	}
	if err := sameAction(id, ev, a.event); err != nil {
		return err
	}
	delete(e.pending, id)
	e.recorded[id] = ev.Type()
	if id > e.maxPastID && e.replaying {
		e.maxPastID = id
	}
	return nil
}

func sameAction(id int32, hist, code history.Event) error {
	mismatch := func() error {
		return &NonDeterminismError{TaskID: id, History: describe(hist), Code: "scheduled " + describe(code)}
	}
	if hist.Type() != code.Type() {
		return mismatch()
	}
	switch h := hist.(type) {
	case *history.TaskScheduledEvent:
		c := code.(*history.TaskScheduledEvent)
		if !strings.EqualFold(h.Name, c.Name) || h.Version != c.Version {
			return mismatch()
		}
	case *history.SubOrchestrationInstanceCreatedEvent:
		c := code.(*history.SubOrchestrationInstanceCreatedEvent)
		if !strings.EqualFold(h.Name, c.Name) || h.InstanceID != c.InstanceID {
			return mismatch()
		}
	case *history.EventSentEvent:
		c := code.(*history.EventSentEvent)
		if h.InstanceID != c.InstanceID || !strings.EqualFold(h.Name, c.Name) {
			return mismatch()
		}
	}
	return nil
}

func (e *Engine) leftoverCheck() error {
	if e.rewound {
		return nil
	}
	for id, a := range e.pending {
		if id <= e.maxPastID && !e.rewoundIDs[id] {
			return &NonDeterminismError{TaskID: id, History: "no matching event at this point", Code: "scheduled " + describe(a.event)}
		}
	}
	if e.completion != nil && !e.completionHistory && e.completion.ID <= e.maxPastID && !e.rewoundIDs[e.completion.ID] {
		return &NonDeterminismError{TaskID: e.completion.ID, History: "more recorded work after this point",
			Code: fmt.Sprintf("completed the orchestration (%s)", e.completion.Status)}
	}
	return nil
}

func (e *Engine) resolve(id int32, ev history.Event, value *string, err error) {
	t, ok := e.open[id]
	if !ok {
		e.log.Debug("ignoring a completion for a task that is not open (duplicate or late)",
			"taskId", id, "event", ev.Type().String(), "instance", e.info.InstanceID)
		return
	}
	if kind, ok := history.CompletedKind(ev); !ok || kind != t.kind {
		e.log.Warn("ignoring a completion of the wrong kind", "taskId", id, "event", ev.Type().String(), "task", t.kind.String())
		return
	}
	delete(e.open, id)
	delete(e.children, id)
	t.complete(value, err)
}

func (e *Engine) taskFailure(id int32, kind history.EventType, reason, details *string, fd *history.FailureDetails) error {
	name := ""
	if t, ok := e.open[id]; ok {
		name = t.name
	}
	return &TaskFailedError{Kind: kind, Name: name, TaskID: id, Reason: history.Deref(reason), Details: details, Failure: fd}
}

// raise delivers an external event to the first waiter with its name, or
// buffers it in arrival order.
func (e *Engine) raise(v *history.EventRaisedEvent) {
	for i, w := range e.waiters {
		if w.matches(v.Name) {
			e.waiters = append(e.waiters[:i:i], e.waiters[i+1:]...)
			w.task.complete(v.Input, nil)
			return
		}
	}
	e.buffer = append(e.buffer, buffered{ev: v, seq: e.seq})
}

func describe(ev history.Event) string {
	switch v := ev.(type) {
	case *history.TaskScheduledEvent:
		return fmt.Sprintf("activity %q (version %q)", v.Name, v.Version)
	case *history.TimerCreatedEvent:
		return "a timer"
	case *history.SubOrchestrationInstanceCreatedEvent:
		return fmt.Sprintf("sub-orchestration %q (instance %q)", v.Name, v.InstanceID)
	case *history.EventSentEvent:
		return fmt.Sprintf("event %q sent to %q", v.Name, v.InstanceID)
	}
	return ev.Type().String()
}

package replay

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/google/uuid"
)

// Context is the view of the engine that one coroutine holds. The durable
// package wraps it in the public durable.Context.
type Context struct {
	e  *Engine
	co *coroutine
}

// guidNamespace is the UUIDv5 namespace Durable Functions and
// durabletask-dotnet use for deterministic GUIDs.
var guidNamespace = uuid.MustParse("9e952958-5e33-4daf-827f-2fa12937b875")

// Info returns the execution's identity.
func (c *Context) Info() Info { return c.e.info }

// Now returns the orchestration's current time: the latest
// OrchestratorStarted time applied. It never goes backwards.
func (c *Context) Now() time.Time { return c.e.now }

// IsReplaying reports whether past events are being applied.
func (c *Context) IsReplaying() bool { return c.e.replaying }

// Logger returns a logger that is silent while replaying.
func (c *Context) Logger() *slog.Logger {
	return slog.New(&replayHandler{e: c.e, h: c.e.log.Handler()}).With(
		"instance", c.e.info.InstanceID, "execution", c.e.info.ExecutionID)
}

// usable reports whether a durable call may record anything: not during
// eviction, not on a dead engine, and only from the coroutine that runs.
func (c *Context) usable(op string) error {
	e := c.e
	if e.dead.Load() || e.evicting.Load() {
		return errEvicted
	}
	if !onCoroutine() || e.running != c.co {
		err := fmt.Errorf("replay: %s called from a goroutine that is not an orchestration coroutine (use durable.Go, not the go statement)", op)
		e.foreign.CompareAndSwap(nil, &err)
		return err
	}
	return nil
}

func (e *Engine) newID() int32 {
	id := e.nextID
	e.nextID++
	return id
}

// ScheduleActivity emits a TaskScheduled action. input is the JSON that
// travels in the message (C#'s parameter-array form is the caller's job).
func (c *Context) ScheduleActivity(name, version string, input *string, tags map[string]string) *Task {
	if err := c.usable("ScheduleActivity"); err != nil {
		return failedTask(err)
	}
	e := c.e
	id := e.newID()
	t := &Task{e: e, id: id, kind: history.TaskScheduled, name: name}
	ev := &history.TaskScheduledEvent{Name: name, Version: version, Input: input, Tags: tags,
		EventBase: history.EventBase{EventID: id}}
	e.pending[id] = &action{event: ev, task: t}
	e.open[id] = t
	return t
}

// CallSubOrchestrator emits a SubOrchestrationInstanceCreated action. An
// empty instanceID gets C#'s default "<parent execution id>:<task id>".
func (c *Context) CallSubOrchestrator(name, version, instanceID string, input *string, tags map[string]string) *Task {
	if err := c.usable("CallSubOrchestrator"); err != nil {
		return failedTask(err)
	}
	e := c.e
	id := e.newID()
	if instanceID == "" {
		instanceID = e.info.ExecutionID + ":" + strconv.Itoa(int(id))
	}
	t := &Task{e: e, id: id, kind: history.SubOrchestrationInstanceCreated, name: name}
	ev := &history.SubOrchestrationInstanceCreatedEvent{Name: name, Version: version, InstanceID: instanceID,
		Input: input, Tags: tags, EventBase: history.EventBase{EventID: id}}
	e.pending[id] = &action{event: ev, task: t}
	e.open[id] = t
	e.children[id] = instanceID
	return t
}

// SendEvent emits an EventSent action (one task id); it completes at once.
func (c *Context) SendEvent(instanceID, name string, input *string) error {
	if err := c.usable("SendEvent"); err != nil {
		return err
	}
	e := c.e
	id := e.newID()
	ev := &history.EventSentEvent{InstanceID: instanceID, Name: name, Input: input, EventBase: history.EventBase{EventID: id}}
	e.pending[id] = &action{event: ev}
	return nil
}

// CreateTimer emits a durable timer that fires at fireAt. Timers longer than
// MaxTimerPiece are split into pieces that each take a task id; only the
// last piece (or a piece processed at or after fireAt) completes the task.
func (c *Context) CreateTimer(fireAt time.Time) *Task {
	if err := c.usable("CreateTimer"); err != nil {
		return failedTask(err)
	}
	// A time before any a table row holds (the zero time.Time, say) is
	// long past: the timer fires at once, recorded at the earliest time
	// storage accepts.
	fireAt = taskhub.DueAtStorable(fireAt.UTC())
	e := c.e
	outer := &Task{e: e, id: -1, kind: history.TimerCreated, name: "timer"}
	var next func()
	next = func() {
		pieceAt := fireAt
		if limit := e.now.Add(e.opts.MaxTimerPiece); pieceAt.After(limit) {
			pieceAt = limit
		}
		piece := e.newTimerPiece(pieceAt)
		if outer.id < 0 {
			outer.id = piece.id
		}
		piece.whenDone(func() {
			if e.evicting.Load() || e.completion != nil {
				return
			}
			if !pieceAt.Before(fireAt) || !e.now.Before(fireAt) {
				outer.complete(nil, nil)
				return
			}
			next()
		})
	}
	next()
	return outer
}

func (e *Engine) newTimerPiece(fireAt time.Time) *Task {
	id := e.newID()
	t := &Task{e: e, id: id, kind: history.TimerCreated, name: "timer"}
	ev := &history.TimerCreatedEvent{FireAt: fireAt, EventBase: history.EventBase{EventID: id}}
	e.pending[id] = &action{event: ev, task: t}
	e.open[id] = t
	return t
}

// WaitForEvent returns a task completed by the next external event with
// this name: a buffered one at once, else the next to arrive. Waiters of
// one name are served first in, first out. Names are compared without
// regard to case unless exact is set; then they are compared ordinally, as
// orchestrations written directly on DurableTask.Core compare them (such an
// orchestration ignores "go" while it waits for "Go", and a Go version of
// it must too, or a history it writes cannot be replayed by the C# one).
func (c *Context) WaitForEvent(name string, exact bool) *Task {
	if err := c.usable("WaitForEvent"); err != nil {
		return failedTask(err)
	}
	return c.e.waitForEvent(name, exact)
}

func (e *Engine) waitForEvent(name string, exact bool) *Task {
	t := &Task{e: e, id: -1, kind: history.EventRaised, name: name}
	if b, ok := e.takeBuffered(name, exact); ok {
		t.completeAt(b.ev.Input, nil, b.seq)
		return t
	}
	e.waiters = append(e.waiters, &waiter{name: name, exact: exact, task: t})
	return t
}

// WaitForEventTimeout is WaitForEvent with a timeout: for d > 0 a timer (one
// task id) races the event and whichever comes first in history wins (the
// task fails with ErrTimeout if the timer does; the loser is detached); for
// d == 0 it takes a buffered event or fails with ErrTimeout at once.
func (c *Context) WaitForEventTimeout(name string, d time.Duration, exact bool) *Task {
	if err := c.usable("WaitForEventTimeout"); err != nil {
		return failedTask(err)
	}
	e := c.e
	if d < 0 {
		return failedTask(fmt.Errorf("replay: negative event timeout %v", d))
	}
	if d == 0 {
		t := &Task{e: e, id: -1, kind: history.EventRaised, name: name}
		if b, ok := e.takeBuffered(name, exact); ok {
			t.completeAt(b.ev.Input, nil, b.seq)
		} else {
			t.complete(nil, ErrTimeout)
		}
		return t
	}
	t := e.waitForEvent(name, exact)
	timer := c.CreateTimer(e.now.Add(d))
	timer.whenDone(func() {
		if t.done {
			return
		}
		for i, w := range e.waiters {
			if w.task == t {
				e.waiters = append(e.waiters[:i:i], e.waiters[i+1:]...)
				break
			}
		}
		t.complete(nil, ErrTimeout)
	})
	return t
}

// TryReceiveEvent takes a buffered event with this name, if any.
func (c *Context) TryReceiveEvent(name string) (*string, bool) {
	if c.usable("TryReceiveEvent") != nil {
		return nil, false
	}
	b, ok := c.e.takeBuffered(name, false)
	if !ok {
		return nil, false
	}
	return b.ev.Input, true
}

func (e *Engine) takeBuffered(name string, exact bool) (buffered, bool) {
	for i, b := range e.buffer {
		if eventNameMatches(name, b.ev.Name, exact) {
			e.buffer = append(e.buffer[:i:i], e.buffer[i+1:]...)
			return b, true
		}
	}
	return buffered{}, false
}

// SetCustomStatus sets the custom status (JSON text, or nil to clear).
func (c *Context) SetCustomStatus(v *string) {
	if c.usable("SetCustomStatus") != nil {
		return
	}
	c.e.customStatus = v
}

// NewGUID returns a deterministic GUID: UUIDv5 in Durable Functions'
// namespace of "<instance id>_<Now as yyyy-MM-ddTHH:mm:ss.fffffffZ>_<n>",
// n counting from 0 per execution, as durabletask-dotnet computes it.
func (c *Context) NewGUID() string { return c.NewGUIDIn(guidNamespace) }

// NewGUIDIn is NewGUID in another UUIDv5 namespace, on the same counter:
// the Durable Functions extension names its entity requests in its own
// namespace (GuidManager.UrlNamespaceValue).
func (c *Context) NewGUIDIn(namespace uuid.UUID) string {
	if c.usable("NewGUID") != nil {
		return ""
	}
	e := c.e
	name := e.info.InstanceID + "_" + e.now.UTC().Format("2006-01-02T15:04:05.0000000Z") + "_" + strconv.Itoa(e.guidCounter)
	e.guidCounter++
	return uuid.NewSHA1(namespace, []byte(name)).String()
}

// Rand returns the execution's random stream: one source per engine,
// seeded from the instance and execution ids and created on first use, that
// advances with every draw. Orchestrator code draws in the same order on
// every replay, so a cached engine that continues and a fresh one that
// replays the history give the same numbers. Like every durable call it
// belongs to the orchestration's coroutines (it is not safe for other
// goroutines).
func (c *Context) Rand() *rand.Rand {
	e := c.e
	if e.rng == nil {
		h1, h2 := fnv.New64a(), fnv.New64a()
		h1.Write([]byte(e.info.InstanceID))
		h2.Write([]byte(e.info.ExecutionID))
		e.rng = rand.New(rand.NewPCG(h1.Sum64(), h2.Sum64()))
	}
	return e.rng
}

// Local returns the execution's value for key, made by init on first use:
// state that the programming model keeps beside the engine (for example
// the entity locks an orchestration holds). Like the engine's own state it
// is rebuilt by every replay, and shared by the execution's coroutines.
func (c *Context) Local(key any, init func() any) any {
	e := c.e
	if e.locals == nil {
		e.locals = map[any]any{}
	}
	v, ok := e.locals[key]
	if !ok {
		v = init()
		e.locals[key] = v
	}
	return v
}

// Await waits for a task and returns its result.
func (c *Context) Await(t *Task) (*string, error) {
	if !t.done {
		if err := c.usable("Await"); err != nil {
			return nil, err
		}
		c.co.park(func() bool { return t.done })
	}
	return t.val, t.err
}

// AwaitCond parks the coroutine until cond holds. cond must depend only on
// engine state (tasks completing), never on the outside world.
func (c *Context) AwaitCond(cond func() bool) error {
	if cond() {
		return nil
	}
	if err := c.usable("Await"); err != nil {
		return err
	}
	c.co.park(cond)
	return nil
}

// Go starts fn as a new coroutine. It runs at once until it first parks,
// then the caller continues.
func (c *Context) Go(name string, fn func(*Context)) error {
	if err := c.usable("Go"); err != nil {
		return err
	}
	e := c.e
	co := e.newCoroutine(name, fn)
	e.switchTo(co)
	return nil
}

// replayHandler drops log records while the engine replays.
type replayHandler struct {
	e *Engine
	h slog.Handler
}

func (r *replayHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !r.e.replaying && r.h.Enabled(ctx, l)
}
func (r *replayHandler) Handle(ctx context.Context, rec slog.Record) error {
	if r.e.replaying {
		return nil
	}
	return r.h.Handle(ctx, rec)
}
func (r *replayHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &replayHandler{e: r.e, h: r.h.WithAttrs(a)}
}
func (r *replayHandler) WithGroup(g string) slog.Handler {
	return &replayHandler{e: r.e, h: r.h.WithGroup(g)}
}

// NewPromise returns a task that only Resolve completes; the durable layer
// uses it for composite operations run by a coroutine (retries).
func (c *Context) NewPromise(name string) *Task {
	return &Task{e: c.e, id: -1, kind: history.GenericEventType, name: name}
}

// Resolve completes a promise.
func (c *Context) Resolve(t *Task, val *string, err error) {
	if c.usable("Resolve") != nil {
		return
	}
	t.complete(val, err)
}

// Evicting reports whether the engine is unwinding the coroutines.
func (c *Context) Evicting() bool { return c.e.evicting.Load() || c.e.dead.Load() }

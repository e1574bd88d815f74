package replay

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// coroutine is one goroutine of orchestrator code. The token that allows a
// goroutine to run is passed by sending on resume and handed back by sending
// on yield; whoever resumed a coroutine waits on its yield.
type coroutine struct {
	e      *Engine
	id     int
	name   string
	resume chan struct{}
	yield  chan struct{}
	// wait is the condition a parked coroutine waits for; nil while it runs
	// or before it first ran.
	wait    func() bool
	started bool
	done    atomic.Bool
}

// errEvicted is the failure of durable calls made while the engine evicts.
var errEvicted = errors.New("replay: orchestration evicted; durable calls are inert")

// ErrDeadlock is returned by Apply when orchestrator code did not yield
// control within the deadlock timeout (it blocked on something that is not
// a durable call: time.Sleep, a native channel, I/O).
var ErrDeadlock = errors.New("replay: orchestrator code blocked outside a durable call")

func (e *Engine) newCoroutine(name string, body func(*Context)) *coroutine {
	co := &coroutine{e: e, id: len(e.cos), name: name,
		resume: make(chan struct{}), yield: make(chan struct{}, 1)}
	e.cos = append(e.cos, co)
	go co.run(&Context{e: e, co: co}, body)
	return co
}

// run is the coroutine's goroutine: it waits for the token, then runs
// body. It is the outermost frame of every coroutine goroutine, which is
// how onCoroutine tells them from plain goroutines.
func (co *coroutine) run(ctx *Context, body func(*Context)) {
	e := co.e
	<-co.resume
	normal := false
	defer func() {
		if !normal {
			if r := recover(); r != nil {
				e.recordPanic(co, r, debug.Stack())
			}
			// A nil recover means runtime.Goexit: eviction, nothing to record.
		}
		co.done.Store(true)
		select {
		case co.yield <- struct{}{}:
		default: // nobody is waiting: the engine gave up on this coroutine
		}
	}()
	if e.evicting.Load() || e.dead.Load() {
		runtime.Goexit()
	}
	body(ctx)
	normal = true
}

// switchTo gives the token to co and waits until co parks or finishes. It
// is called by the current token holder: the dispatcher or a coroutine that
// spawns another.
func (e *Engine) switchTo(co *coroutine) {
	prev := e.running
	e.running = co
	co.started = true
	co.resume <- struct{}{}
	<-co.yield
	e.running = prev
}

// dispatch resumes co from the dispatcher, with the deadlock timeout.
func (e *Engine) dispatch(co *coroutine) error {
	prev := e.running
	e.running = co
	co.started = true
	co.resume <- struct{}{}
	timeout := e.opts.DeadlockTimeout
	if timeout <= 0 {
		<-co.yield
		e.running = prev
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-co.yield:
		e.running = prev
		return nil
	case <-t.C:
		// The coroutine is stuck outside a durable call. The engine is
		// unusable: mark it dead so that the stuck goroutine touches nothing
		// when it comes back, and report where it is.
		e.dead.Store(true)
		e.deadlockStack = allStacks()
		return fmt.Errorf("%w: coroutine %q did not yield within %v", ErrDeadlock, co.name, timeout)
	}
}

// park hands the token back and waits until the coroutine is resumed with
// its condition satisfied. During eviction it unwinds the goroutine.
func (co *coroutine) park(wait func() bool) {
	e := co.e
	co.wait = wait
	co.yield <- struct{}{}
	if e.dead.Load() {
		// Nobody waits for this coroutine any more (deadlock timeout).
		runtime.Goexit()
	}
	<-co.resume
	co.wait = nil
	if e.evicting.Load() || e.dead.Load() {
		runtime.Goexit()
	}
}

// runReady resumes parked coroutines whose wait is satisfied, in creation
// order, until a whole pass resumes none, or the orchestration completed.
func (e *Engine) runReady() error {
	for {
		progressed := false
		for i := 0; i < len(e.cos); i++ {
			if e.completion != nil || e.fault != nil || e.panicked != nil {
				return nil
			}
			co := e.cos[i]
			if co.done.Load() {
				continue
			}
			if co.started && (co.wait == nil || !co.wait()) {
				continue
			}
			progressed = true
			if err := e.dispatch(co); err != nil {
				return err
			}
		}
		if !progressed {
			return nil
		}
	}
}

// Evict unwinds every goroutine of the orchestration. Defers run; durable
// calls made from them are inert. Evict is idempotent.
func (e *Engine) Evict() {
	if e.evicting.Swap(true) {
		return
	}
	if e.dead.Load() {
		return
	}
	for _, co := range e.cos {
		if co.done.Load() {
			continue
		}
		// A parked coroutine wakes up and unwinds; one that never ran exits
		// before running any user code.
		e.switchTo(co)
	}
}

func (e *Engine) recordPanic(co *coroutine, r any, stack []byte) {
	if e.evicting.Load() || e.dead.Load() {
		return
	}
	if e.fault == nil && e.completion == nil {
		e.panicked = &panicInfo{coroutine: co.name, value: r, stack: string(stack)}
	}
}

// runEntry is the entry of coroutine.run.
var runEntry = runtime.FuncForPC(reflect.ValueOf((*coroutine).run).Pointer()).Entry()

// onCoroutine reports whether the caller runs on a coroutine goroutine of
// an engine: one whose outermost frame is coroutine.run. Durable calls
// check it, with the coroutine that holds the token, to refuse calls from
// goroutines that orchestrator code started with the go statement. It
// reads return addresses only; nothing is formatted or parsed, and Go has
// no goroutine identity that would be cheaper.
func onCoroutine() bool {
	var buf [64]uintptr
	skip := 2
	for {
		n := runtime.Callers(skip, buf[:])
		if n < len(buf) {
			// The last frame is runtime.goexit; the one before it is the
			// goroutine's function.
			if n < 2 {
				return false
			}
			f := runtime.FuncForPC(buf[n-2] - 1)
			return f != nil && f.Entry() == runEntry
		}
		skip += n - 1 // keep the last frame seen, so that two remain
	}
}

func allStacks() string {
	buf := make([]byte, 1<<16)
	n := runtime.Stack(buf, true)
	return string(buf[:n])
}

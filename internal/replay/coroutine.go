package replay

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
	// gid is the coroutine goroutine's id, read once when it starts, for
	// the deadlock watch to find it in a dump of all goroutines.
	gid atomic.Uint64
}

// errEvicted is the failure of durable calls made while the engine evicts.
var errEvicted = errors.New("replay: orchestration evicted; durable calls are inert")

// ErrDeadlock is returned by Apply when orchestrator code waited for the
// whole deadlock timeout on something that is not a durable call
// (time.Sleep, a native channel, a lock, I/O); see deadlockWatch.
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
	co.gid.Store(goroutineID())
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
	e.holder.Store(co)
	co.started = true
	co.resume <- struct{}{}
	<-co.yield
	e.running = prev
	e.holder.Store(prev)
}

// dispatch resumes co from the dispatcher and waits until it parks or
// finishes, watching for a deadlock: see deadlockWatch.
func (e *Engine) dispatch(co *coroutine) error {
	prev := e.running
	e.running = co
	e.holder.Store(co)
	defer e.holder.Store(prev)
	co.started = true
	co.resume <- struct{}{}
	timeout := e.opts.DeadlockTimeout
	if timeout <= 0 {
		<-co.yield
		e.running = prev
		return nil
	}
	w := newDeadlockWatch(timeout)
	defer w.stop()
	for {
		select {
		case <-co.yield:
			e.running = prev
			return nil
		case <-w.tick.C:
		}
		// The token holder is co, or a coroutine co started with Go (co
		// then waits for it on a channel, which is no deadlock).
		h := e.holder.Load()
		if h == nil {
			continue
		}
		state, blocked := w.sample(h.gid.Load())
		if w.slow() && !blocked && !w.warned {
			w.warned = true
			e.log.Warn("replay: orchestrator code has run for longer than the deadlock timeout without reaching a durable call; it is busy, not blocked, so it is left to run",
				"instance", e.info.InstanceID, "coroutine", h.name, "timeout", timeout, "state", state)
		}
		if w.deadlocked() {
			// The coroutine is stuck outside a durable call. The engine is
			// unusable: mark it dead so that the stuck goroutine touches
			// nothing when it comes back, and report where it is.
			e.dead.Store(true)
			e.deadlockStack = allStacks()
			return fmt.Errorf("%w: coroutine %q waited (%s) without reaching a durable call for %v", ErrDeadlock, h.name, state, timeout)
		}
	}
}

// deadlockWatch tells orchestrator code that blocks from code that is
// merely slow. While a dispatch lasts, the goroutine that holds the token
// is sampled every tenth of the timeout (at most every second, at least
// every 5 ms); a deadlock
// is a run of samples covering the whole timeout in which that goroutine
// was always waiting (on a channel, a lock, a sleep, I/O or a system call)
// and never running or runnable. Code that computes (decoding a 10 MiB
// input under -race on two busy cores takes seconds) is running or
// waiting for a CPU in every sample, however long it takes, so it is never
// abandoned for being slow. Ticks that come late on a loaded machine only
// make the run longer.
type deadlockWatch struct {
	tick    *time.Ticker
	need    int // consecutive waiting samples that make a deadlock
	samples int
	waiting int
	warned  bool
	buf     []byte
}

func newDeadlockWatch(timeout time.Duration) *deadlockWatch {
	interval := min(max(timeout/10, 5*time.Millisecond), time.Second)
	// From the first waiting sample to the last, need-1 intervals pass.
	need := int((timeout+interval-1)/interval) + 1
	return &deadlockWatch{tick: time.NewTicker(interval), need: need}
}

func (w *deadlockWatch) stop() { w.tick.Stop() }

// sample records the state of goroutine gid and reports it, and whether it
// is waiting. A goroutine not started yet (gid 0) is about to run.
func (w *deadlockWatch) sample(gid uint64) (string, bool) {
	w.samples++
	state := ""
	if gid != 0 {
		state, w.buf = goroutineState(gid, w.buf)
	}
	blocked := waitingState(state)
	if blocked {
		w.waiting++
	} else {
		w.waiting = 0
	}
	return state, blocked
}

// slow reports whether the dispatch has lasted the whole timeout.
func (w *deadlockWatch) slow() bool { return w.samples >= w.need }

// deadlocked reports whether the last samples, covering the timeout, all
// found the token holder waiting.
func (w *deadlockWatch) deadlocked() bool { return w.waiting >= w.need }

// waitingState reports whether a goroutine state, as a stack dump's header
// shows it ("chan receive", "sleep", "running", "GC assist wait, 2
// minutes"), means the goroutine waits for something other than a CPU or
// the garbage collector.
func waitingState(state string) bool {
	s, _, _ := strings.Cut(state, ",")
	for _, p := range []string{"chan ", "select", "sleep", "IO wait", "semacquire", "sync.", "syscall", "coroutine", "waiting"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// goroutineState returns the state of goroutine gid from a dump of all
// goroutines ("" when it is not found), and the buffer for the next call.
func goroutineState(gid uint64, buf []byte) (string, []byte) {
	if len(buf) == 0 {
		buf = make([]byte, 256<<10)
	}
	n := runtime.Stack(buf, true)
	for n == len(buf) && len(buf) < 64<<20 {
		buf = make([]byte, 2*len(buf))
		n = runtime.Stack(buf, true)
	}
	dump := buf[:n]
	head := []byte("goroutine " + strconv.FormatUint(gid, 10) + " [")
	for i := 0; ; {
		j := bytes.Index(dump[i:], head)
		if j < 0 {
			return "", buf
		}
		at := i + j
		if at == 0 || dump[at-1] == '\n' {
			rest := dump[at+len(head):]
			if k := bytes.IndexByte(rest, ']'); k >= 0 {
				return string(rest[:k]), buf
			}
			return "", buf
		}
		i = at + len(head)
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

// goroutineID reads the calling goroutine's id from the first line of its
// stack trace; called once per coroutine.
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseUint(string(b[:i]), 10, 64)
		return id
	}
	return 0
}

func allStacks() string {
	buf := make([]byte, 1<<16)
	n := runtime.Stack(buf, true)
	return string(buf[:n])
}

// Package durabletest is a fast test environment for orchestrations: a real
// worker and client on the in-memory backend, with a virtual clock that
// skips to the next timer whenever nothing else can happen, activity mocks,
// and a replayer that checks stored histories against current code.
//
// Design note. Nothing here is a fake of the engine: orchestrations run on
// the same worker and replay engine as in production, and the environment
// turns on the worker's replay verification, so every cached episode is
// also replayed from its full history and must produce the same actions.
package durabletest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// TB is the part of testing.TB that an Env and Replay use: pass the
// test's *testing.T (or *testing.B, *testing.F). Anything else with these
// methods runs them outside a test, as the examples do.
type TB interface {
	Helper()
	Cleanup(func())
	Log(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Options configure an Env.
type Options struct {
	// Start is the virtual clock's start (default 2026-01-01T00:00:00Z).
	Start time.Time
	// Manual turns off skipping to the next timer; the test moves the clock
	// with Advance.
	Manual bool
	// Timeout bounds every wait of the environment (default 2 minutes of
	// real time: waits end as soon as their condition holds, and a busy
	// machine running tests with -race may need that long).
	Timeout time.Duration
	// Worker adjusts the worker (the environment sets Clock and
	// VerifyReplay). Its DataConverter is the client's too.
	Worker worker.Options
	// Faults are passed to the memory backend.
	Faults memory.Faults
	// Logger (default: discards below warnings).
	Logger *slog.Logger
}

// Env is one test environment.
type Env struct {
	t       TB
	opts    Options
	Clock   *memory.ManualClock
	Backend *memory.Backend
	Worker  *worker.Worker
	Client  *client.Client

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan error
}

// New returns an environment; it is stopped when the test ends. The zero
// Options are the defaults.
func New(t TB, o Options) *Env {
	t.Helper()
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	clock := memory.NewManualClock(o.Start)
	be := memory.New(memory.Options{Clock: clock, AutoAdvance: !o.Manual, Logger: o.Logger, Faults: o.Faults})
	wo := o.Worker
	wo.Clock = clock
	wo.VerifyReplay = true
	if wo.Logger == nil {
		wo.Logger = o.Logger
	}
	if wo.ShutdownTimeout == 0 {
		wo.ShutdownTimeout = 5 * time.Second
	}
	e := &Env{t: t, opts: o, Clock: clock, Backend: be, Worker: worker.New(be, wo),
		Client: client.New(be, client.Options{Clock: clock, DataConverter: wo.DataConverter})}
	t.Cleanup(e.Stop)
	return e
}

type testWriter struct{ t TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Register adds orchestrations and activities to the worker.
func (e *Env) Register(items ...durable.Registrable) {
	e.t.Helper()
	if err := e.Worker.Register(items...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *Env) ensureStarted() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return
	}
	e.started = true
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- e.Worker.Run(ctx) }()
}

// Stop stops the worker (Cleanup calls it).
func (e *Env) Stop() {
	e.mu.Lock()
	started, cancel, done := e.started, e.cancel, e.done
	e.started = false
	e.mu.Unlock()
	if !started {
		return
	}
	cancel()
	if err := <-done; err != nil {
		e.t.Errorf("durabletest: worker stopped with %v", err)
	}
}

// Context returns a context bounded by the environment's timeout.
func (e *Env) Context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.opts.Timeout)
}

// Run is a started instance.
type Run[Out any] struct {
	env *Env
	ID  string
}

// Start starts an orchestration (and the worker, on first use).
func Start[In, Out any](e *Env, o *durable.Orchestration[In, Out], in In, opts ...client.StartOption) *Run[Out] {
	e.t.Helper()
	e.ensureStarted()
	ctx, cancel := e.Context()
	defer cancel()
	r, err := client.Start(ctx, e.Client, o, in, opts...)
	if err != nil {
		e.t.Fatalf("durabletest: starting %s: %v", o.Name(), err)
	}
	return &Run[Out]{env: e, ID: r.ID}
}

// Result waits for the instance to finish and returns its output, or a
// *client.FailedError.
func (r *Run[Out]) Result() (Out, error) {
	ctx, cancel := r.env.Context()
	defer cancel()
	st, err := r.env.Client.WaitForCompletion(ctx, r.ID, client.PollInterval(time.Millisecond, 20*time.Millisecond))
	var zero Out
	if err != nil {
		return zero, fmt.Errorf("durabletest: waiting for %s: %w", r.ID, err)
	}
	if st.Status != client.Completed {
		return zero, &client.FailedError{State: st}
	}
	var out Out
	if st.Output != nil {
		if err := st.DecodeOutput(&out); err != nil {
			return zero, err
		}
	}
	return out, nil
}

// State returns the instance's current state.
func (r *Run[Out]) State() *client.State {
	r.env.t.Helper()
	ctx, cancel := r.env.Context()
	defer cancel()
	st, err := r.env.Client.GetState(ctx, r.ID)
	if err != nil {
		r.env.t.Fatalf("durabletest: state of %s: %v", r.ID, err)
	}
	return st
}

// WaitFor waits until cond holds for the instance's state (checked after
// every change the backend sees, with a real-time deadline).
func (r *Run[Out]) WaitFor(what string, cond func(*client.State) bool) *client.State {
	r.env.t.Helper()
	deadline := time.Now().Add(r.env.opts.Timeout)
	for {
		ctx, cancel := r.env.Context()
		st, err := r.env.Client.GetState(ctx, r.ID)
		cancel()
		if err == nil && cond(st) {
			return st
		}
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			r.env.t.Fatalf("durabletest: state of %s: %v", r.ID, err)
		}
		if time.Now().After(deadline) {
			r.env.t.Fatalf("durabletest: %s: timed out waiting for %s", r.ID, what)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Millisecond)
		_ = r.env.Backend.WaitIdle(ctx)
		cancel()
	}
}

// RaiseEvent sends an external event to an instance.
func (e *Env) RaiseEvent(instanceID, name string, payload any) {
	e.t.Helper()
	ctx, cancel := e.Context()
	defer cancel()
	if err := e.Client.RaiseEvent(ctx, instanceID, name, payload); err != nil {
		e.t.Fatal(err)
	}
}

// Advance moves the virtual clock (for Manual environments).
func (e *Env) Advance(d time.Duration) { e.Clock.Advance(d) }

// SetAutoAdvance turns skipping to the next timer on or off.
func (e *Env) SetAutoAdvance(on bool) {
	e.t.Helper()
	if err := e.Backend.SetAutoAdvance(on); err != nil {
		e.t.Fatal(err)
	}
}

// History returns the stored history of an instance's current execution.
func (e *Env) History(instanceID string) []history.Event {
	e.t.Helper()
	ctx, cancel := e.Context()
	defer cancel()
	h, err := e.Client.History(ctx, instanceID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// Mock replaces an activity's implementation in an environment.
type Mock[In, Out any] struct {
	env  *Env
	name string
	ver  string
	mu   sync.Mutex
	fn   func(context.Context, In) (Out, error)
	// Calls counts the mock's invocations.
	calls int
}

// OnActivity mocks an activity (by its handle's name and version): the
// worker runs the mock in its place, with the same input and output
// types. Set its behaviour with Return or Do; until then a call fails.
// Call it after registering the activity (or instead of registering it),
// before starting instances.
func OnActivity[In, Out any](e *Env, a *durable.Activity[In, Out]) *Mock[In, Out] {
	e.t.Helper()
	m := &Mock[In, Out]{env: e, name: a.Name(), ver: a.Version()}
	mock := durable.NewActivity(a.Name(), func(ctx context.Context, in In) (Out, error) {
		m.mu.Lock()
		fn := m.fn
		m.calls++
		m.mu.Unlock()
		if fn == nil {
			var zero Out
			return zero, fmt.Errorf("durabletest: activity %s is mocked but has no behaviour", a.Name())
		}
		return fn(ctx, in)
	}, durable.Version(a.Version()))
	if err := e.Worker.Replace(mock); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// Return makes every call return out and err.
func (m *Mock[In, Out]) Return(out Out, err error) *Mock[In, Out] {
	return m.Do(func(context.Context, In) (Out, error) { return out, err })
}

// Do makes every call run fn.
func (m *Mock[In, Out]) Do(fn func(context.Context, In) (Out, error)) *Mock[In, Out] {
	m.mu.Lock()
	m.fn = fn
	m.mu.Unlock()
	return m
}

// Calls returns how often the mock ran.
func (m *Mock[In, Out]) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

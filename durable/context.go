package durable

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/replay"
)

// Context is the orchestration's view of its execution. It is passed to
// orchestrator functions and must not be used outside them or from plain
// goroutines (use Go). Each coroutine has its own Context: the one Go
// passes to the coroutine's function.
type Context interface {
	// InstanceID is the instance's id.
	InstanceID() string
	// ExecutionID is the id of the current execution (a new one after
	// continue-as-new).
	ExecutionID() string
	// Name and Version identify the orchestration.
	Name() string
	Version() string
	// Parent is the parent instance of a sub-orchestration, or nil.
	Parent() *history.ParentInstance
	// Tags are the instance's tags.
	Tags() map[string]string
	// Now is the orchestration's deterministic current time (UTC): the
	// start time of the current episode. It never goes backwards.
	Now() time.Time
	// IsReplaying reports whether the code is replaying recorded history.
	IsReplaying() bool
	// Logger logs only when not replaying.
	Logger() *slog.Logger
	// NewGUID returns a deterministic GUID (the same on every replay).
	NewGUID() string
	// Rand returns the execution's deterministic random source: one stream,
	// seeded from the instance and execution ids, that advances with every
	// draw (two calls give different numbers) and gives the same numbers
	// again on every replay. Draw only from orchestration code.
	Rand() *rand.Rand
	// SetCustomStatus records v (encoded by the worker's DataConverter) as
	// the instance's custom status; the last value set in an episode is
	// stored. nil clears it.
	SetCustomStatus(v any) error

	rt() *replay.Context
	converter() payload.Converter
}

// orchestrationContext is one coroutine's Context: the engine's context of
// that coroutine, and the converter of the worker that runs it.
type orchestrationContext struct {
	r    *replay.Context
	conv payload.Converter
}

func wrap(r *replay.Context, conv payload.Converter) Context {
	return &orchestrationContext{r: r, conv: conv}
}

func (c *orchestrationContext) rt() *replay.Context             { return c.r }
func (c *orchestrationContext) converter() payload.Converter    { return c.conv }
func (c *orchestrationContext) InstanceID() string              { return c.r.Info().InstanceID }
func (c *orchestrationContext) ExecutionID() string             { return c.r.Info().ExecutionID }
func (c *orchestrationContext) Name() string                    { return c.r.Info().Name }
func (c *orchestrationContext) Version() string                 { return c.r.Info().Version }
func (c *orchestrationContext) Parent() *history.ParentInstance { return c.r.Info().Parent }
func (c *orchestrationContext) Tags() map[string]string         { return c.r.Info().Tags }
func (c *orchestrationContext) Now() time.Time                  { return c.r.Now() }
func (c *orchestrationContext) IsReplaying() bool               { return c.r.IsReplaying() }
func (c *orchestrationContext) Logger() *slog.Logger            { return c.r.Logger() }
func (c *orchestrationContext) NewGUID() string                 { return c.r.NewGUID() }
func (c *orchestrationContext) Rand() *rand.Rand                { return c.r.Rand() }

func (c *orchestrationContext) SetCustomStatus(v any) error {
	if v == nil {
		c.r.SetCustomStatus(nil)
		return nil
	}
	p, err := payload.Marshal(c.conv, v)
	if err != nil {
		return err
	}
	c.r.SetCustomStatus(p)
	return nil
}

// Go runs fn as a new orchestration coroutine. It starts at once and runs
// until its first durable wait; the caller then continues. Coroutines are
// deterministic: exactly one runs at a time, and they resume in history
// order. fn must use the Context it is given, not its caller's.
func Go(ctx Context, fn func(Context)) error {
	conv := ctx.converter()
	return ctx.rt().Go("go", func(r *replay.Context) { fn(wrap(r, conv)) })
}

// Await blocks until cond returns true. cond must depend only on durable
// state (futures, values set by coroutines), never on the outside world.
func Await(ctx Context, cond func() bool) error {
	return ctx.rt().AwaitCond(cond)
}

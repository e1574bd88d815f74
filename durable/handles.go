package durable

import (
	"context"
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
)

// DefOption configures an orchestration or activity definition.
type DefOption func(*def)

type def struct{ version string }

// Version sets the version a handle registers and calls (default "").
func Version(v string) DefOption { return func(d *def) { d.version = v } }

func defs(opts []DefOption) def {
	var d def
	for _, o := range opts {
		o(&d)
	}
	return d
}

// Registrable is an orchestration, activity or entity handle, as a worker
// registers it (worker.Worker.Register, cli.WithRegistrations).
type Registrable interface {
	entry() (registry.Entry, error)
}

// The worker and the other hosts turn handles into engine code through
// package registry, which cannot import this package.
func init() {
	registry.Bind(func(item any) (registry.Entry, error) {
		r, ok := item.(Registrable)
		if !ok {
			return registry.Entry{}, fmt.Errorf("durable: %T is not an orchestration, activity or entity handle", item)
		}
		return r.entry()
	})
}

// Orchestration is a typed orchestration handle: it registers the function
// with a worker and calls it as a sub-orchestration.
type Orchestration[In, Out any] struct {
	name, version string
	fn            func(Context, In) (Out, error)
}

// NewOrchestration defines an orchestration. Names are explicit strings;
// they are what history and other workers (also C# ones) refer to.
func NewOrchestration[In, Out any](name string, fn func(Context, In) (Out, error), opts ...DefOption) *Orchestration[In, Out] {
	d := defs(opts)
	return &Orchestration[In, Out]{name: name, version: d.version, fn: fn}
}

// OrchestrationRef is a call-only handle for an orchestration implemented
// elsewhere (another worker, another language).
func OrchestrationRef[In, Out any](name string, opts ...DefOption) *Orchestration[In, Out] {
	return NewOrchestration[In, Out](name, nil, opts...)
}

// Name returns the orchestration's name.
func (o *Orchestration[In, Out]) Name() string { return o.name }

// Version returns the orchestration's version.
func (o *Orchestration[In, Out]) Version() string { return o.version }

func (o *Orchestration[In, Out]) entry() (registry.Entry, error) {
	if o == nil {
		return registry.Entry{}, errors.New("durable: nil registration")
	}
	if o.fn == nil {
		return registry.Entry{}, fmt.Errorf("durable: orchestration %q is a call-only reference and cannot be registered", o.name)
	}
	return registry.Entry{Name: o.name, Version: o.version, Orchestration: func(conv payload.Converter) replay.Orchestrator {
		return func(rc *replay.Context, input *string) (*string, error) {
			in, err := payload.Unmarshal[In](conv, input)
			if err != nil {
				return nil, fmt.Errorf("decoding the input of orchestration %q: %w", o.name, err)
			}
			ctx := wrap(rc, conv)
			// Locks are released when the orchestration ends, fails (a
			// panic included) or continues as new, as the extension does.
			// Only an orchestration inside a critical section recovers
			// (and panics again): the others keep the panic's own stack.
			defer func() {
				if !entityState(ctx).inSection() || rc.Evicting() {
					return
				}
				if p := recover(); p != nil {
					_ = releaseLocks(ctx)
					panic(p)
				}
			}()
			out, err := o.fn(ctx, in)
			if rerr := releaseLocks(ctx); rerr != nil && err == nil {
				err = rerr
			}
			if err != nil {
				return nil, toEngine(err)
			}
			return payload.Marshal(conv, out)
		}
	}}, nil
}

// Activity is a typed activity handle: it registers the function with a
// worker and calls it from orchestrations.
//
// Inputs are sent in C#'s parameter-array form, [x], so C# activities can run
// Go-scheduled calls. When reading, a JSON array of exactly one element is
// unwrapped (and decoded whole if that fails); any other payload is decoded
// whole, so calls from writers that send a single value work too.
type Activity[In, Out any] struct {
	name, version string
	fn            func(context.Context, In) (Out, error)
}

// NewActivity defines an activity.
func NewActivity[In, Out any](name string, fn func(context.Context, In) (Out, error), opts ...DefOption) *Activity[In, Out] {
	d := defs(opts)
	return &Activity[In, Out]{name: name, version: d.version, fn: fn}
}

// ActivityRef is a call-only handle for an activity implemented elsewhere.
func ActivityRef[In, Out any](name string, opts ...DefOption) *Activity[In, Out] {
	return NewActivity[In, Out](name, nil, opts...)
}

// Name returns the activity's name.
func (a *Activity[In, Out]) Name() string { return a.name }

// Version returns the activity's version.
func (a *Activity[In, Out]) Version() string { return a.version }

func (a *Activity[In, Out]) entry() (registry.Entry, error) {
	if a == nil {
		return registry.Entry{}, errors.New("durable: nil registration")
	}
	if a.fn == nil {
		return registry.Entry{}, fmt.Errorf("durable: activity %q is a call-only reference and cannot be registered", a.name)
	}
	return registry.Entry{Name: a.name, Version: a.version, Activity: func(conv payload.Converter) registry.ActivityFunc {
		return func(ctx context.Context, input *string) (*string, error) {
			in, err := payload.DecodeActivityInput[In](conv, input)
			if err != nil {
				return nil, NonRetryable(fmt.Errorf("decoding the input of activity %q: %w", a.name, err))
			}
			out, err := a.fn(ctx, in)
			if err != nil {
				return nil, err
			}
			return payload.Marshal(conv, out)
		}
	}}, nil
}

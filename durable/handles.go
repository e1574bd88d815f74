package durable

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

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

// Registrable is an orchestration or activity handle.
type Registrable interface {
	addTo(r *Registry) error
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

func (o *Orchestration[In, Out]) addTo(r *Registry) error {
	if o.fn == nil {
		return fmt.Errorf("durable: orchestration %q is a call-only reference and cannot be registered", o.name)
	}
	return r.addOrchestration(o.name, o.version, func(rc *replay.Context, input *string) (*string, error) {
		in, err := unmarshalPayload[In](input)
		if err != nil {
			return nil, fmt.Errorf("decoding the input of orchestration %q: %w", o.name, err)
		}
		ctx := wrap(rc)
		// Locks are released when the orchestration ends, fails (a panic
		// included) or continues as new, as the extension does.
		// Only an orchestration inside a critical section recovers (and
		// panics again): the others keep the panic's own stack.
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
			return nil, err
		}
		return marshalPayload(out)
	})
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

func (a *Activity[In, Out]) addTo(r *Registry) error {
	if a.fn == nil {
		return fmt.Errorf("durable: activity %q is a call-only reference and cannot be registered", a.name)
	}
	return r.addActivity(a.name, a.version, func(ctx context.Context, input *string) (*string, error) {
		in, err := DecodeActivityInput[In](input)
		if err != nil {
			return nil, NonRetryable(fmt.Errorf("decoding the input of activity %q: %w", a.name, err))
		}
		out, err := a.fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return marshalPayload(out)
	})
}

// ActivityFunc is an activity as a worker runs it: JSON in, JSON out.
type ActivityFunc func(ctx context.Context, input *string) (*string, error)

type regKey struct{ name, version string }

// Registry holds orchestrations and activities by name and version. Names
// are matched without regard to case (as the non-determinism check
// compares them), so names that differ only in case are refused.
type Registry struct {
	mu            sync.RWMutex
	orchestrators map[regKey]replay.Orchestrator
	activities    map[regKey]ActivityFunc
	entities      map[string]EntityFunc
	names         map[string]string // lower-case "kind/name" → spelling
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{orchestrators: map[regKey]replay.Orchestrator{},
		activities: map[regKey]ActivityFunc{}, entities: map[string]EntityFunc{}, names: map[string]string{}}
}

// Add registers handles. Empty names, duplicate (name, version) pairs and
// names that differ from a registered one only in case are errors.
func (r *Registry) Add(items ...Registrable) error {
	var errs []error
	for _, it := range items {
		if it == nil {
			errs = append(errs, errors.New("durable: nil registration"))
			continue
		}
		if err := it.addTo(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Registry) checkName(kind, name, version string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("durable: %s name is empty", kind)
	}
	lk := kind + "/" + strings.ToLower(name)
	if prev, ok := r.names[lk]; ok && prev != name {
		return fmt.Errorf("durable: %s %q differs from the registered %q only in case", kind, name, prev)
	}
	r.names[lk] = name
	return nil
}

func (r *Registry) addOrchestration(name, version string, fn replay.Orchestrator) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkName("orchestration", name, version); err != nil {
		return err
	}
	k := regKey{strings.ToLower(name), version}
	if _, dup := r.orchestrators[k]; dup {
		return fmt.Errorf("durable: orchestration %q version %q is already registered", name, version)
	}
	r.orchestrators[k] = fn
	return nil
}

func (r *Registry) addActivity(name, version string, fn ActivityFunc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkName("activity", name, version); err != nil {
		return err
	}
	k := regKey{strings.ToLower(name), version}
	if _, dup := r.activities[k]; dup {
		return fmt.Errorf("durable: activity %q version %q is already registered", name, version)
	}
	r.activities[k] = fn
	return nil
}

func (r *Registry) addEntity(name string, fn EntityFunc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkName("entity", name, ""); err != nil {
		return err
	}
	k := strings.ToLower(name)
	if _, dup := r.entities[k]; dup {
		return fmt.Errorf("durable: entity %q is already registered", name)
	}
	r.entities[k] = fn
	return nil
}

// Entity looks up an entity by name (any case). Entity names live in
// their own namespace: an entity and an orchestration may share a name.
func (r *Registry) Entity(name string) (EntityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.entities[strings.ToLower(name)]
	return fn, ok
}

// ReplaceActivity makes name (and version) run fn instead of what is
// registered, registering it if needed. The test environment uses it for
// activity mocks.
func (r *Registry) ReplaceActivity(name, version string, fn ActivityFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names["activity/"+strings.ToLower(name)] = name
	r.activities[regKey{strings.ToLower(name), version}] = fn
}

// Orchestrator looks up an orchestration by name (any case) and version.
func (r *Registry) Orchestrator(name, version string) (replay.Orchestrator, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.orchestrators[regKey{strings.ToLower(name), version}]
	return fn, ok
}

// Activity looks up an activity by name (any case) and version.
func (r *Registry) Activity(name, version string) (ActivityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.activities[regKey{strings.ToLower(name), version}]
	return fn, ok
}

// OrchestratorVersions lists the registered versions of an orchestration.
func (r *Registry) OrchestratorVersions(name string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for k := range r.orchestrators {
		if k.name == strings.ToLower(name) {
			out = append(out, k.version)
		}
	}
	return out
}

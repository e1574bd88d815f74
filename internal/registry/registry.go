// Package registry holds the orchestrations, activities and entities a
// worker hosts, by name (and version), as the engine and the worker run them: JSON text in
// and out, with the worker's converter.
//
// Design note. Users hold typed handles of package durable
// (durable.Registrable); the worker, durabletest, the HTTP API and the
// command line need them as engine code. Package durable imports this
// package, so this package cannot call into durable: durable binds, when
// it is initialized, the one function that describes its handles (Bind),
// and every registry asks it (Describe). Nothing here is exported from a
// public package: the handles' method that the description comes from is
// unexported, so users see only durable's typed API.
package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/replay"
)

// ActivityFunc is an activity as a worker runs it: text in, text out.
type ActivityFunc func(ctx context.Context, input *string) (*string, error)

// EntityFunc runs one entity operation as a worker runs it: it reads the
// operation's request and the entity's state (text) from op and, when it
// succeeds, sets the new state, the result and the messages to send. An
// error fails the operation, which rolls it back.
type EntityFunc func(ctx context.Context, op *entity.Operation) error

// Entry describes one handle: its name and version, and how to build its
// code for a converter. Exactly one of Orchestration, Activity and Entity
// is set; entities have no version.
type Entry struct {
	Name, Version string
	Orchestration func(payload.Converter) replay.Orchestrator
	Activity      func(payload.Converter) ActivityFunc
	Entity        func(payload.Converter) EntityFunc
}

// Kind is "orchestration", "activity" or "entity".
func (e Entry) Kind() string {
	switch {
	case e.Orchestration != nil:
		return "orchestration"
	case e.Entity != nil:
		return "entity"
	}
	return "activity"
}

var (
	bindMu   sync.RWMutex
	describe func(item any) (Entry, error)
)

// Bind installs the function that describes package durable's handles.
// Package durable calls it once, when it is initialized.
func Bind(f func(item any) (Entry, error)) {
	bindMu.Lock()
	defer bindMu.Unlock()
	describe = f
}

// Describe returns what item (a durable.Registrable) registers.
func Describe(item any) (Entry, error) {
	bindMu.RLock()
	f := describe
	bindMu.RUnlock()
	if item == nil {
		return Entry{}, errors.New("durable: nil registration")
	}
	if f == nil {
		return Entry{}, fmt.Errorf("durable: %T is not a handle of package durable", item)
	}
	return f(item)
}

type key struct{ name, version string }

// Registry holds orchestrations and activities by name and version, and
// entities by name. Names are matched without regard to case (as the
// non-determinism check compares them), so names that differ only in case
// are refused. Entity names live in a namespace of their own (an entity and
// an orchestration may share a name) and are kept lower-cased, as the
// Durable Functions extension stores them.
type Registry struct {
	conv payload.Converter

	mu            sync.RWMutex
	orchestrators map[key]replay.Orchestrator
	activities    map[key]ActivityFunc
	entities      map[string]EntityFunc // by lower-cased name
	names         map[string]string     // lower-case "kind/name" → spelling
}

// New returns an empty registry whose code converts payloads with c (nil:
// JSON).
func New(c payload.Converter) *Registry {
	return &Registry{conv: payload.Or(c), orchestrators: map[key]replay.Orchestrator{},
		activities: map[key]ActivityFunc{}, entities: map[string]EntityFunc{}, names: map[string]string{}}
}

// Add registers handles. Empty names, duplicate (kind, name, version)
// triples and names that differ from a registered one only in case are
// errors; the other handles are registered all the same.
func Add[T any](r *Registry, items ...T) error { return add(r, false, items) }

// Replace registers handles in place of what is registered under the same
// kind, name and version, or beside it when nothing is.
func Replace[T any](r *Registry, items ...T) error { return add(r, true, items) }

func add[T any](r *Registry, replace bool, items []T) error {
	var errs []error
	for _, it := range items {
		e, err := Describe(any(it))
		if err == nil {
			err = r.put(e, replace)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Registry) put(e Entry, replace bool) error {
	kind := e.Kind()
	if strings.TrimSpace(e.Name) == "" {
		return fmt.Errorf("durable: %s name is empty", kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	lk := kind + "/" + strings.ToLower(e.Name)
	if prev, ok := r.names[lk]; ok && prev != e.Name && !replace {
		return fmt.Errorf("durable: %s %q differs from the registered %q only in case", kind, e.Name, prev)
	}
	k := key{strings.ToLower(e.Name), e.Version}
	switch {
	case e.Orchestration != nil:
		if _, dup := r.orchestrators[k]; dup && !replace {
			return fmt.Errorf("durable: orchestration %q version %q is already registered", e.Name, e.Version)
		}
		r.orchestrators[k] = e.Orchestration(r.conv)
	case e.Activity != nil:
		if _, dup := r.activities[k]; dup && !replace {
			return fmt.Errorf("durable: activity %q version %q is already registered", e.Name, e.Version)
		}
		r.activities[k] = e.Activity(r.conv)
	case e.Entity != nil:
		if e.Version != "" {
			return fmt.Errorf("durable: entity %q has a version; entities have none", e.Name)
		}
		if _, dup := r.entities[k.name]; dup && !replace {
			return fmt.Errorf("durable: entity %q is already registered", e.Name)
		}
		r.entities[k.name] = e.Entity(r.conv)
	default:
		return fmt.Errorf("durable: %q has no code", e.Name)
	}
	r.names[lk] = e.Name
	return nil
}

// Orchestrator looks up an orchestration by name (any case) and version.
func (r *Registry) Orchestrator(name, version string) (replay.Orchestrator, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.orchestrators[key{strings.ToLower(name), version}]
	return fn, ok
}

// Activity looks up an activity by name (any case) and version.
func (r *Registry) Activity(name, version string) (ActivityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.activities[key{strings.ToLower(name), version}]
	return fn, ok
}

// Entity looks up an entity by name (any case).
func (r *Registry) Entity(name string) (EntityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.entities[strings.ToLower(name)]
	return fn, ok
}

// Package registry holds the orchestrations and activities a worker hosts,
// by name and version, as the engine and the worker run them: JSON text in
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

	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/replay"
)

// ActivityFunc is an activity as a worker runs it: text in, text out.
type ActivityFunc func(ctx context.Context, input *string) (*string, error)

// Entry describes one handle: its name and version, and how to build its
// code for a converter. Exactly one of Orchestration and Activity is set.
type Entry struct {
	Name, Version string
	Orchestration func(payload.Converter) replay.Orchestrator
	Activity      func(payload.Converter) ActivityFunc
}

// Kind is "orchestration" or "activity".
func (e Entry) Kind() string {
	if e.Orchestration != nil {
		return "orchestration"
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

// Registry holds orchestrations and activities by name and version. Names
// are matched without regard to case (as the non-determinism check
// compares them), so names that differ only in case are refused.
type Registry struct {
	conv payload.Converter

	mu            sync.RWMutex
	orchestrators map[key]replay.Orchestrator
	activities    map[key]ActivityFunc
	names         map[string]string // lower-case "kind/name" → spelling
}

// New returns an empty registry whose code converts payloads with c (nil:
// JSON).
func New(c payload.Converter) *Registry {
	return &Registry{conv: payload.Or(c), orchestrators: map[key]replay.Orchestrator{},
		activities: map[key]ActivityFunc{}, names: map[string]string{}}
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

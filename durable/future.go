package durable

import (
	"errors"

	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/replay"
)

// Awaitable is the untyped view of a Future.
type Awaitable interface {
	// IsDone reports whether the result is available.
	IsDone() bool
	task() *replay.Task
}

// Future is the eventual result of a durable operation.
type Future[T any] struct {
	t      *replay.Task
	decode func(*string) (T, error)
}

// newFuture returns the future of t, whose result is decoded with the
// converter of the worker that runs ctx.
func newFuture[T any](ctx Context, t *replay.Task) Future[T] {
	conv := ctx.converter()
	return Future[T]{t: t, decode: func(p *string) (T, error) { return payload.Unmarshal[T](conv, p) }}
}

func (f Future[T]) task() *replay.Task { return f.t }

// IsDone reports whether the result is available.
func (f Future[T]) IsDone() bool { return f.t != nil && f.t.Done() }

// Await waits for the result.
func (f Future[T]) Await(ctx Context) (T, error) {
	var zero T
	if f.t == nil {
		return zero, errors.New("durable: Await on a zero Future")
	}
	val, err := ctx.rt().Await(f.t)
	if err != nil {
		return zero, fromEngine(err)
	}
	v, err := f.decode(val)
	if err != nil {
		return zero, &DecodeError{Err: err}
	}
	return v, nil
}

// DecodeError means a result could not be decoded into the expected type.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "durable: decoding a result: " + e.Err.Error() }

// Unwrap returns the converter's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// WhenAll waits for every future and returns the failures joined with
// errors.Join (nil when all succeeded). It never returns early on a failure.
func WhenAll(ctx Context, fs ...Awaitable) error {
	if err := ctx.rt().AwaitCond(func() bool {
		for _, f := range fs {
			if !f.IsDone() {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	var errs []error
	for _, f := range fs {
		if _, err := f.task().Result(); err != nil {
			errs = append(errs, fromEngine(err))
		}
	}
	return errors.Join(errs...)
}

// WhenAllOf waits for every future and returns their results in order. If
// any failed, the error joins all failures and the slice holds the zero
// value at their positions.
func WhenAllOf[T any](ctx Context, fs ...Future[T]) ([]T, error) {
	aw := make([]Awaitable, len(fs))
	for i, f := range fs {
		aw[i] = f
	}
	if err := WhenAll(ctx, aw...); err != nil {
		var joined []error
		out := make([]T, len(fs))
		for i, f := range fs {
			if v, err := f.Await(ctx); err != nil {
				joined = append(joined, err)
			} else {
				out[i] = v
			}
		}
		return out, errors.Join(joined...)
	}
	out := make([]T, len(fs))
	for i, f := range fs {
		v, err := f.Await(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// WhenAny waits until one future is done and returns the index of the one
// that completed first in history order (the lowest index among those that
// completed at the same point). The futures' own errors are not returned;
// Await the winner for its result.
func WhenAny(ctx Context, fs ...Awaitable) (int, error) {
	if len(fs) == 0 {
		return -1, errors.New("durable: WhenAny of nothing")
	}
	if err := ctx.rt().AwaitCond(func() bool { return firstDone(fs) >= 0 }); err != nil {
		return -1, err
	}
	return firstDone(fs), nil
}

func firstDone(fs []Awaitable) int {
	best := -1
	for i, f := range fs {
		if !f.IsDone() {
			continue
		}
		if best < 0 || f.task().Seq() < fs[best].task().Seq() {
			best = i
		}
	}
	return best
}

// DeterministicKeys returns the keys of m in sorted order, so that code that
// ranges over a map makes its durable calls in the same order every time.
func DeterministicKeys[K interface {
	~string | ~int | ~int64 | ~int32 | ~uint | ~uint64 | ~uint32
}, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

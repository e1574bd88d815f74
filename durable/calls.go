package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
)

// CallOption configures an activity or sub-orchestration call.
type CallOption func(*callOptions)

type callOptions struct {
	retry      *RetryPolicy
	version    *string
	instanceID string
	tags       map[string]string
}

// WithRetry retries failed calls with durable timers between attempts.
func WithRetry(p RetryPolicy) CallOption { return func(o *callOptions) { o.retry = &p } }

// WithVersion calls another version than the handle's.
func WithVersion(v string) CallOption { return func(o *callOptions) { o.version = &v } }

// WithInstanceID gives a sub-orchestration an explicit instance id (default:
// "<parent execution id>:<task id>", as C# generates it).
func WithInstanceID(id string) CallOption { return func(o *callOptions) { o.instanceID = id } }

// WithTags sets the tags sent with the call.
func WithTags(tags map[string]string) CallOption { return func(o *callOptions) { o.tags = tags } }

func callOpts(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Call schedules the activity and returns its future.
func (a *Activity[In, Out]) Call(ctx Context, in In, opts ...CallOption) Future[Out] {
	return CallActivity[Out](ctx, a.name, in, append([]CallOption{WithVersion(a.version)}, opts...)...)
}

// CallActivity schedules an activity by name.
func CallActivity[Out any](ctx Context, name string, in any, opts ...CallOption) Future[Out] {
	o := callOpts(opts)
	input, err := payload.EncodeActivityInput(ctx.converter(), in)
	if err != nil {
		return failedFuture[Out](ctx, fmt.Errorf("durable: encoding the input of activity %q: %w", name, err))
	}
	version := ""
	if o.version != nil {
		version = *o.version
	}
	attempt := func(r *replay.Context) *replay.Task { return r.ScheduleActivity(name, version, input, o.tags) }
	if o.retry == nil {
		return newFuture[Out](ctx, attempt(ctx.rt()))
	}
	return newFuture[Out](ctx, withRetry(ctx, name, *o.retry, attempt))
}

// CallSub starts the orchestration as a sub-orchestration.
func (o *Orchestration[In, Out]) CallSub(ctx Context, in In, opts ...CallOption) Future[Out] {
	return CallSubOrchestrator[Out](ctx, o.name, in, append([]CallOption{WithVersion(o.version)}, opts...)...)
}

// CallSubOrchestrator starts a sub-orchestration by name. Its input is a
// single JSON value.
func CallSubOrchestrator[Out any](ctx Context, name string, in any, opts ...CallOption) Future[Out] {
	o := callOpts(opts)
	input, err := marshal(ctx, in)
	if err != nil {
		return failedFuture[Out](ctx, fmt.Errorf("durable: encoding the input of sub-orchestration %q: %w", name, err))
	}
	version := ""
	if o.version != nil {
		version = *o.version
	}
	attempts := 0
	attempt := func(r *replay.Context) *replay.Task {
		id := o.instanceID
		if id != "" && attempts > 0 {
			// A retried child with a fixed id needs a new id per attempt.
			id = fmt.Sprintf("%s:%d", o.instanceID, attempts)
		}
		attempts++
		return r.CallSubOrchestrator(name, version, id, input, o.tags)
	}
	if o.retry == nil {
		return newFuture[Out](ctx, attempt(ctx.rt()))
	}
	return newFuture[Out](ctx, withRetry(ctx, name, *o.retry, attempt))
}

func failedFuture[Out any](ctx Context, err error) Future[Out] {
	r := ctx.rt()
	p := r.NewPromise("failed")
	r.Resolve(p, nil, err)
	return newFuture[Out](ctx, p)
}

// RetryPolicy mirrors C#'s RetryOptions. The delay before attempt k+1 is
// min(FirstRetryInterval × BackoffCoefficient^(k−1), MaxRetryInterval). No
// attempt starts after the first attempt plus RetryTimeout (if set). A
// policy must pass Validate (FirstRetryInterval and MaxAttempts are
// required; a zero BackoffCoefficient means 1, a zero MaxRetryInterval or
// RetryTimeout means none); a call with an invalid one fails at once with a
// *RetryPolicyError and schedules nothing.
// Failures marked non-retriable are never retried; Handle, if set, decides
// for the others. The next attempt is scheduled as soon as the failure is
// applied, so retries in a fan-out run in parallel. Only the retry timers and
// the attempts take task ids; nothing follows the final failure.
type RetryPolicy struct {
	MaxAttempts        int
	FirstRetryInterval time.Duration
	BackoffCoefficient float64
	MaxRetryInterval   time.Duration
	RetryTimeout       time.Duration
	Handle             func(*TaskFailedError) bool
}

func withRetry(ctx Context, name string, p RetryPolicy, attempt func(*replay.Context) *replay.Task) *replay.Task {
	r := ctx.rt()
	result := r.NewPromise("retry " + name)
	if err := p.check(); err != nil {
		err.Call = name
		r.Resolve(result, nil, err)
		return result
	}
	start := r.Now()
	err := r.Go("retry "+name, func(rc *replay.Context) {
		for n := 1; ; n++ {
			val, err := rc.Await(attempt(rc))
			err = fromEngine(err)
			if err == nil {
				rc.Resolve(result, val, nil)
				return
			}
			if rc.Evicting() || !retriable(err, p) || n >= p.MaxAttempts {
				rc.Resolve(result, nil, err)
				return
			}
			d := p.delay(n)
			if p.RetryTimeout > 0 && rc.Now().Add(d).After(start.Add(p.RetryTimeout)) {
				rc.Resolve(result, nil, err)
				return
			}
			if _, terr := rc.Await(rc.CreateTimer(rc.Now().Add(d))); terr != nil {
				rc.Resolve(result, nil, err)
				return
			}
		}
	})
	if err != nil {
		r.Resolve(result, nil, err)
	}
	return result
}

func retriable(err error, p RetryPolicy) bool {
	var tf *TaskFailedError
	if !errors.As(err, &tf) {
		return false
	}
	if tf.Failure != nil && tf.Failure.IsNonRetriable {
		return false
	}
	if p.Handle != nil {
		return p.Handle(tf)
	}
	return true
}

// NewTimer creates a durable timer that fires d after the orchestration's
// current time. Even d ≤ 0 creates a timer, so that the history's shape does
// not depend on values. Timers longer than 3 days are stored as several
// timers of at most 3 days (Azure queues cannot delay a message by more than
// 7 days); the future completes with the last.
func NewTimer(ctx Context, d time.Duration) Future[struct{}] {
	return NewTimerAt(ctx, ctx.Now().Add(d))
}

// NewTimerAt creates a durable timer that fires at t. A t in the past fires
// at once; one before 1601 (the zero time.Time, say), earlier than any
// date-time an Azure table stores, is recorded as 1601-01-01.
func NewTimerAt(ctx Context, t time.Time) Future[struct{}] {
	return Future[struct{}]{t: ctx.rt().CreateTimer(t), decode: func(*string) (struct{}, error) { return struct{}{}, nil }}
}

// Sleep waits on a durable timer.
func Sleep(ctx Context, d time.Duration) error {
	_, err := NewTimer(ctx, d).Await(ctx)
	return err
}

// EventOption configures WaitForEvent.
type EventOption func(*eventOptions)

type eventOptions struct {
	timeout    time.Duration
	hasTimeout bool
	exact      bool
}

// WithTimeout bounds an event wait: for d > 0 a durable timer races the
// event (ErrTimeout if the timer wins); for d == 0 only an event that has
// already arrived is taken, else ErrTimeout at once. A negative d is an
// error.
func WithTimeout(d time.Duration) EventOption {
	return func(o *eventOptions) { o.timeout, o.hasTimeout = d, true }
}

// MatchCase makes an event wait compare names exactly (ordinal,
// case-sensitive) instead of ignoring case. Orchestrations written directly
// on C#'s DurableTask.Core (such as the reference program's) compare names
// this way, while Durable Functions and durabletask-dotnet ignore case; a Go
// version of a C# orchestration on a shared hub must compare as the C# one
// does, or the two make different histories from the same events.
func MatchCase() EventOption {
	return func(o *eventOptions) { o.exact = true }
}

// WaitForEvent waits for the next external event with this name (names are
// matched without regard to case, unless MatchCase is given). Events that
// arrive while nobody waits are kept, in arrival order, for a later wait;
// each event completes one wait.
func WaitForEvent[T any](ctx Context, name string, opts ...EventOption) Future[T] {
	var o eventOptions
	for _, f := range opts {
		f(&o)
	}
	r := ctx.rt()
	if o.hasTimeout {
		return newFuture[T](ctx, r.WaitForEventTimeout(name, o.timeout, o.exact))
	}
	return newFuture[T](ctx, r.WaitForEvent(name, o.exact))
}

// SendEvent sends an external event to another instance (one task id).
func SendEvent(ctx Context, instanceID, name string, payload any) error {
	p, err := marshal(ctx, payload)
	if err != nil {
		return err
	}
	return ctx.rt().SendEvent(instanceID, name, p)
}

// EventChannel receives the external events of one name, one at a time.
type EventChannel[T any] struct {
	name    string
	pending *replay.Task
}

// NewEventChannel returns a channel for events with this name.
func NewEventChannel[T any](ctx Context, name string) *EventChannel[T] {
	return &EventChannel[T]{name: name}
}

func (c *EventChannel[T]) next(ctx Context) *replay.Task {
	if c.pending == nil {
		c.pending = ctx.rt().WaitForEvent(c.name, false)
	}
	return c.pending
}

// Receive waits for the next event.
func (c *EventChannel[T]) Receive(ctx Context) (T, error) {
	t := c.next(ctx)
	val, err := ctx.rt().Await(t)
	c.pending = nil
	if err != nil {
		var zero T
		return zero, fromEngine(err)
	}
	return payload.Unmarshal[T](ctx.converter(), val)
}

// ReceiveAsync takes an event that has already arrived, if there is one.
func (c *EventChannel[T]) ReceiveAsync(ctx Context) (T, bool, error) {
	var zero T
	if c.pending != nil {
		if !c.pending.Done() {
			return zero, false, nil
		}
		val, err := c.pending.Result()
		c.pending = nil
		if err != nil {
			return zero, false, fromEngine(err)
		}
		v, err := payload.Unmarshal[T](ctx.converter(), val)
		return v, true, err
	}
	val, ok := ctx.rt().TryReceiveEvent(c.name)
	if !ok {
		return zero, false, nil
	}
	v, err := payload.Unmarshal[T](ctx.converter(), val)
	return v, true, err
}

// ActivityInfo describes the running activity invocation.
type ActivityInfo struct {
	InstanceID  string
	ExecutionID string
	Name        string
	Version     string
	TaskID      int32
	// Attempt counts deliveries of this invocation (1 on the first).
	Attempt int
	// TraceParent is the W3C trace context the orchestration was started
	// under ("" if none); use it to parent the activity's own spans.
	TraceParent string
}

// ActivityInfoFrom returns the info of the activity running with ctx.
func ActivityInfoFrom(ctx context.Context) (ActivityInfo, bool) {
	info, ok := registry.ActivityInfoFrom(ctx)
	if !ok {
		return ActivityInfo{}, false
	}
	return ActivityInfo{InstanceID: info.InstanceID, ExecutionID: info.ExecutionID, Name: info.Name, Version: info.Version,
		TaskID: info.TaskID, Attempt: info.Attempt, TraceParent: info.TraceParent}, true
}

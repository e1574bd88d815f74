// Package client starts, inspects, signals and manages orchestration
// instances through a backend.
//
// Design note. The client only sends messages and reads status through the
// provider.Backend contract; every change to an instance (start, event,
// terminate, suspend, resume) is a message that the instance's worker
// applies in order, exactly as with the C# TaskHubClient, so Go and C#
// clients can drive the same instances. Payloads are stored as the text C#
// stores: JSON for inputs, outputs and custom status, plain text for
// failure messages and termination reasons; State keeps them raw and offers
// Decode helpers.
package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/tracing"
	"github.com/azdurable/azdurable/provider"
)

// Status is an orchestration's runtime status, with C#'s names and values.
type Status = history.OrchestrationStatus

// The statuses.
const (
	Running        = history.StatusRunning
	Completed      = history.StatusCompleted
	ContinuedAsNew = history.StatusContinuedAsNew
	Failed         = history.StatusFailed
	Canceled       = history.StatusCanceled
	Terminated     = history.StatusTerminated
	Pending        = history.StatusPending
	Suspended      = history.StatusSuspended
)

// Errors.
var (
	// ErrNotFound means no instance has the id.
	ErrNotFound = provider.ErrNotFound
	// ErrInstanceExists means an instance with the id exists in one of the
	// dedupe statuses.
	ErrInstanceExists = provider.ErrInstanceExists
)

// Options configure a Client.
type Options struct {
	// Clock is used for event timestamps (default: wall clock).
	Clock provider.Clock
	// DataConverter encodes inputs and event payloads and decodes outputs
	// (default durable.JSONConverter). The workers and clients of a task
	// hub must use compatible converters.
	DataConverter durable.DataConverter
}

// Client manages orchestration instances.
type Client struct {
	be      provider.Backend
	opts    Options
	conv    payload.Converter
	rewinds keyedLocks // one Rewind of an instance at a time
}

// New returns a client for the backend.
func New(be provider.Backend, opts Options) *Client {
	opts.Clock = provider.ClockOrWall(opts.Clock)
	c := &Client{be: be, opts: opts, conv: payload.JSON{}}
	if opts.DataConverter != nil {
		c.conv = opts.DataConverter
	}
	return c
}

// Backend returns the client's backend.
func (c *Client) Backend() provider.Backend { return c.be }

func (c *Client) now() time.Time { return c.opts.Clock.Now().UTC() }

// StartOption configures ScheduleNew.
type StartOption func(*startOptions)

type startOptions struct {
	instanceID    string
	instanceIDSet bool
	startAt       *time.Time
	version       string
	dedupe        []Status
	dedupeSet     bool
	tags          map[string]string
	trace         *history.DistributedTraceContext
}

// WithInstanceID sets the instance id (default: a new GUID as 32 hex
// digits). An empty id is an error, not a request for the default.
func WithInstanceID(id string) StartOption {
	return func(o *startOptions) { o.instanceID, o.instanceIDSet = id, true }
}

// WithStartAt schedules the start (the instance stays Pending until then).
func WithStartAt(t time.Time) StartOption {
	return func(o *startOptions) { t := t.UTC(); o.startAt = &t }
}

// WithVersion sets the orchestration version.
func WithVersion(v string) StartOption { return func(o *startOptions) { o.version = v } }

// WithDedupeStatuses sets the statuses in which an existing instance with
// the same id makes ScheduleNew fail with ErrInstanceExists. The default is
// Running, Pending and Suspended (an instance that has ended is replaced by
// the new one); WithDedupeStatuses() with no statuses always replaces.
func WithDedupeStatuses(s ...Status) StartOption {
	return func(o *startOptions) { o.dedupe, o.dedupeSet = s, true }
}

// WithTags sets the instance's tags.
func WithTags(tags map[string]string) StartOption { return func(o *startOptions) { o.tags = tags } }

// WithTraceParent starts the instance under a W3C trace context
// ("00-<trace id>-<span id>-<flags>"); it is carried to every activity and
// sub-orchestration the instance calls.
func WithTraceParent(traceParent string) StartOption {
	return func(o *startOptions) { o.trace = &history.DistributedTraceContext{TraceParent: traceParent} }
}

// DefaultDedupeStatuses are the statuses in which ScheduleNew refuses to
// replace an existing instance.
var DefaultDedupeStatuses = []Status{Running, Pending, Suspended}

// ScheduleNew starts an orchestration and returns its instance id.
func (c *Client) ScheduleNew(ctx context.Context, name string, input any, opts ...StartOption) (string, error) {
	var o startOptions
	for _, f := range opts {
		f(&o)
	}
	id := o.instanceID
	if !o.instanceIDSet {
		id = history.NewID()
	}
	p, err := c.encodePayload(input)
	if err != nil {
		return "", fmt.Errorf("client: encoding the input: %w", err)
	}
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: history.NewID()}
	start := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: name, Version: o.version,
		Input: p, Tags: o.tags, ScheduledStartTime: o.startAt, ParentTraceContext: o.trace,
		EventBase: history.EventBase{EventID: -1, Timestamp: c.now()}}
	if err := checkTraceContext(o.trace); err != nil {
		return "", err
	}
	tm := &history.TaskMessage{Event: start, OrchestrationInstance: inst}
	if err := validateStart(tm, c.now()); err != nil {
		return "", err
	}
	dedupe := DefaultDedupeStatuses
	if o.dedupeSet {
		dedupe = o.dedupe
	}
	endSpan := tracing.StartCreate(ctx, start)
	err = c.be.CreateInstance(ctx, tm, dedupe)
	endSpan(err)
	if err != nil {
		return "", c.startConflict(ctx, "start", id, err)
	}
	return id, nil
}

// RaiseEvent sends an external event to the instance's current execution.
func (c *Client) RaiseEvent(ctx context.Context, instanceID, name string, payload any) error {
	p, err := c.encodePayload(payload)
	if err != nil {
		return fmt.Errorf("client: encoding the event payload: %w", err)
	}
	endSpan := tracing.StartRaise(ctx, name, instanceID)
	err = c.send(ctx, instanceID, &history.EventRaisedEvent{Name: name, Input: p})
	endSpan(err)
	return err
}

// Terminate ends the instance; reason becomes its output (see
// WithoutReason and Recursive). A Pending or scheduled instance is
// terminated without running.
func (c *Client) Terminate(ctx context.Context, instanceID, reason string, opts ...OperationOption) error {
	o := operationOpts(opts)
	return c.send(ctx, instanceID, &history.ExecutionTerminatedEvent{Input: o.reason(reason), Recursive: o.recursive})
}

// Suspend pauses the instance: events are kept until Resume.
func (c *Client) Suspend(ctx context.Context, instanceID, reason string, opts ...OperationOption) error {
	return c.send(ctx, instanceID, &history.ExecutionSuspendedEvent{Reason: operationOpts(opts).reason(reason)})
}

// Resume continues a suspended instance.
func (c *Client) Resume(ctx context.Context, instanceID, reason string, opts ...OperationOption) error {
	return c.send(ctx, instanceID, &history.ExecutionResumedEvent{Reason: operationOpts(opts).reason(reason)})
}

func (c *Client) send(ctx context.Context, instanceID string, ev history.Event) error {
	b := ev.Base()
	b.EventID = -1
	b.Timestamp = c.now()
	tm := &history.TaskMessage{Event: ev, OrchestrationInstance: history.OrchestrationInstance{InstanceID: instanceID}}
	if err := validateMessage(tm); err != nil {
		return err
	}
	return c.be.SendMessages(ctx, tm)
}

// State is an instance's status.
type State struct {
	InstanceID       string
	ExecutionID      string
	Name             string
	Version          string
	Status           Status
	CreatedAt        time.Time
	LastUpdatedAt    time.Time
	CompletedAt      time.Time
	ScheduledStartAt *time.Time
	// Input, Output and CustomStatus are the stored text: JSON, except that
	// a failed instance's output is its failure message and a terminated
	// one's is the reason, as C# stores them. Nil when absent or not fetched.
	Input        *string
	Output       *string
	CustomStatus *string
	// Failure describes a failed instance.
	Failure          *history.FailureDetails
	Tags             map[string]string
	ParentInstanceID string
	Generation       *int32

	// conv decodes the payloads (nil: JSON).
	conv payload.Converter
}

// DecodeInput decodes the input into v with the DataConverter of the
// client that returned the state.
func (s *State) DecodeInput(v any) error { return s.decode(s.Input, v) }

// DecodeOutput decodes the output into v with the DataConverter of the
// client that returned the state.
func (s *State) DecodeOutput(v any) error { return s.decode(s.Output, v) }

// DecodeCustomStatus decodes the custom status into v with the
// DataConverter of the client that returned the state.
func (s *State) DecodeCustomStatus(v any) error { return s.decode(s.CustomStatus, v) }

func (s *State) decode(p *string, v any) error {
	if p == nil {
		return errors.New("client: no value")
	}
	return payload.Or(s.conv).Unmarshal(*p, v)
}

func (c *Client) stateOf(st *history.OrchestrationState) *State {
	s := &State{conv: c.conv, InstanceID: st.OrchestrationInstance.InstanceID, ExecutionID: st.OrchestrationInstance.ExecutionID,
		Name: st.Name, Version: st.Version, Status: st.Status, CreatedAt: st.CreatedTime, LastUpdatedAt: st.LastUpdatedTime,
		CompletedAt: st.CompletedTime, ScheduledStartAt: st.ScheduledStartTime, Input: st.Input, Output: st.Output,
		CustomStatus: st.CustomStatus, Failure: st.FailureDetails, Tags: st.Tags, ParentInstanceID: st.ParentInstanceID,
		Generation: st.Generation}
	if s.Status == Failed && s.Failure == nil && s.Output != nil {
		s.Failure = &history.FailureDetails{ErrorMessage: *s.Output}
	}
	return s
}

// StateOption configures GetState and the waits.
type StateOption func(*stateOptions)

type stateOptions struct {
	payloads     bool
	min, max     time.Duration
	pollInterval bool
}

// WithInputsAndOutputs fetches inputs and outputs (default for GetState and
// the waits: fetched).
func WithInputsAndOutputs(fetch bool) StateOption {
	return func(o *stateOptions) { o.payloads = fetch }
}

// PollInterval sets the waits' polling back-off (default 200 ms growing to 2 s).
func PollInterval(min, max time.Duration) StateOption {
	return func(o *stateOptions) { o.min, o.max, o.pollInterval = min, max, true }
}

func stateOpts(opts []StateOption) stateOptions {
	o := stateOptions{payloads: true, min: 200 * time.Millisecond, max: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.min <= 0 {
		o.min = 10 * time.Millisecond
	}
	if o.max < o.min {
		o.max = o.min
	}
	return o
}

// GetState returns the instance's state, or ErrNotFound.
func (c *Client) GetState(ctx context.Context, instanceID string, opts ...StateOption) (*State, error) {
	o := stateOpts(opts)
	st, err := c.be.GetState(ctx, instanceID, o.payloads)
	if err != nil {
		return nil, err
	}
	return c.stateOf(st), nil
}

// WaitForStart waits until the instance has left Pending.
func (c *Client) WaitForStart(ctx context.Context, instanceID string, opts ...StateOption) (*State, error) {
	return c.wait(ctx, instanceID, opts, func(s *State) bool { return s.Status != Pending })
}

// WaitForCompletion waits until the instance has a final status
// (Completed, Failed, Canceled or Terminated).
func (c *Client) WaitForCompletion(ctx context.Context, instanceID string, opts ...StateOption) (*State, error) {
	return c.wait(ctx, instanceID, opts, func(s *State) bool { return s.Status.IsTerminal() })
}

func (c *Client) wait(ctx context.Context, instanceID string, opts []StateOption, done func(*State) bool) (*State, error) {
	o := stateOpts(opts)
	delay := o.min
	for {
		st, err := c.be.GetState(ctx, instanceID, o.payloads)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil {
			if s := c.stateOf(st); done(s) {
				return s, nil
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = delay * 3 / 2
		if delay > o.max {
			delay = o.max
		}
	}
}

// Query selects instances (see provider.Query).
type Query = provider.Query

// Page is one page of states.
type Page struct {
	States            []*State
	ContinuationToken string
}

// QueryPage returns one page of instances; token "" is the first page.
func (c *Client) QueryPage(ctx context.Context, q Query, token string) (*Page, error) {
	p, err := c.be.Query(ctx, q, token)
	if err != nil {
		return nil, err
	}
	out := &Page{ContinuationToken: p.ContinuationToken}
	for _, st := range p.States {
		out.States = append(out.States, c.stateOf(st))
	}
	return out, nil
}

// Query iterates over every instance that matches q, page by page.
func (c *Client) Query(ctx context.Context, q Query) iter.Seq2[*State, error] {
	return allPages(func(token string) ([]*State, string, error) {
		p, err := c.QueryPage(ctx, q, token)
		if err != nil {
			return nil, "", err
		}
		return p.States, p.ContinuationToken, nil
	})
}

// allPages iterates over the items of every page that page returns,
// following continuation tokens until one is empty; an error ends the
// iteration after it is yielded.
func allPages[T any](page func(token string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := ""
		for {
			items, next, err := page(token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// History returns the events of one execution ("" = the current one).
func (c *Client) History(ctx context.Context, instanceID, executionID string) ([]history.Event, error) {
	return c.be.History(ctx, instanceID, executionID)
}

// Run is a started orchestration with a typed result.
type Run[Out any] struct {
	c  *Client
	ID string
}

// Start starts a typed orchestration.
func Start[In, Out any](ctx context.Context, c *Client, o *durable.Orchestration[In, Out], in In, opts ...StartOption) (*Run[Out], error) {
	if o.Version() != "" {
		opts = append([]StartOption{WithVersion(o.Version())}, opts...)
	}
	id, err := c.ScheduleNew(ctx, o.Name(), in, opts...)
	if err != nil {
		return nil, err
	}
	return &Run[Out]{c: c, ID: id}, nil
}

// FailedError is returned by Run.Get for an instance that did not complete.
type FailedError struct {
	State *State
}

func (e *FailedError) Error() string {
	msg := ""
	if e.State.Output != nil {
		msg = ": " + *e.State.Output
	}
	return fmt.Sprintf("orchestration %s %s%s", e.State.InstanceID, e.State.Status, msg)
}

// Get waits for completion and decodes the output. An instance that failed
// or was terminated gives a *FailedError.
func (r *Run[Out]) Get(ctx context.Context, opts ...StateOption) (Out, error) {
	var zero Out
	st, err := r.c.WaitForCompletion(ctx, r.ID, opts...)
	if err != nil {
		return zero, err
	}
	if st.Status != Completed {
		return zero, &FailedError{State: st}
	}
	if st.Output == nil {
		return zero, nil
	}
	var out Out
	if err := r.c.conv.Unmarshal(*st.Output, &out); err != nil {
		return zero, fmt.Errorf("client: decoding the output: %w", err)
	}
	return out, nil
}

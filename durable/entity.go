package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/google/uuid"
)

func newRandomID() string { return uuid.NewString() }

// EntityID names a durable entity: a name (case-insensitive, stored
// lower-cased as the Durable Functions extension stores it) and a key
// (case-sensitive). Its orchestration instance id is "@name@key".
type EntityID struct {
	Name string
	Key  string
}

// NewEntityID returns the id of the entity name and key.
func NewEntityID(name, key string) EntityID { return EntityID{Name: strings.ToLower(name), Key: key} }

// ParseEntityInstanceID reads an entity's instance id ("@name@key").
func ParseEntityInstanceID(instanceID string) (EntityID, bool) {
	id, ok := entity.Parse(instanceID)
	return EntityID{Name: id.Name, Key: id.Key}, ok
}

// InstanceID is the entity's orchestration instance id, "@name@key".
func (id EntityID) InstanceID() string { return id.core().InstanceID() }

// String is the instance id.
func (id EntityID) String() string { return id.InstanceID() }

// Validate refuses an empty name or a name with '@'.
func (id EntityID) Validate() error { return id.core().Validate() }

func (id EntityID) core() entity.ID { return entity.NewID(id.Name, id.Key) }

// entityInvocation is one entity operation as the entity's code runs it:
// a copy of the request and of the entity's state, which the code changes,
// and the converter of the worker that runs it. The worker's operation
// takes the changes only when the code succeeds.
type entityInvocation struct {
	op   *entity.Operation
	conv payload.Converter
	// Exists and State are the entity's state before and after the
	// operation.
	Exists bool
	State  *string
	// Result is the operation's result (JSON text or nil).
	Result *string
	// Actions are the signals and starts sent when the batch commits.
	Actions []entity.Action
	// Context is cancelled when the worker stops.
	Context context.Context
}

// EntityOperation is one named operation of an entity with state S.
type EntityOperation[S any] struct {
	name string
	fn   func(ctx *EntityContext[S]) (*string, error)
}

// Op defines an operation: fn gets the decoded input and returns the
// result (struct{} for none, which callers read as null).
func Op[S, In, Out any](name string, fn func(ctx *EntityContext[S], in In) (Out, error)) EntityOperation[S] {
	return EntityOperation[S]{name: name, fn: func(ctx *EntityContext[S]) (*string, error) {
		in, err := decodeOperationInput[In](ctx.inv.conv, ctx.inv.op.Input)
		if err != nil {
			return nil, fmt.Errorf("decoding the input of operation %q: %w", ctx.inv.op.Name, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if _, none := any(out).(struct{}); none {
			return nil, nil
		}
		return payload.Marshal(ctx.inv.conv, out)
	}}
}

// Entity is a typed entity definition: a name and its operations. Register
// it with a worker. An operation named "delete" that the entity does not
// define deletes the entity's state, as in the extension's class-based
// entities.
type Entity[S any] struct {
	name string
	ops  map[string]EntityOperation[S]
	init func() S
}

// EntityOption configures an entity.
type EntityOption[S any] func(*Entity[S])

// InitialState sets the state an entity without state starts from (the
// zero value otherwise).
func InitialState[S any](fn func() S) EntityOption[S] { return func(e *Entity[S]) { e.init = fn } }

// NewEntity defines an entity with state S. Operation names are matched
// without regard to case.
func NewEntity[S any](name string, ops ...EntityOperation[S]) *Entity[S] {
	e := &Entity[S]{name: name, ops: map[string]EntityOperation[S]{}}
	for _, op := range ops {
		e.ops[strings.ToLower(op.name)] = op
	}
	return e
}

// With applies options.
func (e *Entity[S]) With(opts ...EntityOption[S]) *Entity[S] {
	for _, o := range opts {
		o(e)
	}
	return e
}

// Name returns the entity's name.
func (e *Entity[S]) Name() string { return e.name }

// ID returns the id of this entity with key.
func (e *Entity[S]) ID(key string) EntityID { return NewEntityID(e.name, key) }

func (e *Entity[S]) entry() (registry.Entry, error) {
	if e == nil {
		return registry.Entry{}, errors.New("durable: nil registration")
	}
	if err := (EntityID{Name: e.name}).Validate(); err != nil {
		return registry.Entry{}, fmt.Errorf("durable: entity %q: %w", e.name, err)
	}
	for name := range e.ops {
		if name == "" {
			return registry.Entry{}, fmt.Errorf("durable: entity %q has an operation without a name", e.name)
		}
	}
	return registry.Entry{Name: strings.ToLower(e.name), Entity: func(conv payload.Converter) registry.EntityFunc {
		return func(ctx context.Context, op *entity.Operation) error {
			inv := &entityInvocation{op: op, conv: payload.Or(conv), Exists: op.Exists, State: op.Value, Context: ctx}
			if err := e.run(inv); err != nil {
				return err
			}
			op.Exists, op.Value, op.Result = inv.Exists, inv.State, inv.Result
			op.Actions = append(op.Actions, inv.Actions...)
			return nil
		}
	}}, nil
}

// run runs one operation.
func (e *Entity[S]) run(inv *entityInvocation) error {
	ctx := &EntityContext[S]{inv: inv, init: e.init}
	op, ok := e.ops[strings.ToLower(inv.op.Name)]
	if !ok {
		if strings.EqualFold(inv.op.Name, "delete") {
			ctx.DeleteState()
			return nil
		}
		return fmt.Errorf("entity %q has no operation %q", e.name, inv.op.Name)
	}
	res, err := op.fn(ctx)
	if err != nil {
		return err
	}
	if ctx.err != nil {
		return ctx.err
	}
	inv.Result = res
	if ctx.set {
		p, err := payload.Marshal(inv.conv, ctx.state)
		if err != nil {
			return fmt.Errorf("encoding the state of entity %s: %w", ctx.ID(), err)
		}
		inv.Exists, inv.State = true, p
	}
	return nil
}

// EntityContext is an entity operation's view of its entity: its state,
// the operation and its input, and the messages it may send.
type EntityContext[S any] struct {
	inv    *entityInvocation
	init   func() S
	state  S
	loaded bool
	set    bool
	err    error
}

// ID is the entity's id.
func (c *EntityContext[S]) ID() EntityID {
	return EntityID{Name: c.inv.op.Entity.Name, Key: c.inv.op.Entity.Key}
}

// Operation is the operation's name as the caller wrote it.
func (c *EntityContext[S]) Operation() string { return c.inv.op.Name }

// Caller is the instance id of the orchestration that sent the request,
// "" when a client sent it.
func (c *EntityContext[S]) Caller() string { return c.inv.op.Caller }

// IsSignal reports whether the caller does not wait for a result.
func (c *EntityContext[S]) IsSignal() bool { return c.inv.op.Signal }

// Context is cancelled when the worker stops.
func (c *EntityContext[S]) Context() context.Context {
	if c.inv.Context == nil {
		return context.Background()
	}
	return c.inv.Context
}

// HasState reports whether the entity has state.
func (c *EntityContext[S]) HasState() bool {
	return c.set || (c.inv.Exists && !c.loaded) || (c.loaded && c.inv.Exists)
}

// State returns the entity's state: its stored value, else the initial
// state. It does not create the entity; SetState does.
func (c *EntityContext[S]) State() S {
	if !c.loaded {
		c.loaded = true
		if c.inv.Exists && c.inv.State != nil {
			v, err := payload.Unmarshal[S](c.inv.conv, c.inv.State)
			if err != nil {
				c.err = fmt.Errorf("decoding the state of entity %s: %w", c.ID(), err)
			}
			c.state = v
		} else if c.init != nil {
			c.state = c.init()
		}
	}
	return c.state
}

// SetState replaces the entity's state (and creates the entity).
func (c *EntityContext[S]) SetState(v S) {
	c.loaded, c.set, c.state = true, true, v
}

// DeleteState deletes the entity's state: the entity no longer exists
// until an operation sets its state again.
func (c *EntityContext[S]) DeleteState() {
	var zero S
	c.loaded, c.set, c.state = true, false, zero
	c.inv.Exists, c.inv.State = false, nil
}

// Input decodes the operation's input into v.
func (c *EntityContext[S]) Input(v any) error {
	if c.inv.op.Input == nil {
		return nil
	}
	return c.inv.conv.Unmarshal(*c.inv.op.Input, v)
}

// SignalEntity sends a one-way operation to an entity when the batch
// commits (at a time with SignalAt).
func (c *EntityContext[S]) SignalEntity(id EntityID, operation string, input any, opts ...SignalOption) error {
	if err := id.Validate(); err != nil {
		return err
	}
	p, err := entityInput(c.inv.conv, input)
	if err != nil {
		return err
	}
	o := signalOpts(opts)
	c.inv.Actions = append(c.inv.Actions, entity.Action{Target: entity.NewID(id.Name, id.Key), Op: operation, Input: p, At: o.at})
	return nil
}

// StartOrchestration starts an orchestration when the batch commits; an
// empty instanceID gets a new one, which is returned.
func (c *EntityContext[S]) StartOrchestration(name, instanceID string, input any) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("durable: orchestration name is empty")
	}
	if instanceID == "" {
		instanceID = strings.ReplaceAll(newRandomID(), "-", "")
	}
	if strings.HasPrefix(instanceID, "@") {
		return "", errors.New("durable: orchestration instance ids must not start with @")
	}
	p, err := payload.Marshal(c.inv.conv, input)
	if err != nil {
		return "", err
	}
	c.inv.Actions = append(c.inv.Actions, entity.Action{Name: name, InstanceID: instanceID, Input: p})
	return instanceID, nil
}

// SignalOption configures a signal.
type SignalOption func(*signalOptions)

type signalOptions struct{ at *time.Time }

// SignalAt delivers the signal at t instead of at once.
func SignalAt(t time.Time) SignalOption {
	return func(o *signalOptions) { u := t.UTC(); o.at = &u }
}

func signalOpts(opts []SignalOption) signalOptions {
	var o signalOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// entityInput encodes an operation's input; nil is no input.
func entityInput(conv payload.Converter, input any) (*string, error) {
	if input == nil {
		return nil, nil
	}
	if raw, ok := input.(json.RawMessage); ok {
		s := string(raw)
		return &s, nil
	}
	return payload.Marshal(conv, input)
}

// SignalTime returns the delivery time the options ask for, or nil for at
// once (for clients that send signals).
func SignalTime(opts ...SignalOption) *time.Time { return signalOpts(opts).at }

// decodeOperationInput decodes an operation's input. An input that is a
// JSON string whose text is the JSON the operation wants is accepted too,
// as Newtonsoft converts it: the extension's HTTP route sends a body that
// is not application/json as a string ("7" for an int operation).
func decodeOperationInput[In any](conv payload.Converter, p *string) (In, error) {
	in, err := payload.Unmarshal[In](conv, p)
	if err == nil || p == nil {
		return in, err
	}
	var inner string
	if json.Unmarshal([]byte(*p), &inner) != nil {
		return in, err
	}
	if v, ierr := payload.Unmarshal[In](conv, &inner); ierr == nil {
		return v, nil
	}
	return in, err
}

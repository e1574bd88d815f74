package durable

import (
	"errors"
	"fmt"
	"slices"

	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/google/uuid"
)

// EntityOperationFailedError is the failure of an entity operation a call
// waited for. ExceptionType is the failure's type as the entity's worker
// named it (.NET's assembly-qualified exception type for C# entities);
// Message is the failure's message, and Payload the serialized failure.
type EntityOperationFailedError struct {
	Entity        EntityID
	Operation     string
	ExceptionType string
	Message       string
	Payload       string
}

// Error describes the failure.
func (e *EntityOperationFailedError) Error() string {
	return fmt.Sprintf("durable: operation %q of entity %s failed: %s", e.Operation, e.Entity, e.Message)
}

// LockingRulesViolationError reports an entity call, signal or lock that
// the rules of critical sections forbid (the extension's
// LockingRulesViolationException); nothing was sent.
type LockingRulesViolationError struct{ Reason string }

// Error is the rule that was broken.
func (e *LockingRulesViolationError) Error() string { return "durable: " + e.Reason }

// GoEntityFailureType is the failure type a Go entity reports for an
// operation that returned an error.
const GoEntityFailureType = "azdurable.EntityOperationError"

// entityLocal is what an execution keeps of its entity traffic: the
// message clock per entity, and the critical section it is in. The engine
// rebuilds it on every replay, as the extension does.
type entityLocal struct {
	sorter entity.Sorter
	// held is the lock set of the critical section (nil outside one),
	// available the entities of it not busy with a call.
	held, available []EntityID
	lockRequestID   string
	// sent counts the requests the execution sent to entities: the n-th
	// one's delivery key (entity.OrchestrationKey) is the same in an
	// episode that runs again, while its id and clock are not.
	sent int
}

type entityLocalKey struct{}

// entityNamespace is the UUIDv5 namespace the extension names its entity
// requests in (its GuidManager.UrlNamespaceValue; ctx.NewGUID uses
// durabletask-dotnet's, one digit apart).
var entityNamespace = uuid.MustParse("9e952959-5e33-4daf-827f-2fa12937b875")

// entityGUID is the deterministic id of an entity request, as the
// extension computes it: "<instance id>_<time>_<n>" on the execution's
// GUID counter.
func entityGUID(ctx Context) string { return ctx.rt().NewGUIDIn(entityNamespace) }

func entityState(ctx Context) *entityLocal {
	return ctx.rt().Local(entityLocalKey{}, func() any { return &entityLocal{} }).(*entityLocal)
}

func (l *entityLocal) inSection() bool { return l.held != nil }

// send labels a request, gives it its delivery key and sends it to target.
func (l *entityLocal) send(ctx Context, target EntityID, r *entity.Request) error {
	r.Key = entity.OrchestrationKey(ctx.ExecutionID(), l.sent)
	l.sent++
	name, input := l.sorter.SendFromOrchestration(r, ctx.InstanceID(), ctx.ExecutionID(), target.InstanceID(), ctx.Now())
	return ctx.rt().SendEvent(target.InstanceID(), name, &input)
}

func requestTime(ctx Context) *string { return entity.RequestTimeText(ctx.Now()) }

// SignalEntity sends a one-way operation to an entity (at a time with
// SignalAt). It takes one task id, as the extension's signal does.
func SignalEntity(ctx Context, id EntityID, operation string, input any, opts ...SignalOption) error {
	id = NewEntityID(id.Name, id.Key)
	if err := id.Validate(); err != nil {
		return err
	}
	l := entityState(ctx)
	if l.inSection() && slices.Contains(l.available, id) {
		return &LockingRulesViolationError{"While holding locks, cannot signal entities whose lock is held."}
	}
	p, err := entityInput(ctx.converter(), input)
	if err != nil {
		return err
	}
	o := signalOpts(opts)
	op := operation
	r := &entity.Request{Op: &op, Signal: true, Input: p, ID: entityGUID(ctx), RequestTime: requestTime(ctx)}
	if o.at != nil {
		due := entity.UTCStamp(*o.at)
		r.Due = &due
	}
	return l.send(ctx, id, r)
}

// CallEntity calls an entity operation and returns its result. A failed
// operation fails the future with an *EntityOperationFailedError; a call
// the locking rules forbid fails it with a *LockingRulesViolationError.
func CallEntity[Out any](ctx Context, id EntityID, operation string, input any) Future[Out] {
	id = NewEntityID(id.Name, id.Key)
	if err := id.Validate(); err != nil {
		return failedFuture[Out](ctx, err)
	}
	l := entityState(ctx)
	locked := false
	if l.inSection() {
		i := slices.Index(l.available, id)
		if i < 0 {
			return failedFuture[Out](ctx, &LockingRulesViolationError{"While holding locks, cannot call entities whose lock is not held."})
		}
		l.available = slices.Delete(l.available, i, i+1)
		locked = true
	}
	p, err := entityInput(ctx.converter(), input)
	if err != nil {
		return failedFuture[Out](ctx, err)
	}
	guid := entityGUID(ctx)
	op := operation
	r := &entity.Request{Op: &op, Input: p, ID: guid, RequestTime: requestTime(ctx)}
	if err := l.send(ctx, id, r); err != nil {
		return failedFuture[Out](ctx, err)
	}
	rt := ctx.rt()
	wait := rt.WaitForEvent(guid, true)
	result := rt.NewPromise("entity call " + operation)
	err = rt.Go("entity call "+operation, func(rc *replay.Context) {
		val, err := awaitAnswer(rc, wait)
		if locked && l.held != nil {
			l.available = append(l.available, id)
		}
		if err != nil {
			rc.Resolve(result, nil, err)
			return
		}
		v, ferr := entityResult(id, operation, val)
		rc.Resolve(result, v, ferr)
	})
	if err != nil {
		rt.Resolve(result, nil, err)
	}
	return newFuture[Out](ctx, result)
}

// awaitAnswer waits for the answer to an entity request. An entity that
// dropped the request as a copy of one it had already accepted (an episode
// of this execution that ran again sent it under a new id) answers with
// the original's id; the answer to that one follows, or came already.
func awaitAnswer(rc *replay.Context, wait *replay.Task) (*string, error) {
	for {
		val, err := rc.Await(wait)
		if err != nil || val == nil {
			return val, err
		}
		original := entity.CopyOfIn(*val)
		if original == "" {
			return val, nil
		}
		wait = rc.WaitForEvent(original, true)
	}
}

// entityResult reads a call's ResponseMessage.
func entityResult(id EntityID, operation string, val *string) (*string, error) {
	if val == nil {
		return nil, nil
	}
	resp, err := entity.DecodeResponse(*val)
	if err != nil {
		return nil, fmt.Errorf("durable: the response of entity %s: %w", id, err)
	}
	if resp.ExceptionType == nil {
		return resp.Result, nil
	}
	f := &EntityOperationFailedError{Entity: id, Operation: operation, ExceptionType: *resp.ExceptionType}
	if resp.Result != nil {
		f.Payload = *resp.Result
	}
	f.Message = resp.FailureMessage()
	return nil, f
}

// CriticalSection is a set of entities an orchestration holds locked:
// other callers' operations wait until it is released. Inside it the
// orchestration may call the locked entities (one call per entity at a
// time), signal other entities, and call activities, but not call other
// entities or lock again.
type CriticalSection struct {
	ctx Context
	l   *entityLocal
	id  string
}

// LockEntities locks the entities (in the order of their instance ids,
// without duplicates, so that two orchestrations locking the same set
// cannot deadlock) and returns once all are locked. The locks are released
// by Release, and in any case when the orchestration ends, fails or
// continues as new.
func LockEntities(ctx Context, ids ...EntityID) (*CriticalSection, error) {
	l := entityState(ctx)
	if l.inSection() {
		return nil, &LockingRulesViolationError{"Cannot acquire more locks when already holding some locks."}
	}
	if len(ids) == 0 {
		return nil, errors.New("durable: the list of entities to lock must not be empty")
	}
	set := make([]EntityID, 0, len(ids))
	for _, id := range ids {
		id = NewEntityID(id.Name, id.Key)
		if err := id.Validate(); err != nil {
			return nil, err
		}
		set = append(set, id)
	}
	slices.SortFunc(set, func(a, b EntityID) int { return entity.Compare(a.core(), b.core()) })
	set = slices.Compact(set)
	guid := entityGUID(ctx)
	lockset := make([]entity.ID, len(set))
	for i, id := range set {
		lockset[i] = id.core()
	}
	if err := l.send(ctx, set[0], &entity.Request{ID: guid, LockSet: lockset}); err != nil {
		return nil, err
	}
	l.lockRequestID = guid
	rt := ctx.rt()
	wait := rt.WaitForEvent(guid, true)
	for {
		val, err := rt.Await(wait)
		if err != nil {
			return nil, err
		}
		var resp *entity.Response
		if val != nil && entity.CopyOfIn(*val) != "" {
			resp, _ = entity.DecodeResponse(*val)
		}
		if resp == nil {
			break
		}
		// An entity took this lock request for a copy of one an earlier
		// run of the episode sent: that one holds (the answer is the
		// grant) or will hold the locks (wait for its grant), and its id
		// is the one the releases must name.
		guid, l.lockRequestID = resp.CopyOf, resp.CopyOf
		if resp.ExceptionType == nil && resp.Result != nil && *resp.Result == entity.LockAcquired {
			break
		}
		wait = rt.WaitForEvent(resp.CopyOf, true)
	}
	l.held, l.available = set, slices.Clone(set)
	return &CriticalSection{ctx: ctx, l: l, id: guid}, nil
}

// Entities lists the locked entities, in lock order.
func (cs *CriticalSection) Entities() []EntityID { return slices.Clone(cs.l.held) }

// Release releases the locks (a release message to each entity). Calling
// it again does nothing.
func (cs *CriticalSection) Release() error {
	if cs == nil || cs.l.lockRequestID != cs.id {
		return nil
	}
	return releaseLocks(cs.ctx)
}

// releaseLocks releases the critical section the execution is in, if any.
func releaseLocks(ctx Context) error {
	l := entityState(ctx)
	if !l.inSection() {
		return nil
	}
	held, id := l.held, l.lockRequestID
	l.held, l.available, l.lockRequestID = nil, nil, ""
	var errs []error
	for _, e := range held {
		// After: the entity holds the release until it has received the
		// requests this execution sent it before (one that comes back late
		// must not run after another orchestration took the lock).
		after, _ := l.sorter.LastSent(e.InstanceID())
		input := (&entity.Release{Parent: ctx.InstanceID(), ID: id, After: &after}).Encode()
		errs = append(errs, ctx.rt().SendEvent(e.InstanceID(), entity.ReleaseEvent, &input))
	}
	return errors.Join(errs...)
}

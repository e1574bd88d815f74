package entity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// Event names of entity messages (the extension's EntityMessageEventNames).
const (
	// OpEvent names a request (an operation or a lock request).
	OpEvent = "op"
	// ReleaseEvent names a lock release.
	ReleaseEvent = "release"
	// ContinueEvent resumes an entity that suspended its queue.
	ContinueEvent = "continue"
)

// The $type names the extension writes when a DurableTask.Core context
// serializes the message (orchestrations and entities); its client writes
// none.
const (
	assembly     = ", Microsoft.Azure.WebJobs.Extensions.DurableTask"
	requestType  = "Microsoft.Azure.WebJobs.Extensions.DurableTask.RequestMessage" + assembly
	responseType = "Microsoft.Azure.WebJobs.Extensions.DurableTask.ResponseMessage" + assembly
	releaseType  = "Microsoft.Azure.WebJobs.Extensions.DurableTask.ReleaseMessage" + assembly
	entityIDType = "Microsoft.Azure.WebJobs.Extensions.DurableTask.EntityId" + assembly
)

// LockAcquired is the result of the response that grants a lock set.
const LockAcquired = "Lock Acquisition Completed"

// ScheduledOpEvent is the event name of a request delivered at due:
// "op@" and the due time in .NET's round-trip form.
func ScheduledOpEvent(due time.Time) string {
	return OpEvent + "@" + due.UTC().Truncate(100*time.Nanosecond).Format("2006-01-02T15:04:05.0000000Z")
}

// MaxDelay is the longest a scheduled request waits in a queue; one due
// later is delivered after LongDelayStep and scheduled again by the
// entity (the extension's MaximumDelayTime and
// LongRunningTimerIntervalLength on Azure Storage).
const (
	MaxDelay      = 6 * 24 * time.Hour
	LongDelayStep = 72 * time.Hour
)

// DeliveryTime is the time a scheduled request's event names: its due
// time, or, past MaxDelay from now, now plus LongDelayStep.
func DeliveryTime(due, now time.Time) time.Time {
	if due.Sub(now) <= MaxDelay {
		return due
	}
	return now.Add(LongDelayStep)
}

// IsRequestEvent reports whether an EventRaised name carries a request
// (the extension: the name starts with "op").
func IsRequestEvent(name string) bool { return strings.HasPrefix(name, OpEvent) }

// DueTime returns the delivery time of a scheduled request's event name.
func DueTime(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, OpEvent+"@") {
		return time.Time{}, false
	}
	t, err := netjson.ParseTime(name[len(OpEvent)+1:])
	return t, err == nil
}

// Request is the extension's RequestMessage: an operation (call or signal)
// or, with a LockSet, a lock request.
type Request struct {
	// Typed writes the $type member (messages sent by orchestrations and
	// entities); the client's messages and the scheduler state have none.
	Typed bool
	// Op is the operation's name; nil for a lock request.
	Op *string
	// Signal is set for one-way requests.
	Signal bool
	// Input is the operation's input as JSON text, or nil.
	Input *string
	// ID identifies the request; a call's response is named by it.
	ID string
	// Parent and ParentExecution name the sender (empty from a client).
	Parent, ParentExecution string
	// Due is the delivery time of a scheduled signal.
	Due *Stamp
	// Timestamp and Predecessor are the sender's message clock for this
	// destination: this message's and the previous one's.
	Timestamp, Predecessor Stamp
	// LockSet lists the entities a lock request locks, in order, and
	// Position the one it is addressed to.
	LockSet  []ID
	Position int
	// RequestTime is the sender's wall-clock time (DateTimeOffset text),
	// kept as written.
	RequestTime *string
	// Key is the delivery key an azdurable orchestration gives its
	// requests (KeyMember, written last; the extension ignores it): see
	// Dedupe.
	Key string
}

// IsLock reports whether r is a lock request.
func (r *Request) IsLock() bool { return r.LockSet != nil }

// Encode writes r as the extension's Newtonsoft settings do.
func (r *Request) Encode() string {
	w := netjson.NewWriter(nil)
	r.write(w, r.Typed)
	return string(w.Bytes())
}

func (r *Request) write(w *netjson.Writer, typed bool) {
	w.BeginObject()
	if typed {
		w.Key("$type")
		w.String(requestType)
	}
	w.Key("op")
	w.NullableString(r.Op)
	if r.Signal {
		w.Key("signal")
		w.Bool(true)
	}
	if r.Input != nil {
		w.Key("input")
		w.String(*r.Input)
	}
	w.Key("id")
	w.String(r.ID)
	if r.Parent != "" {
		w.Key("parent")
		w.String(r.Parent)
	}
	if r.ParentExecution != "" {
		w.Key("parentExecution")
		w.String(r.ParentExecution)
	}
	if r.Due != nil {
		w.Key("due")
		w.String(r.Due.String())
	}
	w.Key("Timestamp")
	w.String(r.Timestamp.String())
	w.Key("Predecessor")
	w.String(r.Predecessor.String())
	if r.LockSet != nil {
		w.Key("lockset")
		w.BeginArray()
		for _, id := range r.LockSet {
			w.BeginObject()
			if typed {
				w.Key("$type")
				w.String(entityIDType)
			}
			w.Key("name")
			w.String(id.Name)
			w.Key("key")
			w.String(id.Key)
			w.EndObject()
		}
		w.EndArray()
	}
	if r.Position != 0 {
		w.Key("pos")
		w.Int(int64(r.Position))
	}
	if r.RequestTime != nil {
		w.Key("requestTime")
		w.String(*r.RequestTime)
	}
	if r.Key != "" {
		w.Key(KeyMember)
		w.String(r.Key)
	}
	w.EndObject()
}

// DecodeRequest reads a RequestMessage, with or without $type.
func DecodeRequest(text string) (*Request, error) {
	o, err := netjson.ParseObject([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("entity request: %w", err)
	}
	return requestFrom(o)
}

func requestFrom(o *netjson.Object) (*Request, error) {
	r := &Request{}
	var err error
	_, r.Typed = o.Present("$type")
	if r.Op, err = o.NullableString("op"); err != nil {
		return nil, err
	}
	if r.Signal, err = o.Bool("signal"); err != nil {
		return nil, err
	}
	if r.Input, err = o.NullableString("input"); err != nil {
		return nil, err
	}
	if r.ID, err = o.String("id"); err != nil {
		return nil, err
	}
	if r.ID == "" {
		return nil, errors.New("entity request: no id")
	}
	if r.Parent, err = o.String("parent"); err != nil {
		return nil, err
	}
	if r.ParentExecution, err = o.String("parentExecution"); err != nil {
		return nil, err
	}
	if s, err := o.NullableString("due"); err != nil {
		return nil, err
	} else if s != nil {
		d, err := parseStamp(*s)
		if err != nil {
			return nil, fmt.Errorf("due: %w", err)
		}
		r.Due = &d
	}
	if r.Timestamp, err = stampMember(o, "Timestamp"); err != nil {
		return nil, err
	}
	if r.Predecessor, err = stampMember(o, "Predecessor"); err != nil {
		return nil, err
	}
	if raw, ok := o.Present("lockset"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("lockset: %w", err)
		}
		r.LockSet = []ID{}
		for _, it := range items {
			eo, err := netjson.ParseObject(it)
			if err != nil {
				return nil, fmt.Errorf("lockset: %w", err)
			}
			name, err := eo.String("name")
			if err != nil {
				return nil, err
			}
			key, err := eo.String("key")
			if err != nil {
				return nil, err
			}
			r.LockSet = append(r.LockSet, ID{Name: name, Key: key})
		}
	}
	pos, err := o.Int("pos", 32)
	if err != nil {
		return nil, err
	}
	r.Position = int(pos)
	if r.LockSet != nil && (r.Position < 0 || r.Position >= len(r.LockSet)) {
		return nil, fmt.Errorf("entity request: lock position %d outside a lock set of %d", r.Position, len(r.LockSet))
	}
	if r.RequestTime, err = o.NullableString("requestTime"); err != nil {
		return nil, err
	}
	if r.Key, err = o.String(KeyMember); err != nil {
		return nil, err
	}
	return r, nil
}

func stampMember(o *netjson.Object, name string) (Stamp, error) {
	s, err := o.NullableString(name)
	if err != nil || s == nil {
		return minStamp, err
	}
	st, err := parseStamp(*s)
	if err != nil {
		return Stamp{}, fmt.Errorf("%s: %w", name, err)
	}
	return st, nil
}

// Response is the extension's ResponseMessage: an operation's result (JSON
// text, or nil), or its failure (ExceptionType set, Result the serialized
// exception).
type Response struct {
	// Typed writes $type (the lock grant; operation results have none).
	Typed bool
	// Result is the result as JSON text, or the serialized failure.
	Result *string
	// ExceptionType names the failure's type; nil for a result.
	ExceptionType *string
	// CopyOf, when set, names the request the caller must wait for
	// instead: the entity dropped this request as a copy of that one
	// (CopyOfMember; only azdurable orchestrations get such answers).
	CopyOf string
}

// Encode writes r.
func (r *Response) Encode() string {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	if r.Typed {
		w.Key("$type")
		w.String(responseType)
	}
	w.Key("result")
	w.NullableString(r.Result)
	if r.ExceptionType != nil {
		w.Key("exceptionType")
		w.String(*r.ExceptionType)
	}
	if r.CopyOf != "" {
		w.Key(CopyOfMember)
		w.String(r.CopyOf)
	}
	w.EndObject()
	return string(w.Bytes())
}

// DecodeResponse reads a ResponseMessage.
func DecodeResponse(text string) (*Response, error) {
	o, err := netjson.ParseObject([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("entity response: %w", err)
	}
	r := &Response{}
	_, r.Typed = o.Present("$type")
	if r.Result, err = o.NullableString("result"); err != nil {
		return nil, err
	}
	if r.ExceptionType, err = o.NullableString("exceptionType"); err != nil {
		return nil, err
	}
	if r.CopyOf, err = o.String(CopyOfMember); err != nil {
		return nil, err
	}
	return r, nil
}

// Release is the extension's ReleaseMessage: the lock holder and the id of
// its lock request.
type Release struct {
	// Parent is the lock holder; ID the id of its lock request.
	Parent string
	ID     string
	// After is the holder's message clock of the last request it sent to
	// the entity (AfterMember, written last; azdurable orchestrations
	// write it, the extension ignores it): the entity holds the release
	// until it has received that request and the lock request (see
	// Dedupe). Nil: the release applies at once, as in the extension.
	After *Stamp
}

// Encode writes r (always with $type: only orchestrations send it).
func (r *Release) Encode() string {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	w.Key("$type")
	w.String(releaseType)
	w.Key("parent")
	w.String(r.Parent)
	w.Key("id")
	w.String(r.ID)
	if r.After != nil {
		w.Key(AfterMember)
		w.String(r.After.String())
	}
	w.EndObject()
	return string(w.Bytes())
}

// DecodeRelease reads a ReleaseMessage.
func DecodeRelease(text string) (*Release, error) {
	o, err := netjson.ParseObject([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("entity release: %w", err)
	}
	r := &Release{}
	if r.Parent, err = o.String("parent"); err != nil {
		return nil, err
	}
	if r.ID, err = o.String("id"); err != nil {
		return nil, err
	}
	if _, ok := o.Present(AfterMember); ok {
		after, err := stampMember(o, AfterMember)
		if err != nil {
			return nil, err
		}
		r.After = &after
	}
	return r, nil
}

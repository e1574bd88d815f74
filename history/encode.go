package history

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// Format selects the JSON dialect (see the package documentation).
type Format int

const (
	// TypeNames is Newtonsoft with TypeNameHandling.Objects: queue messages.
	TypeNames Format = iota
	// Plain is Newtonsoft defaults: History table JSON columns, HTTP history.
	Plain
)

// .NET type names written in "$type".
const (
	TypeNameTaskMessage           = "DurableTask.Core.TaskMessage"
	TypeNameOrchestrationInstance = "DurableTask.Core.OrchestrationInstance"
	TypeNameParentInstance        = "DurableTask.Core.ParentInstance"
	TypeNameExecutionContext      = "DurableTask.Core.OrchestrationExecutionContext"
	TypeNameTraceContext          = "DurableTask.Core.Tracing.DistributedTraceContext"
	TypeNameFailureDetails        = "DurableTask.Core.FailureDetails"
)

type encoder struct {
	w *netjson.Writer
	f Format
}

func (e encoder) begin(typeName string) {
	e.w.BeginObject()
	if e.f == TypeNames && typeName != "" {
		e.w.Key("$type")
		e.w.String(typeName)
	}
}

// AppendEvent appends the JSON of one history event.
func AppendEvent(dst []byte, ev Event, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.event(ev)
	return w.Bytes()
}

// AppendTaskMessage appends the JSON of a TaskMessage.
func AppendTaskMessage(dst []byte, m *TaskMessage, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.taskMessage(m)
	return w.Bytes()
}

// AppendOrchestrationInstance appends {"InstanceId":…,"ExecutionId":…}.
func AppendOrchestrationInstance(dst []byte, oi OrchestrationInstance, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.instance(oi)
	return w.Bytes()
}

// AppendParentInstance appends a ParentInstance object, or null.
func AppendParentInstance(dst []byte, p *ParentInstance, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.parent(p)
	return w.Bytes()
}

// AppendTraceContext appends a DistributedTraceContext object, or null.
func AppendTraceContext(dst []byte, tc *DistributedTraceContext, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.trace(tc)
	return w.Bytes()
}

// AppendFailureDetails appends a FailureDetails object, or null.
func AppendFailureDetails(dst []byte, fd *FailureDetails, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.failure(fd)
	return w.Bytes()
}

// AppendTags appends a string dictionary (keys sorted), or null for nil.
// Dictionaries never get "$type" from azdurable.
func AppendTags(dst []byte, tags map[string]string) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, Plain}.tags(tags)
	return w.Bytes()
}

func (e encoder) taskMessage(m *TaskMessage) {
	if m == nil {
		e.w.Null()
		return
	}
	e.begin(TypeNameTaskMessage)
	e.w.Key("Event")
	e.event(m.Event)
	e.w.Key("SequenceNumber")
	e.w.Int(m.SequenceNumber)
	e.w.Key("OrchestrationInstance")
	e.instance(m.OrchestrationInstance)
	e.w.Key("OrchestrationExecutionContext")
	if c := m.OrchestrationExecutionContext; c == nil {
		e.w.Null()
	} else {
		e.begin(TypeNameExecutionContext)
		e.w.Key("OrchestrationTags")
		e.tags(c.OrchestrationTags)
		e.w.EndObject()
	}
	e.w.EndObject()
}

func (e encoder) instance(oi OrchestrationInstance) {
	e.begin(TypeNameOrchestrationInstance)
	e.w.Key("InstanceId")
	e.w.String(oi.InstanceID)
	e.w.Key("ExecutionId")
	e.optionalID(oi.ExecutionID)
	e.w.EndObject()
}

func (e encoder) optionalID(id string) {
	if id == "" {
		e.w.Null()
	} else {
		e.w.String(id)
	}
}

func (e encoder) parent(p *ParentInstance) {
	if p == nil {
		e.w.Null()
		return
	}
	e.begin(TypeNameParentInstance)
	e.w.Key("Name")
	e.w.String(p.Name)
	e.w.Key("OrchestrationInstance")
	e.instance(p.OrchestrationInstance)
	e.w.Key("TaskScheduleId")
	e.w.Int(int64(p.TaskScheduleID))
	e.w.Key("Version")
	e.w.String(p.Version)
	e.w.EndObject()
}

func (e encoder) trace(tc *DistributedTraceContext) {
	if tc == nil {
		e.w.Null()
		return
	}
	e.begin(TypeNameTraceContext)
	e.w.Key("TraceParent")
	e.w.String(tc.TraceParent)
	e.w.Key("TraceState")
	e.w.NullableString(tc.TraceState)
	e.w.Key("Id")
	e.w.NullableString(tc.ID)
	e.w.Key("SpanId")
	e.w.NullableString(tc.SpanID)
	e.w.Key("ActivityStartTime")
	if tc.ActivityStartTime == nil {
		e.w.Null()
	} else {
		e.w.TimeOffset(*tc.ActivityStartTime)
	}
	e.w.EndObject()
}

func (e encoder) failure(fd *FailureDetails) {
	if fd == nil {
		e.w.Null()
		return
	}
	e.begin(TypeNameFailureDetails)
	e.w.Key("ErrorType")
	e.w.String(fd.ErrorType)
	e.w.Key("ErrorMessage")
	e.w.String(fd.ErrorMessage)
	e.w.Key("StackTrace")
	e.w.NullableString(fd.StackTrace)
	e.w.Key("InnerFailure")
	e.failure(fd.InnerFailure)
	e.w.Key("IsNonRetriable")
	e.w.Bool(fd.IsNonRetriable)
	e.w.Key("Properties")
	if len(fd.Properties) == 0 {
		e.w.Null()
	} else {
		e.w.Raw(fd.Properties)
	}
	e.w.EndObject()
}

func (e encoder) tags(tags map[string]string) {
	if tags == nil {
		e.w.Null()
		return
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.w.BeginObject()
	for _, k := range keys {
		e.w.Key(k)
		e.w.String(tags[k])
	}
	e.w.EndObject()
}

// JSONMembers appends the members of ev's JSON object as AppendEvent writes
// them after "$type": Members, then azdurable's own Recursive member of an
// ExecutionTerminated event when it is true. Recursive asks the instance to
// terminate its running sub-orchestrations too; it comes last and only when
// set, so that a C# reader (which ignores it) sees its own shape. The
// History table never stores it.
func JSONMembers(dst []Member, ev Event) []Member {
	dst = Members(dst, ev)
	if t, ok := ev.(*ExecutionTerminatedEvent); ok && t.Recursive {
		dst = append(dst, Member{"Recursive", &t.Recursive})
	}
	return dst
}

// AppendValue appends the JSON of a member's value (see Member): null for
// a nil pointer, the EventType as its number, the status as its number.
func AppendValue(dst []byte, m Member, f Format) []byte {
	w := netjson.NewWriter(dst)
	encoder{w, f}.value(m.Value)
	return w.Bytes()
}

func (e encoder) event(ev Event) {
	if ev == nil {
		e.w.Null()
		return
	}
	e.begin(TypeName(ev.Type()))
	var buf [MaxMembers]Member
	for _, m := range JSONMembers(buf[:0], ev) {
		e.w.Key(m.Name)
		e.value(m.Value)
	}
	e.w.EndObject()
}

func (e encoder) value(v any) {
	w := e.w
	switch p := v.(type) {
	case EventType:
		w.Int(int64(p))
	case *string:
		w.String(*p)
	case **string:
		w.NullableString(*p)
	case *int32:
		w.Int(int64(*p))
	case **int32:
		if *p == nil {
			w.Null()
		} else {
			w.Int(int64(**p))
		}
	case *bool:
		w.Bool(*p)
	case *time.Time:
		w.Time(*p)
	case **time.Time:
		if *p == nil {
			w.Null()
		} else {
			w.Time(**p)
		}
	case *OrchestrationStatus:
		w.Int(int64(*p))
	case *OrchestrationInstance:
		e.instance(*p)
	case **ParentInstance:
		e.parent(*p)
	case **DistributedTraceContext:
		e.trace(*p)
	case **FailureDetails:
		e.failure(*p)
	case *map[string]string:
		e.tags(*p)
	case *json.RawMessage:
		if len(*p) == 0 {
			w.Null()
		} else {
			w.Raw(*p)
		}
	default:
		panic(fmt.Sprintf("history: member value of type %T", v))
	}
}

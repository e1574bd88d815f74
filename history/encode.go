package history

import (
	"sort"

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

func (e encoder) eventType(t EventType) {
	e.w.Key("EventType")
	e.w.Int(int64(t))
}

func (e encoder) key(name string) { e.w.Key(name) }

func (e encoder) event(ev Event) {
	if ev == nil {
		e.w.Null()
		return
	}
	w := e.w
	e.begin(TypeName(ev.Type()))
	switch v := ev.(type) {
	case *ExecutionStartedEvent:
		e.key("OrchestrationInstance")
		e.instance(v.OrchestrationInstance)
		e.eventType(ExecutionStarted)
		e.key("ParentInstance")
		e.parent(v.ParentInstance)
		e.key("Name")
		w.String(v.Name)
		e.key("Version")
		w.String(v.Version)
		e.key("Input")
		w.NullableString(v.Input)
		e.key("Tags")
		e.tags(v.Tags)
		e.key("Correlation")
		w.NullableString(v.Correlation)
		e.key("ParentTraceContext")
		e.trace(v.ParentTraceContext)
		e.key("ScheduledStartTime")
		if v.ScheduledStartTime == nil {
			w.Null()
		} else {
			w.Time(*v.ScheduledStartTime)
		}
		e.key("Generation")
		if v.Generation == nil {
			w.Null()
		} else {
			w.Int(int64(*v.Generation))
		}
		e.key("GenerateNewTrace")
		w.Bool(v.GenerateNewTrace)
	case *ExecutionCompletedEvent:
		e.completion(ExecutionCompleted, v.OrchestrationStatus, v.Result, v.FailureDetails)
	case *ContinueAsNewEvent:
		e.completion(ContinueAsNew, v.OrchestrationStatus, v.Result, v.FailureDetails)
	case *ExecutionTerminatedEvent:
		e.eventType(ExecutionTerminated)
		e.key("Input")
		w.NullableString(v.Input)
	case *TaskScheduledEvent:
		e.eventType(TaskScheduled)
		e.key("Name")
		w.String(v.Name)
		e.key("Version")
		w.String(v.Version)
		e.key("Input")
		w.NullableString(v.Input)
		e.key("ParentTraceContext")
		e.trace(v.ParentTraceContext)
		e.key("Tags")
		e.tags(v.Tags)
	case *TaskCompletedEvent:
		e.eventType(TaskCompleted)
		e.key("TaskScheduledId")
		w.Int(int64(v.TaskScheduledID))
		e.key("Result")
		w.NullableString(v.Result)
	case *TaskFailedEvent:
		e.failed(TaskFailed, v.TaskScheduledID, v.Reason, v.Details, v.FailureDetails)
	case *SubOrchestrationInstanceCreatedEvent:
		e.eventType(SubOrchestrationInstanceCreated)
		e.key("Name")
		w.String(v.Name)
		e.key("Version")
		w.String(v.Version)
		e.key("InstanceId")
		w.String(v.InstanceID)
		e.key("Input")
		w.NullableString(v.Input)
		e.key("ClientSpanId")
		w.NullableString(v.ClientSpanID)
		e.key("Tags")
		e.tags(v.Tags)
	case *SubOrchestrationInstanceCompletedEvent:
		e.eventType(SubOrchestrationInstanceCompleted)
		e.key("TaskScheduledId")
		w.Int(int64(v.TaskScheduledID))
		e.key("Result")
		w.NullableString(v.Result)
	case *SubOrchestrationInstanceFailedEvent:
		e.failed(SubOrchestrationInstanceFailed, v.TaskScheduledID, v.Reason, v.Details, v.FailureDetails)
	case *TimerCreatedEvent:
		e.eventType(TimerCreated)
		e.key("FireAt")
		w.Time(v.FireAt)
	case *TimerFiredEvent:
		e.eventType(TimerFired)
		e.key("TimerId")
		w.Int(int64(v.TimerID))
		e.key("FireAt")
		w.Time(v.FireAt)
	case *OrchestratorStartedEvent:
		e.eventType(OrchestratorStarted)
	case *OrchestratorCompletedEvent:
		e.eventType(OrchestratorCompleted)
	case *EventSentEvent:
		e.eventType(EventSent)
		e.key("InstanceId")
		w.String(v.InstanceID)
		e.key("Name")
		w.String(v.Name)
		e.key("Input")
		w.NullableString(v.Input)
	case *EventRaisedEvent:
		e.eventType(EventRaised)
		e.key("Name")
		w.String(v.Name)
		e.key("Input")
		w.NullableString(v.Input)
		e.key("ParentTraceContext")
		e.trace(v.ParentTraceContext)
	case *GenericEvent:
		e.key("Data")
		w.NullableString(v.Data)
		e.eventType(GenericEventType)
	case *HistoryStateEvent:
		e.eventType(HistoryState)
		e.key("State")
		if len(v.State) == 0 {
			w.Null()
		} else {
			w.Raw(v.State)
		}
	case *ExecutionSuspendedEvent:
		e.eventType(ExecutionSuspended)
		e.key("Reason")
		w.NullableString(v.Reason)
	case *ExecutionResumedEvent:
		e.eventType(ExecutionResumed)
		e.key("Reason")
		w.NullableString(v.Reason)
	case *ExecutionRewoundEvent:
		e.eventType(ExecutionRewound)
		e.key("Reason")
		w.NullableString(v.Reason)
		e.key("ParentExecutionId")
		w.NullableString(v.ParentExecutionID)
		e.key("InstanceId")
		w.NullableString(v.InstanceID)
		e.key("ParentTraceContext")
		e.trace(v.ParentTraceContext)
	}
	b := ev.Base()
	e.key("EventId")
	w.Int(int64(b.EventID))
	e.key("IsPlayed")
	w.Bool(b.IsPlayed)
	e.key("Timestamp")
	w.Time(b.Timestamp)
	if v, ok := ev.(*ExecutionTerminatedEvent); ok && v.Recursive {
		e.key("Recursive")
		w.Bool(true)
	}
	w.EndObject()
}

func (e encoder) completion(t EventType, status OrchestrationStatus, result *string, fd *FailureDetails) {
	e.eventType(t)
	e.key("OrchestrationStatus")
	e.w.Int(int64(status))
	e.key("Result")
	e.w.NullableString(result)
	e.key("FailureDetails")
	e.failure(fd)
}

func (e encoder) failed(t EventType, id int32, reason, details *string, fd *FailureDetails) {
	e.eventType(t)
	e.key("TaskScheduledId")
	e.w.Int(int64(id))
	e.key("Reason")
	e.w.NullableString(reason)
	e.key("Details")
	e.w.NullableString(details)
	e.key("FailureDetails")
	e.failure(fd)
}

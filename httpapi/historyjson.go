package httpapi

import (
	"encoding/json"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// member is one member of a JSON object, kept in document order.
type member struct {
	name string
	raw  json.RawMessage
}

// object is a JSON object whose member order is preserved, so that the
// rewrite can remove members in place and append new ones at the end as
// the extension does with its JObject.
type object []member

// plainObject is the event's Plain (Newtonsoft default) JSON, the members
// as history.AppendEvent writes them.
func plainObject(ev history.Event) object {
	var buf [history.MaxMembers]history.Member
	members := history.JSONMembers(buf[:0], ev)
	o := make(object, 0, len(members)+4)
	for _, m := range members {
		o.add(m.Name, history.AppendValue(nil, m, history.Plain))
	}
	return o
}

func (o *object) remove(names ...string) {
	out := (*o)[:0]
	for _, m := range *o {
		drop := false
		for _, n := range names {
			if m.name == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, m)
		}
	}
	*o = out
}

// set replaces a member's value in place; absent members are appended.
func (o *object) set(name string, raw json.RawMessage) {
	for i := range *o {
		if (*o)[i].name == name {
			(*o)[i].raw = raw
			return
		}
	}
	o.add(name, raw)
}

func (o *object) add(name string, raw json.RawMessage) {
	*o = append(*o, member{name: name, raw: raw})
}

func (o object) write(w *netjson.Writer) {
	w.BeginObject()
	for _, m := range o {
		w.Key(m.name)
		w.Raw(m.raw)
	}
	w.EndObject()
}

func jsonString(s string) json.RawMessage { return netjson.AppendString(nil, s) }

func jsonNullableString(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return jsonString(*s)
}

// parsedPayload is stored text as a JSON value (writeJSONText's rule).
func parsedPayload(s *string) json.RawMessage {
	w := netjson.NewWriter(nil)
	writeJSONText(w, s)
	return w.Bytes()
}

// scheduling is what a completion event takes from its scheduling event.
type scheduling struct {
	index      int
	name       string
	input      *string
	timestamp  string
	instanceID *string // sub-orchestrations only
}

// historyJSON renders one execution's events as the extension's
// historyEvents array (spec §4.2). Every event starts as its Plain
// (Newtonsoft default) JSON; then EventType becomes its name, EventId and
// IsPlayed go (and Input when !showInput), OrchestratorStarted and
// OrchestratorCompleted go, ExecutionStarted keeps its Name as a trailing
// FunctionName, a completion takes ScheduledTime, FunctionName, InstanceId
// (sub-orchestrations, as extension 3.x adds it) and Input from its
// scheduling event, which is then dropped, and results are dropped unless
// showOutput, when they are parsed as JSON.
func historyJSON(events []history.Event, showInput, showOutput bool) []byte {
	objs := make([]object, len(events))
	drop := make([]bool, len(events))
	sched := map[int32]scheduling{}
	for i, ev := range events {
		objs[i] = plainObject(ev)
		ts := ev.Base().Timestamp.UTC().Truncate(100 * time.Nanosecond).Format(scheduledTimeLayout)
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			sched[v.EventID] = scheduling{index: i, name: v.Name, input: v.Input, timestamp: ts}
		case *history.SubOrchestrationInstanceCreatedEvent:
			id := v.InstanceID
			sched[v.EventID] = scheduling{index: i, name: v.Name, input: v.Input, timestamp: ts, instanceID: &id}
		}
	}
	for i, ev := range events {
		o := &objs[i]
		o.set("EventType", jsonString(ev.Type().String()))
		o.remove("EventId", "IsPlayed")
		if !showInput {
			o.remove("Input")
		}
		switch v := ev.(type) {
		case *history.OrchestratorStartedEvent, *history.OrchestratorCompletedEvent:
			drop[i] = true
		case *history.ExecutionStartedEvent:
			o.remove("OrchestrationInstance", "ParentInstance", "Version", "Tags", "Name")
			o.add("FunctionName", jsonString(v.Name))
		case *history.TaskScheduledEvent, *history.SubOrchestrationInstanceCreatedEvent:
			o.remove("Version")
		case *history.TaskCompletedEvent:
			completion(o, v.TaskScheduledID, sched, drop, showInput)
			result(o, v.Result, showOutput, false)
		case *history.SubOrchestrationInstanceCompletedEvent:
			completion(o, v.TaskScheduledID, sched, drop, showInput)
			result(o, v.Result, showOutput, false)
		case *history.TaskFailedEvent:
			completion(o, v.TaskScheduledID, sched, drop, showInput)
		case *history.SubOrchestrationInstanceFailedEvent:
			completion(o, v.TaskScheduledID, sched, drop, showInput)
		case *history.ExecutionCompletedEvent:
			o.set("OrchestrationStatus", jsonString(v.OrchestrationStatus.String()))
			result(o, v.Result, showOutput, plainOutput(v.OrchestrationStatus))
		case *history.ContinueAsNewEvent:
			o.set("OrchestrationStatus", jsonString(v.OrchestrationStatus.String()))
			result(o, v.Result, showOutput, false)
		case *history.TimerFiredEvent:
			o.remove("TimerId")
		}
	}
	w := netjson.NewWriter(nil)
	w.BeginArray()
	for i, o := range objs {
		if !drop[i] {
			o.write(w)
		}
	}
	w.EndArray()
	return w.Bytes()
}

// completion appends what a completion event takes from its scheduling
// event and marks that event dropped.
func completion(o *object, id int32, sched map[int32]scheduling, drop []bool, showInput bool) {
	o.remove("TaskScheduledId")
	s, ok := sched[id]
	if !ok {
		return
	}
	drop[s.index] = true
	o.add("ScheduledTime", jsonString(s.timestamp))
	o.add("FunctionName", jsonString(s.name))
	if s.instanceID != nil {
		o.add("InstanceId", jsonString(*s.instanceID))
	}
	if showInput {
		o.add("Input", jsonNullableString(s.input))
	}
}

// result keeps Result, parsed, when showOutput, and removes it otherwise.
func result(o *object, r *string, showOutput, plain bool) {
	switch {
	case !showOutput:
		o.remove("Result")
	case plain:
		o.set("Result", jsonNullableString(r))
	default:
		o.set("Result", parsedPayload(r))
	}
}

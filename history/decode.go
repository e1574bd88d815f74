package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/azdurable/azdurable/internal/netjson"
)

// UnmarshalEvent decodes one history event from JSON in either dialect.
func UnmarshalEvent(data []byte) (Event, error) {
	o, err := netjson.ParseObject(data)
	if err != nil {
		return nil, err
	}
	return decodeEvent(o)
}

// UnmarshalTaskMessage decodes a TaskMessage from JSON in either dialect.
func UnmarshalTaskMessage(data []byte) (*TaskMessage, error) {
	o, err := netjson.ParseObject(data)
	if err != nil {
		return nil, err
	}
	return decodeTaskMessage(o)
}

// StripAssembly removes an assembly qualification from a .NET type name:
// everything from the first comma that is not inside generic brackets.
func StripAssembly(typeName string) string {
	depth := 0
	for i, c := range typeName {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				return strings.TrimSpace(typeName[:i])
			}
		}
	}
	return strings.TrimSpace(typeName)
}

// decodeTaskMessage decodes a TaskMessage object.
func decodeTaskMessage(o *netjson.Object) (*TaskMessage, error) {
	m := &TaskMessage{}
	evObj, err := o.Object("Event")
	if err != nil {
		return nil, err
	}
	if evObj == nil {
		return nil, errors.New("TaskMessage has no Event")
	}
	if m.Event, err = decodeEvent(evObj); err != nil {
		return nil, fmt.Errorf("Event: %w", err)
	}
	if m.SequenceNumber, err = o.Int("SequenceNumber", 64); err != nil {
		return nil, err
	}
	if m.OrchestrationInstance, err = decodeInstanceMember(o, "OrchestrationInstance"); err != nil {
		return nil, err
	}
	ctx, err := o.Object("OrchestrationExecutionContext")
	if err != nil {
		return nil, err
	}
	if ctx != nil {
		tags, err := decodeTagsMember(ctx, "OrchestrationTags")
		if err != nil {
			return nil, fmt.Errorf("OrchestrationExecutionContext: %w", err)
		}
		m.OrchestrationExecutionContext = &OrchestrationExecutionContext{OrchestrationTags: tags}
	}
	return m, nil
}

// UnmarshalOrchestrationInstance decodes {"InstanceId","ExecutionId"}.
func UnmarshalOrchestrationInstance(data []byte) (OrchestrationInstance, error) {
	o, err := netjson.ParseObject(data)
	if err != nil {
		return OrchestrationInstance{}, err
	}
	return decodeInstance(o)
}

// UnmarshalParentInstance decodes a ParentInstance object; JSON null gives nil.
func UnmarshalParentInstance(data []byte) (*ParentInstance, error) {
	var v *ParentInstance
	err := UnmarshalValue(Member{Value: &v}, data)
	return v, err
}

// UnmarshalTraceContext decodes a DistributedTraceContext; null gives nil.
func UnmarshalTraceContext(data []byte) (*DistributedTraceContext, error) {
	var v *DistributedTraceContext
	err := UnmarshalValue(Member{Value: &v}, data)
	return v, err
}

// UnmarshalFailureDetails decodes a FailureDetails object; null gives nil.
func UnmarshalFailureDetails(data []byte) (*FailureDetails, error) {
	var v *FailureDetails
	err := UnmarshalValue(Member{Value: &v}, data)
	return v, err
}

// UnmarshalTags decodes a string dictionary; null gives nil. A "$type"
// member (any runtime's spelling) is dropped.
func UnmarshalTags(data []byte) (map[string]string, error) {
	var v map[string]string
	err := UnmarshalValue(Member{Value: &v}, data)
	return v, err
}

func decodeInstanceMember(o *netjson.Object, name string) (OrchestrationInstance, error) {
	v, err := o.Object(name)
	if err != nil || v == nil {
		return OrchestrationInstance{}, err
	}
	oi, err := decodeInstance(v)
	if err != nil {
		return oi, fmt.Errorf("%s: %w", name, err)
	}
	return oi, nil
}

func decodeInstance(o *netjson.Object) (OrchestrationInstance, error) {
	var oi OrchestrationInstance
	var err error
	if oi.InstanceID, err = o.String("InstanceId"); err != nil {
		return oi, err
	}
	oi.ExecutionID, err = o.String("ExecutionId")
	return oi, err
}

func decodeParent(o *netjson.Object) (*ParentInstance, error) {
	p := &ParentInstance{}
	var err error
	if p.Name, err = o.String("Name"); err != nil {
		return nil, err
	}
	if p.OrchestrationInstance, err = decodeInstanceMember(o, "OrchestrationInstance"); err != nil {
		return nil, err
	}
	id, err := o.Int("TaskScheduleId", 32)
	if err != nil {
		return nil, err
	}
	p.TaskScheduleID = int32(id)
	if p.Version, err = o.String("Version"); err != nil {
		return nil, err
	}
	return p, nil
}

func decodeTrace(o *netjson.Object) (*DistributedTraceContext, error) {
	tc := &DistributedTraceContext{}
	var err error
	if tc.TraceParent, err = o.String("TraceParent"); err != nil {
		return nil, err
	}
	if tc.TraceState, err = o.NullableString("TraceState"); err != nil {
		return nil, err
	}
	if tc.ID, err = o.NullableString("Id"); err != nil {
		return nil, err
	}
	if tc.SpanID, err = o.NullableString("SpanId"); err != nil {
		return nil, err
	}
	if raw, ok := o.Present("ActivityStartTime"); ok {
		t, err := parseOffsetTime(raw)
		if err != nil {
			return nil, fmt.Errorf("ActivityStartTime: %w", err)
		}
		tc.ActivityStartTime = &t
	}
	return tc, nil
}

const maxFailureDepth = 64

func decodeFailure(o *netjson.Object, depth int) (*FailureDetails, error) {
	if depth > maxFailureDepth {
		return nil, errors.New("FailureDetails nested too deeply")
	}
	fd := &FailureDetails{}
	var err error
	if fd.ErrorType, err = o.String("ErrorType"); err != nil {
		return nil, err
	}
	if fd.ErrorMessage, err = o.String("ErrorMessage"); err != nil {
		return nil, err
	}
	if fd.StackTrace, err = o.NullableString("StackTrace"); err != nil {
		return nil, err
	}
	inner, err := o.Object("InnerFailure")
	if err != nil {
		return nil, err
	}
	if inner != nil {
		if fd.InnerFailure, err = decodeFailure(inner, depth+1); err != nil {
			return nil, fmt.Errorf("InnerFailure: %w", err)
		}
	}
	if fd.IsNonRetriable, err = o.Bool("IsNonRetriable"); err != nil {
		return nil, err
	}
	if raw, ok := o.Present("Properties"); ok {
		props, err := stripTypeMember(raw)
		if err != nil {
			return nil, fmt.Errorf("Properties: %w", err)
		}
		fd.Properties = props
	}
	return fd, nil
}

// stripTypeMember re-encodes a JSON object compactly without its top-level
// "$type" member (nested values are kept as they are).
func stripTypeMember(raw json.RawMessage) (json.RawMessage, error) {
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return nil, err
	}
	w := netjson.NewWriter(nil)
	w.BeginObject()
	for _, name := range o.Names() {
		if strings.EqualFold(name, "$type") {
			continue
		}
		v, _ := o.Raw(name)
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, err
		}
		w.Key(name)
		w.Raw(buf.Bytes())
	}
	w.EndObject()
	return w.Bytes(), nil
}

func decodeTags(o *netjson.Object) (map[string]string, error) {
	tags := map[string]string{}
	for _, name := range o.Names() {
		if strings.EqualFold(name, "$type") {
			continue
		}
		v, err := o.String(name)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", name, err)
		}
		tags[name] = v
	}
	return tags, nil
}

func decodeTagsMember(o *netjson.Object, name string) (map[string]string, error) {
	v, err := o.Object(name)
	if err != nil || v == nil {
		return nil, err
	}
	tags, err := decodeTags(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return tags, nil
}

func parseOffsetTime(raw json.RawMessage) (t timeValue, err error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return t, err
	}
	return parseTimeKeepOffset(s)
}

// eventTypeOf finds the event type from "$type" (preferred, as C# resolves
// the class from it) or from the EventType member.
func eventTypeOf(o *netjson.Object) (EventType, error) {
	if tn, err := o.String("$type"); err == nil && tn != "" {
		name := StripAssembly(tn)
		if t, ok := eventTypeForTypeName(name); ok {
			return t, nil
		}
		return 0, fmt.Errorf("unknown event class %.100q", name)
	}
	raw, ok := o.Present("EventType")
	if !ok {
		return 0, errors.New("event has neither $type nor EventType")
	}
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	} else {
		s = string(raw)
	}
	t, err := ParseEventType(s)
	if err != nil {
		return 0, err
	}
	if NewEvent(t) == nil {
		return 0, fmt.Errorf("event type %s has no event class", t)
	}
	return t, nil
}

// decodeEvent decodes a history event object.
func decodeEvent(o *netjson.Object) (Event, error) {
	t, err := eventTypeOf(o)
	if err != nil {
		return nil, err
	}
	ev := NewEvent(t)
	d := &decoder{o: o}
	var buf [MaxMembers]Member
	for _, m := range Members(buf[:0], ev) {
		d.member(m)
	}
	if v, ok := ev.(*ExecutionTerminatedEvent); ok {
		// azdurable's own member (see JSONMembers).
		v.Recursive = d.boolean("Recursive")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s: %w", t, d.err)
	}
	return ev, nil
}

// UnmarshalValue decodes the JSON text of an object-valued member (see
// Member) into the member's value; null leaves it as it is. Other kinds
// are not JSON text anywhere and give an error.
func UnmarshalValue(m Member, data []byte) error {
	if netjson.IsNull(data) {
		return nil
	}
	return decodeValue(m.Value, data)
}

// decodeValue decodes the non-null JSON of an object-valued member.
func decodeValue(v any, raw json.RawMessage) error {
	if p, ok := v.(*json.RawMessage); ok {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return err
		}
		*p = buf.Bytes()
		return nil
	}
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return err
	}
	switch p := v.(type) {
	case *OrchestrationInstance:
		*p, err = decodeInstance(o)
	case **ParentInstance:
		*p, err = decodeParent(o)
	case **DistributedTraceContext:
		*p, err = decodeTrace(o)
	case **FailureDetails:
		*p, err = decodeFailure(o, 0)
	case *map[string]string:
		*p, err = decodeTags(o)
	default:
		err = fmt.Errorf("member value of type %T is not a JSON object", v)
	}
	return err
}

// decoder records the first error so that member reads stay one line each.
type decoder struct {
	o   *netjson.Object
	err error
}

func (d *decoder) fail(name string, err error) {
	if d.err == nil && err != nil {
		d.err = fmt.Errorf("%s: %w", name, err)
	}
}

func (d *decoder) keep(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

func (d *decoder) str(name string) string {
	s, err := d.o.String(name)
	d.keep(err)
	return s
}

func (d *decoder) nstr(name string) *string {
	s, err := d.o.NullableString(name)
	d.keep(err)
	return s
}

func (d *decoder) int32(name string) int32 {
	n, err := d.o.Int(name, 32)
	d.keep(err)
	return int32(n)
}

func (d *decoder) nint32(name string) *int32 {
	n, err := d.o.NullableInt(name, 32)
	d.keep(err)
	if n == nil {
		return nil
	}
	v := int32(*n)
	return &v
}

func (d *decoder) boolean(name string) bool {
	b, err := d.o.Bool(name)
	d.keep(err)
	return b
}

func (d *decoder) time(name string) timeValue {
	t, err := d.o.Time(name)
	d.keep(err)
	return t
}

func (d *decoder) ntime(name string) *timeValue {
	t, err := d.o.NullableTime(name)
	d.keep(err)
	return t
}

func (d *decoder) status(name string) OrchestrationStatus {
	raw, ok := d.o.Present(name)
	if !ok {
		return StatusRunning
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			d.fail(name, err)
			return 0
		}
	} else {
		s = string(raw)
	}
	st, err := ParseStatus(s)
	d.fail(name, err)
	return st
}

// member reads one member into the event.
func (d *decoder) member(m Member) {
	name := m.Name
	switch p := m.Value.(type) {
	case EventType:
		// Already read: it chose the event class.
	case *string:
		*p = d.str(name)
	case **string:
		*p = d.nstr(name)
	case *int32:
		*p = d.int32(name)
	case **int32:
		*p = d.nint32(name)
	case *bool:
		*p = d.boolean(name)
	case *timeValue:
		*p = d.time(name)
	case **timeValue:
		*p = d.ntime(name)
	case *OrchestrationStatus:
		*p = d.status(name)
	default:
		if raw, ok := d.o.Present(name); ok {
			d.fail(name, decodeValue(p, raw))
		}
	}
}

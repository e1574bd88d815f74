package history

import (
	"reflect"
	"testing"
)

// Members must name every field of every event struct exactly once (and
// JSONMembers also Recursive), with a pointer of the field's own type, so
// that a field added to a struct and not to the description fails here
// rather than silently vanishing from queue messages and History rows.
func TestMembersDescribeEveryField(t *testing.T) {
	for i := range eventTypeNames {
		typ := EventType(i)
		ev := NewEvent(typ)
		if ev == nil {
			continue
		}
		if term, ok := ev.(*ExecutionTerminatedEvent); ok {
			term.Recursive = true
		}
		fields := map[uintptr]reflect.Type{}
		var collect func(v reflect.Value)
		collect = func(v reflect.Value) {
			for j := range v.NumField() {
				f := v.Field(j)
				if v.Type().Field(j).Anonymous {
					collect(f)
					continue
				}
				fields[f.Addr().Pointer()] = f.Addr().Type()
			}
		}
		collect(reflect.ValueOf(ev).Elem())

		members := JSONMembers(nil, ev)
		if len(members) > MaxMembers {
			t.Errorf("%s has %d members, more than MaxMembers", typ, len(members))
		}
		names := map[string]bool{}
		sawType := 0
		for _, m := range members {
			if names[m.Name] {
				t.Errorf("%s: member %s twice", typ, m.Name)
			}
			names[m.Name] = true
			if et, ok := m.Value.(EventType); ok {
				sawType++
				if et != typ || m.Name != "EventType" {
					t.Errorf("%s: EventType member %s = %s", typ, m.Name, et)
				}
				continue
			}
			p := reflect.ValueOf(m.Value)
			want, ok := fields[p.Pointer()]
			if !ok || p.Type() != want {
				t.Errorf("%s: member %s (%T) points at no field of its own type", typ, m.Name, m.Value)
				continue
			}
			delete(fields, p.Pointer())
		}
		if sawType != 1 {
			t.Errorf("%s: %d EventType members", typ, sawType)
		}
		for _, ft := range fields {
			t.Errorf("%s: a field of type %s is not described", typ, ft.Elem())
		}
	}
}

// Walking the description allocates nothing.
func TestMembersAllocateNothing(t *testing.T) {
	ev := &ExecutionStartedEvent{Name: "n", Input: Str("1")}
	if n := testing.AllocsPerRun(100, func() {
		var members [MaxMembers]Member
		for _, m := range Members(members[:0], ev) {
			if m.Value == nil {
				t.Fatal(m.Name)
			}
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

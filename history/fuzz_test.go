package history

import (
	"bytes"
	"testing"
)

// FuzzUnmarshalEvent: whatever the reader accepts, written in either
// dialect, reads back to an event that is written with the same bytes, so
// no member is lost or misread between the description's writer and reader.
func FuzzUnmarshalEvent(f *testing.F) {
	for _, ev := range benchEvents() {
		f.Add(AppendEvent(nil, ev, TypeNames))
		f.Add(AppendEvent(nil, ev, Plain))
	}
	f.Add([]byte(`{"EventType":"ExecutionTerminated","input":"x","Recursive":"true","EventId":"-1"}`))
	f.Add([]byte(`{"$type":"DurableTask.Core.History.GenericEvent, DurableTask.Core","Data":null}`))
	f.Add([]byte(`{"EventType":1,"OrchestrationStatus":"Failed","FailureDetails":{"ErrorType":"E","InnerFailure":{},"Properties":{"$type":"x","a":[1]}}}`))
	f.Add([]byte(`{"EventType":18,"State":[1, {"a" : 2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := UnmarshalEvent(data)
		if err != nil {
			return
		}
		for _, format := range []Format{TypeNames, Plain} {
			first := AppendEvent(nil, ev, format)
			back, err := UnmarshalEvent(first)
			if err != nil {
				t.Fatalf("our own JSON does not decode: %v\n%s", err, first)
			}
			if second := AppendEvent(nil, back, format); !bytes.Equal(first, second) {
				t.Fatalf("unstable round trip\n 1st %s\n 2nd %s", first, second)
			}
		}
	})
}

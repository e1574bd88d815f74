package queues

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeBody checks that whatever the decoder accepts survives a round
// trip: decode → encode → decode → encode gives the same bytes twice, so no
// member is lost or misread between the writer and the reader.
func FuzzDecodeBody(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testdata, "messages", "0*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	captures, _ := filepath.Glob(filepath.Join(testdata, "csharp", "queue-messages", "[0-9]*.json"))
	for _, file := range captures {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var v struct{ Raw string }
		if err := json.Unmarshal(data, &v); err != nil {
			f.Fatal(err)
		}
		f.Add(v.Raw)
	}
	f.Add(`{"TaskMessage":{"Event":{"EventType":3,"Input":"x","Recursive":true}}}`)
	f.Add(`{"TaskMessage":{"Event":{"EventType":6,"FailureDetails":{"ErrorType":"E","InnerFailure":{"ErrorType":"I"},"Properties":{"$type":"x","a":{"b":1}}}}}}`)
	f.Add(`{"TaskMessage":{"Event":{"EventType":0,"ParentTraceContext":{"TraceParent":"00-1-2-01","ActivityStartTime":"2024-05-01T12:00:00+02:00"},"Tags":{"b":"2","a":"1"},"ScheduledStartTime":"2024-05-01","Generation":"7"}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		m, _, err := DecodeBody(body)
		if err != nil {
			return
		}
		first := Marshal(m)
		m2, err := Unmarshal(first)
		if err != nil {
			t.Fatalf("our own output does not decode: %v\n%s", err, first)
		}
		second := Marshal(m2)
		if string(first) != string(second) {
			t.Fatalf("round trip is not stable\n first: %s\nsecond: %s", first, second)
		}
		for _, enc := range []Encoding{UTF8, Base64} {
			m3, _, err := DecodeBody(EncodeBody(m2, enc))
			if err != nil || string(Marshal(m3)) != string(first) {
				t.Fatalf("%v body does not round trip: %v", enc, err)
			}
		}
	})
}

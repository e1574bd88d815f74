package httpapi

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestReemitLikeTheExtension re-writes the recorded raise-event bodies and
// compares them with the texts the extension stored for them.
func TestReemitLikeTheExtension(t *testing.T) {
	f, err := os.Open("../testdata/durable-functions/http-differences.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bodies := map[string]string{} // event name → request body
	stored := map[string]string{} // event name → stored text
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Case, URL, Body string
			RequestBody     *string
			Status          int
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if _, name, ok := strings.Cut(c.URL, "/raiseEvent/"); ok && c.Status == 202 {
			bodies[name] = *c.RequestBody
		}
		if c.Case == "empty-reason-history" {
			var st struct {
				HistoryEvents []struct{ EventType, Name, Input string }
			}
			if err := json.Unmarshal([]byte(c.Body), &st); err != nil {
				t.Fatal(err)
			}
			for _, ev := range st.HistoryEvents {
				if ev.EventType == "EventRaised" {
					stored[ev.Name] = ev.Input
				}
			}
		}
	}
	if len(bodies) != 3 || len(stored) != 3 {
		t.Fatalf("recorded %d bodies, %d stored texts", len(bodies), len(stored))
	}
	for name, body := range bodies {
		got, err := reemitJSON([]byte(body))
		if err != nil || string(got) != stored[name] {
			t.Errorf("%s: %s (%v)\nthe extension stored %s", name, got, err, stored[name])
		}
	}
	for _, bad := range []string{"", "{", "1 2", `{"a":1}x`} {
		if _, err := reemitJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

package durable_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/samples/counter"
)

var requestTimeRE = regexp.MustCompile(`,"requestTime":"[^"]*"`)

// dedupeKeyRE is the one member azdurable adds to the extension's requests
// (entity.KeyMember, last): the execution id and the request's number.
var dedupeKeyRE = regexp.MustCompile(`,"dedupeKey":"[0-9a-f]+:[0-9]+"}$`)

// releaseAfterRE is the one member azdurable adds to the extension's
// releases (entity.AfterMember, last): the clock of the last request sent
// to the entity.
var releaseAfterRE = regexp.MustCompile(`,"after":"[0-9T:.-]+Z?"}$`)

// TestCountingSendsWhatTheExtensionSent runs the Go Counting orchestration
// episode by episode on the recorded history of the extension's Counting
// (the same times, so the same deterministic request ids) and compares every
// request and release it sends with the recorded EventSent, byte for byte
// but for requestTime (the extension's wall clock; Go writes the
// orchestration's time, in the same format), and the result.
func TestCountingSendsWhatTheExtensionSent(t *testing.T) {
	f, err := os.Open("../testdata/durable-functions/entities-counting-history.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	reg := registry.New(nil)
	if err := registry.Add(reg, counter.Counting); err != nil {
		t.Fatal(err)
	}
	fn, _ := reg.Orchestrator("Counting", "")
	eng := replay.New(fn, replay.Options{})
	defer eng.Evict()
	str := func(r map[string]any, k string) *string {
		if v, ok := r[k].(string); ok {
			return &v
		}
		return nil
	}
	var episode []history.Event
	var want []map[string]any
	var result *replay.Result
	sent := 0
	for _, r := range rows {
		ts, err := netjson.ParseTime(r["_Timestamp"].(string))
		if err != nil {
			t.Fatal(err)
		}
		base := history.EventBase{EventID: -1, Timestamp: ts}
		switch r["EventType"] {
		case "OrchestratorStarted":
			episode = []history.Event{&history.OrchestratorStartedEvent{EventBase: base}}
			want = nil
		case "ExecutionStarted":
			episode = append(episode, &history.ExecutionStartedEvent{Name: "Counting",
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: "df-counting", ExecutionID: r["ExecutionId"].(string)}, EventBase: base})
		case "EventRaised":
			episode = append(episode, &history.EventRaisedEvent{Name: r["Name"].(string), Input: str(r, "Input"), EventBase: base})
		case "EventSent":
			want = append(want, r)
		case "OrchestratorCompleted", "ExecutionCompleted":
			if episode == nil {
				continue
			}
			if result, err = eng.Apply(nil, episode); err != nil {
				t.Fatal(err)
			}
			episode = nil
			if len(result.Actions) != len(want) {
				t.Fatalf("episode at %s: %d messages, want %d", ts, len(result.Actions), len(want))
			}
			for i, a := range result.Actions {
				es := a.(*history.EventSentEvent)
				w := want[i]
				got, exp := requestTimeRE.ReplaceAllString(*es.Input, ""), requestTimeRE.ReplaceAllString(w["Input"].(string), "")
				added := dedupeKeyRE
				if es.Name == entity.ReleaseEvent {
					added = releaseAfterRE
				}
				if !added.MatchString(got) {
					t.Errorf("message %d lacks azdurable's member: %s", sent, got)
				}
				got = added.ReplaceAllString(got, "}")
				if es.InstanceID != w["InstanceId"] || es.Name != w["Name"] || got != exp || es.EventID != int32(w["EventId"].(float64)) {
					t.Errorf("message %d:\n got #%d %s %s %s\nwant #%v %s %s %s", sent, es.EventID, es.InstanceID, es.Name, got, w["EventId"], w["InstanceId"], w["Name"], exp)
				}
				sent++
			}
		}
	}
	if sent != 6 {
		t.Fatalf("%d messages compared, want 6", sent)
	}
	if result.Completion == nil || result.Completion.Output == nil || *result.Completion.Output != "8" {
		t.Fatalf("completion %+v", result.Completion)
	}
}

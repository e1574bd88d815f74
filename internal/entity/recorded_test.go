package entity

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

type record struct {
	Kind          string           `json:"kind"`
	Sequence      int64            `json:"sequenceNumber"`
	From          string           `json:"from"`
	FromExecution string           `json:"fromExecution"`
	To            string           `json:"to"`
	ToExecution   *string          `json:"toExecution"`
	Name          string           `json:"name"`
	Input         *string          `json:"input"`
	Row           map[string]any   `json:"row"`
	Rows          []map[string]any `json:"rows"`
}

func loadRecords(t *testing.T) []record {
	t.Helper()
	f, err := os.Open("../../testdata/durable-functions/entities-wire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestRecordedBodiesRoundTrip reads every recorded request, response and
// release and writes it again byte for byte: with $type (from an
// orchestration or an entity) and without (from the client).
func TestRecordedBodiesRoundTrip(t *testing.T) {
	n := 0
	for _, r := range loadRecords(t) {
		if r.Kind != "send" || r.Input == nil {
			continue
		}
		in := *r.Input
		var got string
		switch {
		case IsRequestEvent(r.Name):
			req, err := DecodeRequest(in)
			if err != nil {
				t.Fatal(err)
			}
			got = req.Encode()
		case r.Name == ReleaseEvent:
			rel, err := DecodeRelease(in)
			if err != nil {
				t.Fatal(err)
			}
			got = rel.Encode()
		default:
			resp, err := DecodeResponse(in)
			if err != nil {
				t.Fatal(err)
			}
			got = resp.Encode()
		}
		if got != in {
			t.Errorf("%s to %s:\n got %s\nwant %s", r.Name, r.To, got, in)
		}
		n++
	}
	if n != 11 {
		t.Fatalf("checked %d bodies, want 11", n)
	}
}

// TestRecordedCounter runs the recorded batches of @counter@k1 through Step
// and compares the state each commit writes (the new execution's input and
// the Instances row's custom status) and the entity's messages with what the
// extension wrote.
func TestRecordedCounter(t *testing.T) {
	recs := loadRecords(t)
	var input *string
	var batch []*history.EventRaisedEvent
	var pendingSends []*history.TaskMessage
	var lastStatus string
	commits := 0
	value := 0
	run := func(op *Operation) {
		if op.Exists && op.Value != nil {
			if err := json.Unmarshal([]byte(*op.Value), &value); err != nil {
				t.Fatal(err)
			}
		} else {
			value = 0
		}
		switch op.Name {
		case "reset":
			value = 0
		case "add":
			var n int
			if err := json.Unmarshal([]byte(*op.Input), &n); err != nil {
				t.Fatal(err)
			}
			value += n
		case "get":
			s := jsonText(value)
			op.Result = &s
		}
		s := jsonText(value)
		op.Exists, op.Value = true, &s
	}
	var state *State
	var seqs []int64
	flush := func(now time.Time) {
		if state != nil {
			return
		}
		res, err := Step(&Batch{Self: history.OrchestrationInstance{InstanceID: "@counter@k1", ExecutionID: "prev"},
			Input: input, Events: batch, Now: func() time.Time { return now }, Run: run,
			NewGUID: func() string { return "guid" }, NewExecutionID: func() string { return "exec" }})
		if err != nil {
			t.Fatal(err)
		}
		state, pendingSends, batch, seqs = res.State, res.Outbox, nil, nil
	}
	for _, r := range recs {
		switch r.Kind {
		case "receive":
			if r.To == "@counter@k1" {
				// C# orders a batch by the senders' sequence numbers.
				at := len(batch)
				for at > 0 && seqs[at-1] > r.Sequence {
					at--
				}
				batch = append(batch[:at], append([]*history.EventRaisedEvent{{Name: r.Name, Input: r.Input}}, batch[at:]...)...)
				seqs = append(seqs[:at], append([]int64{r.Sequence}, seqs[at:]...)...)
			}
		case "historyRows":
			if r.Rows[0]["PartitionKey"] != "@counter@k1" {
				continue
			}
			started := r.Rows[1]
			ts, err := netjson.ParseTime(started["_Timestamp"].(string))
			if err != nil {
				t.Fatal(err)
			}
			flush(ts)
			if len(pendingSends) > 0 {
				t.Fatalf("commit %d: %d messages were not recorded", commits, len(pendingSends))
			}
			events, _, status := Commit(history.OrchestrationInstance{InstanceID: "@counter@k1"}, state, "x", ts)
			got := *events[1].(*history.ExecutionStartedEvent).Input
			if want := started["Input"].(string); withoutDedupe(t, got) != want {
				t.Errorf("commit %d state:\n got %s\nwant %s", commits, got, want)
			}
			input = &got
			lastStatus = status
			state = nil
			commits++
		case "instanceRow":
			if want := r.Row["CustomStatus"].(string); lastStatus != want {
				t.Errorf("commit %d custom status %s, want %s", commits, lastStatus, want)
			}
			if want := r.Row["Input"].(string); withoutDedupe(t, *input) != want {
				t.Errorf("commit %d row input %s, want %s", commits, *input, want)
			}
		case "send":
			if r.From != "@counter@k1" {
				continue
			}
			flush(time.Now())
			if len(pendingSends) == 0 {
				t.Fatalf("the entity sent %s to %s, not produced here", r.Name, r.To)
			}
			m := pendingSends[0]
			pendingSends = pendingSends[1:]
			ev := m.Event.(*history.EventRaisedEvent)
			if m.OrchestrationInstance.InstanceID != r.To || ev.Name != r.Name || *ev.Input != *r.Input ||
				r.ToExecution == nil || m.OrchestrationInstance.ExecutionID != *r.ToExecution {
				t.Errorf("entity message %s %s %s (%s), want %s %v %s (%s)", m.OrchestrationInstance.InstanceID,
					m.OrchestrationInstance.ExecutionID, ev.Name, *ev.Input, r.To, r.ToExecution, r.Name, *r.Input)
			}
		}
	}
	if commits != 5 || value != 8 {
		t.Fatalf("%d commits, value %d; want 5 and 8", commits, value)
	}
}

// withoutDedupe removes the one member azdurable adds to the extension's
// scheduler state (DedupeMember, always last, an object): the rest must be
// the extension's bytes.
func withoutDedupe(t *testing.T, state string) string {
	t.Helper()
	i := strings.LastIndex(state, `,"`+DedupeMember+`":`)
	if i < 0 {
		return state
	}
	member := state[i+len(DedupeMember)+4 : len(state)-1]
	if _, err := netjson.ParseObject([]byte(member)); err != nil {
		t.Fatalf("the %s member is not the state's last member, an object: %s", DedupeMember, state)
	}
	return state[:i] + "}"
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLabelOutgoingRecorded gives the orchestration's requests the clocks
// the extension gave them: the first at the orchestration's time (UTC), a
// second in the same episode one tick later (unspecified kind), each with
// its predecessor's clock.
func TestLabelOutgoingRecorded(t *testing.T) {
	var sends []record
	for _, r := range loadRecords(t) {
		if r.Kind == "send" && r.From == "df-counting" && IsRequestEvent(r.Name) {
			sends = append(sends, r)
		}
	}
	// The extension sent the signal (EventId 0) before the call (EventId
	// 1); the queue received them the other way round.
	sends[0], sends[1] = sends[1], sends[0]
	s := &Sorter{}
	for i, r := range sends {
		want, err := DecodeRequest(*r.Input)
		if err != nil {
			t.Fatal(err)
		}
		now := want.Timestamp
		if !now.UTC {
			now = UTCStamp(now.T.Add(-100 * time.Nanosecond))
		}
		got := *want
		got.Timestamp, got.Predecessor = Stamp{}, Stamp{}
		s.LabelOutgoing(&got, r.To, now)
		if got.Encode() != *r.Input {
			t.Errorf("request %d:\n got %s\nwant %s", i, got.Encode(), *r.Input)
		}
	}
	if !strings.Contains(sends[1].Name, "op") {
		t.Fatal("unexpected record")
	}
}

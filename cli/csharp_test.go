package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/samples"
)

// shape lists an object's member names, recursively and in order, without
// the values: two messages with the same shape differ only in data.
func shape(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	o, err := netjson.ParseObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("{")
	for i, n := range o.Names() {
		if i > 0 {
			b.WriteString(",")
		}
		v, _ := o.Raw(n)
		b.WriteString(n + shape(t, v))
	}
	b.WriteString("}")
	return b.String()
}

// csMessage reads the body of a C# queue message of the capture.
func csMessage(t *testing.T, file string) string {
	t.Helper()
	var m struct{ Raw string }
	readJSON(t, "queue-messages/"+file, &m)
	return m.Raw
}

// newMessage returns the one body in the queue that is not in before.
func newMessage(t *testing.T, before, after []string) string {
	t.Helper()
	seen := map[string]bool{}
	for _, b := range before {
		seen[b] = true
	}
	var fresh []string
	for _, a := range after {
		if !seen[a] {
			fresh = append(fresh, a)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("%d new messages, want 1", len(fresh))
	}
	return fresh[0]
}

// checkLikeCSharp decodes our message with the queue codec and checks
// that it has exactly the members, in order, of the message C# sent for
// the same operation.
func checkLikeCSharp(t *testing.T, ours, csFile string) *history.TaskMessage {
	t.Helper()
	m, enc, err := queues.DecodeBody(ours)
	if err != nil || enc != queues.UTF8 || m.TaskMessage == nil {
		t.Fatalf("decode %s: %v %v", ours, enc, err)
	}
	if got, want := shape(t, json.RawMessage(ours)), shape(t, json.RawMessage(csMessage(t, csFile))); got != want {
		t.Errorf("message members differ from C#'s %s\n got %s\nwant %s", csFile, got, want)
	}
	return m.TaskMessage
}

var timeValue = regexp.MustCompile(`"(createdTime|lastUpdatedTime|Timestamp|ScheduledTime|FireAt)":"\d{4}-[^"]*"`)

func loadDF(t *testing.T, method, suffix string) (int, string) {
	t.Helper()
	f, err := os.Open("../testdata/durable-functions/http-api.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Method, URL, Body string
			Status            int
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Method == method && strings.HasSuffix(r.URL, suffix) {
			return r.Status, r.Body
		}
	}
	t.Fatalf("no recorded %s %s", method, suffix)
	return 0, ""
}

// TestCSharpHub manages a task hub written by the C# backend through the
// CLI and the HTTP API: list, show, history, raise, terminate and purge,
// with the messages checked against the ones C# sends and the purge
// checked against the storage it leaves.
func TestCSharpHub(t *testing.T) {
	e := newHubEnv(t, false)
	h := loadCSharpHub(t, e.hub)
	base, _, _ := startServe(t, e.args...)

	t.Run("list", func(t *testing.T) {
		rows := tableRows(e.ok("list"))
		want := [][2]string{{"99c91641e2be472792e856ae3adba372:0", "Completed"}, {"capture-hello", "Completed"},
			{"capture-large", "Completed"}, {"capture-parent", "Completed"}, {"capture-scheduled", "Pending"},
			{"capture-terminate", "Running"}, {"capture-uncaught", "Failed"}}
		if len(rows) != len(want) {
			t.Fatalf("list: %v", rows)
		}
		for i, w := range want {
			if rows[i][0] != w[0] || rows[i][2] != w[1] {
				t.Errorf("row %d: %v, want %v", i, rows[i], w)
			}
		}
		if rows := tableRows(e.ok("list", "--status", "Failed,Pending")); len(rows) != 2 || rows[0][0] != "capture-scheduled" {
			t.Errorf("status filter: %v", rows)
		}
		code, body := httpDo(t, "GET", base+"/instances?top=3&instanceIdPrefix=99c9", "", "")
		if code != 200 || !strings.Contains(body, `"instanceId":"99c91641e2be472792e856ae3adba372:0","parentInstanceId":"capture-parent","runtimeStatus":"Completed","input":"kid-child"`) {
			t.Errorf("HTTP list: %d %s", code, body)
		}
	})

	t.Run("show", func(t *testing.T) {
		f := showFields(e.ok("show", "capture-uncaught"))
		if f["Status"] != "Failed" || f["Output"] != "card declined: order-2" || f["Name"] != "Uncaught" {
			t.Errorf("show failed instance: %v", f)
		}
		if f := showFields(e.ok("show", "capture-parent")); f["Custom status"] != `"done"` || f["Output"] != `"Hello kid-child!|yes"` {
			t.Errorf("show parent: %v", f)
		}
		if f := showFields(e.ok("show", "capture-scheduled")); f["Status"] != "Pending" || f["Scheduled start"] != "2026-12-01T19:00:17.3940156Z" {
			t.Errorf("show scheduled: %v", f)
		}
		if out := e.ok("show", "capture-uncaught", "--json"); !strings.Contains(out, `"output": "card declined: order-2"`) {
			t.Errorf("show --json: %s", out)
		}
		code, body := httpDo(t, "GET", base+"/instances/capture-uncaught?returnInternalServerErrorOnFailure=true", "", "")
		if code != 500 || !strings.Contains(body, `"runtimeStatus":"Failed","input":"order-2","customStatus":null,"output":"card declined: order-2"`) {
			t.Errorf("HTTP failed status: %d %s", code, body)
		}
		if code, _ := httpDo(t, "GET", base+"/instances/capture-terminate", "", ""); code != 202 {
			t.Errorf("HTTP running status: %d", code)
		}
	})

	t.Run("history", func(t *testing.T) {
		out := e.ok("history", "capture-hello")
		if strings.Count(out, "TaskCompleted") != 3 || !strings.Contains(out, `result="Hello London!"`) {
			t.Errorf("history table:\n%s", out)
		}
		events, err := durabletest.ParseHistory([]byte(e.ok("history", "capture-hello", "--json")))
		if err != nil || len(events) != 16 {
			t.Fatalf("history --json: %d events, %v", len(events), err)
		}
		// C#'s HelloCities has the Go sample's names and task ids, so the
		// Go code replays the C# history.
		if err := durabletest.ReplayEvents(events, samples.All(nil)); err != nil {
			t.Errorf("C# history does not replay on the Go sample: %v", err)
		}
		large, _ := durabletest.ParseHistory([]byte(e.ok("history", "capture-large", "--json")))
		if tc, ok := large[5].(*history.TaskCompletedEvent); !ok || tc.Result == nil || len(*tc.Result) != 100002 {
			t.Errorf("the large result was not read from its blob: %T", large[5])
		}
		// The HTTP history of C#'s rows is what the extension answered for
		// its own HelloCities (input null there, "cities" here).
		_, want := loadDF(t, "GET", "/instances/df-hello?showHistory=true&showHistoryOutput=true&showInput=true")
		want = strings.NewReplacer("df-hello", "capture-hello", `"input":null`, `"input":"cities"`,
			`"EventType":"ExecutionStarted","Input":null`, `"EventType":"ExecutionStarted","Input":"\"cities\""`).Replace(want)
		code, got := httpDo(t, "GET", base+"/instances/capture-hello?showHistory=true&showHistoryOutput=true&showInput=true", "", "")
		if g, w := timeValue.ReplaceAllString(got, `"$1":"<time>"`), timeValue.ReplaceAllString(want, `"$1":"<time>"`); code != 200 || g != w {
			t.Errorf("HTTP history %d\n got %s\nwant %s", code, g, w)
		}
		_, got = httpDo(t, "GET", base+"/instances/capture-parent?showHistory=true&showHistoryOutput=true", "", "")
		for _, part := range []string{`{"EventType":"SubOrchestrationInstanceCompleted","Result":"Hello kid-child!",`,
			`"FunctionName":"Child","InstanceId":"99c91641e2be472792e856ae3adba372:0","Input":null}`,
			`{"EventType":"TimerCreated","FireAt":`, `{"EventType":"EventRaised","Name":"Approval","Input":"\"yes\"",`,
			`{"EventType":"EventSent","InstanceId":"capture-target","Name":"Ping","Input":"\"yes\""`} {
			if !strings.Contains(got, part) {
				t.Errorf("parent history lacks %s:\n%s", part, got)
			}
		}
	})

	t.Run("raise", func(t *testing.T) {
		q := taskhub.MustNames("CsHub").ControlQueueFor("capture-terminate", taskhub.DefaultPartitions)
		if q != "cshub-control-03" {
			t.Fatalf("capture-terminate maps to %s; C# sent its messages to cshub-control-03", q)
		}
		before := h.peek(q)
		e.ok("raise", "capture-terminate", "Go", "--data", `"from the cli"`)
		tm := checkLikeCSharp(t, newMessage(t, before, h.peek(q)), "14-cshub-eventraised-control-client-running.json")
		if ev, ok := tm.Event.(*history.EventRaisedEvent); !ok || ev.Name != "Go" || *ev.Input != `"from the cli"` ||
			tm.OrchestrationInstance.InstanceID != "capture-terminate" {
			t.Errorf("raised %+v", tm)
		}
		before = h.peek(q)
		if code, body := httpDo(t, "POST", base+"/instances/capture-terminate/raiseEvent/Go", "", `{"via":"http"}`); code != 400 {
			t.Errorf("HTTP raise without a JSON content type: %d %s", code, body)
		}
		if code, body := httpDo(t, "POST", base+"/instances/capture-terminate/raiseEvent/Go", "", `{"via": "http"}`,
			"Content-Type", "application/json"); code != 202 {
			t.Fatalf("HTTP raise: %d %s", code, body)
		}
		tm = checkLikeCSharp(t, newMessage(t, before, h.peek(q)), "14-cshub-eventraised-control-client-running.json")
		if ev := tm.Event.(*history.EventRaisedEvent); *ev.Input != `{"via":"http"}` {
			t.Errorf("HTTP raised %s", *ev.Input)
		}
		e.fails(1, "already finished (Completed)", "raise", "capture-hello", "Go")
	})

	t.Run("terminate", func(t *testing.T) {
		q := "cshub-control-03"
		before := h.peek(q)
		if code, _ := httpDo(t, "POST", base+"/instances/capture-terminate/terminate?reason=operator+request", "", ""); code != 202 {
			t.Fatalf("HTTP terminate: %d", code)
		}
		csBody := csMessage(t, "18-cshub-executionterminated-control-client-plain.json")
		tm := checkLikeCSharp(t, newMessage(t, before, h.peek(q)), "18-cshub-executionterminated-control-client-plain.json")
		cs, _, _ := queues.DecodeBody(csBody)
		if ev := tm.Event.(*history.ExecutionTerminatedEvent); *ev.Input != "operator request" ||
			tm.OrchestrationInstance != cs.TaskMessage.OrchestrationInstance {
			t.Errorf("terminate %+v, C# sent %+v", tm.OrchestrationInstance, cs.TaskMessage.OrchestrationInstance)
		}
		// The Pending instance: our terminate lands next to C#'s start.
		before = h.peek(q)
		e.ok("terminate", "capture-scheduled", "--reason", "not needed")
		body := newMessage(t, before, h.peek(q))
		checkLikeCSharp(t, body, "18-cshub-executionterminated-control-client-plain.json")
		if !strings.Contains(strings.Join(before, "\n"), `"InstanceId":"capture-scheduled","ExecutionId":"c2056132058b48aa87c9be623e87fcd4"`) {
			t.Errorf("C#'s ExecutionStarted for capture-scheduled is not in %s", q)
		}
		e.fails(1, "already finished", "terminate", "capture-hello")
		if code, _ := httpDo(t, "POST", base+"/instances/capture-hello/terminate", "", ""); code != 410 {
			t.Errorf("HTTP terminate of a completed instance: %d", code)
		}
	})

	t.Run("purge", func(t *testing.T) {
		if rows, inst, blobs := h.left("capture-large"); rows != 9 || inst != 1 || blobs != 2 {
			t.Fatalf("before: %d rows, %d instances, %d blobs", rows, inst, blobs)
		}
		if out := e.ok("purge", "capture-large"); out != "purged 1 instances (9 history rows)\n" {
			t.Errorf("purge: %q", out)
		}
		if rows, inst, blobs := h.left("capture-large"); rows+inst+blobs != 0 {
			t.Errorf("capture-large left %d rows, %d instances, %d blobs", rows, inst, blobs)
		}
		if code, body := httpDo(t, "DELETE", base+"/instances/capture-hello", "", ""); code != 200 || body != `{"instancesDeleted":1}` {
			t.Errorf("HTTP purge: %d %s", code, body)
		}
		if code, _ := httpDo(t, "DELETE", base+"/instances/capture-hello", "", ""); code != 404 {
			t.Errorf("HTTP purge twice: %d", code)
		}
		code, out, errOut := e.cli("y\n", "purge", "--created-from", "2026-12-01T00:00:00Z")
		if code != 0 || out != "purged 3 instances (35 history rows)\n" || !strings.Contains(errOut, "Purge 3 instances") {
			t.Errorf("purge by filter: %d %q %q", code, out, errOut)
		}
		// What is left has not finished (Pending, Running): the extension
		// would purge it for runtimeStatus=Running; azdurable never does.
		code, body := httpDo(t, "DELETE", base+"/instances?createdTimeFrom=2026-12-01&runtimeStatus=Running", "", "")
		if code != 404 || body != "" {
			t.Errorf("HTTP purge of the unfinished rest: %d %s", code, body)
		}
		if code, body := httpDo(t, "DELETE", base+"/instances/capture-terminate", "", ""); code != 412 ||
			body != `"Only orchestrations in a terminal state can be purged, but the orchestration with instance ID capture-terminate has status Running"` {
			t.Errorf("HTTP purge of a running instance: %d %s", code, body)
		}
		e.fails(1, "its status is Pending", "purge", "capture-scheduled")
		if _, inst, _ := h.left(""); inst != 2 {
			t.Errorf("the hub holds %d Instances rows, want the 2 unfinished ones", inst)
		}
		if rows := tableRows(e.ok("list")); len(rows) != 2 || rows[0][0] != "capture-scheduled" || rows[1][0] != "capture-terminate" {
			t.Errorf("list after the purge: %v", rows)
		}
	})
}

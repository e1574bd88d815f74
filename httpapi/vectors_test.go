package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/tables"
)

// vector is one file of testdata/http.
type vector struct {
	Request struct {
		Method, URL, BodyText string
		Headers               map[string]string
	}
	Response struct {
		Status   int
		Headers  map[string]string
		BodyText string
	}
	ManagementPayloadText string
}

func loadVector(t *testing.T, name string) vector {
	t.Helper()
	data, err := os.ReadFile("../testdata/http/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorHandler is configured as the vectors' host: hub MyHub, connection
// Storage, webhook query code=SYSTEMKEY.
func vectorHandler(t *testing.T, origin string) *httpapi.Handler {
	t.Helper()
	h, err := httpapi.New(httpapi.Options{Client: client.New(nil, client.Options{}), TaskHub: "MyHub",
		Origin: origin, URLQuery: "code=SYSTEMKEY", Keys: []string{"SYSTEMKEY"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func checkHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			if g, ok = got[http.CanonicalHeaderKey(k)]; !ok {
				t.Errorf("header %s missing, want %q", k, v)
				continue
			}
			if g[0] != v {
				t.Errorf("header %s = %q, want %q", k, g[0], v)
			}
		} else if g[0] != v {
			t.Errorf("header %s = %q, want %q", k, g[0], v)
		}
	}
}

func TestVectorCheckStatus(t *testing.T) {
	v := loadVector(t, "01-check-status-202.json")
	h := vectorHandler(t, "")
	req := httptest.NewRequest(v.Request.Method, v.Request.URL, strings.NewReader(v.Request.BodyText))
	rec := httptest.NewRecorder()
	h.WriteCheckStatusResponse(rec, req, "myorch-1", nil)
	if rec.Code != v.Response.Status || rec.Body.String() != v.Response.BodyText {
		t.Errorf("check status %d\n got %s\nwant %s", rec.Code, rec.Body, v.Response.BodyText)
	}
	checkHeaders(t, rec.Header(), v.Response.Headers)

	// Without a request, the origin comes from the configured public origin.
	p := vectorHandler(t, "https://myapp.azurewebsites.net/").CreateHTTPManagementPayload("myorch-1")
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(p)
	if got := strings.TrimSuffix(buf.String(), "\n"); err != nil || got != v.ManagementPayloadText {
		t.Errorf("management payload %v\n got %s\nwant %s", err, got, v.ManagementPayloadText)
	}
	// A configured origin also wins over the request's.
	rec = httptest.NewRecorder()
	vectorHandler(t, "https://myapp.azurewebsites.net").WriteCheckStatusResponse(rec,
		httptest.NewRequest("POST", "http://10.0.0.5:8080/x", nil), "myorch-1", nil)
	if rec.Body.String() != v.Response.BodyText {
		t.Errorf("behind a proxy\n got %s\nwant %s", rec.Body, v.Response.BodyText)
	}
}

func TestCheckStatusEncodesIDs(t *testing.T) {
	h := vectorHandler(t, "http://localhost:7071")
	p := h.CreateHTTPManagementPayload("a b/ü?&+~")
	want := "http://localhost:7071/runtime/webhooks/durabletask/instances/a+b%2F%C3%BC%3F%26%2B%7E?taskHub=MyHub&connection=Storage&code=SYSTEMKEY"
	if p.StatusQueryGetURI != want || p.ID != "a b/ü?&+~" {
		t.Errorf("got %s", p.StatusQueryGetURI)
	}
	rec := httptest.NewRecorder()
	h.WriteCheckStatusResponse(rec, httptest.NewRequest("POST", "/", nil), "x",
		&httpapi.CheckStatusOptions{ReturnInternalServerErrorOnFailure: true})
	if got := rec.Header().Get("Location"); !strings.HasSuffix(got, "code=SYSTEMKEY&returnInternalServerErrorOnFailure=true") {
		t.Errorf("Location %s", got)
	}
	if strings.Contains(rec.Body.String(), "rewindPostUri") {
		t.Errorf("the check-status body has rewindPostUri: %s", rec.Body)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ptr(s string) *string { return &s }

func TestVectorStatusRunning(t *testing.T) {
	v := loadVector(t, "02-status-running-202.json")
	st := &client.State{InstanceID: "myorch-1", Name: "HelloSequence", Status: client.Running, Input: ptr(`"World"`),
		CreatedAt: mustTime(t, "2024-05-01T12:00:00.9999999Z"), LastUpdatedAt: mustTime(t, "2024-05-01T12:00:01.5Z")}
	if got := string(httpapi.MarshalStatus(st, nil)); got != v.Response.BodyText {
		t.Errorf("\n got %s\nwant %s", got, v.Response.BodyText)
	}
}

// TestVectorStatusHistory renders vector 03 from the History rows of the
// two-activities vector. Vector 03 shows each activity's input in
// TaskCompleted, which needs TaskScheduled rows with an Input column (C#'s
// IncludeParameters), so the test adds it to the decoded rows.
func TestVectorStatusHistory(t *testing.T) {
	v := loadVector(t, "03-status-completed-history-200.json")
	var vec struct{ RowsAfterCompletion json.RawMessage }
	data, _ := os.ReadFile("../testdata/azstorage-history-two-activities.json")
	if err := json.Unmarshal(data, &vec); err != nil {
		t.Fatal(err)
	}
	events, err := tables.ParseHistoryRows(vec.RowsAfterCompletion)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{`"Tokyo"`, `"Seattle"`}
	for _, ev := range events {
		if ts, ok := ev.(*history.TaskScheduledEvent); ok {
			ts.Input = ptr(inputs[ts.EventID])
		}
	}
	st := &client.State{InstanceID: "myorch-1", Name: "HelloSequence", Status: client.Completed, Input: ptr(`"World"`),
		Output:    ptr(`["Hello Tokyo!","Hello Seattle!"]`),
		CreatedAt: mustTime(t, "2024-05-01T12:00:00.1Z"), LastUpdatedAt: mustTime(t, "2024-05-01T12:00:02.12Z")}
	got := string(httpapi.MarshalStatus(st, &httpapi.StatusOptions{History: events, ShowHistoryOutput: true}))
	if got != v.Response.BodyText {
		t.Errorf("\n got %s\nwant %s", got, v.Response.BodyText)
	}
	// showInput=false drops every Input and the status input.
	got = string(httpapi.MarshalStatus(st, &httpapi.StatusOptions{History: events, HideInput: true}))
	if strings.Contains(got, `"Input"`) || !strings.Contains(got, `"input":null`) || strings.Contains(got, `"Result"`) {
		t.Errorf("showInput=false, no history output: %s", got)
	}
}

func TestVectorListPage(t *testing.T) {
	v := loadVector(t, "04-list-instances-page-200.json")
	states := []*client.State{
		{InstanceID: "myorch-1", Name: "HelloSequence", Status: client.Completed, Input: ptr(`"World"`),
			Output:    ptr(`[ "Hello Tokyo!", "Hello Seattle!" ]`),
			CreatedAt: mustTime(t, "2024-05-01T12:00:00Z"), LastUpdatedAt: mustTime(t, "2024-05-01T12:00:02.9Z")},
		{InstanceID: "myorch-2", Name: "HelloSequence", Status: client.Running, Input: ptr(`"Paris"`),
			CustomStatus: ptr(`{"step":1}`),
			CreatedAt:    mustTime(t, "2024-05-01T12:00:05Z"), LastUpdatedAt: mustTime(t, "2024-05-01T12:00:06Z")},
	}
	var parts []string
	for _, st := range states {
		parts = append(parts, string(httpapi.MarshalStatus(st, nil)))
	}
	if got := "[" + strings.Join(parts, ",") + "]"; got != v.Response.BodyText {
		t.Errorf("\n got %s\nwant %s", got, v.Response.BodyText)
	}
}

// TestStatusPayloadRules covers spec §4.1: JSON text is re-emitted as
// Newtonsoft does, other text becomes a string, and the plain-text outputs
// of failed and terminated instances are always strings.
func TestStatusPayloadRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status client.Status
		text   *string
		want   string
	}{
		{"missing", client.Completed, nil, `null`},
		{"blank", client.Completed, ptr("  "), `""`},
		{"not JSON", client.Completed, ptr("plain words"), `"plain words"`},
		{"object", client.Completed, ptr(`{ "a" : [1, 2.50, -0, 1e3, 1.5e-7, 1e21, true, null], "b": "<&>\u00e9" }`),
			`{"a":[1,2.5,0,1000.0,1.5E-07,1E+21,true,null],"b":"<&>é"}`},
		{"number", client.Completed, ptr("42"), `42`},
		{"failed", client.Failed, ptr("42"), `"42"`},
		{"terminated", client.Terminated, ptr(`{"x":1}`), `"{\"x\":1}"`},
	} {
		st := &client.State{Name: "N", InstanceID: "i", Status: tc.status, Output: tc.text}
		got := string(httpapi.MarshalStatus(st, nil))
		if want := `"output":` + tc.want + `,"createdTime"`; !strings.Contains(got, want) {
			t.Errorf("%s: %s lacks %s", tc.name, got, want)
		}
	}
	sub := &client.State{Name: "Child", InstanceID: "c:0", ParentInstanceID: "p", Status: client.Pending}
	if got := string(httpapi.MarshalStatus(sub, nil)); !strings.HasPrefix(got, `{"name":"Child","instanceId":"c:0","parentInstanceId":"p","runtimeStatus":"Pending",`) {
		t.Errorf("sub-orchestration: %s", got)
	}
}

package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
)

const base = "/runtime/webhooks/durabletask"

// recorded is one answer of the real Durable Functions extension
// (testdata/durable-functions/http-api.jsonl).
type recorded struct {
	Method, URL string
	Status      int
	Headers     map[string]string
	Body        string
}

func loadRecorded(t *testing.T) []recorded {
	t.Helper()
	f, err := os.Open("../testdata/durable-functions/http-api.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// find returns the first recorded answer to method on a URL ending in suffix.
func find(t *testing.T, recs []recorded, method, suffix string) recorded {
	t.Helper()
	for _, r := range recs {
		if r.Method == method && strings.HasSuffix(r.URL, suffix) {
			return r
		}
	}
	t.Fatalf("no recorded %s …%s", method, suffix)
	return recorded{}
}

// findLast returns the last recorded answer to method on a URL ending in suffix.
func findLast(t *testing.T, recs []recorded, method, suffix string) recorded {
	t.Helper()
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Method == method && strings.HasSuffix(r.URL, suffix) {
			return r
		}
	}
	t.Fatalf("no recorded %s …%s", method, suffix)
	return recorded{}
}

var (
	timeMember = regexp.MustCompile(`"(createdTime|lastUpdatedTime|Timestamp|ScheduledTime|FireAt)":"([^"]*)"`)
	wholeZ     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	fracZ      = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z$`)
	fracOffset = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?\+00:00$`)
)

// normalize replaces every time in a body by <time> after checking its
// format (spec §1.4); a time in the wrong format stays visible as <bad …>.
func normalize(body string) string {
	return timeMember.ReplaceAllStringFunc(body, func(m string) string {
		sub := timeMember.FindStringSubmatch(m)
		ok := false
		switch sub[1] {
		case "createdTime", "lastUpdatedTime":
			ok = wholeZ.MatchString(sub[2])
		case "ScheduledTime":
			ok = fracOffset.MatchString(sub[2])
		default:
			ok = fracZ.MatchString(sub[2])
		}
		if !ok {
			return `"` + sub[1] + `":"<bad ` + sub[2] + `>"`
		}
		return `"` + sub[1] + `":"<time>"`
	})
}

// sameBody compares bodies after normalizing times and applying the
// substitutions (old, new pairs) to want.
func sameBody(t *testing.T, what, got, want string, subst ...string) {
	t.Helper()
	want = strings.NewReplacer(subst...).Replace(want)
	if g, w := normalize(got), normalize(want); g != w {
		t.Errorf("%s\n got %s\nwant %s", what, g, w)
	}
}

func TestRoutes(t *testing.T) {
	recs := loadRecorded(t)
	e := newEnv(t, func(o *httpapi.Options) { o.URLQuery = "code=SYSTEMKEY" })
	origin := "https://myapp.azurewebsites.net"
	q := "?taskHub=" + e.hub + "&connection=Storage&code=SYSTEMKEY"
	inst := origin + base + "/instances/"

	t.Run("start and check status", func(t *testing.T) {
		v := loadVector(t, "01-check-status-202.json")
		r := e.do("POST", origin+base+"/orchestrators/HelloCities/myorch-1?code=SYSTEMKEY", `"World"`, "Content-Type", "application/json")
		want := strings.ReplaceAll(v.Response.BodyText, "MyHub", e.hub)
		if r.code != 202 || r.body != want {
			t.Fatalf("%d\n got %s\nwant %s", r.code, r.body, want)
		}
		checkHeaders(t, r.header, map[string]string{"Location": inst + "myorch-1" + q, "Retry-After": "10",
			"Content-Type": "application/json; charset=utf-8"})
		// No body means a null input; names match in any case.
		if r := e.do("POST", base+"/Orchestrators/hellocities/df-hello", ""); r.code != 202 {
			t.Fatalf("start df-hello: %d %s", r.code, r.body)
		}
		e.waitStatus("myorch-1", client.Completed)
		e.waitStatus("df-hello", client.Completed)
	})

	t.Run("status with history is the extension's", func(t *testing.T) {
		rec := find(t, recs, "GET", "/instances/df-hello?showHistory=true&showHistoryOutput=true&showInput=true")
		r := e.do("GET", base+"/instances/df-hello?showHistory=true&showHistoryOutput=true&showInput=true", "")
		// The Go client stores a null input as the JSON text null; the
		// extension stores no text. Both read back as null.
		got := strings.Replace(r.body, `"EventType":"ExecutionStarted","Input":"null"`, `"EventType":"ExecutionStarted","Input":null`, 1)
		if r.code != rec.Status {
			t.Errorf("status %d, want %d", r.code, rec.Status)
		}
		sameBody(t, "df-hello with history", got, rec.Body)
		rec = find(t, recs, "GET", "/instances/df-hello")
		r = e.do("GET", base+"/instances/df-hello", "")
		sameBody(t, "df-hello", r.body, rec.Body)
		if r.header.Get("Location") != "" || r.header.Get("Retry-After") != "" {
			t.Errorf("a finished instance has Location/Retry-After: %v", r.header)
		}
		// showInput=false hides the input; history output is dropped by default.
		r = e.do("GET", base+"/instances/myorch-1?showInput=false&showHistory=true", "")
		if !strings.Contains(r.body, `"input":null`) || strings.Contains(r.body, `"Input"`) || strings.Contains(r.body, `"Result"`) {
			t.Errorf("showInput=false: %s", r.body)
		}
	})

	t.Run("unknown instance", func(t *testing.T) {
		rec := find(t, recs, "GET", "/instances/df-nope")
		r := e.do("GET", base+"/instances/df-nope", "")
		if r.code != rec.Status || r.body != "" || r.header.Get("Content-Type") != "" {
			t.Errorf("%d %q %v", r.code, r.body, r.header)
		}
		for _, c := range []struct{ method, path string }{
			{"POST", "/instances/df-nope/terminate"}, {"POST", "/instances/df-nope/suspend"},
			{"POST", "/instances/df-nope/resume"}, {"POST", "/instances/df-nope/raiseEvent/x"},
			{"DELETE", "/instances/df-nope"},
		} {
			if r := e.do(c.method, base+c.path, "1", "Content-Type", "application/json"); r.code != 404 || r.body != "" {
				t.Errorf("%s %s: %d %q", c.method, c.path, r.code, r.body)
			}
		}
	})

	appr := `{"id":"r1","requester":"ann","timeoutSeconds":3600}`
	t.Run("202 until the event, then 200", func(t *testing.T) {
		if r := e.do("POST", base+"/orchestrators/Approval/appr-1", appr); r.code != 202 {
			t.Fatalf("start: %d %s", r.code, r.body)
		}
		waitCustomStatus(e, "appr-1", `"waiting for approval"`)
		v := loadVector(t, "02-status-running-202.json")
		url := inst + "appr-1" + q
		r := e.do("GET", url, "")
		if r.code != 202 {
			t.Fatalf("running: %d %s", r.code, r.body)
		}
		sameBody(t, "running", r.body, v.Response.BodyText, `"HelloSequence"`, `"Approval"`, "myorch-1", "appr-1",
			`"input":"World"`, `"input":`+appr, `"customStatus":null`, `"customStatus":"waiting for approval"`)
		checkHeaders(t, r.header, map[string]string{"Location": url, "Retry-After": "5"})

		// raiseEvent: media type and body checks come after the state checks.
		if r := e.do("POST", base+"/instances/appr-1/raiseEvent/Approval", `{}`, "Content-Type", "text/plain"); r.code != 400 ||
			r.body != `{"Message":"Only application/json request content is supported"}` {
			t.Errorf("text/plain: %d %s", r.code, r.body)
		}
		for _, body := range []string{"", "{nope"} {
			r := e.do("POST", base+"/instances/appr-1/raiseEvent/Approval", body, "Content-Type", "application/json")
			if r.code != 400 || !strings.HasPrefix(r.body, `{"Message":"Invalid JSON content","ExceptionMessage":`) {
				t.Errorf("body %q: %d %s", body, r.code, r.body)
			}
		}
		rec := find(t, recs, "POST", "/raiseEvent/Approval")
		r = e.do("POST", base+"/instances/appr-1/raiseEvent/Approval", `{"approved":true,"by":"bob"}`,
			"Content-Type", "Application/JSON; charset=utf-8")
		if r.code != rec.Status || r.body != "" || r.header.Get("Content-Type") != "" {
			t.Fatalf("raise: %d %q", r.code, r.body)
		}
		var last response
		azuritetestWait(t, "appr-1 answers 200", func() bool {
			last = e.do("GET", url, "")
			return last.code == 200
		})
		done := findLast(t, recs, "GET", "/instances/df-http-start")
		sameBody(t, "completed", last.body, done.Body, "df-http-start", "appr-1", `"input":"order-9"`, `"input":`+appr,
			`"customStatus":{"stage":"waiting","input":"order-9"}`, `"customStatus":"approved"`,
			`"output":"via-http"`, `"output":{"requestId":"r1","status":"approved","by":"bob"}`)
		if last.header.Get("Location") != "" {
			t.Errorf("200 with Location")
		}
		if r := e.do("POST", base+"/instances/appr-1/raiseEvent/Approval", `1`, "Content-Type", "application/json"); r.code != 410 || r.body != "" {
			t.Errorf("raise to a completed instance: %d %q", r.code, r.body)
		}
	})

	t.Run("suspend and resume", func(t *testing.T) {
		if r := e.do("POST", base+"/orchestrators/Approval/appr-2", appr); r.code != 202 {
			t.Fatalf("start: %d", r.code)
		}
		waitCustomStatus(e, "appr-2", `"waiting for approval"`)
		if r := e.do("POST", base+"/instances/appr-2/resume?reason=x", ""); r.code != 500 ||
			!strings.Contains(r.body, `"ExceptionType":"System.InvalidOperationException"`) {
			t.Errorf("resume while running: %d %s", r.code, r.body)
		}
		if r := e.do("POST", base+"/instances/appr-2/suspend?reason=pause+now", ""); r.code != 202 || r.body != "" {
			t.Fatalf("suspend: %d %s", r.code, r.body)
		}
		e.waitStatus("appr-2", client.Suspended)
		r := e.do("GET", base+"/instances/appr-2", "")
		if r.code != 202 || !strings.Contains(r.body, `"runtimeStatus":"Suspended"`) || !strings.Contains(r.body, `"output":"pause now"`) {
			t.Errorf("suspended: %d %s", r.code, r.body)
		}
		if r := e.do("POST", base+"/instances/appr-2/suspend", ""); r.code != 500 ||
			!strings.HasPrefix(r.body, `{"Message":"Something went wrong while processing your request","ExceptionMessage":`) {
			t.Errorf("suspend twice: %d %s", r.code, r.body)
		}
		if r := e.do("POST", base+"/instances/appr-2/resume?reason=go", ""); r.code != 202 {
			t.Fatalf("resume: %d %s", r.code, r.body)
		}
		e.waitStatus("appr-2", client.Running)
		for _, op := range []string{"suspend", "resume"} {
			if r := e.do("POST", base+"/instances/myorch-1/"+op, ""); r.code != 410 || r.body != "" {
				t.Errorf("%s a completed instance: %d %q", op, r.code, r.body)
			}
		}
	})

	t.Run("terminate", func(t *testing.T) {
		rec := find(t, recs, "POST", "/terminate?reason=by%20http")
		r := e.do("POST", base+"/instances/appr-2/terminate?reason=by%20http", "")
		if r.code != rec.Status || r.body != "" {
			t.Fatalf("terminate: %d %q", r.code, r.body)
		}
		e.waitStatus("appr-2", client.Terminated)
		r = e.do("GET", base+"/instances/appr-2", "")
		if r.code != 200 || !strings.Contains(r.body, `"runtimeStatus":"Terminated"`) || !strings.Contains(r.body, `"output":"by http"`) {
			t.Errorf("terminated: %d %s", r.code, r.body)
		}
		if r := e.do("POST", base+"/instances/appr-2/terminate", ""); r.code != 410 {
			t.Errorf("terminate twice: %d", r.code)
		}
	})

	t.Run("failed", func(t *testing.T) {
		if r := e.do("POST", base+"/orchestrators/IndexRepositories/idx-1", `"nobody"`); r.code != 202 {
			t.Fatalf("start: %d", r.code)
		}
		e.waitStatus("idx-1", client.Failed)
		r := e.do("GET", base+"/instances/idx-1", "")
		if r.code != 200 || !strings.Contains(r.body, `"runtimeStatus":"Failed"`) || !strings.Contains(r.body, `"output":"`) {
			t.Errorf("failed: %d %s", r.code, r.body)
		}
		if r := e.do("GET", base+"/instances/idx-1?returnInternalServerErrorOnFailure=TRUE", ""); r.code != 500 ||
			!strings.Contains(r.body, `"runtimeStatus":"Failed"`) {
			t.Errorf("returnInternalServerErrorOnFailure: %d %s", r.code, r.body)
		}
		if r := e.do("POST", base+"/instances/idx-1/rewind?reason=x", ""); r.code != 202 || r.body != "" {
			t.Errorf("rewind: %d %s", r.code, r.body)
		}
	})

	t.Run("start errors", func(t *testing.T) {
		for _, c := range []struct {
			path, body string
			code       int
			message    string
		}{
			{"/orchestrators/NoSuchThing", "", 400, "One or more of the arguments submitted is incorrect"},
			{"/orchestrators/HelloCities/@bad", "", 400, "One or more of the arguments submitted is incorrect"},
			{"/orchestrators/HelloCities/a%5Cb", "", 400, "One or more of the arguments submitted is incorrect"},
			{"/orchestrators/HelloCities", "{oops", 400, "Invalid JSON content"},
			{"/orchestrators/HelloCities?timeout=1&pollingInterval=2", "", 400, "One or more of the arguments submitted is incorrect"},
			{"/orchestrators/Approval/appr-3", appr, 202, ""},
		} {
			r := e.do("POST", base+c.path, c.body)
			if r.code != c.code || (c.message != "" && !strings.HasPrefix(r.body, `{"Message":"`+c.message+`","ExceptionMessage":`)) {
				t.Errorf("%s: %d %s", c.path, r.code, r.body)
			}
		}
		// A taken id is a conflict, answered in the extension's short form.
		r := e.do("POST", base+"/orchestrators/Approval/appr-3", appr)
		if r.code != 409 || !regexp.MustCompile(`^\{"Message":"An Orchestration instance with the status (Pending|Running) already exists\."\}$`).MatchString(r.body) {
			t.Errorf("dedupe: %d %s", r.code, r.body)
		}
		// New ids are 32 lower-case hex digits.
		r = e.do("POST", base+"/orchestrators/HelloCities", "")
		var body struct{ ID string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(body.ID) {
			t.Errorf("new id: %s", r.body)
		}
		// With timeout and pollingInterval the answer waits for the output.
		r = e.do("POST", base+"/orchestrators/HelloCities/wait-1?timeout=300&pollingInterval=0.1", "")
		if r.code != 200 || r.body != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
			t.Errorf("wait: %d %s", r.code, r.body)
		}
		r = e.do("POST", base+"/orchestrators/Approval/wait-2?timeout=0.3&pollingInterval=0.1", appr)
		if r.code != 202 || !strings.Contains(r.body, `"id":"wait-2"`) {
			t.Errorf("wait timeout: %d %s", r.code, r.body)
		}
	})

	t.Run("restart", func(t *testing.T) {
		r := e.do("POST", inst+"myorch-1/restart"+q, "")
		var body struct{ ID, StatusQueryGetURI string }
		if err := json.Unmarshal([]byte(r.body), &body); r.code != 202 || err != nil || body.ID == "myorch-1" ||
			body.StatusQueryGetURI != inst+body.ID+q || r.header.Get("Location") != body.StatusQueryGetURI {
			t.Fatalf("restart: %d %s", r.code, r.body)
		}
		e.waitStatus(body.ID, client.Completed)
		st, _ := e.c.GetState(e.ctx, body.ID)
		if *st.Input != `"World"` || st.Name != "HelloCities" {
			t.Errorf("restarted with %s %s", st.Name, *st.Input)
		}
		if r := e.do("POST", base+"/instances/myorch-1/restart?restartWithNewInstanceId=false", ""); r.code != 202 ||
			!strings.Contains(r.body, `"id":"myorch-1"`) {
			t.Errorf("restart in place: %d %s", r.code, r.body)
		}
		e.waitStatus("myorch-1", client.Completed)
		if r := e.do("POST", base+"/instances/appr-3/restart?restartWithNewInstanceId=false", ""); r.code != 409 ||
			!strings.Contains(r.body, "OrchestrationAlreadyExistsException") {
			t.Errorf("restart a running instance in place: %d %s", r.code, r.body)
		}
		want := `{"Message":"InstanceId does not match a valid orchestration instance.","ExceptionMessage":"InstanceId does not match a valid orchestration instance.","ExceptionType":"System.ArgumentException","StackTrace":null}`
		if r := e.do("POST", base+"/instances/nope/restart", ""); r.code != 400 || r.body != want {
			t.Errorf("restart unknown: %d %s", r.code, r.body)
		}
	})

	t.Run("list pages", func(t *testing.T) {
		for _, id := range []string{"list-1", "list-2", "list-3"} {
			if r := e.do("POST", base+"/orchestrators/HelloCities/"+id, `"x"`); r.code != 202 {
				t.Fatalf("start %s: %d", id, r.code)
			}
		}
		for _, id := range []string{"list-1", "list-2", "list-3"} {
			e.waitStatus(id, client.Completed)
		}
		from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		path := base + "/instances?instanceIdPrefix=list-&top=2&runtimeStatus=Running,Completed&createdTimeFrom=" + from
		token, pages, first := "", 0, true
		var got []json.RawMessage
		for first || token != "" {
			var r response
			if first {
				r = e.do("GET", path, "")
			} else {
				r = e.do("GET", path, "", "x-ms-continuation-token", token)
			}
			first = false
			vals, ok := r.header["x-ms-continuation-token"]
			if r.code != 200 || !ok {
				t.Fatalf("page %d: %d %v", pages, r.code, r.header)
			}
			token = vals[0]
			var items []json.RawMessage
			if err := json.Unmarshal([]byte(r.body), &items); err != nil || len(items) > 2 {
				t.Fatalf("page %d: %v %s", pages, err, r.body)
			}
			if pages == 0 && token == "" {
				t.Errorf("first page of 3 with top=2 has no continuation token")
			}
			got = append(got, items...)
			pages++
		}
		if len(got) != 3 || pages < 2 {
			t.Fatalf("%d items in %d pages", len(got), pages)
		}
		for i, item := range got {
			id := []string{"list-1", "list-2", "list-3"}[i]
			one := e.do("GET", base+"/instances/"+id, "")
			if string(item) != one.body {
				t.Errorf("list item %d\n got %s\nwant %s", i, item, one.body)
			}
		}
		v := loadVector(t, "04-list-instances-page-200.json")
		first1 := strings.Split(strings.TrimPrefix(v.Response.BodyText, "["), `},{`)[0] + "}"
		sameBody(t, "list item shape", string(got[0]), first1, "HelloSequence", "HelloCities", "myorch-1", "list-1",
			`"input":"World"`, `"input":"x"`, `"Hello Seattle!"]`, `"Hello Seattle!","Hello London!"]`)
		// The last recorded list page carries an empty token.
		rec := find(t, recs, "GET", "/instances?runtimeStatus=Completed,Terminated&top=100")
		if tok, ok := rec.Headers["x-ms-continuation-token"]; !ok || tok != "" {
			t.Errorf("recorded last page token %q %v", tok, ok)
		}
		r := e.do("GET", base+"/instances?instanceIdPrefix=list-&showInput=false", "")
		if strings.Count(r.body, `"input":null`) != 3 || r.header["x-ms-continuation-token"][0] != "" {
			t.Errorf("showInput=false: %s %v", r.body, r.header)
		}
		if r := e.do("GET", base+"/instances?runtimeStatus=Bogus,Terminated&instanceIdPrefix=appr-", ""); !strings.Contains(r.body, `"instanceId":"appr-2"`) ||
			strings.Contains(r.body, "appr-1") {
			t.Errorf("status filter: %s", r.body)
		}
	})

	t.Run("purge", func(t *testing.T) {
		rec := find(t, recs, "DELETE", "/instances/df-http-term")
		r := e.do("DELETE", base+"/instances/list-1", "")
		if r.code != rec.Status || r.body != rec.Body {
			t.Errorf("purge one: %d %s", r.code, r.body)
		}
		if r := e.do("GET", base+"/instances/list-1", ""); r.code != 404 {
			t.Errorf("purged instance answers %d", r.code)
		}
		r = e.do("DELETE", base+"/instances", "")
		if r.code != 400 || r.body != `"Please provide value for 'createdTimeFrom' parameter."` ||
			r.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("purge without createdTimeFrom: %d %s", r.code, r.body)
		}
		from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano))
		completed := 0
		for _, err := range e.c.Query(e.ctx, client.Query{Statuses: []client.Status{client.Completed}}) {
			if err != nil {
				t.Fatal(err)
			}
			completed++
		}
		r = e.do("DELETE", base+"/instances?createdTimeFrom="+from+"&runtimeStatus=Completed,Running", "")
		if want := `{"instancesDeleted":` + itoa(completed) + `}`; r.code != 200 || r.body != want {
			t.Errorf("purge completed: %d %s, want %s", r.code, r.body, want)
		}
		if r := e.do("DELETE", base+"/instances?createdTimeFrom="+from+"&runtimeStatus=Completed", ""); r.code != 404 || r.body != "" {
			t.Errorf("nothing left to purge: %d %q", r.code, r.body)
		}
		// No terminal status: every finished status, and never a running
		// instance (the extension would purge those too).
		r = e.do("DELETE", base+"/instances?createdTimeFrom="+from+"&runtimeStatus=Running", "")
		if r.code != 200 {
			t.Errorf("purge all: %d %s", r.code, r.body)
		}
		for st, err := range e.c.Query(e.ctx, client.Query{}) {
			if err != nil {
				t.Fatal(err)
			}
			if st.Status.IsTerminal() {
				t.Errorf("left after purging every finished instance: %s %s", st.InstanceID, st.Status)
			}
		}
		for _, id := range []string{"appr-3", "wait-2"} {
			if _, err := e.c.GetState(e.ctx, id); err != nil {
				t.Errorf("the running instance %s was purged: %v", id, err)
			}
		}
	})

	t.Run("routing", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"PUT", base + "/instances/x"}, {"GET", base + "/instances/x/terminate"}, {"POST", base + "/instances"},
			{"GET", base}, {"GET", base + "/nope"}, {"GET", "/runtime/webhooks/durabletaskx/instances"},
			{"GET", "/other"}, {"POST", base + "/makeprimary"},
		} {
			if r := e.do(c.method, c.path, ""); r.code != 404 || r.body != "" {
				t.Errorf("%s %s: %d %q", c.method, c.path, r.code, r.body)
			}
		}
		if r := e.do("GET", "/RUNTIME/webhooks/DurableTask/INSTANCES/nope/", ""); r.code != 404 {
			t.Errorf("case-insensitive route: %d", r.code)
		}
		if r := e.do("GET", "/Runtime/Webhooks/DurableTask/Instances", ""); r.code != 200 {
			t.Errorf("case-insensitive list: %d", r.code)
		}
		if r := e.do("GET", base+"/entities/Counter/k1", ""); r.code != 404 || r.body != "" {
			t.Errorf("entities: %d %s", r.code, r.body)
		}
		if r := e.do("GET", base+"/instances?taskHub=OtherHub", ""); r.code != 400 || !strings.Contains(r.body, "OtherHub") {
			t.Errorf("other hub: %d %s", r.code, r.body)
		}
		if r := e.do("GET", base+"/instances?taskHub="+strings.ToLower(e.hub)+"&connection=storage", ""); r.code != 200 {
			t.Errorf("own hub in another case: %d %s", r.code, r.body)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// waitCustomStatus waits until the instance's custom status is want.
func waitCustomStatus(e *env, id, want string) {
	e.t.Helper()
	azuritetestWait(e.t, id+" custom status "+want, func() bool {
		st, err := e.c.GetState(e.ctx, id)
		return err == nil && st.CustomStatus != nil && *st.CustomStatus == want
	})
}

package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/dashboard"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

var (
	echo  = durable.NewActivity("Echo", func(_ context.Context, s string) (string, error) { return s, nil })
	chain = durable.NewOrchestration("Chain", func(ctx durable.Context, in string) (string, error) {
		out := ""
		for i := 0; i < 3; i++ {
			s, err := echo.Call(ctx, in).Await(ctx)
			if err != nil {
				return "", err
			}
			out += s
		}
		_ = ctx.SetCustomStatus(in)
		return out, nil
	})
	// A hub may hold any name, also one written by another program.
	markup     = durable.NewActivity(`<img src=x onerror=alert(3)>`, func(_ context.Context, s string) (string, error) { return s, nil })
	markupOrch = durable.NewOrchestration("Markup", func(ctx durable.Context, in string) (string, error) {
		if _, err := durable.NewTimer(ctx, time.Millisecond).Await(ctx); err != nil {
			return "", err
		}
		return markup.Call(ctx, in).Await(ctx)
	})
	wait = durable.NewOrchestration("Wait", func(ctx durable.Context, _ string) (string, error) {
		return durable.NewEventChannel[string](ctx, "go").Receive(ctx)
	})
)

type env struct {
	t   *testing.T
	c   *client.Client
	srv *httptest.Server
	ctx context.Context
	be  *memory.Backend
}

func newEnv(t *testing.T, o dashboard.Options) *env {
	t.Helper()
	be := memory.New(memory.Options{})
	w := worker.New(be, worker.Options{})
	if err := w.Register(chain, echo, wait, markup, markupOrch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := client.New(be, client.Options{})
	o.Client, o.TaskHub = c, "MemHub"
	d, err := dashboard.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return &env{t: t, c: c, srv: srv, ctx: ctx, be: be}
}

func (e *env) start(name, id string, input any) {
	e.t.Helper()
	if _, err := e.c.ScheduleNew(e.ctx, name, input, client.WithInstanceID(id)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(path string, header ...string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(e.t, req)
}

func (e *env) post(path string, form url.Values, header ...string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(e.t, req)
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// entity writes an entity instance's row, with state as its scheduler
// state, through the backend: the client refuses orchestration starts at
// entity ids. Its start is an hour away, so no worker runs it.
func (e *env) entity(id, state string) {
	e.t.Helper()
	later := time.Now().Add(time.Hour)
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: "e1"}
	start := &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst,
		Name: id[:strings.LastIndex(id, "@")], Input: &state, ScheduledStartTime: &later, EventBase: history.EventBase{EventID: -1, Timestamp: time.Now()}}}
	if err := e.be.CreateInstance(e.ctx, start, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) csrf(page string) string {
	e.t.Helper()
	_, body, _ := e.get(page)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no csrf token in %s", page)
	}
	return m[1]
}

// TestMarkupIsText: an instance id, input and custom status that hold
// markup are shown escaped, in the list, the instance page and the
// timeline.
func TestMarkupIsText(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	id := `<img src=x onerror=alert(1)>"'&`
	in := `</pre><script>alert(2)</script>`
	e.start("Chain", id, in)
	if _, err := e.c.WaitForCompletion(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dashboard/", "/dashboard/instance?id=" + url.QueryEscape(id)} {
		code, body, h := e.get(p)
		if code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
		for _, bad := range []string{"<img src=x", "<script>alert", "</pre><script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s renders %q unescaped", p, bad)
			}
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s does not show the id as text", p)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s headers: %v", p, h)
		}
	}
}

// TestMarkupInHistory: activity names, results and event data holding
// markup are text in the history table and the timeline's SVG.
func TestMarkupInHistory(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	e.start("Markup", "m1", `<svg onload=alert(4)>`)
	if _, err := e.c.WaitForCompletion(e.ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	code, body, _ := e.get("/dashboard/instance?id=m1")
	if code != 200 || !strings.Contains(body, `<svg id="timeline"`) || strings.Count(body, `<g class="bar`) != 2 {
		t.Fatalf("m1: %d\n%s", code, body)
	}
	for _, bad := range []string{"<img src=x", "<svg onload"} {
		if strings.Contains(body, bad) {
			t.Errorf("the instance page renders %q unescaped", bad)
		}
	}
}

// TestActionsNeedTokenAndSameSite: a POST without the page's token, or
// marked cross-site by the browser, changes nothing; with them it does,
// after the confirmation for destructive actions.
func TestActionsNeedTokenAndSameSite(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	e.start("Wait", "w1", "x")
	if _, err := e.c.WaitForStart(e.ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	token := e.csrf("/dashboard/instance?id=w1")
	form := url.Values{"id": {"w1"}, "op": {"terminate"}, "confirm": {"yes"}}
	if code, _, _ := e.post("/dashboard/action", form); code != http.StatusForbidden {
		t.Errorf("without a token: %d", code)
	}
	form.Set("csrf", token)
	if code, _, _ := e.post("/dashboard/action", form, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("foreign origin: %d", code)
	}
	if code, _, _ := e.post("/dashboard/action", form, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site: %d", code)
	}
	if st, _ := e.c.GetState(e.ctx, "w1"); st.Status != client.Running {
		t.Fatalf("refused requests changed the instance: %v", st.Status)
	}
	form.Del("confirm")
	code, body, _ := e.post("/dashboard/action", form)
	if code != 200 || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("terminate without confirm: %d %s", code, body)
	}
	if st, _ := e.c.GetState(e.ctx, "w1"); st.Status != client.Running {
		t.Fatalf("the confirmation page acted: %v", st.Status)
	}
	form.Set("confirm", "yes")
	if code, _, h := e.post("/dashboard/action", form, "Origin", e.srv.URL); code != http.StatusSeeOther {
		t.Fatalf("terminate: %d %v", code, h)
	}
	if st, err := e.c.WaitForCompletion(e.ctx, "w1"); err != nil || st.Status != client.Terminated {
		t.Fatalf("after terminate: %+v %v", st, err)
	}
}

// TestReadOnly: no action forms, and actions are refused.
func TestReadOnly(t *testing.T) {
	e := newEnv(t, dashboard.Options{ReadOnly: true})
	e.start("Wait", "r1", "x")
	if _, err := e.c.WaitForStart(e.ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	_, body, _ := e.get("/dashboard/instance?id=r1")
	if strings.Contains(body, `name="csrf"`) || strings.Contains(body, "act-terminate") || !strings.Contains(body, `id="readonly"`) {
		t.Errorf("read-only page offers actions")
	}
	code, _, _ := e.post("/dashboard/action", url.Values{"id": {"r1"}, "op": {"terminate"}, "confirm": {"yes"}})
	if code != http.StatusForbidden {
		t.Errorf("read-only terminate: %d", code)
	}
	if st, _ := e.c.GetState(e.ctx, "r1"); st.Status != client.Running {
		t.Errorf("read-only changed the instance: %v", st.Status)
	}
}

// TestKeySession: with a key the pages need it once (query, header or
// login form); the session cookie then admits the browser.
func TestKeySession(t *testing.T) {
	e := newEnv(t, dashboard.Options{Keys: []string{"s3cret"}})
	if code, body, _ := e.get("/dashboard/"); code != http.StatusUnauthorized || !strings.Contains(body, `name="key"`) {
		t.Fatalf("without key: %d", code)
	}
	code, _, h := e.get("/dashboard/?code=s3cret&status=Running")
	if code != http.StatusSeeOther || strings.Contains(h.Get("Location"), "s3cret") || !strings.Contains(h.Get("Location"), "status=Running") {
		t.Fatalf("code=: %d %v", code, h)
	}
	cookie := h.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, "s3cret") {
		t.Fatalf("cookie %q", cookie)
	}
	if code, _, _ := e.get("/dashboard/", "Cookie", strings.Split(cookie, ";")[0]); code != 200 {
		t.Errorf("with the session: %d", code)
	}
	if code, _, _ := e.get("/dashboard/", "Cookie", "azdurable-dashboard=0000"); code != http.StatusUnauthorized {
		t.Errorf("a forged session: %d", code)
	}
	if code, _, _ := e.post("/dashboard/login", url.Values{"key": {"nope"}}); code != http.StatusUnauthorized {
		t.Errorf("wrong login: %d", code)
	}
	if code, _, h := e.post("/dashboard/login", url.Values{"key": {"s3cret"}}); code != http.StatusSeeOther || h.Get("Set-Cookie") == "" {
		t.Errorf("login: %d", code)
	}
}

// TestListFilterAndPaging: newest first, 25 a page, filters by status,
// name and prefix.
func TestListFilterAndPaging(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	for i := 0; i < 30; i++ {
		e.start("Chain", "c-"+string(rune('a'+i/26))+string(rune('a'+i%26)), "x")
	}
	e.start("Wait", "w-only", "x")
	for i := 0; i < 30; i++ {
		if _, err := e.c.WaitForCompletion(e.ctx, "c-"+string(rune('a'+i/26))+string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	rows := regexp.MustCompile(`<td class="id"><a href="[^"]*">([^<]*)</a>`)
	_, body, _ := e.get("/dashboard/?status=Completed")
	got := rows.FindAllStringSubmatch(body, -1)
	if len(got) != 25 || !strings.Contains(body, `id="next"`) {
		t.Fatalf("first page: %d rows", len(got))
	}
	_, body, _ = e.get("/dashboard/?status=Completed&page=2")
	if got := rows.FindAllStringSubmatch(body, -1); len(got) != 5 {
		t.Errorf("second page: %d rows", len(got))
	}
	_, body, _ = e.get("/dashboard/?name=wai")
	if got := rows.FindAllStringSubmatch(body, -1); len(got) != 1 || got[0][1] != "w-only" {
		t.Errorf("name filter: %v", got)
	}
	_, body, _ = e.get("/dashboard/?prefix=c-b")
	if got := rows.FindAllStringSubmatch(body, -1); len(got) != 4 {
		t.Errorf("prefix filter: %d rows", len(got))
	}
	future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")
	if _, body, _ = e.get("/dashboard/?from=" + future); len(rows.FindAllStringSubmatch(body, -1)) != 0 {
		t.Errorf("created from the future: rows")
	}
	if _, body, _ = e.get("/dashboard/?prefix=c-b&to=" + future); len(rows.FindAllStringSubmatch(body, -1)) != 4 {
		t.Errorf("created before the future: not 4 rows")
	}
	if code, body, _ := e.get("/dashboard/?from=yesterday"); code != 200 || !strings.Contains(body, "created from") {
		t.Errorf("a bad time: %d", code)
	}
}

// TestEntities: entity instances (@name@key) are listed with the state
// read from their stored input, and without a signal route no signal is
// offered.
func TestEntities(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	e.entity("@counter@one", `{"exists":true,"state":"<i>41</i>"}`)
	code, body, _ := e.get("/dashboard/entities")
	if code != 200 || !strings.Contains(body, "<td>one</td>") || !strings.Contains(body, "&lt;i&gt;41&lt;/i&gt;") ||
		!strings.Contains(body, `id="no-signal"`) {
		t.Errorf("entities: %d\n%s", code, body)
	}
	if _, body, _ := e.get("/dashboard/"); strings.Contains(body, "@counter@one") {
		t.Errorf("the instance list shows an entity")
	}
}

// TestBars: one bar per activity call, timer and sub-orchestration, each
// retry its own bar, pending ones open.
func TestBars(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) history.EventBase {
		return history.EventBase{EventID: -1, Timestamp: t0.Add(time.Duration(s) * time.Second)}
	}
	id := func(n int32, s int) history.EventBase { b := at(s); b.EventID = n; return b }
	fail := "boom"
	events := []history.Event{
		&history.ExecutionStartedEvent{Name: "O", EventBase: at(0)},
		&history.TaskScheduledEvent{Name: "A", EventBase: id(0, 1)},
		&history.TaskFailedEvent{TaskScheduledID: 0, Reason: &fail, EventBase: at(2)},
		&history.TimerCreatedEvent{FireAt: t0.Add(5 * time.Second), EventBase: id(1, 2)},
		&history.TimerFiredEvent{TimerID: 1, FireAt: t0.Add(5 * time.Second), EventBase: at(5)},
		&history.TaskScheduledEvent{Name: "A", EventBase: id(2, 5)},
		&history.TaskCompletedEvent{TaskScheduledID: 2, EventBase: at(6)},
		&history.SubOrchestrationInstanceCreatedEvent{Name: "Child", InstanceID: "kid", EventBase: id(3, 6)},
	}
	bars := dashboard.Bars(events)
	if len(bars) != 4 {
		t.Fatalf("%d bars: %+v", len(bars), bars)
	}
	want := []struct {
		kind, outcome string
		retry         bool
	}{{"activity", "failed", false}, {"timer", "completed", false}, {"activity", "completed", true}, {"suborchestration", "pending", false}}
	for i, w := range want {
		if b := bars[i]; b.Kind != w.kind || b.Outcome != w.outcome || b.Retry != w.retry {
			t.Errorf("bar %d: %+v, want %+v", i, b, w)
		}
	}
	if bars[3].Child != "kid" || !bars[3].End.IsZero() {
		t.Errorf("sub-orchestration bar: %+v", bars[3])
	}
}

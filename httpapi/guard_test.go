package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/samples/approval"
)

// guarded is the API as serve runs it without a key: the handler behind
// Guard on a real listener, over the fast in-memory backend with a worker
// whose clock stands still (so Approval waits for its event).
type guarded struct {
	t      *testing.T
	env    *durabletest.Env
	srv    *httptest.Server
	origin string // the server's own origin, http://127.0.0.1:port
}

func newGuarded(t *testing.T, adjust func(*httpapi.Options, *httpapi.GuardOptions)) *guarded {
	t.Helper()
	env := durabletest.New(t, durabletest.Options{Manual: true})
	env.Register(samples.All(nil)...)
	g := &guarded{t: t, env: env}
	g.srv = httptest.NewUnstartedServer(nil)
	g.origin = "http://" + g.srv.Listener.Addr().String()
	o := httpapi.Options{Client: env.Client, TaskHub: "TestHub", Origin: g.origin, Logger: quiet()}
	gopts := httpapi.GuardOptions{Listen: g.srv.Listener.Addr().String(), PublicOrigin: g.origin}
	if adjust != nil {
		adjust(&o, &gopts)
	}
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := httpapi.Guard(h, gopts)
	if err != nil {
		t.Fatal(err)
	}
	g.srv.Config.Handler = gh
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// do sends a real HTTP request; header holds name, value pairs, "Host"
// among them.
func (g *guarded) do(method, path, body string, header ...string) response {
	g.t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: string(data)}
}

// approval starts a sample Approval instance and waits until it waits.
func (g *guarded) approval(id string) {
	g.t.Helper()
	r := durabletest.Start(g.env, approval.Approval, approval.Request{ID: "r1", Requester: "ann", TimeoutSeconds: 3600}, client.WithInstanceID(id))
	r.WaitFor("waiting for approval", func(s *client.State) bool {
		return s.CustomStatus != nil && *s.CustomStatus == `"waiting for approval"`
	})
}

func (g *guarded) status(id string) (client.Status, bool) {
	g.t.Helper()
	ctx, cancel := g.env.Context()
	defer cancel()
	st, err := g.env.Client.GetState(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		g.t.Fatal(err)
	}
	return st.Status, true
}

// Attack: a page of another site submits a form that terminates an
// instance (a "simple" request: the browser sends it without asking).
func TestAttackCrossSiteFormTerminates(t *testing.T) {
	g := newGuarded(t, nil)
	g.approval("victim")
	form := "application/x-www-form-urlencoded"
	_, port, _ := strings.Cut(g.srv.Listener.Addr().String(), ":")
	for name, h := range map[string][]string{
		"form from another site": {"Content-Type", form, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"},
		"foreign Origin only":    {"Content-Type", form, "Origin", "https://evil.example:8443"},
		"Sec-Fetch-Site only":    {"Content-Type", form, "Sec-Fetch-Site", "cross-site"},
		"opaque origin":          {"Content-Type", form, "Origin", "null"},
		"another local port":     {"Content-Type", form, "Origin", "http://127.0.0.1:1"},
		"same port, other name":  {"Content-Type", form, "Origin", "http://localhost:" + port},
	} {
		r := g.do("POST", "/instances/victim/terminate?reason=pwned", "reason=pwned", h...)
		if r.code != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	if st, _ := g.status("victim"); st != client.Running {
		t.Fatalf("the instance is %s after the refused requests", st)
	}
	// Same-origin pages and callers without Origin (curl, scripts) work.
	if r := g.do("POST", "/instances/victim/suspend", "", "Origin", g.origin, "Sec-Fetch-Site", "same-origin"); r.code != 202 {
		t.Errorf("same-origin suspend: %d %s", r.code, r.body)
	}
	if r := g.do("POST", "/instances/victim/terminate?reason=curl", "", "Content-Type", form); r.code != 202 {
		t.Errorf("terminate without Origin: %d %s", r.code, r.body)
	}
}

// Attack: a page posts text/plain (no CORS preflight) to the start route.
func TestAttackTextPlainStart(t *testing.T) {
	g := newGuarded(t, nil)
	r := g.do("POST", "/orchestrators/HelloCities/evil-1", `"x"`, "Content-Type", "text/plain", "Origin", "http://evil.example")
	if r.code != http.StatusForbidden {
		t.Errorf("cross-site text/plain start: %d %s", r.code, r.body)
	}
	if _, ok := g.status("evil-1"); ok {
		t.Error("the cross-site request started an instance")
	}
	// Without Origin, text/plain with JSON in it starts, as the extension does.
	if r := g.do("POST", "/orchestrators/HelloCities/curl-1", `"x"`, "Content-Type", "text/plain"); r.code != 202 {
		t.Errorf("text/plain start from a script: %d %s", r.code, r.body)
	}
	if _, ok := g.status("curl-1"); !ok {
		t.Error("the script's start did not start")
	}
}

// Attack: DNS rebinding. A page at evil.example rebinds its name to
// 127.0.0.1 and reads the list (inputs included) as "same-origin".
func TestAttackForeignHost(t *testing.T) {
	g := newGuarded(t, func(_ *httpapi.Options, gopts *httpapi.GuardOptions) {
		gopts.PublicHosts = []string{"durable.example.net"}
	})
	g.approval("secret-input")
	_, port, _ := strings.Cut(g.srv.Listener.Addr().String(), ":")
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port, "durable.example.net.evil:" + port} {
		r := g.do("GET", "/instances", "", "Host", host)
		if r.code != http.StatusForbidden || strings.Contains(r.body, "secret-input") {
			t.Errorf("Host %s: %d %s", host, r.code, r.body)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "[::1]:" + port, "durable.example.net", "durable.example.net:443"} {
		r := g.do("GET", "/instances", "", "Host", host)
		if r.code != 200 || !strings.Contains(r.body, "secret-input") {
			t.Errorf("Host %s: %d %s", host, r.code, r.body)
		}
	}
	// Management URLs come from the configured origin, not from Host.
	r := g.do("POST", "/orchestrators/HelloCities/links-1", `"x"`, "Host", "localhost:"+port)
	var links struct{ StatusQueryGetURI string }
	if err := json.Unmarshal([]byte(r.body), &links); err != nil || !strings.HasPrefix(links.StatusQueryGetURI, g.origin+base+"/instances/links-1?") ||
		r.header.Get("Location") != links.StatusQueryGetURI {
		t.Errorf("links: %d %s %v", r.code, r.body, r.header)
	}
}

func TestGuardOptions(t *testing.T) {
	h := http.NotFoundHandler()
	for _, o := range []httpapi.GuardOptions{{Listen: "nope"}, {Listen: "127.0.0.1:1", PublicHosts: []string{"a/b"}},
		{Listen: "127.0.0.1:1", PublicOrigin: "example.com"}} {
		if _, err := httpapi.Guard(h, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// Bound to every interface: the machine's own addresses pass, names
	// do not.
	g, err := httpapi.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }),
		httpapi.GuardOptions{Listen: "0.0.0.0:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"127.0.0.1:8080": 204, "evil.example:8080": 403, "": 403, "localhost": 204} {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
	// With a key, cross-site requests are the key's business.
	g, _ = httpapi.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }),
		httpapi.GuardOptions{Listen: "127.0.0.1:8080", AllowCrossSite: true})
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080/x", nil)
	req.Header.Set("Origin", "http://evil.example")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Errorf("cross-site with AllowCrossSite: %d", rec.Code)
	}
}

// countingBackend counts status reads.
type countingBackend struct {
	provider.Backend
	reads atomic.Int64
}

func (b *countingBackend) GetState(ctx context.Context, id string, payloads bool) (*history.OrchestrationState, error) {
	b.reads.Add(1)
	return b.Backend.GetState(ctx, id, payloads)
}

// Attack: pollingInterval=0 turns one request into a storage poll every
// few milliseconds for as long as timeout says.
func TestAttackPollingIntervalZero(t *testing.T) {
	env := durabletest.New(t, durabletest.Options{Manual: true}) // no worker runs: the instance stays Pending
	be := &countingBackend{Backend: env.Backend}
	h, err := httpapi.New(httpapi.Options{Client: client.New(be, client.Options{}), TaskHub: "TestHub", Logger: quiet(), MaxWaiting: 1})
	if err != nil {
		t.Fatal(err)
	}
	do := func(ctx context.Context, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, "POST", base+path, nil)
		req.RemoteAddr = "127.0.0.1:1"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	start := time.Now()
	rec := do(context.Background(), "/orchestrators/HelloCities/poll-1?timeout=2.5&pollingInterval=0")
	took := time.Since(start)
	if rec.Code != 202 || !strings.Contains(rec.Body.String(), `"id":"poll-1"`) {
		t.Fatalf("wait: %d %s", rec.Code, rec.Body)
	}
	// At most one read a second (MinPollingInterval), plus the first.
	if n, most := be.reads.Load(), int64(took/httpapi.MinPollingInterval)+2; n > most {
		t.Errorf("%d status reads in %v, more than %d", n, took, most)
	}

	// Past MaxWaiting, a wait answers at once, as a wait that timed out.
	ctx, cancel := context.WithCancel(context.Background())
	n0 := be.reads.Load()
	first := make(chan *httptest.ResponseRecorder, 1)
	go func() { first <- do(ctx, "/orchestrators/HelloCities/poll-2?timeout=300&pollingInterval=1") }()
	// The first request polls once it holds the only waiting slot.
	azuritetestWait(t, "the first wait to poll", func() bool { return be.reads.Load() > n0 })
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- do(context.Background(), "/orchestrators/HelloCities?timeout=300&pollingInterval=1") }()
	var second *httptest.ResponseRecorder
	select {
	case second = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the second wait was not turned away")
	}
	if second.Code != 202 || !strings.Contains(second.Body.String(), `"statusQueryGetUri"`) {
		t.Errorf("second wait: %d %s", second.Code, second.Body)
	}
	select {
	case r := <-first:
		t.Fatalf("the first wait ended early: %d %s", r.Code, r.Body)
	default:
	}
	cancel()
	<-first
}

// Attack: DELETE instances?runtimeStatus=Running. The extension drops the
// unfinished status, is left with no status filter, and purges every
// instance in the range, running ones included. azdurable purges the
// finished ones only.
func TestAttackPurgeRunningByFilter(t *testing.T) {
	rec := loadCases(t, "http-differences.jsonl")
	g := newGuarded(t, nil)
	g.approval("running-1")
	ctx, cancel := g.env.Context()
	defer cancel()
	if _, err := g.env.Client.ScheduleNew(ctx, "HelloCities", "x", client.WithInstanceID("later-1"),
		client.WithStartAt(g.env.Clock.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	g.approval("done-1")
	if err := g.env.Client.Terminate(ctx, "done-1", "stop"); err != nil {
		t.Fatal(err)
	}
	durabletest.Start(g.env, approval.Approval, approval.Request{ID: "r1", Requester: "ann", TimeoutSeconds: 3600}, client.WithInstanceID("done-1b"))
	azuritetestWait(t, "done-1 to be terminated", func() bool { st, _ := g.status("done-1"); return st == client.Terminated })

	from := url.QueryEscape(g.env.Clock.Now().Add(-time.Hour).Format(time.RFC3339))
	// The recorded extension answer purged the running instance too.
	if c := rec["purge-filter-running"]; c.Status != 200 || rec["purge-filter-running-after"].Status != 404 {
		t.Fatalf("recorded: %d %d", c.Status, rec["purge-filter-running-after"].Status)
	}
	r := g.do("DELETE", "/instances?createdTimeFrom="+from+"&runtimeStatus=Running", "")
	sameAnswer(t, "runtimeStatus=Running", r, rec["purge-filter-running"], `{"instancesDeleted":10}`, `{"instancesDeleted":1}`)
	for _, id := range []string{"running-1", "later-1", "done-1b"} {
		if _, ok := g.status(id); !ok {
			t.Errorf("%s was purged", id)
		}
	}
	if _, ok := g.status("done-1"); ok {
		t.Error("the terminated instance was not purged")
	}
	// A filter naming finished statuses answers as the extension does.
	if err := g.env.Client.Terminate(ctx, "running-1", "stop"); err != nil {
		t.Fatal(err)
	}
	azuritetestWait(t, "running-1 to be terminated", func() bool { st, _ := g.status("running-1"); return st == client.Terminated })
	r = g.do("DELETE", "/instances?createdTimeFrom="+from+"&runtimeStatus=Terminated,Failed", "")
	sameAnswer(t, "runtimeStatus=Terminated,Failed", r, rec["purge-filter-terminated-failed"], `{"instancesDeleted":6}`, `{"instancesDeleted":1}`)
	r = g.do("DELETE", "/instances?createdTimeFrom="+from+"&runtimeStatus=Terminated,Failed", "")
	sameAnswer(t, "nothing left", r, rec["purge-filter-matches-nothing"])
}

// TestStartAnyName: without Orchestrators (serve without --worker) any
// name is started, for whichever worker of the hub hosts it; the extension
// also starts names it does not host (and fails them). With Orchestrators
// (serve --worker) the names it lacks are refused.
func TestStartAnyName(t *testing.T) {
	rec := loadCases(t, "http-differences.jsonl")
	if c := rec["start-unknown-name-status"]; c.Status != 200 || !strings.Contains(c.Body, `"name":"NoSuchOrchestration"`) {
		t.Fatalf("recorded: the extension did not start the unknown name: %s", c.Body)
	}
	g := newGuarded(t, nil)
	r := g.do("POST", "/orchestrators/NoSuchOrchestration/h-unknown", `"x"`, "Content-Type", "application/json")
	if r.code != 202 || !strings.Contains(r.body, `"id":"h-unknown"`) {
		t.Fatalf("start: %d %s", r.code, r.body)
	}
	ctx, cancel := g.env.Context()
	defer cancel()
	if st, err := g.env.Client.GetState(ctx, "h-unknown"); err != nil || st.Name != "NoSuchOrchestration" {
		t.Errorf("state %+v %v", st, err)
	}
	g = newGuarded(t, func(o *httpapi.Options, _ *httpapi.GuardOptions) {
		o.Orchestrators = httpapi.FromRegistrations(samples.All(nil)...)
	})
	if r := g.do("POST", "/orchestrators/NoSuchOrchestration/h-unknown", `"x"`); r.code != 400 {
		t.Errorf("with registrations: %d %s", r.code, r.body)
	}
}

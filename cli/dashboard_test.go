package cli

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/client"
)

// dashDo sends a request to the dashboard without following redirects;
// header holds name, value pairs ("Host" sets the Host header).
func dashDo(t *testing.T, method, u string, form url.Values, header ...string) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

// dashboardURL turns serve's API base URL into the dashboard's.
func dashboardURL(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + u.Host + "/dashboard/"
}

var dashCSRF = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestDashboardOnCSharpHub: the pages show a hub the C# backend wrote:
// its instances, partitions (C#'s Partitions rows), failures, children and
// the timeline of its activities.
func TestDashboardOnCSharpHub(t *testing.T) {
	e := newHubEnv(t, false)
	loadCSharpHub(t, e.hub)
	dash := dashboardURL(t, func() string { b, _, _ := startServe(t, append([]string{"--base-path", "/"}, e.args...)...); return b }())
	code, body, _ := dashDo(t, "GET", dash, nil)
	if code != 200 {
		t.Fatalf("landing page: %d %s", code, body)
	}
	for _, want := range []string{"capture-hello", "capture-uncaught", "capture-scheduled", "capture-terminate",
		`id="partitions"`, "-control-03", `data-status="Failed"`} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	code, body, _ = dashDo(t, "GET", dash+"instance?id=capture-hello", nil)
	if code != 200 || !strings.Contains(body, `<svg id="timeline"`) || !strings.Contains(body, `class="bar activity completed"`) {
		t.Errorf("capture-hello: %d, no timeline of its activities:\n%s", code, body)
	}
	if _, body, _ = dashDo(t, "GET", dash+"instance?id=capture-uncaught", nil); !strings.Contains(body, `id="failure"`) {
		t.Errorf("capture-uncaught shows no failure")
	}
	_, body, _ = dashDo(t, "GET", dash+"instance?id=capture-parent", nil)
	child := regexp.MustCompile(`<ul id="children"><li><a href="/dashboard/instance\?id=([^"]+)">`).FindStringSubmatch(body)
	if child == nil {
		t.Fatalf("capture-parent shows no children")
	}
	childID, _ := url.QueryUnescape(child[1])
	if _, body, _ = dashDo(t, "GET", dash+"instance?id="+url.QueryEscape(childID), nil); !strings.Contains(body,
		`<a id="parent" href="/dashboard/instance?id=capture-parent">`) {
		t.Errorf("the child %s links to no parent", childID)
	}
	if code, _, _ = dashDo(t, "GET", dash+"entities", nil); code != 200 {
		t.Errorf("entities: %d", code)
	}
}

// TestAttackDashboard: a page of another site, or one that rebinds its
// DNS name to this machine, can neither read the dashboard nor act through
// it, with or without a key; --read-only offers and performs no action.
func TestAttackDashboard(t *testing.T) {
	e := newHubEnv(t, false)
	if _, err := e.c.ScheduleNew(e.ctx, "Anything", "x", client.WithInstanceID("victim")); err != nil {
		t.Fatal(err)
	}
	pending := func(what string) {
		t.Helper()
		if st, err := e.c.GetState(e.ctx, "victim"); err != nil || st.Status != client.Pending {
			t.Fatalf("%s changed the instance: %+v %v", what, st, err)
		}
	}
	terminate := func(token string) url.Values {
		return url.Values{"csrf": {token}, "id": {"victim"}, "op": {"terminate"}, "confirm": {"yes"}}
	}

	t.Run("no key", func(t *testing.T) {
		base, _, _ := startServe(t, e.args...)
		dash := dashboardURL(t, base)
		if code, body, _ := dashDo(t, "GET", dash, nil, "Host", "rebound.example"); code != 403 || strings.Contains(body, "victim") {
			t.Errorf("rebound Host: %d", code)
		}
		_, page, _ := dashDo(t, "GET", dash+"instance?id=victim", nil)
		m := dashCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no token on the instance page")
		}
		for _, h := range [][]string{{"Origin", "http://evil.example"}, {"Origin", "null"}, {"Sec-Fetch-Site", "cross-site"}} {
			if code, _, _ := dashDo(t, "POST", dash+"action", terminate(m[1]), h...); code != 403 {
				t.Errorf("%v: %d", h, code)
			}
		}
		if code, _, _ := dashDo(t, "POST", dash+"action", terminate("0123")); code != 403 {
			t.Errorf("a wrong token: %d", code)
		}
		pending("refused requests")
	})

	t.Run("key", func(t *testing.T) {
		base, _, _ := startServe(t, append([]string{"--key", "k3y"}, e.args...)...)
		dash := dashboardURL(t, base)
		if code, body, _ := dashDo(t, "GET", dash, nil); code != 401 || strings.Contains(body, "victim") {
			t.Errorf("without the key: %d", code)
		}
		code, _, h := dashDo(t, "GET", dash+"?code=k3y", nil)
		cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
		if code != 303 || cookie == "" || strings.Contains(h.Get("Location"), "k3y") {
			t.Fatalf("signing in with code=: %d %v", code, h)
		}
		_, page, _ := dashDo(t, "GET", dash+"instance?id=victim", nil, "Cookie", cookie)
		m := dashCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no token on the instance page")
		}
		// The API admits cross-site requests with a key; the dashboard,
		// whose browser carries a cookie, never does.
		if code, _, _ := dashDo(t, "POST", dash+"action", terminate(m[1]), "Cookie", cookie, "Origin", "http://evil.example"); code != 403 {
			t.Errorf("cross-site with the session: %d", code)
		}
		pending("a cross-site request with the session")
	})

	t.Run("read-only", func(t *testing.T) {
		base, _, _ := startServe(t, append([]string{"--read-only"}, e.args...)...)
		dash := dashboardURL(t, base)
		code, page, _ := dashDo(t, "GET", dash+"instance?id=victim", nil)
		if code != 200 || strings.Contains(page, `name="csrf"`) || !strings.Contains(page, "read-only") {
			t.Errorf("read-only instance page: %d", code)
		}
		if code, _, _ := dashDo(t, "POST", dash+"action", terminate("")); code != 403 {
			t.Errorf("read-only dashboard action: %d", code)
		}
		if code, _ := httpDo(t, "POST", base+"/instances/victim/terminate", "", ""); code != 403 {
			t.Errorf("read-only API terminate: %d", code)
		}
		if code, _ := httpDo(t, "GET", base+"/instances/victim", "", ""); code != 202 {
			t.Errorf("read-only API status: %d", code)
		}
		pending("read-only requests")
	})
}

// TestServeRefusesDashboardBasePath: a --base-path the dashboard would
// hide is a usage error, found before anything is opened.
func TestServeRefusesDashboardBasePath(t *testing.T) {
	for _, p := range []string{"/dashboard", "/Dashboard/api"} {
		code, _, errOut := run(t, "", "serve", "--base-path", p, "--connection-string", "UseDevelopmentStorage=true", "--task-hub", "NoSuchHub")
		if code != 2 || !strings.Contains(errOut, "/dashboard/ is the dashboard's") {
			t.Errorf("--base-path %s: exit %d %s", p, code, errOut)
		}
	}
}

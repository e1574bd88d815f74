package cli

import (
	"net/url"
	"testing"

	"github.com/azdurable/azdurable/client"
)

// TestDashboardBehindProxy: behind a reverse proxy that sends the
// upstream address as Host (nginx's default), the browser's Origin is the
// public origin given with --public-origin. The API accepts its
// state-changing requests; the dashboard refused every action of its own
// pages as cross-site.
func TestDashboardBehindProxy(t *testing.T) {
	e := newHubEnv(t, false)
	if _, err := e.c.ScheduleNew(e.ctx, "Anything", "x", client.WithInstanceID("proxied")); err != nil {
		t.Fatal(err)
	}
	const public = "https://durable.example"
	base, _, _ := startServe(t, append([]string{"--public-origin", public}, e.args...)...)
	dash := dashboardURL(t, base)
	_, page, _ := dashDo(t, "GET", dash+"instance?id=proxied", nil, "X-Forwarded-Host", "durable.example")
	m := dashCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no token on the instance page")
	}
	form := url.Values{"csrf": {m[1]}, "id": {"proxied"}, "op": {"terminate"}, "confirm": {"yes"}}
	if code, body, _ := dashDo(t, "POST", dash+"action", form, "Origin", public, "Sec-Fetch-Site", "same-origin"); code != 303 {
		t.Errorf("the dashboard's own terminate through the proxy: %d %s", code, body)
	}
	if code, body := httpDo(t, "POST", base+"/instances/proxied/suspend", "", "", "Origin", public); code != 410 && code != 202 {
		t.Errorf("the API's suspend through the proxy: %d %s", code, body)
	}
	// Another site is still refused.
	if code, _, _ := dashDo(t, "POST", dash+"action", form, "Origin", "https://evil.example"); code != 403 {
		t.Errorf("cross-site: %d", code)
	}
}

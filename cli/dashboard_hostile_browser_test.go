package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/chromedp/chromedp"
)

// hostilePage is a page of another site that, once opened, changes an
// instance of the API at target without asking anything of its visitor:
// two auto-submitted forms (one text/plain, whose body is crafted to be
// JSON) and two no-cors fetches, all "simple" requests that need no CORS
// permission. The title becomes "sent" when all four have been answered.
const hostilePage = `<!doctype html><title>cat pictures</title><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe>
<form id="a" method="post" target="f1" action="%[1]s/instances/victim/terminate?reason=pwned"><input name="reason" value="pwned"></form>
<form id="b" method="post" target="f2" enctype="text/plain" action="%[1]s/orchestrators/DashWait/evil-form"><input name='{"a":"' value='"}'></form>
<script>
let n = 0;
const one = () => { if (++n === 4) document.title = "sent"; };
for (const f of document.querySelectorAll("iframe")) f.addEventListener("load", one);
document.getElementById("a").submit();
document.getElementById("b").submit();
fetch("%[1]s/orchestrators/DashWait/evil-fetch", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '"x"'}).finally(one);
fetch("%[1]s/instances/victim/suspend", {method: "POST", mode: "no-cors"}).finally(one);
</script>`

// TestHostilePageInBrowser: a page of another site, opened in real
// Chromium on the machine serve runs on (so its requests come from
// loopback, the only check without a key), cannot change an instance. A
// recording server stands in for serve first, to show that the browser
// does send the four requests, and with the headers Guard reads.
func TestHostilePageInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	e := newHubEnv(t, false)
	dash := startDashboardServe(t, e.args...)
	api := strings.TrimSuffix(dash, "/dashboard/") + "/runtime/webhooks/durabletask"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := e.c.ScheduleNew(ctx, "DashWait", "x", client.WithInstanceID("victim")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.WaitForStart(ctx, "victim"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []string // method path origin sec-fetch-site
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s origin=%q site=%q", r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")))
		mu.Unlock()
	}))
	defer recorder.Close()
	target := recorder.URL
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		to := target
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, hostilePage, to)
	}))
	defer hostile.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(hostile.URL, "http://"), ":")

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	visit := func(page string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
			t.Fatalf("opening %s: %v", page, err)
		}
		azuritetest.WaitFor(t, 2*time.Minute, page+" to send its requests", func() (bool, error) {
			title, err := chromedp.Run(bctx, chromedp.Title())
			return title == "sent", err
		})
	}
	// Another site (localhost is not 127.0.0.1) and the same site on
	// another port.
	pages := []string{"http://localhost:" + port + "/", "http://127.0.0.1:" + port + "/"}
	for _, p := range pages {
		visit(p)
	}
	azuritetest.WaitFor(t, 2*time.Minute, "the recorder to see every request", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 4*len(pages), nil
	})
	mu.Lock()
	if len(seen) != 4*len(pages) {
		t.Fatalf("the recorder saw %d requests, want %d: %q", len(seen), 4*len(pages), seen)
	}
	for _, s := range seen {
		if !strings.HasPrefix(s, "POST ") || strings.Contains(s, `origin=""`) {
			t.Errorf("the browser sent %s", s)
		}
	}
	target = api
	mu.Unlock()

	for _, p := range pages {
		visit(p)
	}
	if st, err := e.c.GetState(ctx, "victim"); err != nil || st.Status != client.Running {
		t.Errorf("the hostile page changed the instance: %+v %v", st, err)
	}
	for _, id := range []string{"evil-form", "evil-fetch"} {
		if _, err := e.c.GetState(ctx, id); err == nil {
			t.Errorf("the hostile page started %s", id)
		}
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/chromedp/chromedp"
)

// EnvRequireChromium, set to 1 (as CI does), turns the skip of the browser
// tests on a machine without Chromium into a failure.
const envRequireChromium = "AZDURABLE_REQUIRE_CHROMIUM"

// chromiumPath finds a Chromium to drive ($AZDURABLE_CHROMIUM, else the
// usual names on PATH) or skips the test with one line naming what is
// missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AZDURABLE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser tests need Chromium: no chromium on PATH (Debian: apt-get install chromium, or make tools)"
	if os.Getenv(envRequireChromium) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// The browser test's orchestrations.
var (
	dashEcho = durable.NewActivity("DashEcho", func(_ context.Context, s string) (string, error) { return s, nil })
	dashBoom = durable.NewActivity("DashBoom", func(_ context.Context, s string) (string, error) {
		return "", errors.New("boom: " + s)
	})
	dashChain = durable.NewOrchestration("DashChain", func(ctx durable.Context, in string) (string, error) {
		out := ""
		for i := 0; i < 3; i++ {
			s, err := dashEcho.Call(ctx, fmt.Sprint(i)).Await(ctx)
			if err != nil {
				return "", err
			}
			out += s
		}
		_ = ctx.SetCustomStatus(in)
		return out, nil
	})
	dashWait = durable.NewOrchestration("DashWait", func(ctx durable.Context, _ string) (string, error) {
		return durable.NewEventChannel[string](ctx, "go").Receive(ctx)
	})
	dashFail = durable.NewOrchestration("DashFail", func(ctx durable.Context, in string) (string, error) {
		return dashBoom.Call(ctx, in).Await(ctx)
	})
)

// startDashboardServe runs serve --worker with the browser test's
// orchestrations and returns the dashboard's URL.
func startDashboardServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	prev := serveContext
	serveContext = func(parent context.Context) (context.Context, context.CancelFunc) {
		c, stop := context.WithCancel(parent)
		go func() { <-ctx.Done(); stop() }()
		return c, stop
	}
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(append([]string{"serve", "--listen", "127.0.0.1:0", "--worker"}, args...), strings.NewReader(""),
			stdout, stderr, WithRegistrations(dashChain, dashEcho, dashWait, dashFail, dashBoom))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, stderr)
		}
		serveContext = prev
	})
	addr := regexp.MustCompile(`dashboard at (http://127\.0\.0\.1:\d+/dashboard/)\n`)
	var u string
	azuritetest.WaitFor(t, time.Minute, "serve to listen", func() (bool, error) {
		select {
		case code := <-done:
			done <- code
			return false, fmt.Errorf("serve exited with %d: %s", code, stderr)
		default:
		}
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			u = m[1]
		}
		return u != "", nil
	})
	return u
}

// consoleErrors collects what the pages report as an error: console.error,
// uncaught exceptions, and the browser's own log entries (failed loads,
// Content-Security-Policy violations).
type consoleErrors struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleErrors) collect(ctx context.Context) {
	for m, err := range chromedp.Console(ctx) {
		if err != nil {
			return
		}
		if m.Type == chromedp.ConsoleError || m.IsException() {
			c.mu.Lock()
			c.errs = append(c.errs, m.String()+" "+m.URL)
			c.mu.Unlock()
		}
	}
}

func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// serve on a hub with instances in every status the runtime leaves
// (Running, Pending, Suspended, Completed, Failed, Terminated).
func TestDashboardInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	e := newHubEnv(t, false)
	base := startDashboardServe(t, e.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := e.c
	later := time.Now().Add(time.Hour)
	// 27 pending instances for the paging, created first (the oldest).
	var pageIDs []string
	for i := 0; i < 27; i++ {
		id := fmt.Sprintf("page-%02d", i)
		pageIDs = append(pageIDs, id)
		if _, err := c.ScheduleNew(ctx, "DashChain", "p", client.WithInstanceID(id), client.WithStartAt(later)); err != nil {
			t.Fatal(err)
		}
	}
	const htmlID = `b-<img src=x onerror="window.__xss=1">&amp;`
	const htmlInput = `</pre><script>window.__xss=2</script><b>bold</b>`
	start := func(name, id string, in any, opts ...client.StartOption) {
		t.Helper()
		if _, err := c.ScheduleNew(ctx, name, in, append(opts, client.WithInstanceID(id))...); err != nil {
			t.Fatal(err)
		}
	}
	start("DashChain", "b-done", "x")
	start("DashFail", "b-fail", "x")
	start("DashWait", "b-wait", "x")
	start("DashWait", "b-term", "x")
	start("DashWait", "b-susp", "x")
	start("DashChain", "b-pend", "x", client.WithStartAt(later))
	start("DashChain", htmlID, htmlInput)
	for _, id := range []string{"b-wait", "b-term", "b-susp"} {
		if _, err := c.WaitForStart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Terminate(ctx, "b-term", "by the test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Suspend(ctx, "b-susp", "by the test"); err != nil {
		t.Fatal(err)
	}
	want := map[string]client.Status{"b-done": client.Completed, "b-fail": client.Failed, "b-term": client.Terminated,
		htmlID: client.Completed}
	for id, st := range want {
		if s, err := c.WaitForCompletion(ctx, id); err != nil || s.Status != st {
			t.Fatalf("%s: %+v %v", id, s, err)
		}
	}
	azuritetest.WaitFor(t, 2*time.Minute, "b-susp to be suspended", func() (bool, error) {
		s, err := c.GetState(ctx, "b-susp")
		return err == nil && s.Status == client.Suspended, err
	})

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	var errs consoleErrors
	collecting := make(chan struct{})
	cctx, stopCollecting := context.WithCancel(bctx)
	go func() { defer close(collecting); errs.collect(cctx) }()
	defer func() { stopCollecting(); <-collecting }()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	ids := func() []string {
		t.Helper()
		return evalJS[[]string](t, bctx, `Array.from(document.querySelectorAll("#instance-list td.id a")).map(a => a.textContent)`)
	}
	// clickAndLoad clicks what loads another page and waits until the new
	// page has loaded (the old one carried a mark the new one lacks).
	clickAndLoad := func(what, sel string) {
		t.Helper()
		evalJS[bool](t, bctx, `window.__stale = true`)
		run(what, chromedp.Click(chromedp.CSS(sel)))
		azuritetest.WaitFor(t, 2*time.Minute, what+": the next page", func() (bool, error) {
			loaded, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.__stale === undefined && document.readyState === "complete"`))
			return err == nil && loaded, nil
		})
	}
	// expectFlash checks that the page reports an action done.
	expectFlash := func(what string) {
		t.Helper()
		if msg := evalJS[string](t, bctx, `document.querySelector("#flash") ? "" : document.body.innerText`); msg != "" {
			t.Fatalf("%s: no confirmation on the page:\n%s", what, msg)
		}
	}
	count := func(status string) string { return text(`#counts a[data-status="` + status + `"] .n`) }

	// The landing page: the hub and the first page, newest first.
	run("landing page", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#instance-list`)))
	first := ids()
	if len(first) != 25 {
		t.Fatalf("landing page shows %d rows: %q", len(first), first)
	}
	for _, id := range []string{htmlID, "b-pend", "b-susp", "b-term", "b-wait", "b-fail", "b-done"} {
		if !contains(first, id) {
			t.Errorf("landing page lacks %q: %q", id, first)
		}
	}
	if first[0] != htmlID {
		t.Errorf("newest first: the first row is %q", first[0])
	}
	for status, n := range map[string]string{"Running": "1", "Pending": "28", "Suspended": "1", "Completed": "2",
		"Failed": "1", "Terminated": "1"} {
		if got := count(status); got != n {
			t.Errorf("count of %s: %s, want %s", status, got, n)
		}
	}
	partitionRows := evalJS[int](t, bctx, `document.querySelectorAll("#partitions tbody tr").length`)
	if partitionRows != 5 { // 4 control queues and the work-item queue
		t.Errorf("partition table has %d rows", partitionRows)
	}
	shot(t, bctx, "landing.png")

	// Filters: by status, by id prefix with paging, by name.
	run("status filter", chromedp.Click(chromedp.CSS(`input[name=status][value=Failed]`)))
	clickAndLoad("status filter", `#apply`)
	if got := ids(); len(got) != 1 || got[0] != "b-fail" {
		t.Errorf("status Failed: %q", got)
	}
	run("prefix filter", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#filter`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=prefix]`), "page-"))
	clickAndLoad("prefix filter", `#apply`)
	paged := ids()
	clickAndLoad("next page", `#next`)
	paged = append(paged, ids()...)
	sort.Strings(paged)
	if strings.Join(paged, ",") != strings.Join(pageIDs, ",") {
		t.Errorf("prefix page- over two pages: %q", paged)
	}
	run("name filter", chromedp.Navigate(base+"?name=dashwait"), chromedp.WaitVisible(chromedp.CSS(`#instance-list`)))
	if got := ids(); strings.Join(got, ",") != "b-susp,b-term,b-wait" { // newest first
		t.Errorf("name DashWait: %q", got)
	}

	// The timeline: one bar per activity call.
	run("timeline", chromedp.Navigate(base+"instance?id=b-done"), chromedp.WaitVisible(chromedp.CSS(`#timeline`)))
	kinds := evalJS[[]string](t, bctx, `Array.from(document.querySelectorAll("#timeline g.bar")).map(g => g.dataset.kind)`)
	if strings.Join(kinds, ",") != "activity,activity,activity" {
		t.Errorf("timeline bars of b-done: %q", kinds)
	}
	shot(t, bctx, "instance.png")

	// Markup in an id and an input is text, and none of it runs.
	run("html instance", chromedp.Navigate(base+"instance?id="+url.QueryEscape(htmlID)),
		chromedp.WaitVisible(chromedp.CSS(`#instance-id`)))
	shownID, shownInput := text(`#instance-id`), text(`#input`)
	xss := evalJS[string](t, bctx, `typeof window.__xss`)
	injected := evalJS[int](t, bctx, `document.querySelectorAll("main img, main script, pre b").length`)
	if shownID != htmlID || !strings.Contains(shownInput, "<script>window.__xss=2</script>") || xss != "undefined" || injected != 0 {
		t.Errorf("html instance: id %q input %q, __xss %s, %d injected elements", shownID, shownInput, xss, injected)
	}
	run("html in list", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#instance-list`)))
	if xss, imgs := evalJS[string](t, bctx, `typeof window.__xss`), evalJS[int](t, bctx, `document.querySelectorAll("main img").length`); xss != "undefined" || imgs != 0 {
		t.Errorf("landing page ran markup of an id: __xss %s, %d img", xss, imgs)
	}

	// An action: raise the event b-wait waits for.
	run("raise", chromedp.Navigate(base+"instance?id=b-wait"), chromedp.WaitVisible(chromedp.CSS(`#act-raise`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=event]`), "go"),
		chromedp.SendKeys(chromedp.CSS(`input[name=data]`), `"from the browser"`),
	)
	clickAndLoad("raise", `#act-raise`)
	expectFlash("raise")
	if s, err := c.WaitForCompletion(ctx, "b-wait"); err != nil || s.Status != client.Completed || s.Output == nil ||
		*s.Output != `"from the browser"` {
		t.Fatalf("b-wait after raise: %+v %v", s, err)
	}
	run("status after raise", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#status`)))
	if status := text(`#status`); status != "Completed" {
		t.Errorf("b-wait shows %q", status)
	}

	// Bulk purge, confirmed.
	run("bulk purge", chromedp.Navigate(base+"?status=Failed&status=Terminated"), chromedp.WaitVisible(chromedp.CSS(`#instance-list`)),
		chromedp.Click(chromedp.CSS(`#select-all`)))
	clickAndLoad("bulk purge", `#bulk-purge`)
	clickAndLoad("bulk purge: confirm", `#confirm`)
	expectFlash("bulk purge")
	for _, id := range []string{"b-fail", "b-term"} {
		if _, err := c.GetState(ctx, id); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s after bulk purge: %v", id, err)
		}
	}

	// The entities page: serve signals entities through its client, so
	// the page offers signals.
	run("entities", chromedp.Navigate(base+"entities"), chromedp.WaitVisible(chromedp.CSS(`#entity-list`)))
	if evalJS[bool](t, bctx, `document.querySelector("#no-signal") !== null`) {
		t.Errorf("the entities page of serve offers no signals")
	}

	// The hub section refreshes itself (every 10 s, serve's default).
	run("auto-refresh", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#hub`)))
	azuritetest.WaitFor(t, 2*time.Minute, "the hub section to refresh", func() (bool, error) {
		done, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector("#hub").hasAttribute("data-refreshed")`))
		return err == nil && done, err
	})
	if n := count("Failed"); n != "0" {
		t.Errorf("refreshed count of Failed: %s", n)
	}

	if errs := errs.list(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// shot writes a screenshot to the test's temporary folder.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := os.Getenv("AZDURABLE_SCREENSHOTS") // a folder of one's own, for a look by hand
	if dir == "" {
		dir = t.TempDir()
	}
	_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

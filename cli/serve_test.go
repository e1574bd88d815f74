package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/samples"
)

// startServe runs "azdurable serve" in the background with the samples
// registered and returns the API's base URL; the server stops, and its
// exit status is checked, when the test ends.
func startServe(t *testing.T, args ...string) (baseURL string, stdout, stderr *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	prev := serveContext
	serveContext = func(parent context.Context) (context.Context, context.CancelFunc) {
		c, stop := context.WithCancel(parent)
		go func() { <-ctx.Done(); stop() }()
		return c, stop
	}
	stdout, stderr = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), stdout, stderr,
			WithRegistrations(samples.All(nil)...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, stderr)
		}
		serveContext = prev
	})
	addr := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+/\S*)/\n`)
	azuritetest.WaitFor(t, 2*time.Minute, "serve to listen", func() (bool, error) {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d: %s", code, stderr)
		default:
		}
		m := addr.FindStringSubmatch(stdout.String())
		if m != nil {
			baseURL = m[1]
		}
		return m != nil, nil
	})
	return baseURL, stdout, stderr
}

// httpDo sends a request, with the key and header pairs when given.
func httpDo(t *testing.T, method, url, key, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-functions-key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestServeWithWorker(t *testing.T) {
	e := newHubEnv(t, false)
	const key = "s3cret&key"
	base, stdout, stderr := startServe(t, append([]string{"--worker", "--key", key}, e.args...)...)
	if !strings.HasSuffix(base, "/runtime/webhooks/durabletask") {
		t.Errorf("base %s", base)
	}
	if code, _ := httpDo(t, "GET", base+"/instances", "", ""); code != 401 {
		t.Errorf("without the key: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/instances", "wrong", ""); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	if code, body := httpDo(t, "POST", base+"/orchestrators/NoSuch", key, ""); code != 400 {
		t.Errorf("unknown orchestration: %d %s", code, body)
	}
	code, body := httpDo(t, "POST", base+"/orchestrators/helloCITIES/srv-1", key, `"x"`)
	var links struct{ StatusQueryGetURI string }
	if err := json.Unmarshal([]byte(body), &links); code != 202 || err != nil ||
		!strings.HasSuffix(links.StatusQueryGetURI, "/instances/srv-1?taskHub="+e.hub+"&connection=Storage&code=s3cret%26key") {
		t.Fatalf("start: %d %s", code, body)
	}
	// The key in the generated URL authenticates the poller.
	var status string
	azuritetest.WaitFor(t, 3*time.Minute, "srv-1 to complete", func() (bool, error) {
		code, status = httpDo(t, "GET", links.StatusQueryGetURI, "", "")
		return code == 200, nil
	})
	if !strings.Contains(status, `"name":"HelloCities"`) || !strings.Contains(status, `"output":["Hello Tokyo!","Hello Seattle!","Hello London!"]`) {
		t.Errorf("status %s", status)
	}
	if strings.Contains(stdout.String()+stderr.String(), "s3cret") {
		t.Errorf("the key was printed: %s %s", stdout, stderr)
	}
}

func TestServeUsage(t *testing.T) {
	e := newHubEnv(t, false)
	code, out, errOut := run(t, "", append([]string{"serve", "--worker", "--listen", "127.0.0.1:0"}, e.args...)...)
	if code != 2 || out != "" || !strings.Contains(errOut, "no orchestrations") {
		t.Errorf("--worker without registrations: %d %q %q", code, out, errOut)
	}
	code, _, errOut = run(t, "", append([]string{"serve", "--public-origin", "example.com"}, e.args...)...)
	if code != 2 || !strings.Contains(errOut, "Origin") {
		t.Errorf("bad origin: %d %q", code, errOut)
	}
	// Without a worker, the API alone answers from storage.
	base, _, _ := startServe(t, append([]string{"--base-path", "/api/durable"}, e.args...)...)
	if code, body := httpDo(t, "GET", base+"/instances", "", ""); code != 200 || body != "[]" || !strings.HasSuffix(base, "/api/durable") {
		t.Errorf("list: %d %s (%s)", code, body, base)
	}
}

// hostDo sends a request with the given Host header.
func hostDo(t *testing.T, method, url, host, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestServeSafeByDefault: without a key, web pages cannot use serve
// (foreign Host, cross-site posts), management URLs follow the listen
// address, and without --worker any orchestration name is started.
func TestServeSafeByDefault(t *testing.T) {
	e := newHubEnv(t, false)
	base, _, _ := startServe(t, append([]string{"--public-host", "durable.test"}, e.args...)...)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	// Any name: a C# worker of the hub may host it.
	code, body := hostDo(t, "POST", base+"/orchestrators/CSharpOnly/srv-any", "localhost:"+port, `"x"`)
	var links struct{ StatusQueryGetURI string }
	if err := json.Unmarshal([]byte(body), &links); code != 202 || err != nil {
		t.Fatalf("start of a name this binary lacks: %d %s", code, body)
	}
	// The first --public-host names the URLs, whatever Host the caller sent.
	if want := "http://durable.test:" + port + u.Path + "/instances/srv-any?"; !strings.HasPrefix(links.StatusQueryGetURI, want) {
		t.Errorf("statusQueryGetUri %s, want %s…", links.StatusQueryGetURI, want)
	}
	if st, err := e.c.GetState(e.ctx, "srv-any"); err != nil || st.Name != "CSharpOnly" {
		t.Errorf("srv-any: %+v %v", st, err)
	}
	for _, host := range []string{"evil.example:" + port, "attacker.test"} {
		if code, body := hostDo(t, "GET", base+"/instances", host, ""); code != 403 || strings.Contains(body, "srv-any") {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
	if code, _ := hostDo(t, "GET", base+"/instances", "durable.test:"+port, ""); code != 200 {
		t.Errorf("the public host: %d", code)
	}
	if code, body := hostDo(t, "POST", base+"/instances/srv-any/terminate", u.Host, "reason=x",
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example"); code != 403 {
		t.Errorf("cross-site terminate: %d %s", code, body)
	}
	if code, _ := hostDo(t, "POST", base+"/instances/srv-any/terminate", u.Host, "", "Origin", "http://"+u.Host); code != 202 {
		t.Errorf("same-origin terminate: %d", code)
	}
}

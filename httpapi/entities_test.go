package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/worker"
)

type recordedExchange struct {
	Case           string            `json:"case"`
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	RequestHeaders map[string]string `json:"requestHeaders"`
	RequestBody    *string           `json:"requestBody"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers"`
	Body           string            `json:"body"`
}

var timesRE = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`)

// TestEntityRoutesAnswerAsTheExtension replays the entity requests recorded
// from the extension (http-entities.jsonl) against a hub on Azurite with
// the Go Counter, in the same order, and compares status, body and the
// headers that matter. Times in bodies are compared by shape only; a
// request that reads (GET) is repeated until it answers as recorded or a
// minute passed, since the entity runs its signals asynchronously.
func TestEntityRoutesAnswerAsTheExtension(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 200 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	w := worker.New(be, worker.Options{Logger: quiet(), ShutdownTimeout: 5 * time.Second})
	if err := w.Register(counter.Registrations()...); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	c := client.New(be, client.Options{})
	h, err := httpapi.New(httpapi.Options{Client: c, TaskHub: hub, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, hub: hub, c: c, h: h, ctx: context.Background()}

	f, err := os.Open("../testdata/durable-functions/http-entities.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var x recordedExchange
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		if x.Case == "entity-instance-status" {
			continue // the instance routes have tests of their own
		}
		n++
		path := h.BasePath() + strings.TrimPrefix(x.URL, "http://127.0.0.1:17071/durabletask")
		var hdr []string
		for k, v := range x.RequestHeaders {
			hdr = append(hdr, k, v)
		}
		body := ""
		if x.RequestBody != nil {
			body = *x.RequestBody
		}
		// A read may have to wait for the worker to apply earlier signals.
		var r response
		if x.Method == http.MethodGet {
			azuritetest.WaitFor(t, time.Minute, x.Case+": "+x.Method+" "+path+" answering as recorded", func() (bool, error) {
				r = e.do(x.Method, path, body, hdr...)
				return matches(r, x), nil
			})
		} else {
			r = e.do(x.Method, path, body, hdr...)
		}
		if !matches(r, x) {
			t.Errorf("%s: %s %s\n got %d %v %s\nwant %d %v %s", x.Case, x.Method, path, r.code, r.header, r.body, x.Status, x.Headers, x.Body)
		}
	}
	if n < 30 {
		t.Fatalf("only %d recorded exchanges", n)
	}
}

func matches(r response, x recordedExchange) bool {
	if r.code != x.Status || timesRE.ReplaceAllString(r.body, `"T"`) != timesRE.ReplaceAllString(x.Body, `"T"`) {
		return false
	}
	for _, k := range []string{"Content-Type", "Content-Length", "x-ms-continuation-token"} {
		want, ok := x.Headers[k]
		got := r.header.Values(k)
		if k == "Content-Length" {
			// Kestrel chunks bodies; only the empty answers name a length.
			if ok && (len(got) == 0 || got[0] != want) {
				return false
			}
			continue
		}
		if !ok {
			if len(got) > 0 && k != "Content-Type" {
				return false
			}
			continue
		}
		if k == "x-ms-continuation-token" {
			got = r.header[k]
		}
		if len(got) == 0 || got[0] != want {
			return false
		}
	}
	return true
}

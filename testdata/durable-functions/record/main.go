// Command record asks the Durable Functions extension (the dfx-ref worker)
// the HTTP management questions whose answers the httpapi tests compare
// with, and writes each answer as one JSON line.
//
// It needs an Azurite (AZURE_STORAGE_CONNECTION_STRING with explicit
// endpoints) and owns port 127.0.0.1:17071 while it runs, so run it under
// the machine's dfx-ref lock, from the repository root:
//
//	flock /tmp/dfx-ref.lock go run ./testdata/durable-functions/record \
//	    -dfx ../shared/csharp-reference/dfx-ref -out testdata/durable-functions
//
// It starts `dfx-ref worker` on a fresh hub, starts instances through
// `dfx-ref start` (the extension's start route needs a Functions host to
// build its links), sends the requests, and stops the worker. Instances are
// named h-…; Approval instances wait 20 s for an event, which bounds how
// long an instance stays Running, so each block starts its own.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const api = "http://127.0.0.1:17071/durabletask"

// line is one recorded exchange. The members are those of http-api.jsonl
// plus the case name and the request headers sent.
type line struct {
	Case           string            `json:"case"`
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	RequestHeaders map[string]string `json:"requestHeaders,omitempty"`
	RequestBody    *string           `json:"requestBody"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers"`
	Body           string            `json:"body"`
}

type recorder struct {
	dfx, hub string
	out      *os.File
	hc       *http.Client
}

func main() {
	dfx := flag.String("dfx", "../shared/csharp-reference/dfx-ref", "the dfx-ref program")
	outDir := flag.String("out", "testdata/durable-functions", "where to write the .jsonl files")
	hub := flag.String("hub", "DfHttp", "task hub to record on (fresh)")
	only := flag.String("only", "", `"entities": record only http-entities.jsonl`)
	flag.Parse()
	if os.Getenv("AZURE_STORAGE_CONNECTION_STRING") == "" {
		log.Fatal("AZURE_STORAGE_CONNECTION_STRING is not set")
	}
	r := &recorder{dfx: *dfx, hub: *hub, hc: &http.Client{Timeout: time.Minute}}
	stop := r.startWorker()
	defer stop()
	sessionStart := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	if *only == "entities" {
		r.open(filepath.Join(*outDir, "http-entities.jsonl"))
		r.entities()
		r.out.Close()
		return
	}

	r.open(filepath.Join(*outDir, "http-differences.jsonl"))
	r.differences()
	r.open(filepath.Join(*outDir, "http-rewind-restart.jsonl"))
	r.rewindRestart()
	r.open(filepath.Join(*outDir, "http-differences.jsonl"), true)
	r.purgeByFilter(sessionStart)
	r.out.Close()
}

func (r *recorder) open(path string, appendTo ...bool) {
	if r.out != nil {
		r.out.Close()
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if len(appendTo) > 0 && appendTo[0] {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	r.out = f
}

// startWorker runs the extension until the returned function stops it.
func (r *recorder) startWorker() func() {
	cmd := exec.Command(r.dfx, "worker", "--hub", r.hub, "--seconds", "900")
	logf, err := os.CreateTemp("", "dfx-ref-worker-*.log")
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(api + "/instances/h-probe")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			log.Fatalf("the dfx-ref worker did not answer (log %s)", logf.Name())
		}
		time.Sleep(time.Second)
	}
	return func() {
		// The worker may not finish its graceful stop; it holds the
		// machine's only port for the extension, so end it for sure.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		os.Remove(logf.Name())
	}
}

// start starts an orchestration through the extension's client.
func (r *recorder) start(name, id, input string) {
	args := []string{"start", "--hub", r.hub, "--name", name, "--id", id}
	if input != "" {
		args = append(args, "--input", input)
	}
	if out, err := exec.Command(r.dfx, args...).CombinedOutput(); err != nil {
		log.Fatalf("dfx-ref start %s %s: %v\n%s", name, id, err, out)
	}
}

// do sends a request; header holds name, value pairs.
func (r *recorder) do(method, path string, body *string, header ...string) line {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, api+path, rd)
	if err != nil {
		log.Fatal(err)
	}
	l := line{Method: method, URL: api + path, RequestBody: body}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
		if l.RequestHeaders == nil {
			l.RequestHeaders = map[string]string{}
		}
		l.RequestHeaders[header[i]] = header[i+1]
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		log.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	l.Status, l.Body, l.Headers = resp.StatusCode, string(b), map[string]string{}
	for k, v := range resp.Header {
		l.Headers[k] = strings.Join(v, ", ")
	}
	// .NET writes the continuation header in lower case; Go's client
	// canonicalises it.
	if v, ok := l.Headers["X-Ms-Continuation-Token"]; ok {
		delete(l.Headers, "X-Ms-Continuation-Token")
		l.Headers["x-ms-continuation-token"] = v
	}
	return l
}

// rec sends a request and records the answer under name.
func (r *recorder) rec(name, method, path string, body *string, header ...string) line {
	l := r.do(method, path, body, header...)
	l.Case = name
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		log.Fatal(err)
	}
	if _, err := r.out.Write(buf.Bytes()); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "%-40s %d\n", name, l.Status)
	return l
}

// status is the part of a status answer the waits look at.
type status struct {
	RuntimeStatus   string          `json:"runtimeStatus"`
	LastUpdatedTime string          `json:"lastUpdatedTime"`
	HistoryEvents   json.RawMessage `json:"historyEvents"`
}

// waitFor polls the instance's status (with history) until ok holds.
func (r *recorder) waitFor(id, what string, ok func(status) bool) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		l := r.do("GET", "/instances/"+url.PathEscape(id)+"?showHistory=true", nil)
		var s status
		if l.Status != http.StatusNotFound && json.Unmarshal([]byte(l.Body), &s) == nil && ok(s) {
			return
		}
		if time.Now().After(deadline) {
			log.Fatalf("%s: not %s after 90 s: %d %s", id, what, l.Status, l.Body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (r *recorder) waitStatus(id string, want ...string) {
	r.waitFor(id, strings.Join(want, "/"), func(s status) bool {
		for _, w := range want {
			if s.RuntimeStatus == w {
				return true
			}
		}
		return false
	})
}

// waitRunning waits until an Approval instance is waiting for its event
// (its timer is created).
func (r *recorder) waitRunning(id string) {
	r.waitFor(id, "waiting", func(s status) bool {
		return s.RuntimeStatus == "Running" && bytes.Contains(s.HistoryEvents, []byte(`"TimerCreated"`))
	})
}

func str(s string) *string { return &s }

const jsonCT = "application/json"

func (r *recorder) differences() {
	r.start("HelloCities", "h-done", `"cities"`)
	r.start("FanOut", "h-fail", `"abc"`) // not an int: the orchestration fails
	r.waitStatus("h-done", "Completed")
	r.waitStatus("h-fail", "Failed")
	r.rec("purge-one-completed", "DELETE", "/instances/h-done", nil)
	r.rec("purge-one-completed-again", "DELETE", "/instances/h-done", nil)
	r.start("HelloCities", "h-done", `"cities"`)
	r.waitStatus("h-done", "Completed")

	// A running instance: purge one, duplicate start, restart in place,
	// suspend and resume and terminate without a reason.
	r.start("Approval", "h-run-a", `"a"`)
	r.waitRunning("h-run-a")
	r.rec("purge-one-running", "DELETE", "/instances/h-run-a", nil)
	r.rec("purge-one-running-after", "GET", "/instances/h-run-a", nil)
	r.rec("start-existing-running", "POST", "/orchestrators/Approval/h-run-a", str(`"again"`), "Content-Type", jsonCT)
	r.rec("restart-in-place-running", "POST", "/instances/h-run-a/restart?restartWithNewInstanceId=false", nil)
	r.rec("suspend-no-reason", "POST", "/instances/h-run-a/suspend", nil)
	r.waitStatus("h-run-a", "Suspended")
	r.rec("purge-one-suspended", "DELETE", "/instances/h-run-a", nil)
	r.rec("start-existing-suspended", "POST", "/orchestrators/Approval/h-run-a", str(`"again"`), "Content-Type", jsonCT)
	r.rec("resume-no-reason", "POST", "/instances/h-run-a/resume", nil)
	r.waitStatus("h-run-a", "Running")
	r.rec("terminate-no-reason", "POST", "/instances/h-run-a/terminate", nil)
	r.waitStatus("h-run-a", "Terminated")
	r.rec("no-reason-history", "GET", "/instances/h-run-a?showHistory=true&showHistoryOutput=true", nil)

	// Reasons given empty and not empty; raised event texts.
	r.start("Approval", "h-run-b", `"b"`)
	r.start("Approval", "h-run-c", `"c"`)
	r.waitRunning("h-run-b")
	r.waitRunning("h-run-c")
	r.rec("raise-numbers", "POST", "/instances/h-run-b/raiseEvent/Other", str(
		`{ "a" : 1.50, "b": 1E3, "c": "<&>\u00e9", "d": [1, 2.0, -0, 1e-7, 1e21], "t": "2024-01-01T00:00:00.000Z", `+
			`"big": 123456789012345678901234567890, "dup": 1, "dup": 2, "ctl": "a\u0001b\nc\u2028" }`), "Content-Type", jsonCT)
	r.rec("raise-string-spaces", "POST", "/instances/h-run-b/raiseEvent/Other2", str(" \"text\" \n"), "Content-Type", jsonCT)
	r.rec("raise-number", "POST", "/instances/h-run-b/raiseEvent/Other3", str(`1.50`), "Content-Type", "application/json; charset=utf-8")
	r.rec("raise-text-plain", "POST", "/instances/h-run-b/raiseEvent/Other4", str(`"x"`), "Content-Type", "text/plain")
	r.rec("raise-no-content-type", "POST", "/instances/h-run-b/raiseEvent/Other5", str(`"x"`))
	r.rec("raise-form", "POST", "/instances/h-run-b/raiseEvent/Other6", str(`a=b`), "Content-Type", "application/x-www-form-urlencoded")
	r.rec("raise-invalid-json", "POST", "/instances/h-run-b/raiseEvent/Other7", str(`{"a":`), "Content-Type", jsonCT)
	r.rec("raise-empty-body", "POST", "/instances/h-run-b/raiseEvent/Other8", str(``), "Content-Type", jsonCT)
	r.waitFor("h-run-b", "holding the events", func(s status) bool {
		return bytes.Count(s.HistoryEvents, []byte(`"EventRaised"`)) >= 3
	})
	r.rec("terminate-empty-reason", "POST", "/instances/h-run-b/terminate?reason=", nil)
	r.rec("suspend-reason", "POST", "/instances/h-run-c/suspend?reason=hold+on", nil)
	r.waitStatus("h-run-c", "Suspended")
	r.rec("suspend-reason-status", "GET", "/instances/h-run-c", nil)
	r.rec("terminate-reason", "POST", "/instances/h-run-c/terminate?reason=stop%20now", nil)
	r.waitStatus("h-run-b", "Terminated")
	r.waitStatus("h-run-c", "Terminated")
	r.rec("empty-reason-history", "GET", "/instances/h-run-b?showHistory=true&showHistoryOutput=true", nil)
	r.rec("reason-history", "GET", "/instances/h-run-c?showHistory=true&showHistoryOutput=true", nil)

	// Start bodies and content types (the answer is 500 outside a
	// Functions host, after the instance was started).
	r.rec("start-raw-body", "POST", "/orchestrators/HelloCities/h-raw", str("{ \"a\" : 1.50, \"b\": 1E3 }\n"), "Content-Type", jsonCT)
	r.rec("start-text-plain", "POST", "/orchestrators/HelloCities/h-plain", str(`"plain"`), "Content-Type", "text/plain")
	r.rec("start-no-body", "POST", "/orchestrators/HelloCities/h-nobody", nil)
	r.rec("start-form", "POST", "/orchestrators/HelloCities/h-form", str(`a=b`), "Content-Type", "application/x-www-form-urlencoded")
	r.rec("start-not-json", "POST", "/orchestrators/HelloCities/h-notjson", str(`not json`), "Content-Type", "text/plain")
	r.rec("start-unknown-name", "POST", "/orchestrators/NoSuchOrchestration/h-unknown", str(`"x"`), "Content-Type", jsonCT)
	r.waitStatus("h-raw", "Completed")
	r.waitStatus("h-plain", "Completed")
	r.waitStatus("h-nobody", "Completed")
	r.waitStatus("h-unknown", "Failed")
	r.rec("start-raw-body-status", "GET", "/instances/h-raw?showHistory=true", nil)
	r.rec("start-text-plain-status", "GET", "/instances/h-plain", nil)
	r.rec("start-no-body-status", "GET", "/instances/h-nobody?showHistory=true", nil)
	r.rec("start-form-status", "GET", "/instances/h-form", nil)
	r.rec("start-unknown-name-status", "GET", "/instances/h-unknown", nil)

	// Lists: an empty time range, paging, tokens.
	r.rec("list-created-to-before-from", "GET", "/instances?createdTimeFrom=2026-01-02T00:00:00Z&createdTimeTo=2026-01-01T00:00:00Z", nil)
	r.rec("purge-filter-to-before-from", "DELETE", "/instances?createdTimeFrom=2026-01-02T00:00:00Z&createdTimeTo=2026-01-01T00:00:00Z", nil)
	r.rec("purge-filter-matches-nothing", "DELETE", "/instances?createdTimeFrom=2000-01-01T00:00:00Z&createdTimeTo=2000-01-02T00:00:00Z", nil)
	p1 := r.rec("list-page-1", "GET", "/instances?instanceIdPrefix=h-&top=3", nil)
	tok := p1.Headers["x-ms-continuation-token"]
	p2 := r.rec("list-page-2", "GET", "/instances?instanceIdPrefix=h-&top=3", nil, "x-ms-continuation-token", tok)
	r.rec("list-page-3", "GET", "/instances?instanceIdPrefix=h-&top=3", nil, "x-ms-continuation-token", p2.Headers["x-ms-continuation-token"])
	r.rec("list-token-trimmed", "GET", "/instances?instanceIdPrefix=h-&top=3", nil, "x-ms-continuation-token", strings.TrimSpace(tok))
	r.rec("list-junk-token", "GET", "/instances?instanceIdPrefix=h-&top=3", nil, "x-ms-continuation-token", "junk")
	r.rec("list-top-0", "GET", "/instances?instanceIdPrefix=h-&top=0", nil)
	r.rec("list-top-negative", "GET", "/instances?instanceIdPrefix=h-&top=-1", nil)
}

func (r *recorder) rewindRestart() {
	r.start("FanOut", "h-fail2", `"abc"`)
	r.start("HelloCities", "h-done2", `"again"`)
	r.start("Approval", "h-run-r", `"r"`)
	r.waitStatus("h-fail2", "Failed")
	r.waitStatus("h-done2", "Completed")
	r.waitRunning("h-run-r")
	r.rec("rewind-failed", "POST", "/instances/h-fail/rewind?reason=because", nil)
	r.rec("rewind-failed-no-reason", "POST", "/instances/h-fail2/rewind", nil)
	r.rec("rewind-completed", "POST", "/instances/h-done/rewind?reason=because", nil)
	r.rec("rewind-running", "POST", "/instances/h-run-r/rewind?reason=because", nil)
	r.rec("rewind-unknown", "POST", "/instances/h-nope/rewind?reason=because", nil)

	r.rec("restart-running-new-id", "POST", "/instances/h-run-r/restart", nil)
	r.rec("restart-running-new-id-true", "POST", "/instances/h-run-r/restart?restartWithNewInstanceId=true", nil)
	r.rec("restart-running-in-place", "POST", "/instances/h-run-r/restart?restartWithNewInstanceId=false", nil)
	r.rec("restart-finished-new-id", "POST", "/instances/h-done2/restart", nil)
	r.rec("restart-finished-in-place", "POST", "/instances/h-done2/restart?restartWithNewInstanceId=false", nil)
	r.rec("restart-unknown", "POST", "/instances/h-nope/restart", nil)
	r.rec("restart-unknown-in-place", "POST", "/instances/h-nope/restart?restartWithNewInstanceId=false", nil)

	// What the rewinds and the in-place restart left.
	rewound := func(s status) bool {
		return s.RuntimeStatus == "Failed" && bytes.Count(s.HistoryEvents, []byte(`"GenericEvent"`)) >= 2
	}
	r.waitFor("h-fail", "rewound", rewound)
	r.waitFor("h-fail2", "rewound", rewound)
	r.waitStatus("h-done2", "Completed")
	r.rec("rewind-failed-after", "GET", "/instances/h-fail?showHistory=true&showHistoryOutput=true", nil)
	r.rec("rewind-failed-no-reason-after", "GET", "/instances/h-fail2?showHistory=true&showHistoryOutput=true", nil)
	r.rec("restart-finished-in-place-after", "GET", "/instances/h-done2?showHistory=true", nil)
	r.rec("restart-running-after", "GET", "/instances/h-run-r", nil)
	r.rec("restart-instances-after", "GET", "/instances?runtimeStatus=Running,Completed&createdTimeFrom="+
		url.QueryEscape(time.Now().UTC().Add(-2*time.Minute).Format(time.RFC3339)), nil)
}

// purgeByFilter purges what the session made: first the finished
// instances by status, then with a non-terminal status only, which the
// extension treats as no status filter at all.
func (r *recorder) purgeByFilter(from time.Time) {
	r.start("Approval", "h-run-p", `"p"`)
	r.waitRunning("h-run-p")
	q := "/instances?createdTimeFrom=" + url.QueryEscape(from.Format(time.RFC3339))
	r.rec("purge-filter-terminated-failed", "DELETE", q+"&runtimeStatus=Terminated,Failed", nil)
	r.rec("purge-filter-running", "DELETE", q+"&runtimeStatus=Running", nil)
	r.rec("purge-filter-running-after", "GET", "/instances/h-run-p", nil)
	l := r.do("GET", "/instances", nil)
	if l.Body != "[]" {
		log.Print(errors.New("instances left on the hub: " + l.Body))
	}
}

package httpapi_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
)

// statusAnswer is one line of
// testdata/durable-functions/rewind-restart-statuses.jsonl.
type statusAnswer struct {
	recorded
	Case string
}

func loadStatusAnswers(t *testing.T) []statusAnswer {
	t.Helper()
	f, err := os.Open("../testdata/durable-functions/rewind-restart-statuses.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []statusAnswer
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r statusAnswer
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sc.Bytes(), &r.recorded); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// answerFor returns the extension's answer to an operation on an instance
// in the given case.
func answerFor(t *testing.T, recs []statusAnswer, op, kase string) statusAnswer {
	t.Helper()
	for _, r := range recs {
		if r.Case == kase && strings.Contains(r.URL, "/"+op) {
			return r
		}
	}
	t.Fatalf("no recorded %s answer for %s", op, kase)
	return statusAnswer{}
}

// TestRewindRoute compares the rewind route's answer for an instance in
// each status with the extension's.
func TestRewindRoute(t *testing.T) {
	recs := loadStatusAnswers(t)
	e := newEnv(t, nil)
	appr := `{"id":"r1","requester":"ann","timeoutSeconds":3600}`
	start := func(name, id, body string) {
		t.Helper()
		if r := e.do("POST", base+"/orchestrators/"+name+"/"+id, body, "Content-Type", "application/json"); r.code != 202 {
			t.Fatalf("start %s: %d %s", id, r.code, r.body)
		}
	}
	start("IndexRepositories", "rw-failed", `"nobody"`)
	start("HelloCities", "rw-done", `"x"`)
	start("Approval", "rw-running", appr)
	start("Approval", "rw-suspended", appr)
	start("Approval", "rw-terminated", appr)
	if _, err := e.c.ScheduleNew(e.ctx, "HelloCities", "later", client.WithInstanceID("rw-pending"),
		client.WithStartAt(time.Now().Add(24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	e.waitStatus("rw-failed", client.Failed)
	e.waitStatus("rw-done", client.Completed)
	for _, id := range []string{"rw-running", "rw-suspended", "rw-terminated"} {
		e.waitStatus(id, client.Running)
	}
	if err := e.c.Suspend(e.ctx, "rw-suspended", "s"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Terminate(e.ctx, "rw-terminated", "t"); err != nil {
		t.Fatal(err)
	}
	e.waitStatus("rw-suspended", client.Suspended)
	e.waitStatus("rw-terminated", client.Terminated)

	check := func(id, kase, query string) {
		t.Helper()
		want := answerFor(t, recs, "rewind", kase)
		wantID := want.URL[strings.Index(want.URL, "/instances/")+len("/instances/"):]
		wantID = wantID[:strings.Index(wantID, "/")]
		r := e.do("POST", base+"/instances/"+id+"/rewind"+query, "")
		body := strings.ReplaceAll(want.Body, wantID, id)
		if r.code != want.Status || r.body != body {
			t.Errorf("rewind %s (%s): %d %s\nwant %d %s", id, kase, r.code, r.body, want.Status, body)
		}
		for _, h := range []string{"Content-Type", "Content-Length"} {
			if w, ok := want.Headers[h]; ok && r.header.Get(h) != w {
				t.Errorf("rewind %s (%s): %s %q, want %q", id, kase, h, r.header.Get(h), w)
			}
		}
		if _, ok := want.Headers["Content-Type"]; !ok && r.header.Get("Content-Type") != "" {
			t.Errorf("rewind %s (%s): Content-Type %q, want none", id, kase, r.header.Get("Content-Type"))
		}
	}
	check("rw-done", "Completed", "?reason=r")
	check("rw-running", "Running", "")
	check("rw-pending", "Pending (scheduled start)", "")
	check("rw-suspended", "Suspended", "")
	check("rw-terminated", "Terminated", "")
	check("rw-nosuch", "unknown", "")

	// A Failed instance is rewound: the reason reaches the instance as the
	// data of the GenericEvent that wakes it.
	check("rw-failed", "Failed", "?reason=fix%20it")
	azuritetestWait(t, "the rewound instance to run again", func() bool {
		h, err := e.c.History(e.ctx, "rw-failed", "")
		if err != nil {
			return false
		}
		for _, ev := range h {
			if g, ok := ev.(*history.GenericEvent); ok && g.Data != nil && *g.Data == "fix it" {
				return true
			}
		}
		return false
	})
	for _, id := range []string{"rw-running", "rw-suspended"} {
		if err := e.c.Terminate(e.ctx, id, "cleanup"); err != nil {
			t.Fatal(err)
		}
	}
}

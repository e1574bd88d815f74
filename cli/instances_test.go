package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/worker"
)

// hubEnv is a task hub on Azurite with a client and, when asked, a worker
// hosting the samples.
type hubEnv struct {
	t    *testing.T
	hub  string
	args []string // the storage flags of the hub
	c    *client.Client
	ctx  context.Context
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newHubEnv(t *testing.T, withWorker bool) *hubEnv {
	t.Helper()
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 200 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	if withWorker {
		w := worker.New(be, worker.Options{Logger: quietLog(), ShutdownTimeout: 5 * time.Second})
		if err := w.Register(samples.All(nil)...); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return &hubEnv{t: t, hub: hub, c: client.New(be, client.Options{}), ctx: ctx,
		args: []string{"--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub}}
}

// cli runs "azdurable instances <args> <storage flags>".
func (e *hubEnv) cli(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	return run(e.t, stdin, append(append([]string{"instances"}, args...), e.args...)...)
}

// ok runs a command that must succeed and returns its stdout.
func (e *hubEnv) ok(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.cli("", args...)
	if code != 0 {
		e.t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// fails runs a command that must fail with code and a one-line error
// containing want, and print nothing on stdout.
func (e *hubEnv) fails(code int, want string, args ...string) {
	e.t.Helper()
	got, out, errOut := e.cli("", args...)
	if got != code || out != "" || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		e.t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q (want %q)", args, got, code, out, errOut, want)
	}
}

func (e *hubEnv) wait(id string, want client.Status) *client.State {
	e.t.Helper()
	var st *client.State
	azuritetest.WaitFor(e.t, 3*time.Minute, id+" "+want.String(), func() (bool, error) {
		var err error
		st, err = e.c.GetState(e.ctx, id)
		return err == nil && st.Status == want, nil
	})
	return st
}

func (e *hubEnv) waitCustomStatus(id, want string) {
	e.t.Helper()
	azuritetest.WaitFor(e.t, 3*time.Minute, id+" custom status", func() (bool, error) {
		st, err := e.c.GetState(e.ctx, id)
		return err == nil && st.CustomStatus != nil && *st.CustomStatus == want, nil
	})
}

// tableRows returns the rows of a table printed by list, header excluded.
func tableRows(out string) [][]string {
	var rows [][]string
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i > 0 && line != "" {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

const approvalInput = `{"id":"r1","requester":"ann","timeoutSeconds":3600}`

func TestInstancesCommands(t *testing.T) {
	e := newHubEnv(t, true)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := e.ok("start", "HelloCities", "--id", "cli-hello", "--input", `"cities"`); out != "cli-hello\n" {
		t.Fatalf("start printed %q", out)
	}
	e.ok("start", "Approval", "--id", "cli-appr", "--input", approvalInput)
	e.ok("start", "HelloCities", "--id", "cli-later", "--at", later)
	if out := e.ok("start", "HelloCities"); len(strings.TrimSpace(out)) != 32 {
		t.Errorf("generated id %q", out)
	}
	e.fails(2, "--input must be JSON text", "start", "HelloCities", "--input", "cities")
	e.fails(2, "RFC 3339", "start", "HelloCities", "--at", "tomorrow")
	e.fails(1, "already exists", "start", "HelloCities", "--id", "cli-later")
	e.wait("cli-hello", client.Completed)
	e.waitCustomStatus("cli-appr", `"waiting for approval"`)

	t.Run("list", func(t *testing.T) {
		rows := tableRows(e.ok("list", "--prefix", "cli-"))
		if len(rows) != 3 || rows[0][0] != "cli-appr" || rows[0][2] != "Running" || rows[1][0] != "cli-hello" ||
			rows[1][2] != "Completed" || rows[2][2] != "Pending" {
			t.Errorf("list: %v", rows)
		}
		if rows := tableRows(e.ok("list", "--status", "pending,COMPLETED", "--prefix", "cli-")); len(rows) != 2 {
			t.Errorf("status filter: %v", rows)
		}
		from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		if rows := tableRows(e.ok("list", "--created-from", from, "--created-to", later, "--prefix", "cli-h")); len(rows) != 1 {
			t.Errorf("time and prefix filters: %v", rows)
		}
		code, out, errOut := e.cli("", "list", "--top", "1", "--page-size", "1")
		if code != 0 || len(tableRows(out)) != 1 || !strings.Contains(errOut, "--top 0") {
			t.Errorf("--top 1: %d %q %q", code, out, errOut)
		}
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(e.ok("list", "--json", "--prefix", "cli-")), &items); err != nil || len(items) != 3 {
			t.Fatalf("list --json: %v %d", err, len(items))
		}
		for _, item := range items {
			var id struct{ InstanceID string }
			_ = json.Unmarshal(item, &id)
			st, _ := e.c.GetState(e.ctx, id.InstanceID)
			if got, want := compact(t, item), string(httpapi.MarshalStatus(st, nil)); got != want {
				t.Errorf("list --json item\n got %s\nwant %s", got, want)
			}
		}
		e.fails(2, "--status", "list", "--status", "Sleeping")
		e.fails(2, "RFC 3339", "list", "--created-from", "2026-13-01")
	})

	t.Run("show", func(t *testing.T) {
		fields := showFields(e.ok("show", "cli-hello"))
		for k, want := range map[string]string{"Instance ID": "cli-hello", "Name": "HelloCities", "Status": "Completed",
			"Input": `"cities"`, "Output": `["Hello Tokyo!","Hello Seattle!","Hello London!"]`, "Custom status": "(none)"} {
			if fields[k] != want {
				t.Errorf("show: %s = %q, want %q", k, fields[k], want)
			}
		}
		st, _ := e.c.GetState(e.ctx, "cli-hello")
		if got := compact(t, []byte(e.ok("show", "cli-hello", "--json"))); got != string(httpapi.MarshalStatus(st, nil)) {
			t.Errorf("show --json %s", got)
		}
		e.fails(1, `instance "nope" not found`, "show", "nope")
		e.fails(2, "accepts 1 arg", "show")
	})

	t.Run("history", func(t *testing.T) {
		out := e.ok("history", "cli-hello")
		for _, want := range []string{"ExecutionStarted", "HelloCities input=\"cities\"", "TaskScheduled", "SayHello",
			"task 0 result=\"Hello Tokyo!\"", "ExecutionCompleted", "Completed result="} {
			if !strings.Contains(out, want) {
				t.Errorf("history lacks %q:\n%s", want, out)
			}
		}
		js := e.ok("history", "cli-hello", "--json")
		events, err := durabletest.ParseHistory([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := e.c.History(e.ctx, "cli-hello", "")
		if len(events) != len(stored) || len(events) < 10 {
			t.Fatalf("%d events read back, %d stored", len(events), len(stored))
		}
		for i := range events {
			if a, b := history.AppendEvent(nil, events[i], history.Plain), history.AppendEvent(nil, stored[i], history.Plain); !bytes.Equal(a, b) {
				t.Errorf("event %d\n got %s\nwant %s", i, a, b)
			}
		}
		if err := durabletest.ReplayEvents(events, samples.All(nil)); err != nil {
			t.Errorf("the printed history does not replay: %v", err)
		}
		if out := e.ok("history", "cli-later", "--json"); out != "[]\n" {
			t.Errorf("pending instance history %q", out)
		}
		e.fails(1, "not found", "history", "nope")
	})

	t.Run("raise", func(t *testing.T) {
		e.fails(2, "--data must be JSON", "raise", "cli-appr", "Approval", "--data", "yes")
		e.fails(1, "not found", "raise", "nope", "Approval")
		if out := e.ok("raise", "cli-appr", "Approval", "--data", `{"approved":true,"by":"bob"}`); out != "raised Approval on cli-appr\n" {
			t.Errorf("raise printed %q", out)
		}
		st := e.wait("cli-appr", client.Completed)
		if *st.Output != `{"requestId":"r1","status":"approved","by":"bob"}` {
			t.Errorf("output %s", *st.Output)
		}
		e.fails(1, "already finished (Completed)", "raise", "cli-appr", "Approval")
	})

	t.Run("suspend and resume", func(t *testing.T) {
		e.ok("start", "Approval", "--id", "cli-appr2", "--input", approvalInput)
		e.waitCustomStatus("cli-appr2", `"waiting for approval"`)
		e.fails(1, "not suspended", "resume", "cli-appr2")
		if out := e.ok("suspend", "cli-appr2", "--reason", "lunch"); out != "suspend sent to cli-appr2\n" {
			t.Errorf("suspend printed %q", out)
		}
		if st := e.wait("cli-appr2", client.Suspended); *st.Output != "lunch" {
			t.Errorf("suspend reason %v", *st.Output)
		}
		e.fails(1, "already suspended", "suspend", "cli-appr2")
		e.ok("resume", "cli-appr2")
		e.wait("cli-appr2", client.Running)
		e.fails(1, "already finished", "suspend", "cli-hello")
	})

	t.Run("terminate", func(t *testing.T) {
		code, out, errOut := e.cli("n\n", "terminate", "cli-appr2", "cli-later", "--reason", "cleanup")
		if code != 1 || out != "" || !strings.Contains(errOut, "Terminate 2 instances? [y/N]") || !strings.Contains(errOut, "aborted") {
			t.Errorf("declined: %d %q %q", code, out, errOut)
		}
		if st, _ := e.c.GetState(e.ctx, "cli-later"); st.Status != client.Pending {
			t.Errorf("declined terminate changed cli-later: %s", st.Status)
		}
		code, out, _ = e.cli("y\n", "terminate", "cli-appr2", "cli-later", "--reason", "cleanup", "--recursive")
		if code != 0 || out != "terminate sent to cli-appr2\nterminate sent to cli-later\n" {
			t.Errorf("confirmed: %d %q", code, out)
		}
		for _, id := range []string{"cli-appr2", "cli-later"} {
			if st := e.wait(id, client.Terminated); *st.Output != "cleanup" {
				t.Errorf("%s output %q", id, *st.Output)
			}
		}
		e.fails(1, "already finished (Terminated)", "terminate", "cli-later")
		e.fails(2, "at least one instance id", "terminate")
	})

	t.Run("purge", func(t *testing.T) {
		if out := e.ok("purge", "cli-hello"); out != "purged 1 instances (17 history rows)\n" {
			t.Errorf("purge one: %q", out)
		}
		e.fails(1, "not found", "show", "cli-hello")
		e.fails(1, `instance "cli-hello" not found`, "purge", "cli-hello")
		e.fails(2, "not both", "purge", "x", "--prefix", "y")
		var bulk []string
		for i := range 12 {
			bulk = append(bulk, fmt.Sprintf("bulk-%02d", i))
			e.ok("start", "HelloCities", "--id", bulk[i], "--at", later)
		}
		// Unfinished instances are never purged, by id or by filter.
		e.fails(2, "only finished instances can be purged", "purge", "--status", "Pending", "--prefix", "bulk-")
		e.fails(1, "its status is Pending", "purge", "bulk-00")
		if st, err := e.c.GetState(e.ctx, "bulk-00"); err != nil || st.Status != client.Pending {
			t.Fatalf("bulk-00 after the refused purge: %v %v", st, err)
		}
		e.ok(append([]string{"terminate", "--yes"}, bulk...)...)
		for _, id := range bulk {
			e.wait(id, client.Terminated)
		}
		code, out, errOut := e.cli("", "purge", "--status", "Terminated", "--prefix", "bulk-")
		if code != 1 || !strings.Contains(errOut, "Purge 12 instances (status Terminated; id prefix bulk-)? This cannot be undone. [y/N]") {
			t.Errorf("unconfirmed purge: %d %q %q", code, out, errOut)
		}
		code, out, errOut = e.cli("yes\n", "purge", "--status", "Terminated", "--prefix", "bulk-")
		if code != 0 || !strings.HasPrefix(out, "purged 12 instances (") || strings.Contains(errOut, "purging [") {
			t.Errorf("bulk purge: %d %q %q", code, out, errOut)
		}
		if rows := tableRows(e.ok("list", "--prefix", "bulk-")); len(rows) != 0 {
			t.Errorf("left after the purge: %v", rows)
		}
		// By default a purge by filter takes the finished instances only.
		before := tableRows(e.ok("list"))
		out = e.ok("purge", "--yes")
		after := tableRows(e.ok("list"))
		for _, r := range after {
			if r[2] == "Completed" || r[2] == "Terminated" || r[2] == "Failed" {
				t.Errorf("finished instance left: %v", r)
			}
		}
		if want := fmt.Sprintf("purged %d instances", len(before)-len(after)); !strings.HasPrefix(out, want) || len(before) == len(after) {
			t.Errorf("purge --yes: %q, want %q", out, want)
		}
		if out := e.ok("purge", "--yes", "--prefix", "nothing-"); out != "no instance matches\n" {
			t.Errorf("empty purge: %q", out)
		}
	})
}

func compact(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return buf.String()
}

// showFields parses the "Key:  value" lines printed by show.
func showFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/samples"
)

// runHosting runs the command line of a binary that hosts the samples, as
// cmd/azdurable does.
func runHosting(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(args, strings.NewReader(stdin), &out, &errOut, WithRegistrations(samples.All(nil)...))
	return code, out.String(), errOut.String()
}

func (e *hubEnv) hosting(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	return runHosting(e.t, stdin, append(append([]string{"instances"}, args...), e.args...)...)
}

func TestStartRefusesAnEmptyID(t *testing.T) {
	e := newHubEnv(t, false)
	e.fails(2, "--id is empty", "start", "HelloCities", "--id", "")
	e.fails(2, "--id is empty", "start", "HelloCities", "--id=")
	if rows := tableRows(e.ok("list")); len(rows) != 0 {
		t.Errorf("an empty --id started %v", rows)
	}
}

func TestStartAndRaiseTakePayloadFiles(t *testing.T) {
	e := newHubEnv(t, true)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, []byte("{\n  \"id\": \"f1\", \"requester\": \"ann\", \"timeoutSeconds\": 3600\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("start", "Approval", "--id", "file-appr", "--input-file", in)
	e.waitCustomStatus("file-appr", `"waiting for approval"`)
	if code, out, errOut := e.cli(`{"approved":true,"by":"stdin"}`, "raise", "file-appr", "Approval", "--data-file", "-"); code != 0 {
		t.Fatalf("raise --data-file -: %d %q %q", code, out, errOut)
	}
	if st := e.wait("file-appr", client.Completed); *st.Output != `{"requestId":"f1","status":"approved","by":"stdin"}` {
		t.Errorf("output %s", *st.Output)
	}

	// 10 MB: far beyond what one argument may hold (128 KiB on Linux).
	big := `"` + strings.Repeat("x", 10<<20) + `"`
	if code, out, errOut := e.cli(big, "start", "NoSuchOrchestration", "--id", "file-big", "--input-file", "-", "--at",
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); code != 0 || out != "file-big\n" {
		t.Fatalf("start with a 10 MB input: %d %q %q", code, out, errOut)
	}
	st, err := e.c.GetState(e.ctx, "file-big")
	if err != nil || st.Input == nil || len(*st.Input) != len(big) {
		t.Fatalf("stored input: %v (%d bytes)", err, len(*st.Input))
	}

	e.fails(2, "not both", "start", "HelloCities", "--input", `"a"`, "--input-file", in)
	e.fails(2, "not both", "raise", "file-appr", "Approval", "--data", `"a"`, "--data-file", in)
	empty := filepath.Join(dir, "empty.json")
	_ = os.WriteFile(empty, []byte(" \n"), 0o600)
	e.fails(2, "is empty", "start", "HelloCities", "--input-file", empty)
	e.fails(2, "standard input is empty", "start", "HelloCities", "--input-file", "-")
	notJSON := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(notJSON, []byte("cities"), 0o600)
	e.fails(2, "must be JSON text", "start", "HelloCities", "--input-file", notJSON)
	e.fails(1, "no such file", "start", "HelloCities", "--input-file", filepath.Join(dir, "missing.json"))
}

func TestStartWarnsAboutAnOrchestrationThisBinaryDoesNotHost(t *testing.T) {
	e := newHubEnv(t, false)
	code, out, errOut := e.hosting("", "start", "Helo", "--id", "typo")
	if code != 0 || out != "typo\n" {
		t.Fatalf("start Helo: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(errOut, `warning: this binary hosts no orchestration named "Helo"`) ||
		!strings.Contains(errOut, "HelloCities") || !strings.Contains(errOut, "Approval") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("warning %q: want one line naming Helo and the hosted names", errOut)
	}
	if st, err := e.c.GetState(e.ctx, "typo"); err != nil || st.Name != "Helo" {
		t.Errorf("the instance was not started: %v", err)
	}
	// Names are matched without regard to case, as workers match them.
	if code, _, errOut := e.hosting("", "start", "hellocities", "--id", "case"); code != 0 || errOut != "" {
		t.Errorf("start hellocities: %d %q", code, errOut)
	}
}

func TestStartOfATakenIDSaysSo(t *testing.T) {
	e := newHubEnv(t, false)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.ok("start", "HelloCities", "--id", "taken", "--at", later)
	e.fails(1, `instance "taken" already exists: it is Pending`, "start", "HelloCities", "--id", "taken")
}

func TestStartWait(t *testing.T) {
	e := newHubEnv(t, true)
	code, out, errOut := e.cli("", "start", "HelloCities", "--id", "waited", "--input", `"cities"`, "--wait", "--timeout", "3m")
	if code != 0 {
		t.Fatalf("start --wait: %d %q %q", code, out, errOut)
	}
	first, rest, _ := strings.Cut(out, "\n")
	fields := showFields(rest)
	if first != "waited" || fields["Status"] != "Completed" || fields["Output"] != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Errorf("start --wait printed %q", out)
	}
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, out, errOut = e.cli("", "start", "HelloCities", "--id", "waits-long", "--at", later, "--wait", "--timeout", "1s")
	if code != 1 || out != "waits-long\n" || !strings.Contains(errOut, "timed out after 1s") || !strings.Contains(errOut, "is Pending") {
		t.Errorf("start --wait --timeout 1s: %d %q %q", code, out, errOut)
	}
	e.fails(2, "--timeout needs --wait", "start", "HelloCities", "--timeout", "1s")
}

func TestUnknownSubcommandsFail(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"instances", "strat"}, {"hub", "infos"}, {"inspect", "x"}} {
		code, out, errOut := run(t, "", args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "unknown command") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := run(t, "", "instances"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("instances alone: %d %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := run(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "azdurable ") || errOut != "" {
		t.Errorf("--version: %d %q %q", code, out, errOut)
	}
	settings := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-12-01T19:00:00Z"},
		{Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		info debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: modulePath, Version: "v0.3.0"}},
			"v0.3.0 (go1.26.0)"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: modulePath, Version: "(devel)"}, Settings: settings},
			"(devel) (revision 0123abc of 2026-12-01T19:00:00Z with local changes, go1.26.0)"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "example.com/app", Version: "(devel)"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "../azdurable"}}}},
			"v0.0.0-00010101000000-000000000000 => ../azdurable (in example.com/app (devel), go1.26.0)"},
	} {
		if got := describeBuild(&c.info); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

// TestProgressOnlyOnATerminal: the purge's progress bar is drawn on a
// terminal and never into a pipe or a file.
func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	if isTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is not a terminal")
	}
	// Only finished instances are purged: scheduled starts, terminated.
	e := newHubEnv(t, true)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	finished := func(ids ...string) {
		for _, id := range ids {
			e.ok("start", "HelloCities", "--id", id, "--at", later)
		}
		e.ok(append([]string{"terminate", "--yes"}, ids...)...)
		for _, id := range ids {
			e.wait(id, client.Terminated)
		}
	}
	finished("p-00", "p-01", "p-02", "p-03", "p-04", "p-05", "p-06", "p-07", "p-08", "p-09", "p-10")
	code, out, errOut := e.cli("", "purge", "--yes", "--status", "Terminated", "--prefix", "p-0")
	if code != 0 || !strings.HasPrefix(out, "purged 10 instances (") || strings.Contains(errOut, "purging") {
		t.Errorf("purge into a buffer: %d %q %q", code, out, errOut)
	}
	defer func(orig func(io.Writer) bool) { isTerminal = orig }(isTerminal)
	isTerminal = func(io.Writer) bool { return true }
	finished("q-00", "q-01", "q-02", "q-03", "q-04", "q-05", "q-06", "q-07", "q-08", "q-09")
	code, out, errOut = e.cli("", "purge", "--yes", "--status", "Terminated", "--prefix", "q-")
	if code != 0 || !strings.HasPrefix(out, "purged 10 instances (") || !strings.HasSuffix(errOut, "[##############################] 10/10\n") {
		t.Errorf("purge on a terminal: %d %q %q", code, out, errOut)
	}
}

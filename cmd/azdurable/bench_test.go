package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"bench"}, 2, "one scenario"},
		{[]string{"bench", "nope"}, 2, "unknown scenario"},
		{[]string{"bench", "chain", "--workers=x"}, 2, "invalid argument"},
		{[]string{"bench", "events", "--compare-csharp", "--no-ceiling"}, 1, "chain and fanout only"},
		{[]string{"bench", "chain", "--compare-csharp", "--workers", "2"}, 1, "one worker on each side"},
		{[]string{"bench", "entities", "extra"}, 2, "accepts 0 arg"},
		{[]string{"bench", "entities", "--keys", "-1"}, 1, "sizes must be positive"},
	} {
		code, out, errOut := run(t, "", tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.say) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.say)
		}
	}
}

// TestBenchChainJSON runs a tiny chain through the command and reads its
// JSON.
func TestBenchChainJSON(t *testing.T) {
	code, out, errOut := run(t, "", "bench", "chain", "--count", "2", "--length", "2", "--connection-string", azuritetest.ConnectionString(t),
		"--no-ceiling", "--json", "--quiet", "--max-poll", "1s", "--client-poll", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Scenario                string
		Orchestrations          int
		Activities              int
		Failed                  int
		StorageCalls            int64
		StorageCallsPerActivity float64
		ByOperation             map[string]int64
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Scenario != "chain 2x2" || r.Orchestrations != 2 || r.Activities != 4 || r.Failed != 0 ||
		r.StorageCalls <= 0 || r.StorageCallsPerActivity <= 0 || r.ByOperation["table/history/batch"] < 6 {
		t.Fatalf("report %+v", r)
	}
}

func TestBenchSidecarUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "sidecar", "events"},
		{"bench", "sidecar"},
	} {
		if code, _, errOut := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}

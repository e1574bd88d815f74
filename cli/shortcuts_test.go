package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/spf13/cobra"
)

// Each local shortcut of the backend can be turned off on its own from the
// worker command, and the hold of work items set; by default both
// shortcuts are on and the hold is the backend's default.
func TestShortcutFlags(t *testing.T) {
	options := func(args ...string) azurestorage.Options {
		t.Helper()
		cmd := &cobra.Command{Use: "worker"}
		h := addHostFlags(cmd)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		adjust, _, err := h.settings(cmd)
		if err != nil {
			t.Fatal(err)
		}
		var o azurestorage.Options
		adjust(&o)
		return o
	}
	if o := options(); o.NoLocalActivities || o.NoLocalResults || o.ActivityHold != azurestorage.DefaultActivityHold {
		t.Errorf("defaults: no local activities %v, no local results %v, hold %v", o.NoLocalActivities, o.NoLocalResults, o.ActivityHold)
	}
	if o := options("--no-local-activities"); !o.NoLocalActivities || o.NoLocalResults {
		t.Errorf("--no-local-activities: %v %v", o.NoLocalActivities, o.NoLocalResults)
	}
	if o := options("--no-local-results"); o.NoLocalActivities || !o.NoLocalResults {
		t.Errorf("--no-local-results: %v %v", o.NoLocalActivities, o.NoLocalResults)
	}
	if o := options("--activity-hold", "40s"); o.ActivityHold != 40*time.Second {
		t.Errorf("--activity-hold 40s: %v", o.ActivityHold)
	}
	code, out, errOut := run(t, "", "worker", "--task-hub", "SomeHub", "--activity-hold", "1s")
	if code != 2 || out != "" || !strings.Contains(errOut, "--activity-hold must be at least 2s") {
		t.Errorf("--activity-hold 1s: exit %d, %q %q", code, out, errOut)
	}
}

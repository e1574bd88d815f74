package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/spf13/cobra"
)

// The hidden tuning flags default to C#'s values, so a worker started
// without them runs with production leases and visibility timeouts; given,
// they reach the backend's options.
func TestTuningFlags(t *testing.T) {
	settings := func(args ...string) (azurestorage.Options, time.Duration) {
		t.Helper()
		cmd := &cobra.Command{Use: "worker"}
		h := addHostFlags(cmd)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		adjust, wo, err := h.settings(cmd)
		if err != nil {
			t.Fatal(err)
		}
		var o azurestorage.Options
		adjust(&o)
		return o, wo.ActivityRenewInterval
	}
	o, renew := settings()
	if o.ControlQueueVisibility != 5*time.Minute || o.WorkItemVisibility != 5*time.Minute ||
		o.Table.LeaseInterval != 30*time.Second || o.Table.AcquireInterval != 10*time.Second ||
		o.AppLease.LeaseDuration != 60*time.Second || o.AppLease.RenewInterval != 25*time.Second ||
		o.AppLease.AcquireInterval != 300*time.Second || o.Client != nil || renew != 30*time.Second {
		t.Errorf("defaults: %+v, activity renewal %v", o, renew)
	}
	o, renew = settings("--control-queue-visibility", "8s", "--work-item-visibility", "9s", "--partition-lease", "6s",
		"--partition-acquire-interval", "1s", "--partition-safety-margin", "2s", "--app-lease-duration", "15s",
		"--app-lease-renew-interval", "4s", "--app-lease-acquire-interval", "2s", "--fault-rate", "0.02")
	if o.ControlQueueVisibility != 8*time.Second || o.WorkItemVisibility != 9*time.Second ||
		o.Table.LeaseInterval != 6*time.Second || o.Table.AcquireInterval != time.Second || o.Table.SafetyMargin != 2*time.Second ||
		o.AppLease.LeaseDuration != 15*time.Second || o.AppLease.RenewInterval != 4*time.Second ||
		o.AppLease.AcquireInterval != 2*time.Second || renew != 3*time.Second {
		t.Errorf("tuned: %+v, activity renewal %v", o, renew)
	}
	if o.Client == nil || len(o.Client.PerRetryPolicies) != 1 {
		t.Errorf("--fault-rate did not put a fault injector in the pipeline: %+v", o.Client)
	}

	for _, tc := range []struct{ args, want string }{
		{"--control-queue-visibility 0s", "--control-queue-visibility must be at least 1s"},
		{"--partition-lease 4s --partition-safety-margin 4s", "--partition-safety-margin must be at least 0 and less than --partition-lease"},
		{"--fault-rate 1", "--fault-rate must be at least 0 and less than 1"},
	} {
		args := append([]string{"worker", "--task-hub", "SomeHub"}, strings.Fields(tc.args)...)
		code, out, errOut := run(t, "", args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q %q", tc.args, code, out, errOut)
		}
	}
	// Hidden: the help lists none of them.
	_, out, _ := run(t, "", "worker", "--help")
	if strings.Contains(out, "fault-rate") || strings.Contains(out, "partition-lease") || !strings.Contains(out, "--max-poll") {
		t.Errorf("worker --help:\n%s", out)
	}
}

package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/spf13/cobra"
)

// tuningFlags are hidden worker flags for reliability runs (internal/chaos):
// shorter leases and visibility timeouts, so that the work of a killed or
// paused worker comes back within seconds, and injected storage faults.
// Their defaults are C#'s values, so a worker started without them behaves
// as in production.
type tuningFlags struct {
	controlVisibility  time.Duration
	workItemVisibility time.Duration
	leaseInterval      time.Duration
	acquireInterval    time.Duration
	safetyMargin       time.Duration
	appLeaseDuration   time.Duration
	appLeaseRenew      time.Duration
	appLeaseAcquire    time.Duration
	faultRate          float64
	faultSeed          uint64

	// faults is the injector the worker runs with (nil without faults).
	faults *storage.FaultInjector
}

func addTuningFlags(cmd *cobra.Command) *tuningFlags {
	t := &tuningFlags{}
	fl := cmd.Flags()
	fl.DurationVar(&t.controlVisibility, "control-queue-visibility", 5*time.Minute, "visibility timeout of received control-queue messages")
	fl.DurationVar(&t.workItemVisibility, "work-item-visibility", 5*time.Minute, "visibility timeout of received activity work items")
	fl.DurationVar(&t.leaseInterval, "partition-lease", azurestorage.DefaultLeaseInterval, "table partition lease length")
	fl.DurationVar(&t.acquireInterval, "partition-acquire-interval", azurestorage.DefaultAcquireInterval, "table partition loop (and renewal) interval")
	fl.DurationVar(&t.safetyMargin, "partition-safety-margin", azurestorage.DefaultSafetyMargin, "stop dequeuing this long before an unrenewed partition lease would expire")
	fl.DurationVar(&t.appLeaseDuration, "app-lease-duration", azurestorage.DefaultAppLeaseDuration, "app lease length (15s to 60s)")
	fl.DurationVar(&t.appLeaseRenew, "app-lease-renew-interval", azurestorage.DefaultAppLeaseRenewInterval, "app lease renewal interval")
	fl.DurationVar(&t.appLeaseAcquire, "app-lease-acquire-interval", azurestorage.DefaultAppLeaseAcquireInterval, "interval between attempts to take an app lease another app holds")
	fl.Float64Var(&t.faultRate, "fault-rate", 0, "share of storage calls failed on purpose, before or after the write (tests only)")
	fl.Uint64Var(&t.faultSeed, "fault-seed", 1, "seed of the injected faults")
	for _, name := range []string{"control-queue-visibility", "work-item-visibility", "partition-lease", "partition-acquire-interval",
		"partition-safety-margin", "app-lease-duration", "app-lease-renew-interval", "app-lease-acquire-interval", "fault-rate", "fault-seed"} {
		_ = fl.MarkHidden(name)
	}
	return t
}

func (t *tuningFlags) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--control-queue-visibility", t.controlVisibility}, {"--work-item-visibility", t.workItemVisibility},
		{"--partition-lease", t.leaseInterval}, {"--partition-acquire-interval", t.acquireInterval},
		{"--app-lease-duration", t.appLeaseDuration}, {"--app-lease-renew-interval", t.appLeaseRenew},
		{"--app-lease-acquire-interval", t.appLeaseAcquire}} {
		if d.v < time.Second {
			return usagef("%s must be at least 1s", d.name)
		}
	}
	switch {
	case t.safetyMargin < 0 || t.safetyMargin >= t.leaseInterval:
		return usagef("--partition-safety-margin must be at least 0 and less than --partition-lease")
	case t.faultRate < 0 || t.faultRate >= 1:
		return usagef("--fault-rate must be at least 0 and less than 1")
	}
	return nil
}

// apply sets the tuned values on the backend's options.
func (t *tuningFlags) apply(o *azurestorage.Options) {
	o.ControlQueueVisibility = t.controlVisibility
	o.WorkItemVisibility = t.workItemVisibility
	o.Table.LeaseInterval = t.leaseInterval
	o.Table.AcquireInterval = t.acquireInterval
	o.Table.SafetyMargin = t.safetyMargin
	o.AppLease.LeaseDuration = t.appLeaseDuration
	o.AppLease.RenewInterval = t.appLeaseRenew
	o.AppLease.AcquireInterval = t.appLeaseAcquire
	if t.faultRate > 0 {
		if t.faults == nil {
			t.faults = storage.NewFaultInjector(t.faultRate, t.faultSeed)
		}
		// Quick SDK retries, so that injected faults cost milliseconds.
		o.Client = &storage.ClientOptions{PerRetryPolicies: []policy.Policy{t.faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 6, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond}}
	}
}

// activityRenewInterval renews a running activity's lock well before the
// work item's visibility ends (C# renews every 30 s against 5 minutes).
func (t *tuningFlags) activityRenewInterval() time.Duration {
	return min(30*time.Second, t.workItemVisibility/3)
}

// report logs how many faults were injected, when there were any.
func (t *tuningFlags) report(log *slog.Logger) {
	if t.faults == nil {
		return
	}
	n := int64(0)
	for _, v := range t.faults.Injected() {
		n += v
	}
	log.Warn("worker: storage faults injected", "total", n, "byKind", fmt.Sprint(t.faults.Injected()))
}

package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newDemo) }

// DemoTaskHub is the task hub of `make demo`.
const DemoTaskHub = "DemoHub"

// demoPoll is the demo's longest wait between polls of an idle queue: the
// samples' timers (retries, the monitor's interval) are a few seconds long.
const demoPoll = time.Second

func newDemo(a *app) *cobra.Command {
	var sf *storageFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "demo",
		Hidden: true, // make demo runs it
		Short:  "Run every sample once on the local Azurite (or $" + EnvConnectionString + ") and print the results",
		Long: `Creates the task hub DemoHub, runs a worker in this process, starts every
sample (hello cities, repository indexing, two orders, an approval that is
granted once it waits, a monitor), prints each instance's id, status and
output, and stops what it started. Without storage flags it uses the local
Azurite of --local (data in .azurite/ of the checkout, started if it is not
running), or the account of $` + EnvConnectionString + ` when that is set.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sf.connectionString == "" && sf.account == "" && os.Getenv(EnvConnectionString) == "" {
				sf.local = true
			}
			if sf.taskHub == "" {
				sf.taskHub = DemoTaskHub
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, cmd, a, sf)
		},
	}
	sf = addStorageFlags(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// demoRun is one sample instance the demo starts.
type demoRun struct {
	id, name string
	input    any
	// waiting, if set, is called once the instance's custom status says it
	// waits, for example to raise the event it waits for.
	waiting func(ctx context.Context, c *client.Client, id string) error
}

func demoRuns(suffix string) []demoRun {
	approve := func(ctx context.Context, c *client.Client, id string) error {
		return c.RaiseEvent(ctx, id, "Approval", approval.Decision{Approved: true, By: "demo"})
	}
	return []demoRun{
		{id: "hello-" + suffix, name: hellocities.HelloCities.Name(), input: "cities"},
		{id: "indexing-contoso-" + suffix, name: indexing.IndexRepositories.Name(), input: "contoso"},
		{id: "order-1001-" + suffix, name: orders.ProcessOrder.Name(), input: orders.Order{ID: "1001", Item: "widget", Quantity: 2, Amount: 30}},
		{id: "order-1002-" + suffix, name: orders.ProcessOrder.Name(), input: orders.Order{ID: "1002", Item: "widget", Quantity: 1, Amount: 15, ShippingFails: true}},
		{id: "approval-r1-" + suffix, name: approval.Approval.Name(), input: approval.Request{ID: "r1", Requester: "ann", TimeoutSeconds: 300}, waiting: approve},
		{id: "monitor-j1-" + suffix, name: monitor.Monitor.Name(), input: monitor.Job{ID: "j1", ReadyAfterChecks: 2, IntervalSeconds: 1}},
	}
}

func runDemo(ctx context.Context, cmd *cobra.Command, a *app, sf *storageFlags) error {
	began := time.Now()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	startsAzurite := sf.local && !(reachable(localBlobPort) && reachable(localQueuePort) && reachable(localTablePort))
	if sf.local && !startsAzurite {
		fmt.Fprintf(errOut, "demo: using the Azurite already running on 127.0.0.1:%d-%d\n", localBlobPort, localTablePort)
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	wo := worker.Options{ShutdownTimeout: DefaultDrainTimeout}
	// The samples are hosted whatever the program registered: Samples
	// needs the account, so it is added through the host's registration
	// step (dedupe keeps the program's own copy when it has one).
	da := &app{register: append(append([]func(HostInfo) ([]durable.Registrable, error){}, a.register...), Samples), logLevel: a.logLevel}
	h, err := startHost(workerCtx, cmd, da, sf, func(o *azurestorage.Options) { o.MaxPollingInterval = demoPoll }, wo, false)
	if err != nil {
		return err
	}
	defer h.release()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopWorker()
		return h.wait()
	}
	defer func() { _ = stop() }()
	fmt.Fprintf(errOut, "demo: task hub %s (%d partitions) on %s, worker %s\n", sf.taskHub, h.partitions, h.account.Endpoints().Queue, h.be.WorkerID())

	c := client.New(h.be, client.Options{})
	runs := demoRuns(runSuffix())
	for _, r := range runs {
		if _, err := c.ScheduleNew(ctx, r.name, r.input, client.WithInstanceID(r.id)); err != nil {
			return fmt.Errorf("starting %s: %w", r.name, err)
		}
	}
	for _, r := range runs {
		if r.waiting == nil {
			continue
		}
		if err := waitUntilWaiting(ctx, c, r.id); err != nil {
			return err
		}
		if err := r.waiting(ctx, c, r.id); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "demo: %s waits for approval: raised the Approval event\n", r.id)
	}
	states := make([]*client.State, len(runs))
	for i, r := range runs {
		s, err := c.WaitForCompletion(ctx, r.id, client.PollInterval(20*time.Millisecond, 250*time.Millisecond))
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", r.id, err)
		}
		states[i] = s
	}
	if err := stop(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "INSTANCE\tORCHESTRATION\tSTATUS\tOUTPUT\n")
	var failed []string
	for _, s := range states {
		output := "-"
		if s.Output != nil {
			output = *s.Output
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.InstanceID, s.Name, s.Status, output)
		if s.Status != client.Completed {
			failed = append(failed, s.InstanceID)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("not completed: %s", strings.Join(failed, ", "))
	}
	fmt.Fprintf(errOut, "demo: %d instances completed in %.1fs; the worker stopped and released its partitions\n", len(states), time.Since(began).Seconds())
	where := " --local"
	switch {
	case sf.local:
	case sf.connectionString != "":
		where = " --connection-string ..."
	case sf.account != "":
		where = " --account " + sf.account
	default:
		where = "" // $AZURE_STORAGE_CONNECTION_STRING
	}
	if startsAzurite {
		fmt.Fprintf(errOut, "demo: stopping the local Azurite; its data stays in %s\n", azurite.LocalDataDir())
	}
	fmt.Fprintf(errOut, "demo: see the instances with: azdurable instances list%s --task-hub %s\n", where, sf.taskHub)
	return nil
}

// waitUntilWaiting polls the instance until its custom status says it waits
// (the approval sample sets "waiting for approval").
func waitUntilWaiting(ctx context.Context, c *client.Client, id string) error {
	delay := 20 * time.Millisecond
	for {
		s, err := c.GetState(ctx, id)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("waiting for %s to wait for its event: %w", id, err)
		}
		if err == nil && s.CustomStatus != nil && strings.Contains(*s.CustomStatus, "waiting") {
			return nil
		}
		if err == nil && s.Status.IsTerminal() {
			return fmt.Errorf("%s ended (%s) before it waited for its event", id, s.Status)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s to wait for its event: %w", id, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// runSuffix makes the demo's instance ids unique, so that runs on the kept
// local data add instances instead of replacing the last run's.
func runSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

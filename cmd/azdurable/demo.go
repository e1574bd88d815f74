package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// DemoTaskHub is the task hub of `make demo`.
const DemoTaskHub = "DemoHub"

// demoPoll is the demo's longest wait between polls of an idle queue: the
// samples' timers (retries, the monitor's interval) are a few seconds long.
const demoPoll = time.Second

// demoFlags are the demo's storage flags, named as the built-in commands
// name theirs.
type demoFlags struct {
	connectionString string
	account          string
	local            bool
	taskHub          string
	partitions       int
}

// newDemo is the demo command: every sample once, on a worker in this
// process.
func newDemo() *cobra.Command {
	sf := &demoFlags{}
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "demo",
		Hidden: true, // make demo runs it
		Short:  "Run every sample once on the local Azurite (or $" + cli.EnvConnectionString + ") and print the results",
		Long: `Creates the task hub DemoHub, runs a worker in this process, starts every
sample (hello cities, repository indexing, two orders, an approval that is
granted once it waits, a monitor), prints each instance's id, status and
output, and stops what it started. Without storage flags it uses the local
Azurite of --local (data in .azurite/ of the checkout, started if it is not
running), or the account of $` + cli.EnvConnectionString + ` when that is set.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sf.connectionString == "" && sf.account == "" && os.Getenv(cli.EnvConnectionString) == "" {
				sf.local = true
			}
			if sf.taskHub == "" {
				sf.taskHub = DemoTaskHub
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, cmd, sf)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sf.connectionString, "connection-string", "", "storage connection string (default $"+cli.EnvConnectionString+")")
	fl.StringVar(&sf.account, "account", "", "storage account name, authenticated with azidentity")
	fl.BoolVar(&sf.local, "local", false, "use the local Azurite of make demo (127.0.0.1:10000-10002, data in .azurite/), starting it if it is not running")
	fl.StringVar(&sf.taskHub, "task-hub", os.Getenv(cli.EnvTaskHub), "task hub name (default "+DemoTaskHub+")")
	fl.IntVar(&sf.partitions, "partitions", azurestorage.DefaultPartitions, "the task hub's partition count (1-16)")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// open returns the storage account the flags name, and a function that
// releases what open started (a local Azurite).
func (f *demoFlags) open(ctx context.Context, cmd *cobra.Command) (*storage.Account, func(), error) {
	noop := func() {}
	switch {
	case f.local:
		return azurite.OpenLocal(ctx, cmd.ErrOrStderr())
	case f.connectionString != "":
		a, err := storage.ParseConnectionString(f.connectionString)
		return a, noop, err
	case os.Getenv(cli.EnvConnectionString) != "":
		a, err := storage.ParseConnectionString(os.Getenv(cli.EnvConnectionString))
		return a, noop, err
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, noop, fmt.Errorf("azidentity: %w", err)
	}
	a, err := storage.FromAccountName(f.account, cred)
	return a, noop, err
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

func runDemo(ctx context.Context, cmd *cobra.Command, sf *demoFlags) error {
	began := time.Now()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	startsAzurite := sf.local && !azurite.LocalRunning()
	if sf.local && !startsAzurite {
		fmt.Fprintf(errOut, "demo: using the Azurite already running on 127.0.0.1:%d-%d\n", azurite.LocalBlobPort, azurite.LocalTablePort)
	}
	acct, release, err := sf.open(ctx, cmd)
	if err != nil {
		return err
	}
	defer release()
	be, err := azurestorage.New(azurestorage.Options{TaskHub: sf.taskHub, Account: acct, Partitions: sf.partitions,
		Logger: logger(cmd), MaxPollingInterval: demoPoll})
	if err != nil {
		return err
	}
	regs, err := Samples(cli.HostInfo{Account: acct, TaskHub: sf.taskHub})
	if err != nil {
		return err
	}
	w := worker.New(be, worker.Options{ShutdownTimeout: cli.DefaultDrainTimeout, Logger: logger(cmd)})
	if err := w.Register(regs...); err != nil {
		return err
	}
	if err := be.CreateTaskHub(ctx); err != nil {
		return err
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	done := make(chan error, 1)
	go func() { done <- w.Run(workerCtx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopWorker()
		return <-done
	}
	defer func() { _ = stop() }()
	fmt.Fprintf(errOut, "demo: task hub %s (%d partitions) on %s, worker %s\n", sf.taskHub, sf.partitions, acct.Endpoints().Queue, be.WorkerID())

	c := client.New(be, client.Options{})
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

package main

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/azdurable/azdurable/internal/bench"
	"github.com/spf13/cobra"
)

// newBench is the bench command, which measures scenarios on real storage.
func newBench() *cobra.Command {
	var cfg bench.Config
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Benchmark a scenario and count every storage call (chain, fanout, events, starts, idle)",
		Long: `Runs one scenario on real workers and real storage and reports throughput,
latency and every storage call made (by service, category and operation):

  chain   --count instances (100) of --length sequential activities (5)
  fanout  one orchestration fanning out to --count activities (1000) and in
  events  --count waiting instances (100), each sent --length events (1)
  starts  --count short orchestrations (500) of --length activities (0), started at once
  idle    no work for --count seconds (150): idle calls per minute after the first
          minute's back-off ramp, compared with C#'s defaults; then one start's pickup

"bench scaleout [fanout|chain]" runs the scenario (fanout by default) on 1, 2
and 4 worker processes in turn, with the same flags, and prints the speed-up
of each against one process and the share of the activities each process ran;
give the activities a duration (--activity-time 200ms) so that the run
measures how work spreads, not the cores of the machine.

Storage is an in-memory Azurite started for the run unless --connection-string
is given (use a scratch account: the bench creates and deletes its own task
hub). Every call counts, from the hub's creation to the client seeing the last
instance finish: the workers' queue, table and blob calls, empty polls,
partition and app-lease traffic, retries, and the client's starts and
completion polls. Before the scenario the raw storage ceiling of the same
endpoint is measured (enqueue, dequeue+delete, table batch, table write; 8
concurrent) and the result is judged against it.

--compare-csharp runs the C# backend (dtfx-ref bench, from $DTFX_REF or
../shared/csharp-reference/dtfx-ref) with the same scenario, sizes, partition
count and polling cap on the same storage afterwards, and prints both results
and the ratios. dtfx-ref's client starts its instances one at a time, so the
azdurable run does too unless --starters is given: latency under load depends
on how fast instances arrive. With --json the output is
{"azdurable": {...}, "csharp": <dtfx-ref's JSON>, "ratios": {...}}.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 && args[0] == "scaleout" {
				return nil
			}
			if len(args) != 1 {
				return usagef("bench needs one scenario: %s", strings.Join(bench.Scenarios, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Scenario = args[0]
			scaleOut := cfg.Scenario == "scaleout"
			if scaleOut {
				cfg.Scenario = bench.FanOut
				if len(args) == 2 {
					cfg.Scenario = args[1]
				}
			}
			valid := false
			for _, s := range bench.Scenarios {
				valid = valid || s == cfg.Scenario
			}
			if !valid {
				return usagef("unknown scenario %q: use one of %s", cfg.Scenario, strings.Join(bench.Scenarios, ", "))
			}
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cfg.Logger = logger(cmd)
			if exe, err := os.Executable(); err == nil {
				cfg.Executable = exe
				cfg.WorkerArgs = []string{"bench", "worker", "--log-level", logLevel(cmd)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if scaleOut {
				rep, err := bench.RunScaleOut(ctx, cfg, nil)
				if err != nil {
					return err
				}
				if asJSON {
					return rep.WriteJSON(cmd.OutOrStdout())
				}
				return rep.WriteTable(cmd.OutOrStdout())
			}
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			return rep.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Count, "count", 0, "size: instances (chain 100, events 100, starts 500), fan-out activities (1000), idle seconds (150)")
	f.IntVar(&cfg.Length, "length", 0, "activities per chain (5), events per instance (1), activities per start (0)")
	f.IntVar(&cfg.Workers, "workers", 0, "workers in this process, each with its own backend (default 1, or 0 with --processes)")
	f.IntVar(&cfg.Processes, "processes", 0, "separate worker processes (this executable's \"bench worker\")")
	f.IntVar(&cfg.Partitions, "partitions", 4, "the task hub's partition count (1-16)")
	f.StringVar(&cfg.ConnectionString, "connection-string", "", "storage connection string (default: an in-memory Azurite started for the run)")
	f.DurationVar(&cfg.MaxPoll, "max-poll", 0, "the workers' queue polling cap (default 30s, the C# default); passed to dtfx-ref too")
	f.DurationVar(&cfg.ClientPoll, "client-poll", 2*time.Second, "the client's fixed completion-polling interval, as dtfx-ref's C# client polls; 0 uses the client's own back-off (200ms growing to 2s)")
	f.BoolVar(&cfg.WaitEach, "wait-each", false, "wait for all instances at once, each polled on its own (default: one after another in start order, as dtfx-ref's client does)")
	f.IntVar(&cfg.Starters, "starters", 0, "concurrent client starts and raises (default 8; 1 with --compare-csharp, as dtfx-ref starts one instance at a time)")
	f.IntVar(&cfg.Activities, "activities", 0, "activity concurrency per worker (default: the worker's)")
	f.IntVar(&cfg.Orchestrations, "orchestrations", 0, "orchestration concurrency per worker (default: the worker's)")
	f.BoolVar(&cfg.NoLocalResults, "no-local-results", false, "send activity results through the control queue even for owned partitions (C#'s path)")
	f.BoolVar(&cfg.NoLocalActivities, "no-local-activities", false, "send every activity through the work-item queue visibly (C#'s path)")
	f.DurationVar(&cfg.ActivityTime, "activity-time", 0, "how long each activity takes (it sleeps, honouring cancellation); 0 returns at once")
	f.BoolVar(&cfg.NoCeiling, "no-ceiling", false, "skip the raw storage ceiling measurement")
	f.DurationVar(&cfg.CeilingDuration, "ceiling-duration", 0, "how long each raw operation is measured (default 2s)")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound of the scenario (default 5m)")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	f.BoolVar(&cfg.CompareCSharp, "compare-csharp", false, "also run dtfx-ref bench (C#) on the same storage and print both with ratios (chain and fanout)")
	f.StringVar(&cfg.DtfxRef, "dtfx-ref", "", "the dtfx-ref program (default $DTFX_REF, else ../shared/csharp-reference/dtfx-ref)")
	f.BoolVar(&cfg.CSharpExtendedSessions, "csharp-extended-sessions", false, "turn on C#'s extended sessions (history cache) in dtfx-ref")
	cmd.AddCommand(newBenchWorker(), newSidecarBench(), newEntitiesBench())
	return cmd
}

// newBenchWorker is the worker process the bench starts for --processes.
func newBenchWorker() *cobra.Command {
	var p bench.WorkerProcess
	cmd := &cobra.Command{
		Use:    "worker",
		Short:  "A benchmark worker process (started by azdurable bench --processes)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Hub == "" || p.WorkerID == "" {
				return usagef("--hub and --worker-id are required")
			}
			p.Logger = logger(cmd)
			return bench.RunWorkerProcess(cmd.Context(), p, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Hub, "hub", "", "task hub")
	f.IntVar(&p.Partitions, "partitions", 4, "partition count")
	f.StringVar(&p.WorkerID, "worker-id", "", "worker id")
	f.DurationVar(&p.MaxPoll, "max-poll", 0, "polling cap")
	f.IntVar(&p.Activities, "activities", 0, "activity concurrency")
	f.IntVar(&p.Orchestrations, "orchestrations", 0, "orchestration concurrency")
	f.BoolVar(&p.NoLocalResults, "no-local-results", false, "no local results")
	f.BoolVar(&p.NoLocalActivities, "no-local-activities", false, "no local activities")
	f.DurationVar(&p.ActivityTime, "activity-time", 0, "activity duration")
	return cmd
}

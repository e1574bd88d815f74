package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/azdurable/azdurable/internal/bench"
	"github.com/spf13/cobra"
)

// DefaultSidecarBenchScript is the JavaScript driver of "azdurable bench
// sidecar", relative to the repository's root.
const DefaultSidecarBenchScript = "internal/sidecar/e2e/bench/bench.js"

// newSidecarBench is "azdurable bench sidecar": the bench's chain and
// fan-out through a sidecar, driven by the JavaScript SDK, next to the same
// scenario in an in-process Go worker.
func newSidecarBench() *cobra.Command {
	var cfg bench.SidecarConfig
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "sidecar chain|fanout [flags]",
		Short: "Measure the chain or fan-out through a sidecar with the JavaScript SDK, next to a Go worker",
		Long: `Runs the bench scenario (chain: --count instances of --length activities; fanout:
one instance of --count activities) twice on the same storage: first with the
Durable Task JavaScript SDK's worker and client talking to a sidecar in this
process (every storage call of the sidecar counted), then with an in-process Go
worker (as azdurable bench). Prints both, with throughput and storage calls per
activity.

It needs node and the SDK installed by make sidecar-test (npm ci in
internal/sidecar/e2e); run it from the repository's root or give --script.
Storage is an in-memory Azurite started for the run unless --connection-string
is given.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Scenario = args[0]
			if cfg.Scenario != bench.Chain && cfg.Scenario != bench.FanOut {
				return usagef("unknown scenario %q: use chain or fanout", cfg.Scenario)
			}
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cfg.Logger = logger(cmd)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := bench.RunSidecar(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			return rep.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Count, "count", 0, "instances (chain, 100) or activities (fanout, 1000)")
	f.IntVar(&cfg.Length, "length", 0, "activities per chain (5)")
	f.IntVar(&cfg.Partitions, "partitions", 4, "each task hub's partition count (1-16)")
	f.StringVar(&cfg.ConnectionString, "connection-string", "", "storage connection string (default: an in-memory Azurite started for the run)")
	f.DurationVar(&cfg.MaxPoll, "max-poll", 0, "the queue polling cap on both sides (default 30s, the C# default)")
	f.StringVar(&cfg.Node, "node", "node", "the node program")
	f.StringVar(&cfg.Script, "script", DefaultSidecarBenchScript, "the JavaScript driver")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound of each run (default 5m)")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}

package main

import (
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/azdurable/azdurable/internal/bench"
	"github.com/spf13/cobra"
)

// newEntitiesBench is "azdurable bench entities": entity signals from a
// client and entity calls from orchestrations, with their storage calls,
// beside the extension's documented figure and, with --compare-dfx,
// dfx-ref on the same storage.
func newEntitiesBench() *cobra.Command {
	var cfg bench.EntitiesConfig
	var quiet bool
	cmd := &cobra.Command{
		Use:   "entities [flags]",
		Short: "Measure entity signals from a client and entity calls from orchestrations (JSON)",
		Long: `Runs one worker hosting a Counter entity (dfx-ref's: add, get) and measures, on
real storage with every storage call counted:

  clientSignals       --signals "add 1" signals (1000) from the client over --keys
                      counters (10), --starters at a time (8), until the counters
                      hold them all
  orchestrationCalls  --orchestrations orchestrations (20) each calling "add 1"
                      --calls times (10) one after another, until all completed

Each phase reports operations per second, storage calls per operation and
latencies (signals: the client's send; calls: an orchestration's run time over
its calls). The report carries the extension's documented figure for entities
on Azure Storage (about 64 operations per second on a small VM); --compare-dfx
runs the signals through dfx-ref worker's HTTP API (POST
entities/counter/KEY?op=add) on a fresh hub of the same storage, holding the
flock of /tmp/dfx-ref.lock as every dfx-ref run does.

Storage is an in-memory Azurite started for the run unless --connection-string
is given. The output is JSON.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cfg.Logger = logger(cmd)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := bench.RunEntities(ctx, cfg)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Signals, "signals", 1000, "client signals")
	f.IntVar(&cfg.Keys, "keys", 10, "counters the operations spread over")
	f.IntVar(&cfg.Orchestrations, "orchestrations", 20, "orchestrations calling the counters")
	f.IntVar(&cfg.Calls, "calls", 10, "calls per orchestration, one after another")
	f.IntVar(&cfg.Starters, "starters", 8, "concurrent signals and starts")
	f.IntVar(&cfg.Partitions, "partitions", 4, "the task hub's partition count (1-16)")
	f.DurationVar(&cfg.MaxPoll, "max-poll", 0, "the worker's queue polling cap (default 30s, the C# default)")
	f.StringVar(&cfg.ConnectionString, "connection-string", "", "storage connection string (default: an in-memory Azurite started for the run)")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound of each phase (default 5m)")
	f.BoolVar(&cfg.CompareDfx, "compare-dfx", false, "also send the signals through dfx-ref worker's HTTP API on the same storage")
	f.StringVar(&cfg.DfxRef, "dfx-ref", "", "the dfx-ref program (default $DFX_REF, else dfx-ref beside dtfx-ref)")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}

// writeJSON writes v as indented JSON, the output of the bench commands.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Command chaos is the azdurable command line with the chaos workload
// registered (so "chaos worker ..." is an azdurable worker that hosts it),
// plus "chaos run", which runs the workload on several such workers while
// it kills them, and prints a JSON summary. make chaos runs it.
//
//	chaos run [--instances 280] [--workers 3] [--partitions 8] [--kill-every 4s]
//	          [--fault-rate 0] [--timeout 8m] [--kinds all|orchestrations|entities|K,K] [--dir DIR]
//
// Without $AZURE_STORAGE_CONNECTION_STRING it starts an in-memory Azurite
// for the run. It exits 1 unless every instance completed with the right
// output and every history passed the checks.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/internal/chaos"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run" {
		os.Exit(run(os.Args[2:]))
	}
	cli.Main(cli.WithRegistrations(chaos.Registrations()...))
}

func run(args []string) int {
	fs := flag.NewFlagSet("chaos run", flag.ContinueOnError)
	cfg := chaos.Config{Settings: chaos.ShortSettings()}
	fs.IntVar(&cfg.Instances, "instances", 280, "top-level instances (their sub-orchestrations come on top)")
	fs.IntVar(&cfg.Workers, "workers", 3, "worker processes")
	fs.IntVar(&cfg.Partitions, "partitions", 8, "the task hub's partitions")
	fs.Float64Var(&cfg.StartRate, "start-rate", 10, "instance starts per second")
	fs.DurationVar(&cfg.KillEvery, "kill-every", 4*time.Second, "mean time between SIGKILLs of a random worker (0: none)")
	fs.Float64Var(&cfg.Settings.FaultRate, "fault-rate", 0, "share of the workers' storage calls that fail on purpose")
	fs.DurationVar(&cfg.Timeout, "timeout", 8*time.Minute, "give up waiting for the instances after this long")
	fs.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the kill schedule")
	kinds := fs.String("kinds", "all", "instance kinds: all, orchestrations, entities, or a comma-separated list of "+strings.Join(chaos.Kinds, ","))
	fs.StringVar(&cfg.Dir, "dir", "", "where the workers' logs go (default a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch *kinds {
	case "all":
		cfg.Kinds = chaos.Kinds
	case "orchestrations":
		cfg.Kinds = chaos.OrchestrationKinds
	case "entities":
		cfg.Kinds = chaos.EntityKinds
	default:
		for _, k := range strings.Split(*kinds, ",") {
			if !slices.Contains(chaos.Kinds, k) {
				fmt.Fprintf(os.Stderr, "chaos: unknown kind %q (known: %s)\n", k, strings.Join(chaos.Kinds, ","))
				return 2
			}
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	cfg.Command = []string{exe}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "azdurable-chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
	}
	cfg.Dir, _ = filepath.Abs(cfg.Dir)
	cfg.ConnectionString = os.Getenv(cli.EnvConnectionString)
	if cfg.ConnectionString == "" {
		srv, err := azurite.Start(ctx, azurite.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		defer srv.Stop()
		cfg.ConnectionString = srv.ConnectionString()
	}
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	s, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	fmt.Println(string(out))
	if !s.OK {
		fmt.Fprintf(os.Stderr, "chaos: the run lost, stranded or broke work; the workers' logs are in %s\n", cfg.Dir)
		return 1
	}
	return 0
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// DefaultSidecarListen is the sidecar's default address: the port the
// Durable Task SDKs connect to when given none (localhost:4001), on
// loopback only.
const DefaultSidecarListen = "127.0.0.1:4001"

// sidecarContext ends the sidecar: on SIGINT or SIGTERM (tests replace it).
var sidecarContext = func(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// newSidecarServer makes the server (tests read the options it is given).
var newSidecarServer = sidecar.New

func newSidecar(a *app) *cobra.Command {
	var listen string
	var inMemory, withWorker bool
	var maxOrch, maxAct, maxEnt int
	var visibility time.Duration
	cmd := &cobra.Command{
		Use:   "sidecar --task-hub NAME [--listen ADDRESS] [storage flags]",
		Short: "Serve the Durable Task SDKs' gRPC protocol for a task hub",
		Long: `Serves TaskHubSidecarService, the gRPC protocol of the portable Durable Task
SDKs (JavaScript, Python, Java, .NET), for the task hub until interrupted: SDK
clients start, query, raise events to, suspend, terminate, rewind, restart and
purge instances that every azdurable command, C# tool and Go worker of the hub
sees as its own. Point an SDK at it with its host address (the SDKs' default
is localhost:4001) and TLS off.

SDK workers connect to it too (GetWorkItems): while at least one is connected
the sidecar owns a share of the hub's partitions, as every worker does, and
hands their work items to the workers whose filters accept them, at most
--max-orchestrations-per-worker, --max-activities-per-worker and
--max-entities-per-worker at a time at a worker that sets no limit of its own.
Several sidecars on one hub share its partitions. A worker that goes away
holding work items has them run again elsewhere. Durable entities are served
in the Durable Functions extension's format.

With --worker the orchestrations run instead in this process's Go worker,
which hosts the orchestrations and activities this binary was built with; SDK
workers are then refused.

The protocol has no authentication and no TLS: the default address is on
loopback. Listening elsewhere admits anyone who can reach the port.

--memory keeps the hub in this process's memory (for tests; everything is lost
when the sidecar stops).`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", DefaultSidecarListen, "address to listen on (host:port; port 0 picks a free one)")
	fl.BoolVar(&inMemory, "memory", false, "keep the task hub in memory instead of storage (tests)")
	fl.BoolVar(&withWorker, "worker", false, "also run a worker for this binary's registrations (SDK workers are then refused)")
	fl.IntVar(&maxOrch, "max-orchestrations-per-worker", sidecar.DefaultMaxOrchestrationsPerWorker,
		"orchestration work items in flight at most at one SDK worker that sets no limit")
	fl.IntVar(&maxAct, "max-activities-per-worker", sidecar.DefaultMaxActivitiesPerWorker,
		"activity work items in flight at most at one SDK worker that sets no limit")
	fl.IntVar(&maxEnt, "max-entities-per-worker", 0,
		"entity work items in flight at most at one SDK worker that sets no limit (0: as --max-orchestrations-per-worker)")
	fl.DurationVar(&visibility, "message-visibility", queues.DefaultVisibility,
		"how long received queue messages stay hidden: a sidecar that dies holding work items delays them this long (C#'s 5m by default)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		// Checked before storage is opened (--local starts Azurite).
		if maxOrch < 1 || maxAct < 1 {
			return usagef("--max-orchestrations-per-worker and --max-activities-per-worker must be at least 1")
		}
		if maxEnt < 0 {
			return usagef("--max-entities-per-worker must be 0 (as --max-orchestrations-per-worker) or more")
		}
		if visibility < 15*time.Second || visibility > time.Hour {
			return usagef("--message-visibility must be between 15s and 1h")
		}
		ctx, stop := sidecarContext(cmd.Context())
		defer stop()
		if _, err := sf.hub(); err != nil {
			return err
		}
		var be provider.Backend
		var acct *storage.Account
		if inMemory {
			if sf.local || sf.connectionString != "" || sf.account != "" {
				return usagef("--memory cannot be combined with --local, --connection-string or --account")
			}
			be = memory.New(memory.Options{TaskHub: sf.taskHub, Partitions: sf.partitions, Logger: logger(cmd)})
		} else {
			azbe, release, err := sf.backend(ctx, cmd, func(o *azurestorage.Options) {
				acct = o.Account
				o.ControlQueueVisibility, o.WorkItemVisibility = visibility, visibility
			})
			defer release()
			if err != nil {
				return err
			}
			be = azbe
		}
		regs, err := a.registrations(HostInfo{Account: acct, TaskHub: sf.taskHub})
		if err != nil {
			return err
		}
		if withWorker && len(regs) == 0 {
			return usagef("--worker: this binary has no orchestrations; build your own with cli.Main(cli.WithRegistrations(...))")
		}
		srv, err := newSidecarServer(sidecar.Options{Backend: be, TaskHub: sf.taskHub, Logger: logger(cmd), GoWorker: withWorker,
			MaxOrchestrationsPerWorker: maxOrch, MaxActivitiesPerWorker: maxAct, MaxEntitiesPerWorker: maxEnt,
			// An activity's lock is renewed well before it would expire.
			ActivityRenewInterval: visibility / 3})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		if withWorker || inMemory {
			// A hub in memory exists only once created; a worker needs it.
			if err := be.CreateTaskHub(ctx); err != nil {
				ln.Close()
				return err
			}
		}
		var workerDone chan error // nil without a worker: never ready
		wctx, stopWorker := context.WithCancel(ctx)
		defer stopWorker()
		if withWorker {
			w := worker.New(be, worker.Options{Logger: logger(cmd)})
			if err := w.Register(regs...); err != nil {
				ln.Close()
				return err
			}
			workerDone = make(chan error, 1)
			go func() { workerDone <- w.Run(wctx) }()
		}
		fmt.Fprintf(cmd.OutOrStdout(), "sidecar for task hub %s listening on %s\n", sf.taskHub, ln.Addr())
		if !isLoopback(ln.Addr()) {
			fmt.Fprintln(cmd.ErrOrStderr(), "the sidecar has no authentication and no TLS: anyone who reaches this address can manage the task hub")
		}
		sctx, stopServing := context.WithCancel(ctx)
		defer stopServing()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(sctx, ln) }()
		select {
		case err = <-served:
		case err = <-workerDone:
			workerDone = nil
			if err == nil && ctx.Err() == nil {
				err = errors.New("the worker stopped")
			}
			stopServing()
			if serr := <-served; err == nil {
				err = serr
			}
		}
		stopWorker()
		if workerDone != nil {
			if werr := <-workerDone; err == nil {
				err = werr
			}
		}
		return err
	}
	return cmd
}

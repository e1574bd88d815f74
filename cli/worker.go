package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// DefaultDrainTimeout bounds each of the two shutdown steps of `azdurable
// worker` (finishing in-flight work, then releasing the partitions), so that
// the process exits within 30 s of SIGTERM.
const DefaultDrainTimeout = 12 * time.Second

// stopSignals end a worker with a drain: SIGTERM (a deployment's stop),
// SIGINT (Ctrl-C) and SIGHUP (a closed terminal or session), which would
// otherwise end the process at once with its partitions still owned.
var stopSignals = []os.Signal{syscall.SIGTERM, os.Interrupt, syscall.SIGHUP}

// hostFlags are the worker settings that `worker` and `demo` share.
type hostFlags struct {
	workerID         string
	appName          string
	encoding         string
	partitionManager string
	maxOrchestration int
	maxActivities    int
	maxPoll          float64
	drainTimeout     time.Duration
	maxDequeueCount  int
	tuning           *tuningFlags
	shortcuts        *shortcutFlags
}

func addHostFlags(cmd *cobra.Command) *hostFlags {
	h := &hostFlags{}
	fl := cmd.Flags()
	fl.StringVar(&h.workerID, "worker-id", "", "this worker's id in partition leases (default <hostname>-<pid>, unique on the host)")
	fl.StringVar(&h.appName, "app-name", azurestorage.DefaultAppName(), "app name of the app lease; use the same one as the hub's other workers, C# included (default as C#: $WEBSITE_SITE_NAME, else $DTFX_APP_NAME)")
	fl.StringVar(&h.encoding, "encoding", "utf8", "encoding of the queue messages written: utf8 or base64 (both are always read)")
	fl.StringVar(&h.partitionManager, "partition-manager", "table", "partition ownership protocol: table (the <Hub>Partitions table, C#'s default) or safe (blob leases)")
	fl.IntVar(&h.maxOrchestration, "max-concurrent-orchestrations", 100, "orchestration episodes in flight at most")
	fl.IntVar(&h.maxActivities, "max-concurrent-activities", 10, "activities in flight at most")
	fl.Float64Var(&h.maxPoll, "max-poll", queues.DefaultMaxPollInterval.Seconds(), "longest wait between polls of an idle queue, in seconds")
	fl.DurationVar(&h.drainTimeout, "drain-timeout", DefaultDrainTimeout, "on shutdown, how long in-flight work may take to finish, and then the partitions to be released")
	fl.IntVar(&h.maxDequeueCount, "max-dequeue-count", provider.DefaultMaxDequeueCount, "a message received more often than this without being processed is moved to the <hub>-poison container (0: never, as C#)")
	h.tuning = addTuningFlags(cmd)
	h.shortcuts = addShortcutFlags(cmd)
	return h
}

// settings validates the flags and returns how to adjust the backend's
// options and the worker's.
func (h *hostFlags) settings(cmd *cobra.Command) (func(*azurestorage.Options), worker.Options, error) {
	enc, err := queues.ParseEncoding(h.encoding)
	if err != nil || h.encoding == "" {
		return nil, worker.Options{}, usagef("--encoding must be utf8 or base64, not %q", h.encoding)
	}
	pm, err := parsePartitionManager(h.partitionManager)
	if err != nil {
		return nil, worker.Options{}, err
	}
	switch {
	case h.maxOrchestration < 1:
		return nil, worker.Options{}, usagef("--max-concurrent-orchestrations must be at least 1")
	case h.maxActivities < 1:
		return nil, worker.Options{}, usagef("--max-concurrent-activities must be at least 1")
	case h.maxPoll <= 0 || h.maxPoll > 3600:
		return nil, worker.Options{}, usagef("--max-poll must be more than 0 and at most 3600 seconds")
	case h.drainTimeout <= 0:
		return nil, worker.Options{}, usagef("--drain-timeout must be positive")
	case h.maxDequeueCount < 0:
		return nil, worker.Options{}, usagef("--max-dequeue-count must be 0 (never quarantine) or more")
	}
	if err := h.tuning.validate(); err != nil {
		return nil, worker.Options{}, err
	}
	if err := h.shortcuts.validate(); err != nil {
		return nil, worker.Options{}, err
	}
	adjust := func(o *azurestorage.Options) {
		o.WorkerID = h.workerID
		o.AppName = h.appName
		o.Encoding = enc
		o.PartitionManager = pm
		o.MaxPollingInterval = time.Duration(h.maxPoll * float64(time.Second))
		o.MaxDequeueCount = h.maxDequeueCount
		if h.maxDequeueCount == 0 {
			o.MaxDequeueCount = -1
		}
		h.tuning.apply(o)
		h.shortcuts.apply(o)
	}
	wo := worker.Options{
		MaxConcurrentOrchestrations: h.maxOrchestration,
		MaxConcurrentActivities:     h.maxActivities,
		ShutdownTimeout:             h.drainTimeout,
		ActivityRenewInterval:       h.tuning.activityRenewInterval(),
		Logger:                      logger(cmd),
	}
	return adjust, wo, nil
}

func parsePartitionManager(s string) (azurestorage.PartitionManager, error) {
	switch s {
	case "table":
		return azurestorage.TablePartitions, nil
	case "safe":
		return azurestorage.SafeBlobLeases, nil
	}
	return 0, usagef("--partition-manager must be table or safe, not %q", s)
}

func partitionManagerName(pm azurestorage.PartitionManager) string {
	if pm == azurestorage.SafeBlobLeases {
		return "safe"
	}
	return "table"
}

func newWorker(a *app) *cobra.Command {
	var sf *storageFlags
	var hf *hostFlags
	var mf *metricsFlags
	flagged := make([]bool, len(a.flagged)) // WithRegistrationFlag's flags
	cmd := &cobra.Command{
		Use:   "worker --task-hub NAME [storage flags]",
		Short: "Run a worker for a task hub until SIGTERM, SIGINT or SIGHUP",
		Long: `Runs a worker that hosts this program's orchestrations and activities (for
the azdurable program: the samples; with --conformance also the reference
set shared with the C# backend) on a task hub, creating the hub if it is
missing. Once it runs it prints one JSON line {"event":"started",...} to
standard output. On SIGTERM, SIGINT or SIGHUP it stops taking work, lets
in-flight work finish for --drain-timeout, gives back to its queue the
activities still running then (their context is cancelled; the next worker
runs them again), releases its partitions, prints {"event":"stopped",...}
and exits 0; a second signal ends it at once.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), stopSignals...)
			defer stop()
			// Restore the default handling once the first signal arrived, so
			// that a second one ends a drain that takes too long.
			go func() { <-ctx.Done(); stop() }()
			adjust, wo, err := hf.settings(cmd)
			if err != nil {
				return err
			}
			if err := mf.open(); err != nil {
				return err
			}
			defer mf.close()
			adjust, wo.Observer = mf.adjust(adjust), mf.observer()
			var extra []func(HostInfo) ([]durable.Registrable, error)
			for i, fr := range a.flagged {
				if flagged[i] {
					extra = append(extra, fr.f)
				}
			}
			h, err := startHost(ctx, cmd, a, sf, adjust, wo, extra)
			if err != nil && ctx.Err() != nil && cmd.Context().Err() == nil {
				return nil // asked to stop by a signal before it was running
			}
			if err != nil {
				return storageErrorLine(err)
			}
			defer h.release()
			stopMetrics, err := mf.serve(cmd, h.be, h.regs)
			if err != nil {
				stop()
				_ = h.wait()
				return err
			}
			defer stopMetrics()
			printEvent(cmd.OutOrStdout(), h.event("started"))
			err = h.wait()
			hf.tuning.report(wo.Logger)
			printEvent(cmd.OutOrStdout(), h.event("stopped"))
			return err
		},
	}
	sf = addStorageFlags(cmd)
	hf = addHostFlags(cmd)
	mf = addMetricsFlags(cmd)
	for i, fr := range a.flagged {
		cmd.Flags().BoolVar(&flagged[i], fr.name, false, fr.usage)
	}
	return cmd
}

// host is a running worker on an Azure Storage backend.
type host struct {
	be      *azurestorage.Backend
	account *storage.Account
	hubInfo HostInfo
	release func()
	appName string
	manager azurestorage.PartitionManager
	// partitions is the configured count, which Start has checked is the hub's.
	partitions int
	counts     regCounts
	regs       []durable.Registrable
	done       chan error
}

// startHost opens storage, creates the task hub if it is missing and runs a
// worker with the app's registrations until ctx ends. It returns once the
// backend has started (the app lease and the partitions are then acquired
// in the background). extra are registrations asked for by flags
// (WithRegistrationFlag).
func startHost(ctx context.Context, cmd *cobra.Command, a *app, sf *storageFlags,
	adjust func(*azurestorage.Options), wo worker.Options, extra []func(HostInfo) ([]durable.Registrable, error)) (*host, error) {
	h := &host{done: make(chan error, 1)}
	be, release, err := sf.backend(ctx, cmd, func(o *azurestorage.Options) {
		if adjust != nil {
			adjust(o)
		}
		h.account, h.appName, h.manager, h.partitions = o.Account, o.AppName, o.PartitionManager, o.Partitions
	})
	if err != nil {
		release()
		return nil, err
	}
	h.be, h.release = be, release
	fail := func(err error) (*host, error) { release(); return nil, err }
	h.hubInfo = HostInfo{Account: h.account, TaskHub: sf.taskHub}
	regs, err := a.registrations(h.hubInfo)
	if err != nil {
		return fail(err)
	}
	for _, f := range extra {
		more, err := f(h.hubInfo)
		if err != nil {
			return fail(err)
		}
		regs = append(regs, more...)
	}
	regs, h.counts = dedupe(regs)
	h.regs = regs
	if len(regs) == 0 {
		hint := ""
		for _, fr := range a.flagged {
			hint += ", or pass --" + fr.name
		}
		return fail(usagef("this program hosts no orchestrations or activities: build your own with cli.Main(cli.WithRegistrations(...))%s", hint))
	}
	if wo.Logger == nil {
		wo.Logger = logger(cmd)
	}
	started := make(chan struct{})
	w := worker.New(notifyStart{Backend: be, started: started}, wo)
	if err := w.Register(regs...); err != nil {
		return fail(err)
	}
	if err := be.CreateTaskHub(ctx); err != nil {
		return fail(err)
	}
	go func() { h.done <- w.Run(ctx) }()
	select {
	case <-started:
		return h, nil
	case err := <-h.done:
		if err == nil {
			err = errStopped
		}
		return fail(err)
	}
}

// wait returns when the worker has stopped (its context ended) and
// released its partitions.
func (h *host) wait() error { return <-h.done }

// workerEvent is the JSON line the worker prints when it starts and stops.
type workerEvent struct {
	Event            string `json:"event"`
	TaskHub          string `json:"taskHub"`
	WorkerID         string `json:"workerId"`
	AppName          string `json:"appName"`
	Partitions       int    `json:"partitions"`
	PartitionManager string `json:"partitionManager"`
	Orchestrations   int    `json:"orchestrations"`
	Activities       int    `json:"activities"`
	PID              int    `json:"pid"`
}

func (h *host) event(name string) workerEvent {
	return workerEvent{Event: name, TaskHub: h.hubInfo.TaskHub, WorkerID: h.be.WorkerID(), AppName: h.appName,
		Partitions: h.partitions, PartitionManager: partitionManagerName(h.manager),
		Orchestrations: h.counts.orchestrations, Activities: h.counts.activities, PID: os.Getpid()}
}

func printEvent(w io.Writer, e workerEvent) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(w, "%s\n", b)
}

// notifyStart is the backend with a signal for when the worker has started
// it: worker.Run starts the backend itself and has no hook of its own.
type notifyStart struct {
	*azurestorage.Backend
	started chan struct{}
}

// Start starts the backend and then closes the started channel.
func (n notifyStart) Start(ctx context.Context) error {
	if err := n.Backend.Start(ctx); err != nil {
		return err
	}
	close(n.started)
	return nil
}

type regCounts struct{ orchestrations, activities int }

// dedupe drops registrations whose kind, name (in any case) and version
// were given before, so that sets which share functions (the samples and
// the conformance set share HelloCities) can be hosted together.
func dedupe(items []durable.Registrable) ([]durable.Registrable, regCounts) {
	var out []durable.Registrable
	var n regCounts
	seen := map[string]bool{}
	for _, it := range items {
		kind, key, ok := registrationKey(it)
		if !ok {
			out = append(out, it) // let Register report what is wrong with it
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, it)
		switch kind {
		case "orchestration":
			n.orchestrations++
		case "activity":
			n.activities++
		}
	}
	return out, n
}

// registrationKey is the kind, name (in lower case) and version a handle
// registers.
func registrationKey(it durable.Registrable) (kind, key string, ok bool) {
	e, err := registry.Describe(it)
	if err != nil {
		return "", "", false
	}
	return e.Kind(), e.Kind() + "/" + strings.ToLower(e.Name) + "/" + e.Version, true
}

// SamplesContainer is the blob container of a task hub where the samples
// of the azdurable program save their output: "<lower-case hub>-samples".
// `hub delete` deletes it with the hub.
func SamplesContainer(taskHub string) string { return strings.ToLower(taskHub) + "-samples" }

// storageErrorLine shortens a storage service's refusal to what a person
// needs: what was being done, the status and error code, and for refused
// credentials (401, 403) what to check, instead of the SDK's dump of the
// request and the response body. Other errors are returned as they are.
func storageErrorLine(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	what := strings.TrimSuffix(err.Error(), re.Error())
	line := fmt.Sprintf("%s%d %s", what, re.StatusCode, re.ErrorCode)
	if re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden {
		line += ": the storage account refused the credentials; check the account key, the SAS token (permissions, expiry) " +
			"or the identity's role given by --connection-string, $" + EnvConnectionString + " or --account"
	}
	return errors.New(line)
}

// errStopped reports a worker whose context ended before it started.
var errStopped = errors.New("the worker was stopped before it started")

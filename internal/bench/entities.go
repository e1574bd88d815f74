package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// The entities scenario ("azdurable bench entities"). One worker hosts a
// Counter entity (the name, operations and state of dfx-ref's Counter).
// Phase one: the client sends --signals "add 1" signals spread over --keys
// counters, --starters at a time, and the phase ends when every counter
// holds its count. Phase two: --orchestrations orchestrations each call
// "add 1" --calls times one after another (over the same counters), and
// the phase ends when the client has seen them all complete. Each phase
// reports operations per second, its storage calls (workers' and client's,
// counted as in the other scenarios) per operation, and latencies. With
// --compare-dfx, dfx-ref (the Durable Functions extension) runs phase one
// on the same storage through its HTTP API (POST
// entities/counter/KEY?op=add), holding the flock of /tmp/dfx-ref.lock as
// every dfx-ref run on the machine does (its port is fixed).

// EntitiesConfig configures the entities scenario. Zero values mean the
// defaults given.
type EntitiesConfig struct {
	// Signals sent by the client (1000), over Keys counters (10).
	Signals, Keys int
	// Orchestrations (20), each calling "add" Calls times (10).
	Orchestrations, Calls int
	// Starters is how many signals and starts run at once (8).
	Starters int
	// Partitions of the task hub (4).
	Partitions int
	// MaxPoll caps the worker's queue polling back-off (default 30 s, the
	// C# default).
	MaxPoll time.Duration
	// ConnectionString of the storage; "" starts an in-memory Azurite.
	ConnectionString string
	// Timeout bounds each phase (5 min).
	Timeout time.Duration
	// CompareDfx also runs phase one on dfx-ref worker (DfxRef, default
	// $DFX_REF or dfx-ref beside dtfx-ref), under flock
	// /tmp/dfx-ref.lock; its HTTP API is on the fixed port 17071.
	CompareDfx bool
	DfxRef     string
	// Progress receives one line per step (nil: none); Logger the
	// worker's logs (default: errors only).
	Progress io.Writer
	Logger   *slog.Logger
}

func (c EntitiesConfig) withDefaults() (EntitiesConfig, error) {
	def(&c.Signals, 1000)
	def(&c.Keys, 10)
	def(&c.Orchestrations, 20)
	def(&c.Calls, 10)
	def(&c.Starters, 8)
	def(&c.Partitions, azurestorage.DefaultPartitions)
	if c.Signals < 0 || c.Keys < 1 || c.Orchestrations < 0 || c.Calls < 1 || c.Starters < 1 {
		return c, fmt.Errorf("sizes must be positive (signals %d, keys %d, orchestrations %d, calls %d, starters %d)",
			c.Signals, c.Keys, c.Orchestrations, c.Calls, c.Starters)
	}
	if err := azurestorage.ValidatePartitionCount(c.Partitions); err != nil {
		return c, err
	}
	if c.MaxPoll == 0 {
		c.MaxPoll = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = quietLogger()
	}
	return c, nil
}

// EntityPhase is one phase's figures.
type EntityPhase struct {
	// Operations are the entity operations of the phase (signals or
	// calls); Seconds from the first send to the last operation seen done.
	Operations       int     `json:"operations"`
	Seconds          float64 `json:"seconds"`
	OperationsPerSec float64 `json:"operationsPerSecond"`
	// StorageCalls are every storage call of the phase (worker and
	// client), CallsPerOperation that over Operations.
	StorageCalls      int64            `json:"storageCalls"`
	CallsPerOperation float64          `json:"storageCallsPerOperation"`
	CallsByService    map[string]int64 `json:"storageCallsByService"`
	// Latencies in milliseconds: for signals, the client's send call; for
	// calls, one call as an orchestration sees it (its run time over its
	// calls).
	LatencyMs Percentiles `json:"latencyMs"`
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 { return round(ms(ds[min(len(ds)-1, int(q*float64(len(ds))))]), 2) }
	return Percentiles{P50: at(0.5), P95: at(0.95), P99: at(0.99), Max: round(ms(ds[len(ds)-1]), 2)}
}

// EntitiesReport is the outcome of the entities scenario.
type EntitiesReport struct {
	Backend        string  `json:"backend"`
	TaskHub        string  `json:"taskHub"`
	Partitions     int     `json:"partitions"`
	Keys           int     `json:"keys"`
	Starters       int     `json:"starters"`
	MaxPollSeconds float64 `json:"maxPollSeconds"`
	// ClientSignals is phase one, OrchestrationCalls phase two.
	ClientSignals      EntityPhase  `json:"clientSignals"`
	OrchestrationCalls *EntityPhase `json:"orchestrationCalls,omitempty"`
	// Extension is what the Durable Functions documentation gives for
	// entities on Azure Storage; Dfx is dfx-ref measured here.
	Extension ExtensionFigure `json:"extensionDocumented"`
	Dfx       *DfxFigure      `json:"dfxRef,omitempty"`
}

// ExtensionFigure is the extension's documented entity throughput.
type ExtensionFigure struct {
	OperationsPerSec float64 `json:"operationsPerSecond"`
	Source           string  `json:"source"`
}

// DfxFigure is phase one as dfx-ref ran it here.
type DfxFigure struct {
	Signals          int     `json:"signals"`
	Seconds          float64 `json:"seconds"`
	OperationsPerSec float64 `json:"operationsPerSecond"`
	// Ratio is azdurable's client signals per second over dfx-ref's.
	Ratio     float64     `json:"azdurableOverDfx"`
	LatencyMs Percentiles `json:"postLatencyMs"`
}

// extensionDocumented is the figure the Durable Functions performance
// guide gives for entities on the Azure Storage provider.
var extensionDocumented = ExtensionFigure{OperationsPerSec: 64,
	Source: "Durable Functions performance and scale guide: entity operations, Azure Storage provider, one small VM (about 64 per second)"}

// benchCounter is dfx-ref's Counter: add (an int), get; its state is an
// int.
var benchCounter = durable.NewEntity[int]("Counter",
	durable.Op("add", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
		ctx.SetState(ctx.State() + n)
		return struct{}{}, nil
	}),
	durable.Op("get", func(ctx *durable.EntityContext[int], _ any) (int, error) { return ctx.State(), nil }),
)

// callInput is the input of the calling orchestration: Calls "add 1"
// calls to Key.
type callInput struct {
	Key   string
	Calls int
}

var benchCaller = durable.NewOrchestration("BenchEntityCalls", func(ctx durable.Context, in callInput) (int, error) {
	for i := 0; i < in.Calls; i++ {
		if _, err := durable.CallEntity[any](ctx, benchCounter.ID(in.Key), "add", 1).Await(ctx); err != nil {
			return 0, err
		}
	}
	return in.Calls, nil
})

func benchKey(i int) string { return "k" + strconv.Itoa(i) }

// RunEntities runs the entities scenario.
func RunEntities(ctx context.Context, cfg EntitiesConfig) (*EntitiesReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: Config{Progress: cfg.Progress, Partitions: cfg.Partitions}}
	progress := r.progress
	acct, connStr, stop, err := r.account(ctx, cfg.ConnectionString)
	if err != nil {
		return nil, err
	}
	defer stop()
	hub := newHubName()
	wc, cc := storage.NewCallCounter(acct.Endpoints()), storage.NewCallCounter(acct.Endpoints())
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: cfg.Partitions,
		Client: counted(cc), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	obs, deleteHub, err := observeHub(ctx, acct, hub, cfg.Partitions, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer deleteHub()
	if err := cbe.CreateTaskHub(ctx); err != nil {
		return nil, err
	}
	wbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: cfg.Partitions,
		Client:   counted(wc),
		WorkerID: fmt.Sprintf("bench-%d-entities", os.Getpid()), MaxPollingInterval: cfg.MaxPoll, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	w := worker.New(wbe, worker.Options{Logger: cfg.Logger})
	if err := w.Register(benchCounter, benchCaller); err != nil {
		return nil, err
	}
	wctx, cancelWorker := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	stopWorker := sync.OnceFunc(func() { cancelWorker(); <-done })
	defer stopWorker()
	progress("task hub %s, %d partitions; waiting for the worker to own them", hub, cfg.Partitions)
	if err := r.waitForOwners(ctx, obs, 1); err != nil {
		return nil, err
	}
	c, oc := client.New(cbe, client.Options{}), client.New(obs, client.Options{})
	read := func(ctx context.Context, key string) (int, error) { return readCounter(ctx, oc, key) }
	rep := &EntitiesReport{Backend: "azdurable (provider/azurestorage)", TaskHub: hub, Partitions: cfg.Partitions,
		Keys: cfg.Keys, Starters: cfg.Starters, MaxPollSeconds: cfg.MaxPoll.Seconds(), Extension: extensionDocumented}
	snap := func() calls { t := fromStats(wc.Snapshot()); t.add(fromStats(cc.Snapshot())); return t }

	// Phase one: client signals.
	progress("sending %d signals to %d counters, %d at a time", cfg.Signals, cfg.Keys, cfg.Starters)
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	before, t0 := snap(), time.Now()
	lat, err := parallel(pctx, cfg.Signals, cfg.Starters, func(ctx context.Context, i int) error {
		return c.SignalEntity(ctx, benchCounter.ID(benchKey(i%cfg.Keys)), "add", 1)
	})
	if err != nil {
		return nil, fmt.Errorf("signalling: %w", err)
	}
	if err := waitCounters(pctx, read, cfg.Keys, cfg.Signals); err != nil {
		return nil, err
	}
	rep.ClientSignals = phase(cfg.Signals, time.Since(t0), snap().minus(before), lat)
	progress("signals: %.1f per second", rep.ClientSignals.OperationsPerSec)

	// Phase two: orchestration calls.
	if cfg.Orchestrations > 0 {
		progress("starting %d orchestrations of %d calls each", cfg.Orchestrations, cfg.Calls)
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		before, t0 := snap(), time.Now()
		ids := make([]string, cfg.Orchestrations)
		if _, err := parallel(pctx, cfg.Orchestrations, cfg.Starters, func(ctx context.Context, i int) error {
			id, err := c.ScheduleNew(ctx, benchCaller.Name(), callInput{Key: benchKey(i % cfg.Keys), Calls: cfg.Calls})
			ids[i] = id
			return err
		}); err != nil {
			return nil, fmt.Errorf("starting: %w", err)
		}
		var per []time.Duration
		for _, id := range ids {
			st, err := c.WaitForCompletion(pctx, id, client.WithInputsAndOutputs(false))
			if err != nil {
				return nil, fmt.Errorf("waiting for %s: %w", id, err)
			}
			if st.Status != client.Completed {
				return nil, fmt.Errorf("orchestration %s ended %s", id, st.Status)
			}
			per = append(per, st.LastUpdatedAt.Sub(st.CreatedAt)/time.Duration(cfg.Calls))
		}
		ph := phase(cfg.Orchestrations*cfg.Calls, time.Since(t0), snap().minus(before), per)
		rep.OrchestrationCalls = &ph
		progress("calls: %.1f per second", ph.OperationsPerSec)
		if err := waitCounters(pctx, read, cfg.Keys, cfg.Signals+cfg.Orchestrations*cfg.Calls); err != nil {
			return nil, fmt.Errorf("after the calls: %w", err)
		}
	}
	stopWorker()

	if cfg.CompareDfx {
		progress("running dfx-ref worker on the same storage (flock /tmp/dfx-ref.lock)")
		d, err := runDfxSignals(ctx, cfg, connStr, progress)
		if err != nil {
			return nil, fmt.Errorf("dfx-ref: %w", err)
		}
		if d.OperationsPerSec > 0 {
			d.Ratio = round(rep.ClientSignals.OperationsPerSec/d.OperationsPerSec, 2)
		}
		rep.Dfx = d
	}
	return rep, nil
}

func phase(ops int, d time.Duration, c calls, lat []time.Duration) EntityPhase {
	p := EntityPhase{Operations: ops, Seconds: round(d.Seconds(), 3), StorageCalls: c.Total,
		CallsByService: c.by(func(k storage.CallKey) string { return k.Service }), LatencyMs: percentiles(lat)}
	if d > 0 {
		p.OperationsPerSec = round(float64(ops)/d.Seconds(), 1)
	}
	if ops > 0 {
		p.CallsPerOperation = round(float64(c.Total)/float64(ops), 2)
	}
	return p
}

// parallel runs fn(0..n-1), k at a time, and returns each call's duration.
func parallel(ctx context.Context, n, k int, fn func(ctx context.Context, i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				err := fn(ctx, i)
				out[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			i = n
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return out, first
}

func readCounter(ctx context.Context, c *client.Client, key string) (int, error) {
	m, err := c.GetEntity(ctx, benchCounter.ID(key))
	if errors.Is(err, client.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v := 0
	if m.State != nil {
		err = m.DecodeState(&v)
	}
	return v, err
}

// waitCounters polls the counters until they hold total operations
// between them.
func waitCounters(ctx context.Context, read func(context.Context, string) (int, error), keys, total int) error {
	for {
		sum := 0
		for i := 0; i < keys; i++ {
			v, err := read(ctx, benchKey(i))
			if err != nil && ctx.Err() != nil {
				return err
			}
			sum += v
		}
		if sum == total {
			return nil
		}
		if sum > total {
			return fmt.Errorf("the counters hold %d operations, more than the %d sent", sum, total)
		}
		if !ctxsleep.Sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("the counters hold %d of %d operations: %w", sum, total, ctx.Err())
		}
	}
}

// findDfxRef returns the dfx-ref program: explicit, else $DFX_REF, else
// dfx-ref beside dtfx-ref.
func findDfxRef(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv("DFX_REF")
	}
	if explicit != "" {
		return checkExe(explicit)
	}
	dtfx, err := FindDtfxRef("")
	if err != nil {
		return "", fmt.Errorf("dfx-ref not found: set $DFX_REF or --dfx-ref (%v)", err)
	}
	return checkExe(filepath.Join(filepath.Dir(dtfx), "dfx-ref"))
}

// dfxBase is dfx-ref's HTTP management API (a fixed port), and
// dfxLockPath the lock every run of dfx-ref on the machine holds.
const (
	dfxBase     = "http://127.0.0.1:17071/durabletask/"
	dfxLockPath = "/tmp/dfx-ref.lock"
)

// runDfxSignals runs dfx-ref worker on a fresh hub of the same storage,
// under flock /tmp/dfx-ref.lock (one dfx-ref per machine: its port is
// fixed), sends the same signals through its HTTP API and waits until its
// counters hold them.
func runDfxSignals(ctx context.Context, cfg EntitiesConfig, connStr string, progress func(string, ...any)) (*DfxFigure, error) {
	exe, err := findDfxRef(cfg.DfxRef)
	if err != nil {
		return nil, err
	}
	progress("waiting for %s", dfxLockPath)
	unlock, err := lockDfxRef()
	if err != nil {
		return nil, err
	}
	defer unlock()
	hub := "Dfx" + newHubName()[5:]
	cmd := exec.Command(exe, "worker", "--hub", hub, "--partitions", strconv.Itoa(cfg.Partitions))
	cmd.Env = append(os.Environ(), "AZURE_STORAGE_CONNECTION_STRING="+connStr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if cfg.Progress != nil {
		cmd.Stderr = cfg.Progress
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt) // dfx-ref stops gracefully

		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	hc := &http.Client{Timeout: time.Minute}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// Ready: the entity route answers (404 for an entity never signalled).
	for {
		req, _ := http.NewRequestWithContext(dctx, http.MethodGet, dfxBase+"entities/counter/k0", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("dfx-ref worker exited: %v", err)
		default:
		}
		if !ctxsleep.Sleep(dctx, 500*time.Millisecond) {
			return nil, fmt.Errorf("dfx-ref worker did not answer on %s: %w", dfxBase, dctx.Err())
		}
	}
	progress("dfx-ref: sending %d signals through its HTTP API", cfg.Signals)
	pctx, pcancel := context.WithTimeout(ctx, cfg.Timeout)
	defer pcancel()
	t0 := time.Now()
	lat, err := parallel(pctx, cfg.Signals, cfg.Starters, func(ctx context.Context, i int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, dfxBase+"entities/counter/"+benchKey(i%cfg.Keys)+"?op=add",
			strings.NewReader("1"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("POST entities/counter: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	read := func(ctx context.Context, key string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, dfxBase+"entities/counter/"+key, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return 0, nil
		}
		var v int
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return 0, err
		}
		return v, nil
	}
	if err := waitCounters(pctx, read, cfg.Keys, cfg.Signals); err != nil {
		return nil, err
	}
	d := time.Since(t0)
	f := &DfxFigure{Signals: cfg.Signals, Seconds: round(d.Seconds(), 3), LatencyMs: percentiles(lat)}
	f.OperationsPerSec = round(float64(cfg.Signals)/d.Seconds(), 1)
	return f, nil
}

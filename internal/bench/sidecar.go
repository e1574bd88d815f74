package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// The sidecar mode: the chain and fan-out scenarios run by a Durable Task
// SDK (JavaScript) through an azdurable sidecar in this process, next to
// the same scenarios run by an in-process Go worker on the same storage.
// The sidecar's backend carries the call counter, so its figure covers
// everything the SDK's client and worker caused in storage: starts,
// completion polls (the sidecar polls the Instances row for the SDK's
// waits), work items, partition and app-lease traffic, empty polls.

// SidecarConfig configures a sidecar-mode run.
type SidecarConfig struct {
	// Scenario is chain or fanout; Count and Length as in Config.
	Scenario      string
	Count, Length int
	// Partitions of each task hub (4).
	Partitions int
	// ConnectionString of the storage; "" starts an in-memory Azurite.
	ConnectionString string
	// MaxPoll caps the queue polling back-off on both sides (the library
	// default when zero).
	MaxPoll time.Duration
	// Node runs the JavaScript driver ("node"); Script is the driver
	// (internal/sidecar/e2e/bench/bench.js, run in its folder's parent so
	// that the SDK installed there by npm ci resolves).
	Node, Script string
	// Timeout bounds each side (5 min).
	Timeout time.Duration
	// Progress receives one line per step (nil: none).
	Progress io.Writer
	// Logger receives the sidecar's and the Go worker's logs (default:
	// errors only).
	Logger *slog.Logger
}

// SidecarReport is the outcome of a sidecar-mode run: the same scenario
// through the sidecar and in a Go worker.
type SidecarReport struct {
	Sidecar   *SidecarResult `json:"sidecar"`
	InProcess *Result        `json:"inProcess"`
	// Ratios are sidecar ÷ in-process.
	Ratios *Ratios `json:"ratios"`
}

// SidecarResult is the run through the sidecar.
type SidecarResult struct {
	Backend                 string           `json:"backend"`
	Scenario                string           `json:"scenario"`
	TaskHub                 string           `json:"taskHub"`
	Orchestrations          int              `json:"orchestrations"`
	Activities              int              `json:"activities"`
	Seconds                 float64          `json:"seconds"`
	ActivitiesPerSecond     float64          `json:"activitiesPerSecond"`
	StorageCalls            int64            `json:"storageCalls"`
	StorageCallsPerActivity float64          `json:"storageCallsPerActivity"`
	EmptyPolls              int64            `json:"emptyPolls"`
	FailedCalls             int64            `json:"failedCalls"`
	ByCategory              map[string]int64 `json:"byCategory"`
	Note                    string           `json:"note"`
}

// RunSidecar runs the scenario through a sidecar, then in a Go worker, on
// the same storage.
func RunSidecar(ctx context.Context, cfg SidecarConfig) (*SidecarReport, error) {
	if cfg.Scenario != Chain && cfg.Scenario != FanOut {
		return nil, fmt.Errorf("the sidecar mode runs chain or fanout, not %q", cfg.Scenario)
	}
	base, err := Config{Scenario: cfg.Scenario, Count: cfg.Count, Length: cfg.Length, Partitions: cfg.Partitions,
		MaxPoll: cfg.MaxPoll, Timeout: cfg.Timeout, Logger: cfg.Logger}.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Node == "" {
		cfg.Node = "node"
	}
	if cfg.Script == "" {
		return nil, errors.New("no JavaScript driver (internal/sidecar/e2e/bench/bench.js)")
	}
	script, err := filepath.Abs(cfg.Script)
	if err != nil {
		return nil, err
	}
	cfg.Script = script
	if _, err := os.Stat(cfg.Script); err != nil {
		return nil, fmt.Errorf("the JavaScript driver: %w", err)
	}
	r := &runner{cfg: Config{Progress: cfg.Progress}}
	acct, connStr, stop, err := r.account(ctx, cfg.ConnectionString)
	if err != nil {
		return nil, err
	}
	defer stop()

	side, err := runThroughSidecar(ctx, r, base, cfg, acct)
	if err != nil {
		return nil, fmt.Errorf("through the sidecar: %w", err)
	}
	r.progress("the same scenario in an in-process Go worker")
	base.ConnectionString, base.NoCeiling, base.Progress = connStr, true, cfg.Progress
	in, err := Run(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("in process: %w", err)
	}
	rep := &SidecarReport{Sidecar: side, InProcess: in.Azdurable, Ratios: &Ratios{}}
	if in.Azdurable.StorageCallsPerActivity > 0 {
		rep.Ratios.StorageCallsPerActivity = round(side.StorageCallsPerActivity/in.Azdurable.StorageCallsPerActivity, 2)
	}
	if in.Azdurable.ActivitiesPerSecond > 0 {
		rep.Ratios.ActivitiesPerSecond = round(side.ActivitiesPerSecond/in.Azdurable.ActivitiesPerSecond, 2)
	}
	return rep, nil
}

// runThroughSidecar serves a fresh hub from a sidecar in this process and
// runs the JavaScript driver against it.
func runThroughSidecar(ctx context.Context, r *runner, base Config, cfg SidecarConfig, acct *storage.Account) (*SidecarResult, error) {
	hub := newHubName()
	counter := storage.NewCallCounter(acct.Endpoints())
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: base.Partitions,
		Client: counted(counter), MaxPollingInterval: base.MaxPoll,
		Logger: base.Logger})
	if err != nil {
		return nil, err
	}
	_, deleteHub, err := observeHub(ctx, acct, hub, base.Partitions, base.Logger)
	if err != nil {
		return nil, err
	}
	defer deleteHub()
	if err := be.CreateTaskHub(ctx); err != nil {
		return nil, err
	}
	srv, err := sidecar.New(sidecar.Options{Backend: be, TaskHub: hub, Logger: base.Logger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	r.progress("task hub %s, %d partitions, served by a sidecar on %s; running %s in JavaScript", hub, base.Partitions,
		ln.Addr(), scenarioLabel(base))
	rctx, cancel := context.WithTimeout(ctx, base.Timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, cfg.Node, cfg.Script, ln.Addr().String(), base.Scenario,
		fmt.Sprint(base.Count), fmt.Sprint(base.Length))
	cmd.Dir = filepath.Dir(filepath.Dir(cfg.Script))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", cfg.Script, err, lastLines(errOut.String(), 20))
	}
	calls := fromStats(counter.Snapshot())
	var js struct {
		Seconds        float64 `json:"seconds"`
		Orchestrations int     `json:"orchestrations"`
		Activities     int     `json:"activities"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &js); err != nil {
		return nil, fmt.Errorf("the driver's answer %q: %v", out.String(), err)
	}
	res := &SidecarResult{Backend: "azdurable sidecar (provider/azurestorage) with @microsoft/durabletask-js",
		Scenario: scenarioLabel(base), TaskHub: hub, Orchestrations: js.Orchestrations, Activities: js.Activities,
		Seconds: round(js.Seconds, 3), StorageCalls: calls.Total, EmptyPolls: calls.Empty, FailedCalls: calls.failures(),
		ByCategory: calls.by(func(k storage.CallKey) string { return k.Service + "/" + k.Category }),
		Note:       "calls include hub creation, partition and app-lease traffic, empty polls, retries, and the sidecar's reads for the SDK client's starts and waits; seconds are the driver's, from its first start to the last completion it saw"}
	if js.Seconds > 0 {
		res.ActivitiesPerSecond = round(float64(js.Activities)/js.Seconds, 1)
	}
	if js.Activities > 0 {
		res.StorageCallsPerActivity = round(float64(calls.Total)/float64(js.Activities), 2)
	}
	return res, nil
}

// WriteTable prints the two runs side by side.
func (rep *SidecarReport) WriteTable(w io.Writer) error {
	s, g := rep.Sidecar, rep.InProcess
	_, err := fmt.Fprintf(w, "%-28s %14s %14s\n%-28s %14s %14s\n%-28s %14d %14d\n%-28s %14.2f %14.2f\n%-28s %14.1f %14.1f\n%-28s %14d %14d\n%-28s %14.2f %14.2f\n",
		"scenario "+s.Scenario, "sidecar (JS)", "in-process Go",
		"", "------------", "-------------",
		"activities", s.Activities, g.Activities,
		"seconds", s.Seconds, g.Seconds,
		"activities/s", s.ActivitiesPerSecond, g.ActivitiesPerSecond,
		"storage calls", s.StorageCalls, g.StorageCalls,
		"storage calls per activity", s.StorageCallsPerActivity, g.StorageCallsPerActivity)
	return err
}

package chaos

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// Config describes a chaos run.
type Config struct {
	// Command runs a worker: the program and the arguments that precede
	// "worker" (the program must register Registrations()).
	Command []string
	// Env is added to the workers' environment.
	Env []string
	// ConnectionString of the storage account (an Azurite).
	ConnectionString string
	// TaskHub is the hub to run on (default: a fresh name).
	TaskHub    string
	Workers    int // default 3
	Partitions int // default 8
	// Instances is the number of top-level instances (default 280); their
	// sub-orchestrations come on top.
	Instances int
	// Kinds are the instance kinds dealt (default Kinds, all of them).
	Kinds []string
	// StartRate bounds the starts per second (default 10).
	StartRate float64
	// KillEvery is the mean time between SIGKILLs of a random worker,
	// which is restarted at once (0: no kills). A kill also waits until an
	// instance has ended since the previous one (see killLoop).
	KillEvery time.Duration
	Settings  Settings
	// Timeout bounds the wait for every instance to end (default 8 min).
	Timeout time.Duration
	// Dir receives the workers' logs and execution records.
	Dir  string
	Seed uint64
	// Logf reports progress (nil: silent).
	Logf func(format string, args ...any)
}

// Summary is the result of a run; it is printed as JSON.
type Summary struct {
	TaskHub           string  `json:"taskHub"`
	Workers           int     `json:"workers"`
	Partitions        int     `json:"partitions"`
	DurationSeconds   float64 `json:"durationSeconds"`
	InstancesStarted  int     `json:"instancesStarted"`
	SubOrchestrations int     `json:"subOrchestrations"`
	*Outcome
	// Entities is what the entity checks found (nil for a plan without
	// entity work).
	Entities   *EntityOutcome `json:"entities,omitempty"`
	Kills      int            `json:"kills"`
	Activities Executions     `json:"activities"`
	LogCounts
	Settings SettingsJSON `json:"settings"`
	// ShutdownErrors lists workers that did not stop cleanly at the end.
	ShutdownErrors []string `json:"shutdownErrors"`
	// UnexpectedExits counts worker processes that ended by themselves.
	UnexpectedExits int  `json:"unexpectedExits"`
	OK              bool `json:"ok"`
}

// SettingsJSON is Settings as the summary prints them.
type SettingsJSON struct {
	ControlQueueVisibility   string  `json:"controlQueueVisibility"`
	WorkItemVisibility       string  `json:"workItemVisibility"`
	PartitionLease           string  `json:"partitionLease"`
	PartitionAcquireInterval string  `json:"partitionAcquireInterval"`
	PartitionSafetyMargin    string  `json:"partitionSafetyMargin"`
	AppLeaseDuration         string  `json:"appLeaseDuration"`
	AppLeaseRenewInterval    string  `json:"appLeaseRenewInterval"`
	AppLeaseAcquireInterval  string  `json:"appLeaseAcquireInterval"`
	MaxPoll                  string  `json:"maxPoll"`
	FaultRate                float64 `json:"faultRate"`
	MaxDequeueCount          int     `json:"maxDequeueCount"`
	KillEvery                string  `json:"killEvery"`
	StartRate                float64 `json:"startRate"`
}

func (s Settings) json(killEvery time.Duration, rate float64) SettingsJSON {
	return SettingsJSON{ControlQueueVisibility: s.ControlQueueVisibility.String(), WorkItemVisibility: s.WorkItemVisibility.String(),
		PartitionLease: s.PartitionLease.String(), PartitionAcquireInterval: s.PartitionAcquireInterval.String(),
		PartitionSafetyMargin: s.PartitionSafetyMargin.String(), AppLeaseDuration: s.AppLeaseDuration.String(),
		AppLeaseRenewInterval: s.AppLeaseRenewInterval.String(), AppLeaseAcquireInterval: s.AppLeaseAcquireInterval.String(),
		MaxPoll: s.MaxPoll.String(), FaultRate: s.FaultRate, MaxDequeueCount: s.MaxDequeueCount, KillEvery: killEvery.String(), StartRate: rate}
}

func (c *Config) defaults() error {
	if len(c.Command) == 0 || c.ConnectionString == "" || c.Dir == "" {
		return errors.New("chaos: Config needs Command, ConnectionString and Dir")
	}
	if c.TaskHub == "" {
		c.TaskHub = NewHubName()
	}
	if c.Workers <= 0 {
		c.Workers = 3
	}
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.Instances <= 0 {
		c.Instances = 280
	}
	if len(c.Kinds) == 0 {
		c.Kinds = Kinds
	}
	if c.StartRate <= 0 {
		c.StartRate = 10
	}
	if c.Settings == (Settings{}) {
		c.Settings = ShortSettings()
	}
	if c.Timeout <= 0 {
		c.Timeout = 8 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// NewHubName returns a fresh task hub name.
func NewHubName() string { return "Chaos" + strings.ToLower(rand.Text()[:10]) }

// NewClient returns a client for the hub (a backend that is never
// started, so it takes no partitions).
func NewClient(connectionString, hub string, partitions int) (*client.Client, *azurestorage.Backend, error) {
	acct, err := storage.ParseConnectionString(connectionString)
	if err != nil {
		return nil, nil, err
	}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: partitions, WorkerID: "chaos-driver"})
	if err != nil {
		return nil, nil, err
	}
	return client.New(be, client.Options{}), be, nil
}

// Run runs the workload on Workers worker processes, killing one every
// KillEvery, until every instance has ended or Timeout passed, and checks
// the outcome. The error reports a run that could not be carried out; a
// run that lost, stranded or broke work returns a Summary with OK false.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	began := time.Now()
	c, be, err := NewClient(cfg.ConnectionString, cfg.TaskHub, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	if err := be.CreateTaskHub(ctx); err != nil {
		return nil, fmt.Errorf("chaos: creating the task hub: %w", err)
	}
	cl := &Cluster{Command: cfg.Command, Env: cfg.Env, ConnectionString: cfg.ConnectionString, TaskHub: cfg.TaskHub,
		Partitions: cfg.Partitions, Settings: cfg.Settings, Dir: cfg.Dir}
	defer cl.Shutdown(10 * time.Second) // after a failure; a no-op once stopped
	for i := 0; i < cfg.Workers; i++ {
		if _, err := cl.Start(i); err != nil {
			return nil, err
		}
	}
	for i := 0; i < cfg.Workers; i++ {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := cl.Proc(i).WaitStarted(sctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	cfg.Logf("chaos: %d workers run on task hub %s (%d partitions); logs in %s", cfg.Workers, cfg.TaskHub, cfg.Partitions, cfg.Dir)

	prefix := cfg.TaskHub
	plan := PlanKinds(prefix, cfg.Instances, cfg.Kinds)
	d := &Driver{C: c, Plan: plan, Rate: cfg.StartRate, Prefix: prefix}
	wctx, cancelWatch := context.WithTimeout(ctx, cfg.Timeout)
	defer cancelWatch()
	startErr := make(chan error, 1)
	go func() { startErr <- d.Start(wctx) }()

	kctx, stopKilling := context.WithCancel(wctx)
	var kills int
	var killWG sync.WaitGroup
	var ended atomic.Int64
	if cfg.KillEvery > 0 {
		killWG.Add(1)
		go func() {
			defer killWG.Done()
			kills = killLoop(kctx, cl, cfg, func() int64 { return ended.Load() })
		}()
	}
	last := time.Now()
	watchErr := d.Watch(wctx, 500*time.Millisecond, func(n, total int) {
		ended.Store(int64(n))
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			cfg.Logf("chaos: %d of %d instances ended after %s", n, total, time.Since(began).Round(time.Second))
		}
	})
	stopKilling()
	killWG.Wait()
	if err := <-startErr; err != nil && watchErr == nil {
		watchErr = err
	}
	if watchErr != nil {
		cfg.Logf("chaos: %v", watchErr)
	}
	ents := PlanEntities(plan)
	if len(ents.Want) > 0 && watchErr == nil {
		// Signals may still be on their way once the last orchestration
		// ended; the workers (no longer killed) deliver them.
		if !WaitEntities(ctx, c, ents, 3*time.Minute) {
			cfg.Logf("chaos: the entities did not reach their expected values in 3 minutes")
		}
	}
	s := &Summary{TaskHub: cfg.TaskHub, Workers: cfg.Workers, Partitions: cfg.Partitions, InstancesStarted: d.Started(),
		Kills: kills, Settings: cfg.Settings.json(cfg.KillEvery, cfg.StartRate), ShutdownErrors: []string{}}
	for _, sp := range plan {
		if sp.Child {
			s.SubOrchestrations++
		}
	}
	if err := cl.Shutdown(2 * time.Minute); err != nil {
		s.ShutdownErrors = append(s.ShutdownErrors, strings.Split(err.Error(), "\n")...)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	s.Outcome = Check(cctx, c, plan, CheckOptions{Dir: cfg.Dir, RedeliveredEvents: cfg.KillEvery > 0})
	if len(ents.Want) > 0 {
		s.Entities = CheckEntities(cctx, c, plan, ents)
		s.Entities.ClientSignalRetries = d.SignalRetries()
		if !s.Entities.OK() && cfg.Dir != "" {
			dumpEntities(cctx, c, ents, cfg.Dir)
		}
	}
	s.Activities = CountExecutions(cl.All())
	s.LogCounts = CountLogs(cl.All())
	for _, p := range cl.All() {
		if p.Unexpected() {
			s.UnexpectedExits++
		}
	}
	s.DurationSeconds = time.Since(began).Round(100 * time.Millisecond).Seconds()
	s.OK = s.Outcome.OK() && s.Entities.OK() && s.Panics == 0 && s.UnexpectedExits == 0 && len(s.ShutdownErrors) == 0 && s.InstancesStarted == cfg.Instances
	return s, nil
}

// killLoop kills a random worker with SIGKILL about every KillEvery and
// restarts it at once; it returns the number of kills. A worker that
// ended by itself is restarted too (and counted by the summary).
//
// A kill also waits until at least one instance has ended since the
// previous kill (ended counts them). Every kill costs the cluster fixed
// times (the dead worker's partitions wait for their leases to run out,
// its messages for their visibility to end), and on a loaded machine a
// restarted worker needs longer to start and to get partitions than a
// fixed kill interval: the kills then outpaced the work, and a make chaos
// run on two cores at load average 20 finished 371 of 600 instances in 8
// minutes. Tied to progress, the kills never stop the cluster from
// finishing, on any machine; on an idle one, where instances end several
// times a second, the pace is the interval's.
func killLoop(ctx context.Context, cl *Cluster, cfg Config, ended func() int64) int {
	rnd := mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed+1))
	kills := 0
	before := ended()
	for {
		d := cfg.KillEvery/2 + time.Duration(rnd.Int64N(int64(cfg.KillEvery)))
		if !ctxsleep.Sleep(ctx, d) {
			return kills
		}
		for ended() <= before {
			if !ctxsleep.Sleep(ctx, 100*time.Millisecond) {
				return kills
			}
		}
		before = ended()
		for i := 0; i < cfg.Workers; i++ {
			if p := cl.Proc(i); p.Exited() {
				cfg.Logf("chaos: worker %s ended by itself (%v); restarting it", p.WorkerID, p.err)
				if _, err := cl.Start(i); err != nil {
					cfg.Logf("chaos: restarting worker %d: %v", i, err)
				}
			}
		}
		slot := rnd.IntN(cfg.Workers)
		p := cl.Proc(slot)
		p.Kill()
		kills++
		if _, err := cl.Start(slot); err != nil {
			cfg.Logf("chaos: restarting worker %d: %v", slot, err)
		}
	}
}

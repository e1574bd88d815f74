// Package bench is the benchmark behind "azdurable bench": scenarios run
// on real workers against real storage, with every storage call counted.
//
// Design note. Every storage client of a scenario — each worker's backend
// (queues, tables, blobs, partition manager, app lease) and the client that
// starts and polls the instances — carries a storage.CallCounter policy, so
// attempts, retries, empty polls and lease traffic all count. Worker
// processes count their own calls and report them over their stdout when
// asked. The count runs from the creation of the task hub until the client
// has seen the last instance finish, which is how dtfx-ref counts the C#
// backend; the reads that compute latencies afterwards use clients without
// a counter. Latencies come from storage, not from the bench's clock where
// storage has the times: start→completion is the Instances row's
// CreatedTime→CompletedTime, schedule→start is the TaskScheduled event's
// timestamp in history to the moment the activity began (recorded by the
// process that ran it), and event→handled is the EventRaised event's
// timestamp (the client's send time) to the OrchestratorStarted of the
// episode that took it in. The storage ceiling is measured with raw SDK
// calls on the same endpoint in the same run, so that the throughput figure
// can be judged against what this storage can do at all.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
)

// Scenarios.
const (
	Chain  = "chain"
	FanOut = "fanout"
	Events = "events"
	Starts = "starts"
	// Idle runs no work: it measures what idle workers cost per minute,
	// then how fast a start sent afterwards is picked up.
	Idle = "idle"
)

// Scenarios lists the scenario names.
var Scenarios = []string{Chain, FanOut, Events, Starts, Idle}

// Config configures a benchmark run. Zero values mean the defaults given.
type Config struct {
	// Scenario is chain, fanout, events or starts.
	Scenario string
	// Count is the size: instances for chain (100), events (100) and
	// starts (500); activities for fanout (1000); seconds for idle (150).
	Count int
	// Length is activities per chain (5), events per instance (1), or
	// activities per instance for starts (0).
	Length int
	// Workers in this process (1 unless Processes is set, then 0), each with
	// its own backend and worker id.
	Workers int
	// Processes are separate worker processes (the executable run with
	// WorkerArgs).
	Processes int
	// Partitions of the task hub (4).
	Partitions int
	// ConnectionString of the storage; "" starts an in-memory Azurite for
	// the run.
	ConnectionString string
	// MaxPoll caps the queue polling back-off of the workers (the library
	// default, 30 s, when zero). --compare-csharp passes the same cap to
	// dtfx-ref.
	MaxPoll time.Duration
	// ClientPoll is the client's fixed completion-polling interval; 0 uses
	// the client's default back-off.
	ClientPoll time.Duration
	// WaitEach waits for all instances at once, each polled on its own;
	// by default they are awaited one after another in start order, as
	// dtfx-ref's client does.
	WaitEach bool
	// Starters is how many starts (and raises) run at once: 8, or 1 with
	// CompareCSharp, since dtfx-ref's client starts its instances one at a
	// time and latency under load depends on how fast instances arrive.
	Starters int
	// Activities and Orchestrations bound each worker's concurrency (0: the
	// worker's defaults).
	Activities, Orchestrations int
	// NoLocalResults and NoLocalActivities turn off the backend's
	// in-process shortcuts, to measure what they save.
	NoLocalResults, NoLocalActivities bool
	// ActivityTime is how long each activity takes, sleeping (0: none), so
	// that a run with several worker processes measures how activities
	// spread over them rather than the machine's cores.
	ActivityTime time.Duration
	// NoCeiling skips the raw storage measurement.
	NoCeiling bool
	// CeilingDuration is how long each raw operation is measured (2 s).
	CeilingDuration time.Duration
	// Timeout bounds the scenario (5 min).
	Timeout time.Duration
	// CompareCSharp also runs dtfx-ref bench with the same scenario, sizes,
	// partitions and polling cap on the same storage, one worker each.
	CompareCSharp bool
	// DtfxRef is the dtfx-ref program ($DTFX_REF, else
	// ../shared/csharp-reference/dtfx-ref from the module root).
	DtfxRef string
	// CSharpExtendedSessions turns on C#'s history cache in dtfx-ref.
	CSharpExtendedSessions bool
	// Executable and WorkerArgs start a worker process: Executable
	// WorkerArgs... --hub H ... (default: this executable, "bench worker").
	Executable string
	WorkerArgs []string
	// Progress receives one line per step (nil: none).
	Progress io.Writer
	// Logger receives the workers' logs (default: errors only, to stderr).
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	switch c.Scenario {
	case Chain:
		def(&c.Count, 100)
		def(&c.Length, 5)
	case FanOut:
		def(&c.Count, 1000)
		c.Length = 1
	case Events:
		def(&c.Count, 100)
		def(&c.Length, 1)
	case Starts:
		def(&c.Count, 500)
	case Idle:
		def(&c.Count, 150)
		c.Length = 0
		if c.Count <= int(idleRamp/time.Second) {
			return c, fmt.Errorf("idle needs more than %v (--count is seconds)", idleRamp)
		}
	default:
		return c, fmt.Errorf("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if c.ActivityTime < 0 {
		return c, errors.New("--activity-time cannot be negative")
	}
	if c.Count < 1 || c.Length < 0 {
		return c, fmt.Errorf("sizes must be positive (count %d, length %d)", c.Count, c.Length)
	}
	if c.Workers < 0 || c.Processes < 0 {
		return c, errors.New("--workers and --processes cannot be negative")
	}
	if c.Workers == 0 && c.Processes == 0 {
		c.Workers = 1
	}
	def(&c.Partitions, azurestorage.DefaultPartitions)
	if err := azurestorage.ValidatePartitionCount(c.Partitions); err != nil {
		return c, err
	}
	if c.MaxPoll == 0 {
		c.MaxPoll = queues.DefaultMaxPollInterval
	}
	if c.Starters == 0 {
		c.Starters = 8
		if c.CompareCSharp {
			c.Starters = 1
		}
	}
	if c.CeilingDuration <= 0 {
		c.CeilingDuration = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.CompareCSharp {
		if c.Scenario != Chain && c.Scenario != FanOut {
			return c, fmt.Errorf("--compare-csharp supports chain and fanout only (dtfx-ref bench has no %s scenario)", c.Scenario)
		}
		if c.Workers != 1 || c.Processes != 0 {
			return c, errors.New("--compare-csharp runs one worker on each side: leave --workers and --processes unset")
		}
		if c.ActivityTime != 0 {
			return c, errors.New("--compare-csharp runs dtfx-ref's activities, which take no time: leave --activity-time unset")
		}
	}
	if c.Logger == nil {
		c.Logger = quietLogger()
	}
	return c, nil
}

func def(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

// Report is the outcome of a run.
type Report struct {
	Azdurable *Result `json:"azdurable"`
	// CSharp is dtfx-ref's JSON exactly as it printed it (with
	// --compare-csharp).
	CSharp []byte  `json:"-"`
	Ratios *Ratios `json:"ratios,omitempty"`
}

// Run runs the benchmark the config describes.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg}
	acct, connStr, stop, err := r.account(ctx, cfg.ConnectionString)
	if err != nil {
		return nil, err
	}
	defer stop()
	r.acct, r.connStr = acct, connStr

	var ceiling *Ceiling
	if !cfg.NoCeiling && cfg.Scenario != Idle {
		r.progress("measuring the storage ceiling (8 concurrent, %v per operation)", cfg.CeilingDuration)
		if ceiling, err = MeasureCeiling(ctx, acct, 8, cfg.CeilingDuration); err != nil {
			return nil, fmt.Errorf("measuring the storage ceiling: %w", err)
		}
	}
	res, err := r.runScenario(ctx)
	if err != nil {
		return nil, err
	}
	if ceiling != nil {
		res.Ceiling = ceiling.judge(res)
	}
	rep := &Report{Azdurable: res}
	if cfg.CompareCSharp {
		r.progress("running dtfx-ref bench on the same storage")
		raw, cs, err := runCSharp(ctx, cfg, connStr)
		if err != nil {
			return nil, err
		}
		rep.CSharp = raw
		rep.Ratios = ratios(res, cs)
	}
	return rep, nil
}

type runner struct {
	cfg     Config
	acct    *storage.Account
	connStr string
}

// account connects to connStr, or to an in-memory Azurite it starts when
// connStr is empty; stop ends that Azurite (it does nothing otherwise).
func (r *runner) account(ctx context.Context, connStr string) (acct *storage.Account, conn string, stop func(), err error) {
	stop = func() {}
	if connStr == "" {
		r.progress("starting an in-memory Azurite")
		srv, err := azurite.Start(ctx, azurite.Options{Loose: true})
		if err != nil {
			return nil, "", stop, err
		}
		stop, connStr = func() { _ = srv.Stop() }, srv.ConnectionString()
	}
	if acct, err = storage.ParseConnectionString(connStr); err != nil {
		stop()
		return nil, "", func() {}, err
	}
	return acct, connStr, stop, nil
}

func (r *runner) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
	}
}

// newHubName returns a fresh task hub name.
func newHubName() string {
	return "Bench" + strings.ToLower(rand.Text()[:10])
}

// instance is one started instance and what the client saw of it.
type instance struct {
	id    string
	state *client.State
	err   error
}

func (r *runner) runScenario(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	hub := newHubName()
	workerCounter := storage.NewCallCounter(r.acct.Endpoints())
	clientCounter := storage.NewCallCounter(r.acct.Endpoints())
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: r.acct, Partitions: cfg.Partitions,
		Client: counted(clientCounter), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	obs, deleteHub, err := observeHub(ctx, r.acct, hub, cfg.Partitions, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer deleteHub()

	r.progress("task hub %s, %d partitions; creating it and starting %d worker(s), %d process(es)", hub, cfg.Partitions, cfg.Workers, cfg.Processes)
	begin := time.Now()
	if err := cbe.CreateTaskHub(ctx); err != nil {
		return nil, err
	}
	wp := WorkerProcess{Hub: hub, Partitions: cfg.Partitions, MaxPoll: cfg.MaxPoll, Activities: cfg.Activities,
		Orchestrations: cfg.Orchestrations, NoLocalResults: cfg.NoLocalResults, NoLocalActivities: cfg.NoLocalActivities,
		ActivityTime: cfg.ActivityTime, Logger: cfg.Logger}
	var workers []*runningWorker
	var children []*childWorker
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() { defer wg.Done(); _ = w.stop() }()
		}
		for _, c := range children {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.stop(sctx) }()
		}
		wg.Wait()
		workers, children = nil, nil
	}
	defer stopAll()
	pid := os.Getpid()
	for i := 0; i < cfg.Workers; i++ {
		p := wp
		p.WorkerID = fmt.Sprintf("bench-%d-w%d", pid, i+1)
		w, err := startWorker(ctx, r.acct, workerCounter, &recorder{}, p)
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	if cfg.Processes > 0 {
		exe, prefix := cfg.Executable, cfg.WorkerArgs
		if exe == "" {
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("%w: %v", errNoExecutable, err)
			}
		}
		if prefix == nil {
			prefix = []string{"bench", "worker"}
		}
		for i := 0; i < cfg.Processes; i++ {
			p := wp
			p.WorkerID = fmt.Sprintf("bench-%d-p%d", pid, i+1)
			c, err := startChild(ctx, exe, prefix, r.connStr, p, os.Stderr)
			if err != nil {
				return nil, err
			}
			children = append(children, c)
		}
	}
	if err := r.waitForOwners(ctx, obs, cfg.Workers+cfg.Processes); err != nil {
		return nil, err
	}
	setupSeconds := time.Since(begin).Seconds()
	setup := fromStats(workerCounter.Snapshot())
	setup.add(fromStats(clientCounter.Snapshot()))
	for _, ch := range children {
		cc, _, err := ch.report(ctx)
		if err != nil {
			return nil, err
		}
		setup.add(cc)
	}

	c := client.New(cbe, client.Options{})
	if cfg.Scenario == Idle {
		return r.idle(ctx, c, obs, workerCounter, clientCounter, children, setup, setupSeconds, hub)
	}

	// The scenario.
	r.progress("running %s", scenarioLabel(cfg))
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var pollOpts []client.StateOption
	if cfg.ClientPoll > 0 {
		pollOpts = append(pollOpts, client.PollInterval(cfg.ClientPoll, cfg.ClientPoll))
	}
	pollOpts = append(pollOpts, client.WithInputsAndOutputs(false))
	t0 := time.Now()
	insts, err := r.drive(sctx, c, pollOpts)
	elapsed := time.Since(t0)
	if err != nil {
		return nil, err
	}
	r.progress("scenario done in %.2f s; collecting counts", elapsed.Seconds())

	total := fromStats(workerCounter.Snapshot())
	var starts []activityStart
	var shares []Share
	for _, w := range workers {
		st := w.rec.snapshot()
		starts = append(starts, st...)
		shares = append(shares, Share{Worker: w.id, Activities: len(st)})
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	for _, ch := range children {
		cc, st, err := ch.report(rctx)
		if err != nil {
			return nil, err
		}
		total.add(cc)
		starts = append(starts, st...)
		shares = append(shares, Share{Worker: ch.id, Process: true, Activities: len(st)})
	}
	clientCalls := fromStats(clientCounter.Snapshot())
	stopAll()

	res := &Result{Backend: "azdurable (provider/azurestorage)", Scenario: scenarioLabel(cfg), Workers: cfg.Workers,
		Processes: cfg.Processes, Partitions: cfg.Partitions, MaxPollSeconds: cfg.MaxPoll.Seconds(),
		ClientPoll: clientPollLabel(cfg.ClientPoll, cfg.WaitEach), Starters: cfg.Starters, LocalResults: !cfg.NoLocalResults, LocalActivities: !cfg.NoLocalActivities, SetupSeconds: round(setupSeconds, 3), Seconds: round(elapsed.Seconds(), 3), TaskHub: hub,
		ActivityTimeMs: ms(cfg.ActivityTime)}
	res.fillShares(shares)
	workerCalls := total
	total.add(clientCalls)
	if err := r.measure(ctx, obs, insts, starts, res); err != nil {
		return nil, err
	}
	res.fillCalls(total, workerCalls, clientCalls, setup)
	return res, nil
}

// waitForOwners waits until every partition has an owner and, when there
// are no more workers than partitions, every worker owns one (balancing
// takes a few renewal rounds); it gives up on balance after a minute.
func (r *runner) waitForOwners(ctx context.Context, obs *azurestorage.Backend, workers int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		rows, err := obs.PartitionOwners(ctx)
		if err == nil {
			owners := map[string]bool{}
			all := len(rows) == r.cfg.Partitions
			for _, row := range rows {
				if row.CurrentOwner == "" || row.NextOwner != "" {
					all = false
				}
				owners[row.CurrentOwner] = true
			}
			balanced := len(owners) >= min(workers, r.cfg.Partitions)
			if all && (balanced || time.Now().After(deadline)) {
				return nil
			}
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func scenarioLabel(cfg Config) string {
	switch cfg.Scenario {
	case Chain:
		return fmt.Sprintf("chain %dx%d", cfg.Count, cfg.Length)
	case FanOut:
		return fmt.Sprintf("fanout %d", cfg.Count)
	case Events:
		return fmt.Sprintf("events %dx%d", cfg.Count, cfg.Length)
	case Idle:
		return fmt.Sprintf("idle %ds", cfg.Count)
	}
	return fmt.Sprintf("starts %dx%d", cfg.Count, cfg.Length)
}

func clientPollLabel(d time.Duration, each bool) string {
	how := "one instance after another"
	if each {
		how = "all instances at once"
	}
	if d == 0 {
		return "with the client's back-off (200 ms growing to 2 s), " + how
	}
	return "every " + d.String() + ", " + how
}

// drive starts the scenario's instances and waits until each has ended.
func (r *runner) drive(ctx context.Context, c *client.Client, pollOpts []client.StateOption) ([]*instance, error) {
	cfg := r.cfg
	var insts []*instance
	name, input := "Chain", cfg.Length
	switch cfg.Scenario {
	case FanOut:
		name, input = "FanOut", cfg.Count
		insts = append(insts, &instance{id: "bench-fanout"})
	case Events:
		name = "BenchWaiter"
		fallthrough
	default:
		for i := 0; i < cfg.Count; i++ {
			insts = append(insts, &instance{id: fmt.Sprintf("bench-%05d", i)})
		}
	}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	waitOne := func(in *instance, waitFn func(context.Context, string, ...client.StateOption) (*client.State, error)) {
		in.state, in.err = waitFn(ctx, in.id, pollOpts...)
		if in.err != nil {
			fail(fmt.Errorf("waiting for %s: %w", in.id, in.err))
		}
	}
	// waitAll waits for every started instance: one after another in
	// start order, as dtfx-ref's client does (an instance that finished
	// while an earlier one was awaited costs one read), or with WaitEach
	// all at once, each polled on its own.
	waitAll := func(started []bool, waitFn func(context.Context, string, ...client.StateOption) (*client.State, error)) {
		var wg sync.WaitGroup
		for i, in := range insts {
			if !started[i] {
				continue
			}
			if !cfg.WaitEach {
				if waitOne(in, waitFn); ctx.Err() != nil {
					return
				}
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); waitOne(in, waitFn) }()
		}
		wg.Wait()
	}
	// Starts, Starters at a time.
	started := make([]bool, len(insts))
	forEachLimit(len(insts), cfg.Starters, func(i int) {
		in := insts[i]
		if _, err := c.ScheduleNew(ctx, name, input, client.WithInstanceID(in.id)); err != nil {
			fail(fmt.Errorf("starting %s: %w", in.id, err))
			return
		}
		started[i] = true
	})
	if cfg.Scenario == Events && firstErr == nil {
		// Every instance waits for its events before any is raised.
		waitAll(started, c.WaitForStart)
		if firstErr == nil {
			forEachLimit(len(insts)*cfg.Length, cfg.Starters, func(k int) {
				in := insts[k%len(insts)]
				if err := c.RaiseEvent(ctx, in.id, "Go", fmt.Sprintf("e%d", k/len(insts))); err != nil {
					fail(fmt.Errorf("raising an event for %s: %w", in.id, err))
				}
			})
		}
	}
	if firstErr == nil {
		waitAll(started, c.WaitForCompletion)
	}
	return insts, firstErr
}

func forEachLimit(n, limit int, f func(int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// measure fills in the counts and latencies from storage.
func (r *runner) measure(ctx context.Context, obs *azurestorage.Backend, insts []*instance, starts []activityStart, res *Result) error {
	ids := map[string]bool{}
	for _, in := range insts {
		ids[in.id] = true
	}
	var states []*history.OrchestrationState
	token := ""
	for {
		p, err := obs.Query(ctx, provider.Query{InstanceIDPrefix: "bench-", PageSize: 1000}, token)
		if err != nil {
			return err
		}
		for _, st := range p.States {
			if ids[st.OrchestrationInstance.InstanceID] {
				states = append(states, st)
			}
		}
		if token = p.ContinuationToken; token == "" {
			break
		}
	}
	res.Orchestrations = len(insts)
	var lat []float64
	var first, last, lastCreated time.Time
	for _, st := range states {
		if st.Status != history.StatusCompleted {
			res.Failed++
			continue
		}
		if !st.CompletedTime.IsZero() {
			lat = append(lat, ms(st.CompletedTime.Sub(st.CreatedTime)))
			if first.IsZero() || st.CreatedTime.Before(first) {
				first = st.CreatedTime
			}
			if st.CompletedTime.After(last) {
				last = st.CompletedTime
			}
			if st.CreatedTime.After(lastCreated) {
				lastCreated = st.CreatedTime
			}
		}
	}
	res.Failed += len(insts) - len(states)
	res.LatencyMsP50, res.LatencyMsP95, res.LatencyMsP99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if !first.IsZero() {
		res.RowSpanSeconds = round(last.Sub(first).Seconds(), 3)
		res.StartSpanSeconds = round(lastCreated.Sub(first).Seconds(), 3)
	}

	// History: when each activity was scheduled and each event taken in.
	began := map[string]time.Time{}
	for _, s := range starts {
		k := fmt.Sprintf("%s#%d", s.Instance, s.TaskID)
		if t, ok := began[k]; !ok || s.At.Before(t) {
			began[k] = s.At
		}
	}
	var sched, evLat []float64
	var mu sync.Mutex
	var herr error
	forEachLimit(len(insts), 8, func(i int) {
		evs, err := obs.History(ctx, insts[i].id, "")
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			herr = err
			return
		}
		var episodeStart time.Time
		for _, ev := range evs {
			switch v := ev.(type) {
			case *history.OrchestratorStartedEvent:
				episodeStart = v.Timestamp
			case *history.TaskScheduledEvent:
				res.Activities++
				if t, ok := began[fmt.Sprintf("%s#%d", insts[i].id, v.EventID)]; ok {
					sched = append(sched, ms(t.Sub(v.Timestamp)))
				}
			case *history.EventRaisedEvent:
				res.Events++
				evLat = append(evLat, ms(episodeStart.Sub(v.Timestamp)))
			}
		}
	})
	if herr != nil {
		return herr
	}
	res.ScheduleToStartMsP50, res.ScheduleToStartMsP95 = percentile(sched, 50), percentile(sched, 95)
	res.EventToHandledMsP50, res.EventToHandledMsP95 = percentile(evLat, 50), percentile(evLat, 95)
	secs := res.Seconds
	if secs > 0 {
		res.ActivitiesPerSecond = round(float64(res.Activities)/secs, 1)
		res.OrchestrationsPerSecond = round(float64(res.Orchestrations)/secs, 2)
		res.EventsPerSecond = round(float64(res.Events)/secs, 1)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank percentile of xs (0 for none).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	k = max(0, min(k, len(s)-1))
	return round(s[k], 1)
}

func round(x float64, digits int) float64 {
	f := 1.0
	for i := 0; i < digits; i++ {
		f *= 10
	}
	if x < 0 {
		return -float64(int64(-x*f+0.5)) / f
	}
	return float64(int64(x*f+0.5)) / f
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// envChild makes the test binary a bench worker process (see TestMain).
const envChild = "AZDURABLE_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(runChild(os.Args[1:]))
	}
	azuritetest.Main(m)
}

// runChild parses the worker flags the bench passes and runs the worker.
func runChild(args []string) int {
	p := WorkerProcess{}
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	fs.StringVar(&p.Hub, "hub", "", "")
	fs.IntVar(&p.Partitions, "partitions", 4, "")
	fs.StringVar(&p.WorkerID, "worker-id", "", "")
	fs.DurationVar(&p.MaxPoll, "max-poll", 0, "")
	fs.IntVar(&p.Activities, "activities", 0, "")
	fs.IntVar(&p.Orchestrations, "orchestrations", 0, "")
	fs.BoolVar(&p.NoLocalResults, "no-local-results", false, "")
	fs.BoolVar(&p.NoLocalActivities, "no-local-activities", false, "")
	fs.DurationVar(&p.ActivityTime, "activity-time", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := RunWorkerProcess(context.Background(), p, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestChainCallCounts pins the storage calls of one Chain(3) on one worker:
// the calls whose number does not depend on timing (polls, empty or not,
// and lease renewals do) must be exactly these. A change that adds a call
// to an episode, or loses a saving, fails here.
func TestChainCallCounts(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clientCounter := storage.NewCallCounter(acct.Endpoints())
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, Logger: quietLogger(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{clientCounter.Policy()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cbe.DeleteTaskHub(context.Background()) })
	if err := cbe.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	c := client.New(cbe, client.Options{})
	// The instance is started before the worker runs, so that its
	// Instances row exists when the worker first sees it.
	before := clientCounter.Snapshot()
	if _, err := c.ScheduleNew(ctx, "Chain", 3, client.WithInstanceID("count-chain")); err != nil {
		t.Fatal(err)
	}
	// The start is sent hidden and shown once its row is written; the row
	// of a new id is inserted without being read first.
	assertCounts(t, "client start", fromStats(clientCounter.Snapshot().Sub(before)), map[string]int64{
		"queue/control/enqueue": 1, "table/instances/insert": 1, "queue/control/update": 1}, nil)

	workerCounter := storage.NewCallCounter(acct.Endpoints())
	rec := &recorder{}
	w, err := startWorker(ctx, acct, workerCounter, rec, WorkerProcess{Hub: hub, Partitions: 1, WorkerID: "count-worker", MaxPoll: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, "count-chain", client.PollInterval(20*time.Millisecond, 200*time.Millisecond))
	if err != nil || st.Status != client.Completed || st.Output == nil || *st.Output != `"Hello c2!"` {
		t.Fatalf("state %+v, %v", st, err)
	}
	// The row is Completed before the commit deletes the consumed
	// messages; a graceful stop waits for that (and adds only partition
	// and app-lease calls).
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	got := fromStats(workerCounter.Snapshot())
	// Per episode (4): one History batch and one Instances merge. Per
	// activity (3): a hidden enqueue and, with the commit that records its
	// result, the delete; no receive and no result message. Once: the
	// Instances read that de-duplicates the start (no history read: the
	// start is fresh) and the start message's delete.
	assertCounts(t, "worker", got, map[string]int64{
		"table/history/batch":          4,
		"table/instances/upsert-merge": 4,
		"queue/workitems/enqueue":      3,
		"queue/workitems/delete":       3,
		"table/instances/query":        1,
		"queue/control/delete":         1,
	}, map[string]bool{
		// Timing-dependent: polls and the partition manager's loop.
		"queue/control/dequeue": true, "queue/workitems/dequeue": true,
		"table/partitions/*": true, "blob/applease/*": true, "blob/leases/*": true,
	})
	if len(rec.snapshot()) != 3 {
		t.Errorf("%d activity starts recorded, want 3", len(rec.snapshot()))
	}
}

// assertCounts compares counts by service/category/operation with want;
// keys in ignore (a trailing /* matches a whole category) are skipped.
func assertCounts(t *testing.T, what string, got calls, want map[string]int64, ignore map[string]bool) {
	t.Helper()
	skip := func(k string) bool {
		if ignore[k] {
			return true
		}
		i := strings.LastIndexByte(k, '/')
		return ignore[k[:i]+"/*"]
	}
	have := got.by(func(k storage.CallKey) string { return k.String() })
	for k, n := range have {
		if skip(k) {
			continue
		}
		if want[k] != n {
			t.Errorf("%s: %s = %d calls, want %d", what, k, n, want[k])
		}
	}
	for k, n := range want {
		if _, ok := have[k]; !ok && n != 0 {
			t.Errorf("%s: %s = 0 calls, want %d", what, k, n)
		}
	}
}

// TestRunSmallScenarios runs each scenario small, in process and with a
// worker process, and checks the report adds up.
func TestRunSmallScenarios(t *testing.T) {
	cs := azuritetest.ConnectionString(t)
	for _, tc := range []Config{
		{Scenario: Chain, Count: 3, Length: 2},
		{Scenario: FanOut, Count: 20},
		{Scenario: Events, Count: 3, Length: 2},
		{Scenario: Starts, Count: 5},
		{Scenario: Chain, Count: 4, Length: 2, Workers: 1, Processes: 1, Partitions: 2},
	} {
		t.Run(scenarioLabel(tc), func(t *testing.T) {
			tc.ConnectionString, tc.NoCeiling, tc.MaxPoll, tc.ClientPoll = cs, true, time.Second, 100*time.Millisecond
			tc.Timeout = 5 * time.Minute
			if tc.Processes > 0 {
				tc.Executable = os.Args[0]
				tc.WorkerArgs = []string{}
				t.Setenv(envChild, "1")
			}
			rep, err := Run(context.Background(), tc)
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Azdurable
			cfg, _ := tc.withDefaults()
			wantOrch, wantAct, wantEv := cfg.Count, cfg.Count*cfg.Length, 0
			switch cfg.Scenario {
			case FanOut:
				wantOrch, wantAct = 1, cfg.Count
			case Events:
				wantAct, wantEv = 0, cfg.Count*cfg.Length
			}
			if r.Orchestrations != wantOrch || r.Activities != wantAct || r.Events != wantEv || r.Failed != 0 {
				t.Fatalf("orchestrations %d, activities %d, events %d, failed %d; want %d, %d, %d, 0",
					r.Orchestrations, r.Activities, r.Events, r.Failed, wantOrch, wantAct, wantEv)
			}
			sum := int64(0)
			for _, n := range r.ByOperation {
				sum += n
			}
			if sum != r.StorageCalls || r.StorageCalls != r.WorkerCalls+r.ClientCalls || r.SetupCalls <= 0 || r.SetupCalls >= r.StorageCalls {
				t.Fatalf("calls do not add up: by operation %d, total %d = worker %d + client %d, setup %d",
					sum, r.StorageCalls, r.WorkerCalls, r.ClientCalls, r.SetupCalls)
			}
			if r.LatencyMsP50 <= 0 || r.LatencyMsP95 < r.LatencyMsP50 || r.Seconds <= 0 {
				t.Fatalf("latency p50 %v p95 %v, seconds %v", r.LatencyMsP50, r.LatencyMsP95, r.Seconds)
			}
			if wantAct > 0 && (r.ScheduleToStartMsP50 <= 0 || r.StorageCallsPerActivity <= 0) {
				t.Fatalf("schedule to start %v, calls per activity %v", r.ScheduleToStartMsP50, r.StorageCallsPerActivity)
			}
			if wantEv > 0 && (r.EventToHandledMsP50 <= 0 || r.StorageCallsPerEvent <= 0) {
				t.Fatalf("event to handled %v, calls per event %v", r.EventToHandledMsP50, r.StorageCallsPerEvent)
			}
			if tc.Processes > 0 && r.ByCategory["queue/workitems"] == 0 {
				t.Fatal("no work-item calls counted")
			}
			var js, table bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Result
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.StorageCalls != r.StorageCalls {
				t.Fatalf("JSON: %v (%d calls)", err, back.StorageCalls)
			}
			if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "calls per activity") {
				t.Fatalf("table: %v\n%s", err, table.String())
			}
		})
	}
}

// TestWorkerProcessCountsAreReported: calls counted in a worker process
// reach the parent (the in-process workers alone would not have run the
// scenario's activities).
func TestWorkerProcessCountsAreReported(t *testing.T) {
	t.Setenv(envChild, "1")
	rep, err := Run(context.Background(), Config{Scenario: Chain, Count: 2, Length: 2, Processes: 1, Partitions: 1,
		ConnectionString: azuritetest.ConnectionString(t), NoCeiling: true, MaxPoll: time.Second, ClientPoll: 100 * time.Millisecond,
		Executable: os.Args[0], WorkerArgs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Azdurable
	if r.Workers != 0 || r.Processes != 1 || r.Failed != 0 {
		t.Fatalf("workers %d, processes %d, failed %d", r.Workers, r.Processes, r.Failed)
	}
	if n := r.ByOperation["table/history/batch"]; n < 6 {
		t.Fatalf("%d history batches counted, want the child's 6 (2 chains of 3 episodes)", n)
	}
	if r.WorkerCalls <= r.SetupCalls {
		t.Fatalf("worker calls %d, setup %d: the child's scenario calls are missing", r.WorkerCalls, r.SetupCalls)
	}
}

func TestCallsWireRoundTrip(t *testing.T) {
	c := newCalls()
	c.Counts[storage.CallKey{Service: "queue", Category: "control", Operation: "dequeue"}] = 7
	c.Failures[storage.CallKey{Service: "table", Category: "history", Operation: "batch"}] = 2
	c.Empty, c.Total = 3, 7
	data, err := json.Marshal(c.wire())
	if err != nil {
		t.Fatal(err)
	}
	var w callsWire
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	back := w.calls()
	if fmt.Sprint(back) != fmt.Sprint(c) {
		t.Fatalf("round trip\n got %v\nwant %v", back, c)
	}
	sum := newCalls()
	sum.add(c)
	sum.add(back)
	if d := sum.minus(c); fmt.Sprint(d) != fmt.Sprint(c) {
		t.Fatalf("add/minus: %v", d)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ p, want float64 }{{50, 3}, {95, 5}, {0, 1}, {100, 5}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestCeilingJudge(t *testing.T) {
	c := &Ceiling{EnqueuePerSecond: 100, DequeueDeleteCallsPerSecond: 50, TableBatchPerSecond: 25, TableWritePerSecond: 200}
	r := &Result{Activities: 10, Orchestrations: 2, ActivitiesPerSecond: 5,
		RunByOperation: map[string]int64{"queue/workitems/enqueue": 10, "queue/workitems/delete": 10, "table/history/batch": 5, "table/instances/upsert-merge": 20}}
	// 10/100 + 10/50 + 5/25 + 20/200 = 0.6 s for 10 activities.
	j := c.judge(r)
	if j.ImpliedMaxActivitiesPerSecond != 16.7 || j.AchievedRatio != 0.3 || j.ImpliedMaxOrchestrationsPerSecond != 3.33 {
		t.Fatalf("judge: %+v", j)
	}
}

// TestConfigDefaults: sizes per scenario, and what --compare-csharp refuses.
func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		s             string
		count, length int
	}{{Chain, 100, 5}, {FanOut, 1000, 1}, {Events, 100, 1}, {Starts, 500, 0}} {
		c, err := Config{Scenario: tc.s}.withDefaults()
		if err != nil || c.Count != tc.count || c.Length != tc.length || c.Workers != 1 || c.Partitions != 4 {
			t.Errorf("%s: %+v %v", tc.s, c, err)
		}
	}
	for _, bad := range []Config{{Scenario: "nope"}, {Scenario: Events, CompareCSharp: true},
		{Scenario: Chain, CompareCSharp: true, Workers: 2}, {Scenario: Chain, Partitions: 17}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if args := strings.Join(csharpArgs(Config{Scenario: FanOut, Count: 1000, Partitions: 4, MaxPoll: 30 * time.Second}, "H"), " "); args != "bench --hub H --partitions 4 --max-poll 30 --fanout 1000" {
		t.Errorf("dtfx-ref args %q", args)
	}
}

// TestCSharpIdleFormula: C#'s defaults on one worker with 4 partitions cost
// 8 control and 2 work-item receives, 6 Partitions reads, 24 renewals and
// 2.4 app-lease renewals a minute.
func TestCSharpIdleFormula(t *testing.T) {
	if v, _ := csharpIdlePerMinute(1, 4, 30*time.Second); v != 42.4 {
		t.Errorf("1 worker, 4 partitions, 30 s: %v, want 42.4", v)
	}
	if v, _ := csharpIdlePerMinute(2, 4, time.Second); v != 240+120+12+24+4.8 {
		t.Errorf("2 workers, 4 partitions, 1 s: %v", v)
	}
	if _, err := (Config{Scenario: Idle, Count: 30}).withDefaults(); err == nil {
		t.Error("an idle run shorter than the ramp was accepted")
	}
}

package chaos

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// splitSettings have a short partition lease and visibility timeouts, so
// that a paused worker's partitions and messages move within seconds.
func splitSettings() Settings {
	s := ShortSettings()
	s.PartitionLease, s.PartitionSafetyMargin = 4*time.Second, time.Second
	s.ControlQueueVisibility, s.WorkItemVisibility = 5*time.Second, 5*time.Second
	return s
}

// TestSplitBrainPausedWorker stops a busy worker with SIGSTOP until its
// partition leases have expired, another worker has taken them over and
// the messages it held have reappeared and been processed by the other
// worker; then it lets the paused worker continue with SIGCONT. The paused
// worker still holds work items and sessions with history ETags from
// before the pause: its commits must be refused (it logs lost locks), and
// no history may be forked or duplicated.
func TestSplitBrainPausedWorker(t *testing.T) {
	s := splitSettings()
	cl := testCluster(t, 4, s)
	a, err := cl.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl.Start(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, p := range []*Proc{a, b} {
		if err := p.WaitStarted(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Both own partitions before the workload starts.
	waitFor(t, "both workers to own partitions", time.Minute, func() bool {
		n := map[string]int{}
		for _, o := range owners(t, cl) {
			n[o]++
		}
		return n[a.WorkerID] > 0 && n[b.WorkerID] > 0
	})

	c, _, err := NewClient(cl.ConnectionString, cl.TaskHub, cl.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan(cl.TaskHub, 210)
	d := &Driver{C: c, Plan: plan, Rate: 40, Prefix: cl.TaskHub}
	startErr := make(chan error, 1)
	go func() { startErr <- d.Start(ctx) }()
	var ended atomic.Int64
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- d.Watch(ctx, 300*time.Millisecond, func(n, _ int) { ended.Store(int64(n)) })
	}()

	lockLost := func() int { return strings.Count(a.Log(), "instance lock lost") }
	for cycle := 1; ; cycle++ {
		// Pause while the workload is in full swing.
		base := ended.Load()
		waitFor(t, "the workload to make progress", time.Minute, func() bool { return ended.Load() >= base+10 })
		if err := a.Pause(); err != nil {
			t.Fatal(err)
		}
		paused := time.Now()
		waitFor(t, "the other worker to take every partition", time.Minute, func() bool {
			for _, o := range owners(t, cl) {
				if o != b.WorkerID {
					return false
				}
			}
			return true
		})
		// The messages the paused worker had received reappear after the
		// visibility timeout; let the other worker process them.
		atTakeover := ended.Load()
		waitFor(t, "the other worker to process the paused worker's messages", time.Minute, func() bool {
			return time.Since(paused) > s.ControlQueueVisibility+2*time.Second && ended.Load() > atTakeover
		})
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		t.Logf("cycle %d: paused %s for %v", cycle, a.WorkerID, time.Since(paused).Round(100*time.Millisecond))
		// The resumed worker finds its leases gone and stops dequeuing.
		waitFor(t, "the resumed worker to drop its partitions", time.Minute, func() bool {
			return strings.Contains(a.Log(), "partition lost")
		})
		// A pause catches the worker with an episode or an activity in
		// flight only now and then: pause again until one did.
		if lockLost() > 0 || cycle == 6 || int(ended.Load()) > len(plan)*9/10 {
			break
		}
	}
	if err := <-startErr; err != nil {
		t.Fatal(err)
	}
	if err := <-watchErr; err != nil {
		t.Fatalf("%v; not ended: %v", err, d.Unended())
	}
	if err := cl.Shutdown(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	o := Check(ctx, c, plan, CheckOptions{RedeliveredEvents: true})
	if !o.OK() {
		t.Fatalf("after the split brain: %+v", o)
	}
	n := lockLost()
	t.Logf("%d stale commits of the resumed worker were refused; %d histories checked", n, o.HistoriesChecked)
	if n == 0 {
		t.Fatal("the resumed worker committed nothing stale: the pause never caught it with work in flight, and the test proves little")
	}
}

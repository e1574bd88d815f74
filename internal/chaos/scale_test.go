package chaos

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestScaleOneThreeOne runs the workload on one worker, scales out to
// three while it runs, then back in to one (the two others stop with
// SIGTERM: they drain and release their partitions). Partitions must move
// both ways and nothing may be left behind.
func TestScaleOneThreeOne(t *testing.T) {
	cl := testCluster(t, 8, ShortSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	first, err := cl.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.WaitStarted(ctx); err != nil {
		t.Fatal(err)
	}
	ownedBy := func() map[string]int {
		n := map[string]int{}
		for _, o := range owners(t, cl) {
			n[o]++
		}
		return n
	}
	waitFor(t, "the first worker to own every partition", 3*time.Minute, func() bool { return ownedBy()[first.WorkerID] == 8 })

	c, _, err := NewClient(cl.ConnectionString, cl.TaskHub, cl.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan(cl.TaskHub, 105)
	d := &Driver{C: c, Plan: plan, Rate: 15, Prefix: cl.TaskHub}
	startErr := make(chan error, 1)
	go func() { startErr <- d.Start(ctx) }()
	var ended atomic.Int64
	watchErr := make(chan error, 1)
	go func() { watchErr <- d.Watch(ctx, 300*time.Millisecond, func(n, _ int) { ended.Store(int64(n)) }) }()

	waitFor(t, "a fifth of the workload", 3*time.Minute, func() bool { return ended.Load() >= int64(len(plan)/5) })
	var more []*Proc
	for slot := 1; slot <= 2; slot++ {
		p, err := cl.Start(slot)
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, p)
	}
	waitFor(t, "three workers to share the partitions", 3*time.Minute, func() bool {
		n := ownedBy()
		return n[first.WorkerID] > 0 && n[more[0].WorkerID] > 0 && n[more[1].WorkerID] > 0
	})
	atThree := ended.Load()
	t.Logf("scaled out to three workers with %d of %d instances ended: %v", atThree, len(plan), ownedBy())
	waitFor(t, "progress on three workers", 3*time.Minute, func() bool { return ended.Load() >= atThree+10 })
	for _, p := range more {
		if err := p.Terminate(2 * time.Minute); err != nil {
			t.Fatalf("stopping %s: %v", p.WorkerID, err)
		}
	}
	t.Logf("scaled in to one worker with %d of %d instances ended", ended.Load(), len(plan))
	waitFor(t, "the first worker to own every partition again", 3*time.Minute, func() bool { return ownedBy()[first.WorkerID] == 8 })

	if err := <-startErr; err != nil {
		t.Fatal(err)
	}
	if err := <-watchErr; err != nil {
		t.Fatalf("%v; not ended: %v", err, d.Unended())
	}
	if n := ended.Load(); n == int64(len(plan)) && atThree == n {
		t.Fatal("the workload ended before the scale-out: the test proves nothing")
	}
	if err := cl.Shutdown(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	o := Check(ctx, c, plan, CheckOptions{})
	if !o.OK() {
		t.Fatalf("after scaling: %+v", o)
	}
	lc := CountLogs(cl.All())
	t.Logf("%d partition moves; %d histories checked", lc.PartitionMoves, o.HistoriesChecked)
	if lc.PartitionMoves < 4 {
		t.Errorf("%d partition moves, want at least 4 (one to each new worker and back)", lc.PartitionMoves)
	}
}

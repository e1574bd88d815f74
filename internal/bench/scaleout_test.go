package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// TestFanOutReachesEveryProcess: a fan-out started on a hub served by two
// worker processes runs on both, each at least half of its fair share (the
// process that owns the orchestration used to run every activity itself
// while the other one slept in its polling back-off).
func TestFanOutReachesEveryProcess(t *testing.T) {
	t.Setenv(envChild, "1")
	rep, err := Run(context.Background(), Config{Scenario: FanOut, Count: 300, Processes: 2, Partitions: 2,
		ActivityTime: 200 * time.Millisecond, ConnectionString: azuritetest.ConnectionString(t), NoCeiling: true,
		ClientPoll: 100 * time.Millisecond, Timeout: 4 * time.Minute, Executable: os.Args[0], WorkerArgs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Azdurable
	if r.Failed != 0 || r.Activities != 300 {
		t.Fatalf("failed %d, activities %d", r.Failed, r.Activities)
	}
	t.Logf("shares %+v; %.1f activities/s", r.Shares, r.ActivitiesPerSecond)
	if len(r.Shares) != 2 || r.MinShareOfFair < 0.5 {
		t.Fatalf("shares %+v: smallest %.2f of a fair share, want at least 0.5", r.Shares, r.MinShareOfFair)
	}
}

// TestOwnerKilledMidFanOut: the process that owns a fan-out is killed
// (SIGKILL) while it runs the activities it kept back for itself; another
// worker process runs every one of them again, and the orchestration
// completes. The work items it held become visible within the activity
// hold (they are hidden for that long and renewed while held), not after
// the five-minute work-item visibility.
func TestOwnerKilledMidFanOut(t *testing.T) {
	t.Setenv(envChild, "1")
	const n = 8
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cs := azuritetest.ConnectionString(t)
	acct, err := storage.ParseConnectionString(cs)
	if err != nil {
		t.Fatal(err)
	}
	hub := newHubName()
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.DeleteTaskHub(context.WithoutCancel(ctx)) }()

	// The owner: the only partition, 4 activity slots, activities that
	// outlast the test's reaction to their start.
	p := WorkerProcess{Hub: hub, Partitions: 1, Activities: 4, ActivityTime: 15 * time.Second}
	pa := p
	pa.WorkerID = "owner"
	owner, err := startChild(ctx, os.Args[0], nil, cs, pa, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.kill()
	waitUntil(t, ctx, "the owner to own the partition", func() (bool, string) {
		rows, err := be.PartitionOwners(ctx)
		if err != nil || len(rows) != 1 {
			return false, fmt.Sprintf("%v %v", rows, err)
		}
		return rows[0].CurrentOwner == "owner", rows[0].CurrentOwner
	})
	pb := p
	pb.WorkerID, pb.Activities = "other", 2*n
	other, err := startChild(ctx, os.Args[0], nil, cs, pb, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.stop(context.WithoutCancel(ctx)) }()

	c := client.New(be, client.Options{})
	const id = "killed-owner"
	if _, err := c.ScheduleNew(ctx, "FanOut", n, client.WithInstanceID(id)); err != nil {
		t.Fatal(err)
	}
	// The kill comes after the episode that scheduled the activities has
	// committed (the instance runs): a control message whose episode never
	// committed stays hidden for the control-queue visibility, as in C#.
	var started []activityStart
	waitUntil(t, ctx, "the owner to start an activity and commit its episode", func() (bool, string) {
		_, st, err := owner.report(ctx)
		started = st
		if err != nil || len(st) == 0 {
			return false, fmt.Sprintf("%d started, %v", len(st), err)
		}
		s, err := c.GetState(ctx, id)
		return err == nil && s != nil && s.Status == history.StatusRunning, fmt.Sprintf("%v %v", s, err)
	})
	owner.kill()
	killed := time.Now()
	var lost []int32
	for _, s := range started {
		lost = append(lost, s.TaskID)
	}
	t.Logf("killed the owner while it ran tasks %v", lost)

	// Two minutes is generous for the activity hold (15 s) and far below
	// the work-item visibility (5 min) the held items used to wait out.
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	var again map[int32]time.Time
	waitUntil(t, rctx, "every activity of the killed owner to run again in the other process", func() (bool, string) {
		_, st, err := other.report(ctx)
		if err != nil {
			return false, err.Error()
		}
		again = map[int32]time.Time{}
		for _, s := range st {
			if s.Instance == id && s.At.After(killed) {
				again[s.TaskID] = s.At
			}
		}
		var missing []int32
		for _, id := range lost {
			if _, ok := again[id]; !ok {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not run again yet: %v", missing)
	})
	var after []time.Duration
	for _, id := range lost {
		after = append(after, again[id].Sub(killed).Round(100*time.Millisecond))
	}
	slices.Sort(after)
	t.Logf("run again in the other process after %v (activity hold %v)", after, azurestorage.DefaultActivityHold)

	var st *client.State
	lastLog := time.Now()
	waitUntil(t, ctx, "the fan-out to complete", func() (bool, string) {
		st, err = c.GetState(ctx, id)
		rows, _ := be.PartitionOwners(ctx)
		state := fmt.Sprintf("state %+v, partitions %+v, error %v", st, rows, err)
		if time.Since(lastLog) > 30*time.Second {
			t.Logf("%v after the kill: %s", time.Since(killed).Round(time.Second), state)
			lastLog = time.Now()
		}
		return err == nil && st != nil && st.Status.IsTerminal(), state
	})
	t.Logf("completed %v after the kill", time.Since(killed).Round(time.Second))
	if st.Status != history.StatusCompleted || st.Output == nil || *st.Output != fmt.Sprint(n) {
		t.Fatalf("the fan-out ended %v with %v", st.Status, st.Output)
	}
}

// waitUntil polls cond until it holds, failing the test when ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, state := cond()
		if ok {
			return
		}
		tm := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			tm.Stop()
			t.Fatalf("waiting for %s: %v (%s)", what, ctx.Err(), state)
		case <-tm.C:
		}
	}
}

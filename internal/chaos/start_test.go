package chaos

import (
	"context"
	"testing"
	"time"
)

// TestWorkersStartTogetherOnANewHub starts three workers at the same
// moment on a hub that does not exist yet, as a deployment does: each
// creates the hub's resources, and none may take the partial set of
// partition rows another is still writing for a hub of another size.
func TestWorkersStartTogetherOnANewHub(t *testing.T) {
	for round := 0; round < 12; round++ {
		cl := testCluster(t, 8, ShortSettings())
		var procs []*Proc
		for slot := 0; slot < 3; slot++ {
			p, err := cl.Start(slot)
			if err != nil {
				t.Fatal(err)
			}
			procs = append(procs, p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		for _, p := range procs {
			if err := p.WaitStarted(ctx); err != nil {
				cancel()
				t.Fatal(err)
			}
		}
		cancel()
		if err := cl.Shutdown(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStopRightAfterStart asks workers to stop the moment they were
// started, as the end of a chaos run does with a worker the kill loop has
// just restarted. A SIGTERM that arrives before the worker can handle it
// would end the process at once ("signal: terminated"); the cluster must
// wait until the worker can drain, so every stop is clean.
func TestStopRightAfterStart(t *testing.T) {
	cl := testCluster(t, 4, ShortSettings())
	for slot := 0; slot < 3; slot++ {
		if _, err := cl.Start(slot); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Shutdown(2 * time.Minute); err != nil {
		t.Fatalf("stopping workers that had just started: %v", err)
	}
	for _, p := range cl.All() {
		if p.Unexpected() {
			t.Errorf("worker %s ended with %v", p.WorkerID, p.err)
		}
	}
}

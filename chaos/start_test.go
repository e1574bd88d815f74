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
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, p := range procs {
			if err := p.WaitStarted(ctx); err != nil {
				cancel()
				t.Fatal(err)
			}
		}
		cancel()
		if err := cl.Shutdown(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

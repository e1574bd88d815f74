//go:build unix

package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
)

// envLinger names a directory for linger: each run of the activity
// creates a file "started.<pid>.<time>" in it, and it returns once a file
// "release" exists there.
const envLinger = "AZDURABLE_CHAOS_LINGER_DIR"

// linger runs until its context is cancelled (then fails with the
// context's error, as an activity that honours its context does) or until
// the test releases it; it is written, with lingering, exactly as the
// README shows a program's own activities and orchestrations.
var linger = durable.NewActivity("ChaosLinger", func(ctx context.Context, in string) (string, error) {
	dir := os.Getenv(envLinger)
	if dir == "" {
		return "", fmt.Errorf("%s is not set", envLinger)
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("started.%d.%d", os.Getpid(), time.Now().UnixNano())), nil, 0o644)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
			return "done " + in, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
})

var lingering = durable.NewOrchestration("ChaosLingering", func(ctx durable.Context, in string) (string, error) {
	return linger.Call(ctx, in).Await(ctx)
})

func countType(h []history.Event, typ history.EventType) int {
	n := 0
	for _, ev := range h {
		if ev.Type() == typ {
			n++
		}
	}
	return n
}

// TestStopGivesActivitiesBack stops a worker process (a program built the
// README's way: cli.Main(cli.WithRegistrations(...))) with SIGTERM, and
// with SIGHUP, while an activity that honours its context outlives the
// drain (--drain-timeout 5s): the worker drains, gives the work item back
// and exits 0, the instance is not failed, and the restarted worker
// completes it with the activity's output and no TaskFailed in history.
func TestStopGivesActivitiesBack(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cl := testCluster(t, 4, ShortSettings())
			dir := t.TempDir()
			cl.Env = append(cl.Env, envLinger+"="+dir)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			p, err := cl.Start(0)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.WaitStarted(ctx); err != nil {
				t.Fatal(err)
			}
			c, _, err := NewClient(cl.ConnectionString, cl.TaskHub, cl.Partitions)
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.ScheduleNew(ctx, lingering.Name(), "x")
			if err != nil {
				t.Fatal(err)
			}
			started := func() int {
				m, _ := filepath.Glob(filepath.Join(dir, "started.*"))
				return len(m)
			}
			waitFor(t, "the activity to start", 2*time.Minute, func() bool { return started() == 1 })
			if err := signal(p.cmd.Process, sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("the worker did not exit within 2m of %v:\n%s", sig, tailOf(p.LogPath))
			}
			if p.err != nil {
				t.Fatalf("the worker ended with %v after %v, want exit status 0:\n%s", p.err, sig, tailOf(p.LogPath))
			}
			if log := p.Log(); !strings.Contains(log, "gave the cancelled activity back") {
				t.Errorf("the worker did not log that it gave the activity back:\n%s", tailOf(p.LogPath))
			}
			h, err := c.History(ctx, id, "")
			if err != nil || countType(h, history.TaskFailed) != 0 {
				t.Fatalf("after the stop the history holds %d TaskFailed (%v)", countType(h, history.TaskFailed), err)
			}

			if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Start(0); err != nil {
				t.Fatal(err)
			}
			st, err := c.WaitForCompletion(ctx, id, client.PollInterval(100*time.Millisecond, time.Second))
			if err != nil || st.Status != client.Completed || st.Output == nil || *st.Output != `"done x"` {
				t.Fatalf("state %+v %v", st, err)
			}
			h, _ = c.History(ctx, id, "")
			if countType(h, history.TaskFailed) != 0 || countType(h, history.TaskCompleted) != 1 {
				t.Errorf("%d TaskFailed and %d TaskCompleted, want 0 and 1", countType(h, history.TaskFailed), countType(h, history.TaskCompleted))
			}
			if started() != 2 {
				t.Errorf("the activity started %d times, want 2 (the stopped run and the run after the restart)", started())
			}
		})
	}
}

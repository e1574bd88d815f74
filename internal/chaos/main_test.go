package chaos

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/storage"
)

// envWorker makes the test binary an azdurable worker (cli.Main) hosting
// the workload and the test-only functions below, so that the tests can run
// real worker processes to kill, pause and scale.
const envWorker = "AZDURABLE_CHAOS_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		cli.Main(cli.WithRegistrations(append(Registrations(), testRegistrations()...)...))
		return
	}
	azuritetest.Main(m)
}

// PanicMessage is what Explode panics with.
const PanicMessage = "the activity exploded on purpose"

// explode panics: the secrets test checks what a panic in an activity
// prints.
var explode = durable.NewActivity("ChaosExplode", func(ctx context.Context, _ string) (string, error) {
	panic(PanicMessage)
})

// exploding calls explode and fails with its failure.
var exploding = durable.NewOrchestration("ChaosExploding", func(ctx durable.Context, s string) (string, error) {
	return explode.Call(ctx, s).Await(ctx)
})

// envFreeze names the marker file of freezing: the first worker process
// that runs freezing's second episode (not replaying) creates it, writes
// its pid in it and stops itself with SIGSTOP, in the middle of the
// episode, before its commit.
const envFreeze = "AZDURABLE_CHAOS_FREEZE"

// freezing adds 1 to its input with an activity and returns the sum;
// after the activity it freezes the process once (see envFreeze).
var freezing = durable.NewOrchestration("ChaosFreezing", func(ctx durable.Context, n int) (int, error) {
	v, err := Add.Call(ctx, Pair{n, 1}).Await(ctx)
	if err != nil {
		return 0, err
	}
	if !ctx.IsReplaying() {
		freezeOnce()
	}
	return v, nil
})

func testRegistrations() []durable.Registrable {
	return []durable.Registrable{explode, exploding, freezing, linger, lingering}
}

// newTestHub returns a fresh hub whose resources are deleted after the
// test, the leased app-lease container included (the app lease outlives
// its workers, as in C#).
func newTestHub(t *testing.T, partitions int) string {
	t.Helper()
	hub := azuritetest.NewHub(t)
	_, be, err := NewClient(azuritetest.ConnectionString(t), hub, partitions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	return hub
}

// testCluster returns a cluster of test-binary workers on a fresh hub.
func testCluster(t *testing.T, partitions int, s Settings) *Cluster {
	t.Helper()
	cl := &Cluster{Command: []string{os.Args[0]}, Env: []string{envWorker + "=1"},
		ConnectionString: azuritetest.ConnectionString(t), TaskHub: newTestHub(t, partitions), Partitions: partitions,
		Settings: s, Dir: testDir(t)}
	t.Cleanup(func() {
		if err := cl.Shutdown(2 * time.Minute); err != nil {
			t.Logf("stopping the workers: %v", err)
		}
		if t.Failed() {
			for _, p := range cl.All() {
				t.Logf("log of %s (generation %d):\n%s", p.WorkerID, p.Generation, tailOf(p.LogPath))
			}
		}
	})
	return cl
}

// testDir is where a test's workers write their logs: a new directory
// under $AZDURABLE_CHAOS_DIR, kept for reading, or else a temporary one,
// deleted when the test passes and kept (its path logged) when it fails.
func testDir(t *testing.T) string {
	root := os.Getenv("AZDURABLE_CHAOS_DIR")
	keep := root != ""
	dir, err := os.MkdirTemp(root, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	if keep {
		t.Logf("worker logs in %s", dir)
		return dir
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		ctxsleep.Sleep(context.Background(), 100*time.Millisecond)
	}
}

// owners reads the Partitions table: partition → current owner.
func owners(t *testing.T, cl *Cluster) map[string]string {
	t.Helper()
	acct, err := storage.ParseConnectionString(cl.ConnectionString)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, be, err := NewClient(cl.ConnectionString, cl.TaskHub, cl.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := partition.ReadTable(ctx, svc, be.Resources().TaskHub)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Partition] = r.CurrentOwner
	}
	return out
}

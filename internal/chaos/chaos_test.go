package chaos

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestShortChaosRun is the short variant of make chaos: three worker
// processes on eight partitions, a mixed workload, a worker killed with
// SIGKILL and restarted every couple of seconds, and 2% of the workers'
// storage calls failing on purpose (before or after the service applied
// them). Every instance must complete with its output and every history
// must be sound.
func TestShortChaosRun(t *testing.T) {
	dir := testDir(t)
	s := ShortSettings()
	s.FaultRate = 0.02
	cfg := Config{Command: []string{os.Args[0]}, Env: []string{envWorker + "=1"},
		ConnectionString: azuritetest.ConnectionString(t), TaskHub: newTestHub(t, 8),
		Instances: 70, StartRate: 10, KillEvery: 2500 * time.Millisecond, Settings: s,
		Timeout: 6 * time.Minute, Dir: dir, Seed: uint64(time.Now().UnixNano()), Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sum, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(sum, "", "  ")
	t.Logf("summary:\n%s", out)
	if !sum.OK {
		logWorkers(t, dir)
		t.Fatalf("the run lost, stranded or broke work (seed %d)", cfg.Seed)
	}
	if sum.Kills == 0 || sum.InstancesStarted != cfg.Instances {
		t.Fatalf("%d kills, %d instances started: the run did not do what it is for", sum.Kills, sum.InstancesStarted)
	}
}

// logWorkers logs the end of every worker log in dir.
func logWorkers(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		if tail := tailOf(l); strings.TrimSpace(tail) != "" {
			t.Logf("%s:\n%s", filepath.Base(l), tail)
		}
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "history-*.txt"))
	for _, d := range dumps {
		b, _ := os.ReadFile(d)
		t.Logf("%s:\n%s", filepath.Base(d), b)
	}
}

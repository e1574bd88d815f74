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
	const instances = 70
	sum := shortRun(t, OrchestrationKinds, instances, 2500*time.Millisecond, 0.02, 10*time.Minute, "the run lost, stranded or broke work")
	if sum.Kills == 0 || sum.InstancesStarted != instances {
		t.Fatalf("%d kills, %d instances started: the run did not do what it is for", sum.Kills, sum.InstancesStarted)
	}
}

// shortRun runs the given kinds of work on three worker processes of this
// test binary over 8 partitions with the short settings, a worker killed
// every killEvery (never when 0) and faultRate of the storage calls
// failing, and fails the test with failure unless the run's checks held.
func shortRun(t *testing.T, kinds []string, instances int, killEvery time.Duration, faultRate float64, deadline time.Duration, failure string) *Summary {
	t.Helper()
	dir := testDir(t)
	s := ShortSettings()
	s.FaultRate = faultRate
	cfg := Config{Command: []string{os.Args[0]}, Env: []string{envWorker + "=1"},
		ConnectionString: azuritetest.ConnectionString(t), TaskHub: newTestHub(t, 8), Kinds: kinds,
		Instances: instances, StartRate: 10, KillEvery: killEvery, Settings: s,
		Timeout: 6 * time.Minute, Dir: dir, Seed: uint64(time.Now().UnixNano()), Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	sum, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(sum, "", "  ")
	t.Logf("summary:\n%s", out)
	if !sum.OK {
		logWorkers(t, dir)
		t.Fatalf("%s (seed %d)", failure, cfg.Seed)
	}
	return sum
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

// TestEntityChaosRun runs the entity work on three worker processes
// without kills or faults: counters signalled by the client and by
// orchestrations and called by orchestrations, and transfers between pairs
// of accounts in critical sections. Every counter must end equal to the
// operations sent to it, every balance must be the planned one (their sum
// 0), and no entity may be left locked or with queued requests (on a
// loaded machine workers lose partition leases even without kills, and the
// messages they held are received again).
func TestEntityChaosRun(t *testing.T) {
	runEntityChaos(t, 30, 0, 0)
}

// TestShortEntityChaosRun is the same under SIGKILLs and 2% storage
// faults: orchestration episodes run again after their entity requests
// went out, entities receive again what they consumed, and their answers
// go out before their batches commit (docs/entities.md, "Reliability under
// kills and faults"); the invariants must hold all the same. 20 instances
// keep it short enough for make test.
func TestShortEntityChaosRun(t *testing.T) {
	runEntityChaos(t, 20, 2500*time.Millisecond, 0.02)
}

func runEntityChaos(t *testing.T, instances int, killEvery time.Duration, faultRate float64) {
	sum := shortRun(t, EntityKinds, instances, killEvery, faultRate, 12*time.Minute, "the run lost, repeated or stranded entity work")
	e := sum.Entities
	if (killEvery > 0 && sum.Kills == 0) || e == nil || e.Counters == 0 || e.Accounts == 0 || e.Transfers == 0 || e.ClientSignals == 0 {
		t.Fatalf("%d kills, entities %+v: the run did not do what it is for", sum.Kills, e)
	}
}

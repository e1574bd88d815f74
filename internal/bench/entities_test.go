package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestRunEntities runs a small entities scenario on Azurite and checks
// that every figure of the report is there and sane (the throughput itself
// is measured, not asserted).
func TestRunEntities(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunEntities(ctx, EntitiesConfig{Signals: 40, Keys: 4, Orchestrations: 3, Calls: 2, Partitions: 2,
		MaxPoll: time.Second, ConnectionString: azuritetest.ConnectionString(t), Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%s", out)
	s, c := rep.ClientSignals, rep.OrchestrationCalls
	if s.Operations != 40 || s.Seconds <= 0 || s.OperationsPerSec <= 0 || s.StorageCalls < 40 || s.CallsPerOperation <= 0 ||
		s.LatencyMs.P50 <= 0 || s.LatencyMs.Max < s.LatencyMs.P50 || s.CallsByService["queue"] == 0 {
		t.Errorf("client signals: %+v", s)
	}
	if c == nil || c.Operations != 6 || c.OperationsPerSec <= 0 || c.StorageCalls == 0 || c.LatencyMs.P50 <= 0 || c.CallsByService["table"] == 0 {
		t.Errorf("orchestration calls: %+v", c)
	}
	if rep.Extension.OperationsPerSec != 64 || rep.Dfx != nil || rep.Partitions != 2 || rep.Keys != 4 {
		t.Errorf("report: %+v", rep)
	}
	for _, k := range []string{`"clientSignals"`, `"orchestrationCalls"`, `"storageCallsPerOperation"`, `"extensionDocumented"`} {
		if !strings.Contains(string(out), k) {
			t.Errorf("the JSON has no %s", k)
		}
	}
}

// TestEntitiesConfigRefusesBadSizes checks the validation before any
// storage is touched.
func TestEntitiesConfigRefusesBadSizes(t *testing.T) {
	for _, c := range []EntitiesConfig{{Keys: -1}, {Calls: -2}, {Starters: -1}, {Partitions: 99}} {
		if _, err := RunEntities(context.Background(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

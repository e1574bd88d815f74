package azurestorage_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

// callsSince renders the non-zero counts of c since before as
// "service/category/operation" → count.
func callsSince(c *storage.CallCounter, before storage.CallStats) map[string]int64 {
	got := map[string]int64{}
	for k, n := range c.Snapshot().Sub(before).Counts {
		if n != 0 {
			got[k.String()] = n
		}
	}
	return got
}

func sameCalls(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %s = %d calls, want %d (all: %v)", what, k, got[k], n, got)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %d unexpected %s calls (all: %v)", what, n, k, got)
		}
	}
}

// TestStartInsertsFirstAndDecidesAgainstAnExistingRow: a start of a new
// id inserts its row without reading it first (send, insert, show); a
// start of an id that has a row finds it by the insert's conflict and is
// decided against it as if it had read it first: a dedupe status refuses
// it and leaves no message behind, otherwise the row is replaced and the
// held message rewritten with the next Generation, which the run's
// history carries. A start whose message is offloaded to a blob is sent
// anew instead of rewritten. Each start runs exactly once. A start of this
// process whose partition this process owns is handed over, not shown.
func TestStartInsertsFirstAndDecidesAgainstAnExistingRow(t *testing.T) {
	acct := azuritetest.Account(t)
	counter := storage.NewCallCounter(acct.Endpoints())
	h := newStartsHub(t, &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}})
	h.worker(nil)
	key := "first-" + h.hub
	const id = "again"

	finish := func(wantGen int32, wantRuns int32) {
		t.Helper()
		st := h.waitDone(id)
		if st.Status != client.Completed || st.Generation == nil || *st.Generation != wantGen {
			t.Fatalf("status %s, generation %v; want Completed, generation %d", st.Status, st.Generation, wantGen)
		}
		ev, err := h.c.History(h.ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		var es *history.ExecutionStartedEvent
		for _, e := range ev {
			if s, ok := e.(*history.ExecutionStartedEvent); ok {
				es = s
			}
		}
		if es == nil || es.Generation == nil || *es.Generation != wantGen {
			t.Fatalf("the run's ExecutionStarted %+v, want generation %d", es, wantGen)
		}
		waitUntil(t, "the queues to empty", 2*time.Minute, func() bool { return h.messages() == 0 })
		if n := runsOf(key).Load(); n != wantRuns {
			t.Fatalf("the activity ran %d times, want %d", n, wantRuns)
		}
	}

	// Once the worker owns the partition, the starts of this process are
	// handed to it instead of being shown (localstarts.go).
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), "warm-"+key, client.WithInstanceID("warm")); err != nil {
		t.Fatal(err)
	}
	h.waitDone("warm")

	before := counter.Snapshot()
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID(id)); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, "a new id", callsSince(counter, before), map[string]int64{
		"queue/control/enqueue": 1, "table/instances/insert": 1})
	finish(0, 1)

	before = counter.Snapshot()
	_, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID(id), client.WithDedupeStatuses(client.Completed))
	if !errors.Is(err, client.ErrInstanceExists) {
		t.Fatalf("a start refused by its dedupe statuses: %v, want ErrInstanceExists", err)
	}
	// The second read is the client's, which says why the start was refused.
	sameCalls(t, "a refused start", callsSince(counter, before), map[string]int64{
		"queue/control/enqueue": 1, "table/instances/insert": 1, "table/instances/query": 2, "queue/control/delete": 1})
	if n := h.messages(); n != 0 {
		t.Fatalf("a refused start left %d messages behind", n)
	}

	before = counter.Snapshot()
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), key, client.WithInstanceID(id)); err != nil {
		t.Fatal(err)
	}
	// The rewritten message is shown (with its new text), not handed over.
	sameCalls(t, "a start of an id with a row", callsSince(counter, before), map[string]int64{
		"queue/control/enqueue": 1, "table/instances/insert": 1, "table/instances/query": 1,
		"table/instances/replace": 1, "queue/control/update": 1})
	finish(1, 2)

	// An input large enough to offload the message body.
	large := key + strings.Repeat("x", 100_000)
	if _, err := h.c.ScheduleNew(h.ctx, startsOrchestration.Name(), large, client.WithInstanceID(id)); err != nil {
		t.Fatal(err)
	}
	st := h.waitDone(id)
	if st.Status != client.Completed || st.Generation == nil || *st.Generation != 2 {
		t.Fatalf("the offloaded start: status %s, generation %v", st.Status, st.Generation)
	}
	waitUntil(t, "the queues to empty", 2*time.Minute, func() bool { return h.messages() == 0 })
	if n := runsOf(large).Load(); n != 1 {
		t.Fatalf("the offloaded start's activity ran %d times, want 1", n)
	}
}

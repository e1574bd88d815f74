package azurestorage_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

var waitForGo = durable.NewOrchestration("WaitForGo", func(ctx durable.Context, _ string) (int, error) {
	return durable.WaitForEvent[int](ctx, "go").Await(ctx)
})

// TestStartCheckpointWithoutItsRowIsHealed: the first episode's history is
// committed, but the Instances row write and the deletion of the start
// message fail, as when the worker dies between the two (found by the
// chaos run: instances killed there stayed Pending while they ran, and a
// driver raising their event once they ran waited for ever). The start
// message comes back as a duplicate; the row must then say Running, even
// when the first attempt to rewrite it fails.
func TestStartCheckpointWithoutItsRowIsHealed(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	var failRows, failDeletes atomic.Bool
	failRows.Store(true)
	failDeletes.Store(true)
	faults := storage.NewFaultInjector(1, 1, storage.Fault500)
	instancesTable := hub + "Instances("
	faults.Only(func(r *http.Request) bool {
		rowWrite := strings.Contains(r.URL.Path, instancesTable) && r.Method != http.MethodGet
		messageDelete := strings.Contains(r.URL.Path, "-control-") && strings.Contains(r.URL.Path, "/messages/") && r.Method == http.MethodDelete
		return (rowWrite && failRows.Load()) || (messageDelete && failDeletes.Load())
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, MaxPollingInterval: 300 * time.Millisecond,
		ControlQueueVisibility: 2 * time.Second, Logger: quiet(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	// The client writes its Pending row through a pipeline without faults.
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(cbe, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	runWorker(t, be, waitForGo)
	id, err := c.ScheduleNew(ctx, waitForGo.Name(), "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first episode in history", 3*time.Minute, func() bool {
		h, _ := c.History(ctx, id, "")
		return countType(h, history.OrchestratorCompleted) == 1
	})
	// Three row writes of two attempts each, then the two attempts of the
	// delete: the start message stays on its queue.
	waitUntil(t, "the failed row writes and message delete", 3*time.Minute, func() bool {
		return faults.Injected()[storage.Fault500] >= 8
	})
	// The first attempt to heal the row fails too: the start must stay
	// on its queue for another one.
	failDeletes.Store(false)
	waitUntil(t, "a failed attempt to heal the row", 3*time.Minute, func() bool {
		return faults.Injected()[storage.Fault500] >= 10
	})
	failRows.Store(false)
	// Nothing else happens to the instance until its event: only the
	// redelivered start can show that it runs.
	waitUntil(t, "the row to say Running", 3*time.Minute, func() bool {
		st, err := c.GetState(ctx, id)
		return err == nil && st.Status == client.Running
	})
	if err := c.RaiseEvent(ctx, id, "go", 7); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != "7" {
		t.Fatalf("state %v %v, want Completed 7", st, err)
	}
}

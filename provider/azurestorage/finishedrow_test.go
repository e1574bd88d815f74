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
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// TestFinishedInstanceRowIsRepaired: the last episode's history (with its
// ExecutionCompleted) is committed, but every write of the Instances row
// fails, as when the worker dies between the two or storage refuses the
// row for a while. Nothing else will ever happen to the instance, so the
// row must still come to say Completed: the consumed messages are the only
// thing that can bring the instance back to a worker, and the repair must
// happen before they are discarded, also when its own first attempt fails
// (the chaos run killed a worker between the discard and the repair, and
// the child's row said Running for good).
func TestFinishedInstanceRowIsRepaired(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	var failRows atomic.Bool
	faults := storage.NewFaultInjector(1, 1, storage.Fault500)
	instancesTable := hub + "Instances("
	faults.Only(func(r *http.Request) bool {
		return failRows.Load() && strings.Contains(r.URL.Path, instancesTable) && r.Method != http.MethodGet
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, MaxPollingInterval: 300 * time.Millisecond,
		ControlQueueVisibility: 2 * time.Second, Logger: quiet(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	// The client writes through a pipeline without faults.
	cbe, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(cbe, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	runWorker(t, be, waitForGo)
	id, err := c.ScheduleNew(ctx, waitForGo.Name(), "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the instance to run", 3*time.Minute, func() bool {
		st, err := c.GetState(ctx, id)
		return err == nil && st.Status == client.Running
	})
	failRows.Store(true)
	if err := c.RaiseEvent(ctx, id, "go", 7); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the completion in history", 3*time.Minute, func() bool {
		h, _ := c.History(ctx, id, "")
		return countType(h, history.ExecutionCompleted) == 1
	})
	// The commit's three row writes of two tries each fail; then the
	// first attempt to repair the row (two tries) fails too.
	waitUntil(t, "the commit's failed row writes", 3*time.Minute, func() bool {
		return faults.Injected()[storage.Fault500] >= 6
	})
	waitUntil(t, "an attempt to repair the finished instance's row", 3*time.Minute, func() bool {
		return faults.Injected()[storage.Fault500] >= 8
	})
	failRows.Store(false)
	waitUntil(t, "the row to say Completed", 3*time.Minute, func() bool {
		st, err := c.GetState(ctx, id)
		return err == nil && st.Status == client.Completed
	})
	st, err := c.GetState(ctx, id)
	if err != nil || st.Output == nil || *st.Output != "7" {
		t.Fatalf("state %+v %v, want output 7", st, err)
	}
}

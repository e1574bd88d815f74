package azurestorage_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
)

var sumTwoEvents = durable.NewOrchestration("SumTwoEvents", func(ctx durable.Context, _ string) (int, error) {
	a, err := durable.WaitForEvent[int](ctx, "n").Await(ctx)
	if err != nil {
		return 0, err
	}
	b, err := durable.WaitForEvent[int](ctx, "n").Await(ctx)
	return a + b, err
})

// TestLostAnswerOnAMiddleCommitDuplicatesNothing: the service applies the
// history write of the episode that records an external event, but the
// answer is lost and the SDK's retry conflicts with that very write. Found
// by the chaos run with injected faults: the committed episode was
// abandoned, its event message came back and was recorded a second time,
// so an orchestration summing two events returned 1+1 instead of 1+2.
func TestLostAnswerOnAMiddleCommitDuplicatesNothing(t *testing.T) {
	hub := azuritetest.NewHub(t)
	faults := storage.NewFaultInjector(1, 1, storage.Fault500AfterWrite)
	var mu sync.Mutex
	batches := 0
	faults.Only(func(r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/$batch") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		batches++
		return batches == 2 // the episode that records the first event
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), MaxPollingInterval: 300 * time.Millisecond,
		ControlQueueVisibility: 3 * time.Second, Logger: quiet(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	runWorker(t, be, sumTwoEvents)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := c.ScheduleNew(ctx, sumTwoEvents.Name(), "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the instance to run", 3*time.Minute, func() bool {
		st, err := c.GetState(ctx, id)
		return err == nil && st.Status == client.Running
	})
	if err := c.RaiseEvent(ctx, id, "n", 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the fault", 3*time.Minute, func() bool { return faults.Injected()[storage.Fault500AfterWrite] == 1 })
	waitUntil(t, "the event in history", 3*time.Minute, func() bool {
		h, _ := c.History(ctx, id, "")
		return countType(h, history.EventRaised) > 0
	})
	// The event's message must not come back: wait until the control
	// queue holds nothing (an abandoned message still counts while it is
	// invisible), then send the second event.
	qs, _ := azuritetest.Account(t).QueueService(nil)
	control := queues.NewQueue(qs, be.Resources().ControlQueues[azurestorage.PartitionIndex(id, azurestorage.DefaultPartitions)], nil)
	waitUntil(t, "the control queue to empty", 3*time.Minute, func() bool {
		n, err := control.ApproximateCount(ctx)
		return err == nil && n == 0
	})
	if err := c.RaiseEvent(ctx, id, "n", 2); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != "3" {
		t.Fatalf("state %v %v, want Completed 3 (1 + 2)", st.Status, *st.Output)
	}
	h, _ := c.History(ctx, id, "")
	if n := countType(h, history.EventRaised); n != 2 {
		t.Errorf("%d EventRaised in history, want 2", n)
	}
}

func countType(h []history.Event, typ history.EventType) int {
	n := 0
	for _, ev := range h {
		if ev.Type() == typ {
			n++
		}
	}
	return n
}

package azurestorage_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// TestPartitionManagerStartIsRetried: storage fails while the worker's
// partition manager starts (it creates the Partitions table). Found while
// reading the chaos runs' logs: the backend logged the error once and
// never managed partitions again, so the worker ran without taking any
// orchestration work. It must retry and then run instances.
func TestPartitionManagerStartIsRetried(t *testing.T) {
	hub := azuritetest.NewHub(t)
	var armed atomic.Bool
	faults := storage.NewFaultInjector(1, 1, storage.Fault503)
	faults.Only(func(r *http.Request) bool {
		return armed.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Tables")
	})
	logs := &syncbuf.Buffer{}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), MaxPollingInterval: 300 * time.Millisecond,
		DisableAppLease: true, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()},
			Retry: &policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	w := worker.New(be, worker.Options{Logger: quiet()})
	if err := w.Register(hellocities.Registrations()...); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	waitUntil(t, "the partition manager to fail to start", 3*time.Minute, func() bool {
		return strings.Contains(logs.String(), "starting the partition manager")
	})
	armed.Store(false)
	c := client.New(be, client.Options{})
	id, err := c.ScheduleNew(ctx, "HelloCities", "x")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed {
		t.Fatalf("after storage came back: %v %v\n%s", st, err, logs.String())
	}
}

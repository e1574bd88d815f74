package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func clients(t *testing.T, opts *storage.ClientOptions) (*azqueue.ServiceClient, *aztables.ServiceClient) {
	t.Helper()
	acct := azuritetest.Account(t)
	qs, err := acct.QueueService(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := acct.TableService(opts)
	if err != nil {
		t.Fatal(err)
	}
	return qs, ts
}

func TestCallCounterClassifiesTaskHubCalls(t *testing.T) {
	ctx := context.Background()
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	counter := storage.NewCallCounter(acct.Endpoints())
	qs, ts := clients(t, &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}})
	lower := strings.ToLower(hub)
	control := qs.NewQueueClient(lower + "-control-00")
	if _, err := control.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := control.EnqueueMessage(ctx, "hello", nil); err != nil {
		t.Fatal(err)
	}
	got, err := control.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: to32(32)})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("dequeue: %v %d", err, len(got.Messages))
	}
	if _, err := control.DequeueMessages(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := control.DeleteMessage(ctx, *got.Messages[0].MessageID, *got.Messages[0].PopReceipt, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.CreateTable(ctx, hub+"History", nil); err != nil {
		t.Fatal(err)
	}
	tc := ts.NewClient(hub + "History")
	if _, err := tc.AddEntity(ctx, []byte(`{"PartitionKey":"p","RowKey":"1"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.SubmitTransaction(ctx, []aztables.TransactionAction{
		{ActionType: aztables.TransactionTypeInsertReplace, Entity: []byte(`{"PartitionKey":"p","RowKey":"2"}`)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	pager := tc.NewListEntitiesPager(nil)
	for pager.More() {
		if _, err := pager.NextPage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := counter.Snapshot()
	for key, want := range map[storage.CallKey]int64{
		{Service: "queue", Category: "control", Operation: "create"}:       1,
		{Service: "queue", Category: "control", Operation: "enqueue"}:      1,
		{Service: "queue", Category: "control", Operation: "dequeue"}:      2,
		{Service: "queue", Category: "control", Operation: "delete"}:       1,
		{Service: "table", Category: "history", Operation: "create-table"}: 1,
		{Service: "table", Category: "history", Operation: "insert"}:       1,
		{Service: "table", Category: "history", Operation: "batch"}:        1,
		{Service: "table", Category: "history", Operation: "query"}:        1,
	} {
		if got := s.Counts[key]; got != want {
			t.Errorf("%s: %d calls, want %d (all: %v)", key, got, want, s.Counts)
		}
	}
	if s.Total != 9 || s.EmptyPolls != 1 {
		t.Errorf("total %d, empty polls %d; want 9 and 1", s.Total, s.EmptyPolls)
	}
	before := counter.Snapshot()
	if _, err := control.EnqueueMessage(ctx, "again", nil); err != nil {
		t.Fatal(err)
	}
	if d := counter.Snapshot().Sub(before); d.Total != 1 || len(d.Counts) != 1 {
		t.Errorf("difference %+v", d)
	}
}

func to32(n int32) *int32 { return &n }

// TestCallCounterNamesLeaseActions: blob lease calls are named by their
// action (the SDK sets x-ms-lease-action under its lower-case name).
func TestCallCounterNamesLeaseActions(t *testing.T) {
	ctx := context.Background()
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	counter := storage.NewCallCounter(acct.Endpoints())
	bs, err := acct.BlobService(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}})
	if err != nil {
		t.Fatal(err)
	}
	cc := bs.ServiceClient().NewContainerClient(strings.ToLower(hub) + "-applease")
	if _, err := cc.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	lc, err := lease.NewContainerClient(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.AcquireLease(ctx, 15, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.RenewLease(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.ReleaseLease(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s := counter.Snapshot()
	for _, op := range []string{"lease-acquire", "lease-renew", "lease-release"} {
		if n := s.Counts[storage.CallKey{Service: "blob", Category: "applease", Operation: op}]; n != 1 {
			t.Errorf("%s: %d calls, want 1 (all: %v)", op, n, s.Counts)
		}
	}
}

func TestFaultInjectorFailsBeforeAndAfterTheWrite(t *testing.T) {
	ctx := context.Background()
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	faults := storage.NewFaultInjector(0, 1, storage.Fault500AfterWrite)
	noRetry := &policy.RetryOptions{MaxRetries: -1}
	qs, err := acct.QueueService(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{faults.Policy()}, Retry: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	q := qs.NewQueueClient(strings.ToLower(hub) + "-workitems")
	if _, err := q.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// After the write: the call fails, but the message is on the queue.
	faults.SetRate(1)
	if _, err := q.EnqueueMessage(ctx, "applied", nil); err == nil {
		t.Fatal("an injected failure after the write did not fail the call")
	}
	faults.SetRate(0)
	got, err := q.PeekMessages(ctx, nil)
	if err != nil || len(got.Messages) != 1 || *got.Messages[0].MessageText != "applied" {
		t.Fatalf("the write was not applied: %v", err)
	}
	// Before the write: nothing reaches the service.
	before := storage.NewFaultInjector(1, 2, storage.Fault503, storage.FaultReset, storage.FaultTimeout)
	qs2, _ := acct.QueueService(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{before.Policy()}, Retry: noRetry})
	q2 := qs2.NewQueueClient(strings.ToLower(hub) + "-workitems")
	for i := 0; i < 6; i++ {
		if _, err := q2.EnqueueMessage(ctx, "never", nil); err == nil {
			t.Fatal("an injected failure before the write did not fail the call")
		}
	}
	got, _ = q.PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: to32(32)})
	if len(got.Messages) != 1 {
		t.Fatalf("%d messages after failures before the write, want 1", len(got.Messages))
	}
	// With the SDK's retries, a 50% failure rate still gets every call through.
	flaky := storage.NewFaultInjector(0.5, 3, storage.Fault500, storage.Fault503, storage.FaultReset)
	qs3, _ := acct.QueueService(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{flaky.Policy()},
		Retry: &policy.RetryOptions{MaxRetries: 10, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}})
	q3 := qs3.NewQueueClient(strings.ToLower(hub) + "-workitems")
	for i := 0; i < 10; i++ {
		if _, err := q3.EnqueueMessage(ctx, "retried", nil); err != nil {
			t.Fatalf("call %d failed despite retries: %v", i, err)
		}
	}
	n := int64(0)
	for _, v := range flaky.Injected() {
		n += v
	}
	if n == 0 {
		t.Error("no fault was injected at a 50% rate")
	}
	var ne interface{ Timeout() bool }
	_ = errors.As(nil, &ne)
}

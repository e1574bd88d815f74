package azurestorage

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/queues"
	"github.com/azdurable/azdurable/storage"
)

// heldDeletes holds every delete of a work-item message until release is
// closed, and records that one was answered.
type heldDeletes struct {
	holding chan struct{}
	release chan struct{}
	done    atomic.Bool
}

func (h *heldDeletes) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	if r.Method != http.MethodDelete || !strings.Contains(r.URL.Path, "-workitems/messages/") {
		return req.Next()
	}
	select {
	case h.holding <- struct{}{}:
	default:
	}
	<-h.release
	resp, err := req.Next()
	h.done.Store(true)
	return resp, err
}

// TestCompletedWorkItemDeletedAfterTheSlot: the activity slot that
// completes a work item of another process's orchestration is free again
// once the result is on the control queue, while the work item's delete is
// still under way; Stop returns only after that delete, and leaves the
// work-item queue empty.
func TestCompletedWorkItemDeletedAfterTheSlot(t *testing.T) {
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	h := &heldDeletes{holding: make(chan struct{}, 1), release: make(chan struct{})}
	b, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1, NoLocalResults: true, NoLocalActivities: true,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{h}}})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(h.release)
		}
		_ = b.DeleteTaskHub(context.Background())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	inst := history.OrchestrationInstance{InstanceID: "elsewhere", ExecutionID: "e1"}
	ep := int32(1)
	ts := &history.TaskScheduledEvent{Name: "SayHello", EventBase: history.EventBase{EventID: 0, Timestamp: time.Now().UTC()}}
	m := b.envelope(&history.TaskMessage{Event: ts, OrchestrationInstance: inst}, &ep, queues.Sender{InstanceID: inst.InstanceID, ExecutionID: inst.ExecutionID})
	if _, err := b.codec.Send(ctx, b.workitems, m, 0); err != nil {
		t.Fatal(err)
	}
	wi, err := b.LockNextActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := `"done"`
	completed := make(chan error, 1)
	go func() {
		completed <- b.CompleteActivity(ctx, wi, &history.TaskCompletedEvent{TaskScheduledID: 0, Result: &out,
			EventBase: history.EventBase{EventID: -1, Timestamp: time.Now().UTC()}})
	}()
	select {
	case <-h.holding:
	case <-ctx.Done():
		t.Fatal("the work item's delete never started")
	}
	select {
	case err := <-completed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("CompleteActivity waited for the work item's delete")
	}
	if n, err := b.control[0].ApproximateCount(ctx); err != nil || n != 1 {
		t.Fatalf("control queue holds %d messages (%v); want the result", n, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- b.Stop(ctx, true) }()
	close(h.release)
	released = true
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !h.done.Load() {
		t.Fatal("Stop returned before the work item's delete was answered")
	}
	if n, err := b.workitems.ApproximateCount(ctx); err != nil || n != 0 {
		t.Fatalf("work-item queue holds %d messages (%v) after Stop; want none", n, err)
	}
}

package samples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/samples/approval"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/samples/indexing"
	"github.com/azdurable/azdurable/samples/monitor"
	"github.com/azdurable/azdurable/samples/orders"
)

func env(t *testing.T, store indexing.Store) *durabletest.Env {
	e := durabletest.New(t, durabletest.Options{})
	e.Register(samples.All(store)...)
	return e
}

func TestHelloCities(t *testing.T) {
	e := env(t, nil)
	out, err := durabletest.Start(e, hellocities.HelloCities, "cities").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out, ","); got != "Hello Tokyo!,Hello Seattle!,Hello London!" {
		t.Errorf("got %s", got)
	}
}

func TestIndexing(t *testing.T) {
	store := indexing.NewMemoryStore()
	e := env(t, store)
	out, err := durabletest.Start(e, indexing.IndexRepositories, "contoso").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 8 || out["frontend"] != 27 || out["docs"] != 0 {
		t.Errorf("counts %v", out)
	}
	saved, ok := store.Get(indexing.SummaryBlobName("contoso"))
	if !ok {
		t.Fatal("no summary saved")
	}
	var s indexing.Summary
	if err := json.Unmarshal(saved, &s); err != nil || s.OpenIssues != 72 || s.Repositories != 8 {
		t.Errorf("summary %+v %v", s, err)
	}
	_, err = durabletest.Start(e, indexing.IndexRepositories, "nobody").Result()
	var fe *client.FailedError
	if !errors.As(err, &fe) || fe.State.Status != client.Failed {
		t.Errorf("unknown organization: %v", err)
	}
}

func TestOrders(t *testing.T) {
	e := env(t, nil)
	for _, tc := range []struct {
		order orders.Order
		want  string
	}{
		{orders.Order{ID: "o1", Item: "widget", Quantity: 2, Amount: 10}, "shipped"},
		{orders.Order{ID: "o2", Item: "widget", Quantity: 1, Amount: 5, ChargeFailures: 2}, "shipped"},
		{orders.Order{ID: "o3", Item: "widget", Quantity: 1, Amount: 5, ChargeFailures: 5}, "payment-failed"},
		{orders.Order{ID: "o4", Item: "widget", Quantity: 1, Amount: 5, ShippingFails: true}, "refunded"},
		{orders.Order{ID: "o5", Item: "gadget", Quantity: 9}, "rejected"},
	} {
		res, err := durabletest.Start(e, orders.ProcessOrder, tc.order).Result()
		if err != nil {
			t.Fatalf("%s: %v", tc.order.ID, err)
		}
		if res.Status != tc.want {
			t.Errorf("%s: %+v, want %s", tc.order.ID, res, tc.want)
		}
		if tc.want == "refunded" && res.Refund != "refund-of-charge-o4" {
			t.Errorf("%s: refund %q", tc.order.ID, res.Refund)
		}
	}
}

func TestApproval(t *testing.T) {
	e := env(t, nil)
	e.SetAutoAdvance(false)
	run := durabletest.Start(e, approval.Approval, approval.Request{ID: "r1", Requester: "ann", TimeoutSeconds: 60})
	run.WaitFor("waiting for approval", func(s *client.State) bool {
		return s.CustomStatus != nil && strings.Contains(*s.CustomStatus, "waiting")
	})
	e.RaiseEvent(run.ID, "Approval", approval.Decision{Approved: true, By: "bob"})
	out, err := run.Result()
	if err != nil || out.Status != "approved" || out.By != "bob" {
		t.Fatalf("approved: %+v %v", out, err)
	}
	// No answer: escalated after the timeout, then expired.
	e.SetAutoAdvance(true)
	out, err = durabletest.Start(e, approval.Approval, approval.Request{ID: "r2", Requester: "ann", TimeoutSeconds: 60}).Result()
	if err != nil || out.Status != "expired" {
		t.Fatalf("expired: %+v %v", out, err)
	}
	// Escalated and then approved.
	e.SetAutoAdvance(false)
	run = durabletest.Start(e, approval.Approval, approval.Request{ID: "r3", Requester: "ann", TimeoutSeconds: 60})
	run.WaitFor("waiting", func(s *client.State) bool { return s.CustomStatus != nil })
	e.Advance(61 * time.Second)
	run.WaitFor("escalated", func(s *client.State) bool {
		return s.CustomStatus != nil && strings.Contains(*s.CustomStatus, "escalated")
	})
	e.RaiseEvent(run.ID, "Approval", approval.Decision{Approved: false, By: "dora"})
	out, err = run.Result()
	if err != nil || out.Status != "escalated-rejected" {
		t.Fatalf("escalated: %+v %v", out, err)
	}
}

func TestMonitor(t *testing.T) {
	e := env(t, nil)
	run := durabletest.Start(e, monitor.Monitor, monitor.Job{ID: "j1", ReadyAfterChecks: 3, IntervalSeconds: 10})
	out, err := run.Result()
	if err != nil || out.Status != "ready" || out.Checks != 3 {
		t.Fatalf("ready: %+v %v", out, err)
	}
	// Continue-as-new keeps only the last generation's history.
	h := e.History(run.ID)
	starts := 0
	for _, ev := range h {
		if ev.Type() == history.ExecutionStarted {
			starts++
		}
	}
	if starts != 1 || len(h) > 12 {
		t.Errorf("history of the last generation has %d events, %d starts", len(h), starts)
	}
	out, err = durabletest.Start(e, monitor.Monitor, monitor.Job{ID: "j2", IntervalSeconds: 600,
		Deadline: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}).Result()
	if err != nil || out.Status != "deadline" || out.Checks != 6 {
		t.Fatalf("deadline: %+v %v", out, err)
	}
	_ = context.Background
	_ = fmt.Sprint
}

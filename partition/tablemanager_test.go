package partition

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

// fastTable shortens every interval so that a test sees claims, renewals,
// hand-overs and expiry within seconds. The margins stay generous for a
// slow machine: the lease is 8 s and a worker stops 3 s before it expires.
func fastTable(worker string, partitions int, policies ...policy.Policy) TableOptions {
	return TableOptions{
		Options: Options{WorkerID: worker, PartitionCount: partitions, SafetyMargin: 3 * time.Second,
			DrainTimeout: 20 * time.Second, Logger: testLogger().With("test_worker", worker)},
		LeaseInterval:    8 * time.Second,
		AcquireInterval:  500 * time.Millisecond,
		WaitInterval:     100 * time.Millisecond,
		OperationTimeout: 5 * time.Second,
		Client:           &storage.ClientOptions{PerRetryPolicies: policies},
	}
}

// Three table managers on an 8-partition hub: they reach a 3/3/2 split with
// one owner per partition; a gracefully stopped one hands its partitions
// to the other two (4/4, every one by Drain); one whose storage calls start
// failing loses its partitions by the safety margin (Lost) and the last one
// takes them after expiry. The merged listener timeline never shows a
// partition dequeued by two managers at once, and the table agrees with
// the managers' own view.
func TestTableManagersBalanceHandOverAndExpiry(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	parts := names.ControlQueues(8)
	tl := &timeline{}
	fault := map[string]*faults{}
	ms := map[string]Manager{}
	for _, id := range []string{"go-a", "go-b", "go-c"} {
		fault[id] = &faults{}
		m, err := NewTableManager(acct, names.TaskHub(), fastTable(id, 8, fault[id]))
		if err != nil {
			t.Fatal(err)
		}
		ms[id] = m
	}
	t.Cleanup(func() {
		for id, m := range ms {
			fault[id].on.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = m.Stop(ctx)
			cancel()
		}
	})
	for _, id := range []string{"go-a", "go-b", "go-c"} {
		if err := ms[id].Start(t.Context(), tl.listener(id)); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitSplit := func(what string, live map[string]Manager, want []int) {
		t.Helper()
		azuritetest.WaitFor(t, 2*time.Minute, what, func() (bool, error) {
			got, err := split(live, parts)
			if err != nil || !slices.Equal(got, want) {
				return false, err
			}
			// The table says the same: each row names the manager that
			// dequeues it, with no hand-over pending.
			rows, err := ReadTable(t.Context(), svc, names.TaskHub())
			if err != nil {
				return false, err
			}
			owner, _ := ownersOf(live)
			for _, r := range rows {
				if r.CurrentOwner != owner[r.Partition] || r.NextOwner != "" || r.IsDraining {
					return false, nil
				}
			}
			return len(rows) == len(parts), nil
		})
	}

	waitSplit("a balanced 3/3/2 split", ms, []int{2, 3, 3})
	tl.checkNoOverlap(t)

	// Graceful stop of the manager with the most partitions.
	stopped := "go-a"
	for id, m := range ms {
		if len(m.Owned()) == 3 {
			stopped = id
			break
		}
	}
	stopWithin(t, ms[stopped], 2*time.Minute)
	if got := ms[stopped].Owned(); len(got) != 0 {
		t.Fatalf("%s still owns %v after Stop", stopped, got)
	}
	live := map[string]Manager{}
	for id, m := range ms {
		if id != stopped {
			live[id] = m
		}
	}
	waitSplit("a 4/4 split after a graceful stop", live, []int{4, 4})
	if kinds := tl.stopKinds(t, stopped); kinds["lost"] != 0 || kinds["drain"] == 0 {
		t.Errorf("%s stopped dequeuing by %v; want only Drain", stopped, kinds)
	}
	tl.checkNoOverlap(t)

	// One of the two stops reaching storage: no renewals from now on.
	var frozen, survivor string
	for id := range live {
		if frozen == "" {
			frozen = id
		} else {
			survivor = id
		}
	}
	lostBefore := tl.stopKinds(t, frozen)["lost"]
	fault[frozen].on.Store(true)
	waitSplit("the survivor owning all 8 after the frozen one's leases expired",
		map[string]Manager{frozen: live[frozen], survivor: live[survivor]}, []int{0, 8})
	if got := tl.stopKinds(t, frozen)["lost"] - lostBefore; got != 4 {
		t.Errorf("frozen %s reported %d partitions Lost, want 4", frozen, got)
	}
	if deq := tl.dequeuing(t); len(deq[frozen]) != 0 || len(deq[survivor]) != 8 {
		t.Errorf("listener view: %v", deq)
	}
	tl.checkNoOverlap(t)

	// The frozen one recovers and the two balance again.
	fault[frozen].on.Store(false)
	waitSplit("a 4/4 split after recovery", live, []int{4, 4})
	stopWithin(t, live[frozen], 2*time.Minute)
	stopWithin(t, live[survivor], 2*time.Minute)
	rows, err := ReadTable(t.Context(), svc, names.TaskHub())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.CurrentOwner != "" || r.IsDraining {
			t.Errorf("after every manager stopped: %+v", r)
		}
	}
	tl.checkNoOverlap(t)
	if deq := tl.dequeuing(t); len(deq) != 0 {
		t.Errorf("still dequeuing after Stop: %v", deq)
	}
}

// A Stop whose context ends before the hand-over finishes abandons it:
// Stop returns the context's error, the running Drains are cancelled, and
// the rows still name the worker (they expire later instead of being
// released).
func TestTableManagerStopAbandonsWhenContextEnds(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	cancelled := make(chan string, 2)
	l := &funcListener{
		acquired: func(string) {},
		drain: func(ctx context.Context, p string) {
			<-ctx.Done() // in-flight work that does not finish in time
			cancelled <- p
		},
		lost: func(p string) { t.Errorf("Lost(%s) for a partition that was draining", p) },
	}
	m, err := NewTableManager(acct, names.TaskHub(), fastTable("w", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	azuritetest.WaitFor(t, 3*time.Minute, "both partitions owned", func() (bool, error) { return len(m.Owned()) == 2, nil })
	// The listener's Drain never returns: Stop must give up when its
	// context ends, however short (this deadline makes the situation).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := m.Stop(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Stop = %v, want %v", err, context.DeadlineExceeded)
	}
	for range 2 {
		select {
		case <-cancelled:
		case <-time.After(2 * time.Minute):
			t.Fatal("a Drain was not cancelled")
		}
	}
	if got := m.Owned(); len(got) != 0 {
		t.Fatalf("owned after Stop: %v", got)
	}
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadTable(t.Context(), svc, names.TaskHub())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.CurrentOwner != "w" {
			t.Errorf("abandoned row %+v was released", r)
		}
	}
	if err := m.Start(t.Context(), l); err != ErrStarted {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
}

func TestTableOptionsValidation(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames("ValidHub")
	for _, o := range []TableOptions{
		{LeaseInterval: 10 * time.Second, AcquireInterval: 6 * time.Second}, // 6 s + 5 s margin > 10 s
		{Options: Options{PartitionCount: 17}},
		{Options: Options{SafetyMargin: -time.Second}},
		{WaitInterval: -time.Second},
	} {
		if _, err := NewTableManager(acct, names.TaskHub(), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	m, err := NewTableManager(acct, names.TaskHub(), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.LeaseInterval != 30*time.Second || m.opts.AcquireInterval != 10*time.Second || m.opts.WaitInterval != time.Second ||
		m.opts.OperationTimeout != 2*time.Second || m.opts.SafetyMargin != 5*time.Second || m.opts.DrainTimeout != time.Minute ||
		m.WorkerID() != DefaultWorkerID() {
		t.Errorf("defaults: %+v", m.opts)
	}
	if err := m.Stop(t.Context()); err != ErrNotStarted {
		t.Errorf("Stop before Start = %v", err)
	}
}

func TestDefaultWorkerID(t *testing.T) {
	id := DefaultWorkerID()
	if id != DefaultWorkerID() {
		t.Fatal("not stable within the process")
	}
	if want := fmt.Sprintf("-%d", os.Getpid()); len(id) <= len(want) || id[len(id)-len(want):] != want {
		t.Errorf("DefaultWorkerID() = %q, want <host>%s", id, want)
	}
}

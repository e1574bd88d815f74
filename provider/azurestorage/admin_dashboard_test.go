package azurestorage_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestActivity: the dashboard's view of a hub reads each control queue's
// depth and oldest visible message, and counts the poison container's
// quarantined and give-back records by their names.
func TestActivity(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	c := client.New(be, client.Options{})
	if _, err := c.ScheduleNew(ctx, "Nobody", "x", client.WithInstanceID("act-1")); err != nil {
		t.Fatal(err)
	}
	acct := azuritetest.Account(t)
	bs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := be.Resources()
	if _, err := bs.CreateContainer(ctx, r.PoisonContainer, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"instances/a%2Fb/quarantined/q1/m1.json.gz", "no-instance/q2/m2.json.gz",
		"instances/x/stalled/activity-e-1.json.gz"} {
		if _, err := bs.UploadBuffer(ctx, r.PoisonContainer, name, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	a, err := be.Activity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Partitions) != r.Partitions || a.WorkItemQueue != r.WorkItemQueue || a.BlobLeases {
		t.Fatalf("activity: %+v", a)
	}
	i, _ := r.ControlQueueFor("act-1")
	if p := a.Partitions[i]; p.Depth != 1 || p.Oldest.IsZero() || time.Since(p.Oldest) > time.Hour {
		t.Errorf("partition of act-1: %+v", p)
	}
	for j, p := range a.Partitions {
		if j != i && (p.Depth != 0 || !p.Oldest.IsZero()) {
			t.Errorf("partition %d: %+v", j, p)
		}
	}
	var ids []string
	for _, rec := range a.Recent {
		ids = append(ids, rec.InstanceID+"|"+rec.Queue)
	}
	sort.Strings(ids)
	if a.Poisoned != 2 || a.Stalled != 1 || len(ids) != 2 || ids[0] != "a/b|q1" || ids[1] != "|q2" {
		t.Errorf("poison: %d quarantined %d stalled, recent %q", a.Poisoned, a.Stalled, ids)
	}
}

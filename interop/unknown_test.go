//go:build interop

package interop

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/worker"
)

// TestSharedHubWithNamesOnlyCSharpHosts: a Go worker that lacks the Big
// activity shares a hub with a C# worker that hosts it. While the Go
// worker is alone, it gives Big's work items back (WARN, never ERROR, the
// reason recorded) and the instances wait, Running; once the C# worker
// runs, every instance completes, and nothing was quarantined. A C#
// client's start of an orchestration no worker hosts is Pending with the
// reason as its custom status, which the C# client reads, and a C#
// client's terminate of it takes effect (sent while the Go worker owns
// every partition).
func TestSharedHubWithNamesOnlyCSharpHosts(t *testing.T) {
	began := time.Now()
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	const partitions = 2
	c := newCS(t, st, hub, partitions)

	logs := newTail(2000)
	dumpOnFailure(t, "Go worker without Big", logs)
	log := slog.New(&recorder{t: logs})
	be, err := azurestorage.New(goOptions(st.acct, hub, partitions, "go-no-big", log))
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: log, ShutdownTimeout: time.Minute})
	var regs []durable.Registrable
	for _, r := range conformance.Registrations() {
		if r != durable.Registrable(conformance.Big) {
			regs = append(regs, r)
		}
	}
	if err := w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			t.Error("the Go worker did not stop within 3 minutes")
		}
	})

	gc := goClient(t, st.acct, hub, partitions)
	var exps []expect
	for i, n := range []int{10, 1000, 70000} {
		id := fmt.Sprintf("needs-big-%d", i)
		startBy(t, false, gc, c, conformance.Case{ID: id, Name: "BigPayload", Input: fmt.Sprint(n)})
		exps = append(exps, expect{id: id, status: "Completed", output: fmt.Sprint(n), waitsFor: "the C# worker's Big"})
	}
	if err := c.start("Helo", "cs-typo", `"x"`); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Minute, "the Go worker to give Big back and to say why cs-typo waits", func() (bool, string, error) {
		gaveBack := strings.Count(logs.String(), "gave an activity work item back")
		cst, err := c.status("cs-typo")
		if err != nil {
			return false, "", err
		}
		custom := ""
		if cst.CustomStatus != nil {
			custom = *cst.CustomStatus
		}
		return gaveBack >= len(exps) && cst.Status == "Pending" && strings.Contains(custom, `orchestration \"Helo\" is not registered`),
			fmt.Sprintf("%d give-backs; cs-typo %s %q", gaveBack, cst.Status, custom), nil
	})
	d, err := be.Diagnostics(context.Background(), "needs-big-0")
	if err != nil || len(d.Stalled) != 1 || d.Stalled[0].Name != "Big" {
		t.Errorf("diagnostics of needs-big-0: %+v %v", d, err)
	}

	// The terminate is sent while the Go worker owns every partition: once
	// the C# worker runs, cs-typo's partition may be its share, and in one
	// CI run the instance then stayed Pending for 3 minutes with the
	// terminate sent (dtfx-ref's worker does not host Helo either).
	if err := c.run(3*time.Minute, false, nil, "terminate", "--id", "cs-typo", "--reason", "typo"); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Minute, "the terminate of cs-typo to take effect", func() (bool, string, error) {
		cst, err := c.status("cs-typo")
		return err == nil && cst.Status == "Terminated", fmt.Sprintf("%+v", cst), err
	})
	t.Logf("%.1fs: cs-typo terminated", time.Since(began).Seconds())
	t.Logf("%.1fs: the Go worker gave Big back; starting the C# worker", time.Since(began).Seconds())
	cw := startCSWorker(t, c, "cs-with-big")
	waitGo(t, gc, 4*time.Minute, exps)
	t.Logf("%.1fs: every instance completed", time.Since(began).Seconds())
	cw.stop(t)
	cw.checkNoNondeterminism(t)

	if l := logs.String(); strings.Contains(l, " ERROR ") || strings.Contains(l, "quarantined") {
		t.Errorf("the Go worker logged an error or quarantined a message; see its log")
	}
	for _, name := range poisonNames(t, st, hub) {
		if !strings.Contains(name, "/stalled/") {
			t.Errorf("quarantined: %s", name)
		}
	}
	for _, e := range exps {
		if d, err := be.Diagnostics(context.Background(), e.id); err != nil || len(d.Stalled) != 0 {
			t.Errorf("%s still shows stalled work after it completed: %+v %v", e.id, d, err)
		}
	}
}

// poisonNames lists the hub's poison container.
func poisonNames(t *testing.T, st store, hub string) []string {
	t.Helper()
	bs, err := st.acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	pager := bs.NewListBlobsFlatPager(strings.ToLower(hub)+"-poison", &azblob.ListBlobsFlatOptions{})
	for pager.More() {
		p, err := pager.NextPage(context.Background())
		if err != nil {
			if strings.Contains(err.Error(), "ContainerNotFound") {
				return nil
			}
			t.Fatal(err)
		}
		for _, it := range p.Segment.BlobItems {
			names = append(names, *it.Name)
		}
	}
	return names
}

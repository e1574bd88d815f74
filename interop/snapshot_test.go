//go:build interop

package interop

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/storage"
)

// snapshotPath is $DTFX_SNAPSHOT, else hub-snapshot.tar.gz beside dtfx-ref.
func snapshotPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("DTFX_SNAPSHOT")
	if p == "" {
		p = filepath.Join(filepath.Dir(dtfxRef(t)), "hub-snapshot.tar.gz")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("interop: the C# hub snapshot is needed: set $DTFX_SNAPSHOT or put hub-snapshot.tar.gz beside dtfx-ref (%v)", err)
	}
	return p
}

// unpack extracts a .tar.gz of plain files and folders into dir.
func unpack(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("unpack %s: entry %q leaves the folder", archive, h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("unpack %s: entry %q has unsupported type %c", archive, h.Name, h.Typeflag)
		}
	}
}

// The instances C# left in each snapshot hub and what a takeover worker
// must make of them (the README's table).
func snapshotExpectations(prefix string) []expect {
	flow := func(e, n string) string {
		return `["Hello Tokyo!",` + fmt.Sprintf("%q", e) + `,"Hello Seattle!","Hello London!",` + fmt.Sprintf("%q", n) + `]`
	}
	cities := `["Hello Tokyo!","Hello Seattle!","Hello London!"]`
	return []expect{
		{prefix + "done", "Completed", cities, "nothing: C# completed it"},
		{prefix + "waiting", "Completed", flow("from-go", "1"), "the raised Continue"},
		{prefix + "waiting-large", "Completed", flow("from-go", "102400"), "the raised Continue (input in a large-message blob)"},
		{prefix + "event-queued", "Completed", flow("from-csharp", "2"), "its queued Continue from the C# client"},
		{prefix + "timer", "Completed", `"Hello Sleep!"`, "its TimerFired message, then SayHello"},
		{prefix + "activity-held", "Completed", `"slow item"`, "the Slow message C# held, visible again"},
		{prefix + "pending", "Completed", cities, "its ExecutionStarted message from the C# client"},
	}
}

// Two hubs that a C# worker left in flight, one released gracefully and one
// abandoned with its leases held, are finished by a Go worker.
func TestSnapshotTakeover(t *testing.T) {
	dtfxRef(t)
	snap := snapshotPath(t)
	dir := t.TempDir()
	if err := unpack(snap, dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*azurite.StartTimeout)
	defer cancel()
	azLog := newTail(100)
	dumpOnFailure(t, "Azurite on the snapshot", azLog)
	srv, err := azurite.Start(ctx, azurite.Options{Location: dir, Loose: true, Stdout: tailWriter{azLog}, Stderr: tailWriter{azLog}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stopping Azurite: %v", err)
		}
	})
	acct, err := storage.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	st := store{acct: acct, conn: srv.ConnectionString()}
	// Events are raised once through each client's path across the two hubs.
	t.Run("CsInterop", func(t *testing.T) { takeOver(t, st, "CsInterop", "csinterop-", false) })
	t.Run("CsCrash", func(t *testing.T) { takeOver(t, st, "CsCrash", "cscrash-", true) })
}

type tailWriter struct{ t *tail }

func (w tailWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.add(l)
	}
	return len(p), nil
}

func takeOver(t *testing.T, st store, hub, prefix string, raiseWithCS bool) {
	const partitions = 4
	began := time.Now()
	names := taskhub.MustNames(hub)
	tsvc, err := st.acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	gc := goClient(t, st.acct, hub, partitions)
	c := newCS(t, st, hub, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// What C# left: its rows, as the README describes them.
	rows, err := partition.ReadTable(ctx, tsvc, names.TaskHub())
	if err != nil {
		t.Fatal(err)
	}
	crashed := strings.HasPrefix(prefix, "cscrash")
	for _, r := range rows {
		switch {
		case crashed && (r.CurrentOwner != "cscapture-worker" || !r.ExpiresAt.Before(time.Now())):
			t.Fatalf("snapshot: %s should still name the frozen C# worker with an expired lease; row %+v", r.Partition, r)
		case !crashed && r.CurrentOwner != "":
			t.Fatalf("snapshot: %s should have been released by C#; row %+v", r.Partition, r)
		}
	}
	if len(rows) != partitions {
		t.Fatalf("snapshot: %d partition rows, want %d", len(rows), partitions)
	}
	done, err := gc.GetState(ctx, prefix+"done", client.WithInputsAndOutputs(true))
	if err != nil || done.Status != client.Completed {
		t.Fatalf("the Go client reading C#'s completed %sdone before any Go worker ran: %+v, %v", prefix, done, err)
	}
	if pending, err := gc.GetState(ctx, prefix+"pending"); err != nil || pending.Status != client.Pending {
		t.Fatalf("the Go client reading C#'s pending %spending: %+v, %v", prefix, pending, err)
	}

	// The Go worker claims C#'s partitions and app lease on its first pass.
	id := "go-takeover-" + strings.ToLower(hub)
	started := time.Now()
	g := startGoWorker(t, st.acct, hub, partitions, id, nil)
	firstPass := 10 * time.Second // the table manager's acquire interval: a second pass comes no sooner
	poll(t, firstPass, "the Go worker to own all 4 of C#'s partitions on its first pass", func() (bool, string, error) {
		rows, err := partition.ReadTable(ctx, tsvc, names.TaskHub())
		if err != nil {
			return false, "", err
		}
		owned := 0
		for _, r := range rows {
			if r.CurrentOwner == id && r.NextOwner == "" {
				owned++
			}
		}
		return owned == partitions, fmt.Sprintf("rows %+v", rows), nil
	})
	t.Logf("%s: the Go worker owned all partitions %v after it started", hub, time.Since(started).Round(time.Millisecond))
	if want := "leaseId=" + partition.LeaseIDForApp(appName); !g.logs.contains("app lease acquired") || !g.logs.contains(want) {
		t.Errorf("the Go worker did not log taking the app lease of %q (%s)", appName, want)
	}

	// The events, after the takeover worker started.
	for _, id := range []string{prefix + "waiting", prefix + "waiting-large"} {
		raiseBy(t, raiseWithCS, gc, c, conformance.Raise{InstanceID: id, Event: "Continue", Data: `"from-go"`})
	}
	exps := snapshotExpectations(prefix)
	waitGo(t, gc, 2*time.Minute, exps)
	waitCS(t, c, 3*time.Minute, exps)

	// C# reads the histories the Go worker extended.
	for _, k := range []struct{ id, actions string }{
		{prefix + "waiting", "#0 SayHello,#1 SayHello,#2 timer,#3 sub Child {exec}:3"},
		{prefix + "timer", "#0 timer,#1 SayHello"},
		{prefix + "pending", "#0 SayHello,#1 SayHello,#2 SayHello"},
	} {
		exec, evs, err := c.history(k.id)
		if err != nil {
			t.Errorf("C# reading the history of %s: %v", k.id, err)
			continue
		}
		if got := strings.Join(conformance.Actions(evs, exec), ","); got != k.actions {
			t.Errorf("%s as C# reads it: actions %s, want %s", k.id, got, k.actions)
		}
		if last := evs[len(evs)-1]; last.Type() != history.OrchestratorCompleted {
			t.Errorf("%s as C# reads it ends with %s", k.id, last.Type())
		}
	}
	g.stop(t)

	// The Go client shows and lists C#'s completed instances, then purges
	// them; C#'s client agrees they are gone.
	listed := map[string]bool{}
	for s, err := range gc.Query(ctx, client.Query{Statuses: []client.Status{client.Completed}, InstanceIDPrefix: prefix}) {
		if err != nil {
			t.Fatalf("listing %s's completed instances: %v", hub, err)
		}
		listed[s.InstanceID] = true
	}
	for _, e := range exps {
		if !listed[e.id] {
			t.Errorf("the Go client's list of completed instances misses %s (listed %v)", e.id, keys(listed))
		}
	}
	if res, err := gc.Purge(ctx, prefix+"done"); err != nil || res.InstancesDeleted != 1 {
		t.Errorf("purging C#'s %sdone: %+v, %v", prefix, res, err)
	}
	if _, err := gc.GetState(ctx, prefix+"done"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("%sdone after the purge (Go client): %v, want not found", prefix, err)
	}
	if s, err := c.status(prefix + "done"); err != nil || s.Found {
		t.Errorf("%sdone after the purge (C# client): %+v, %v, want not found", prefix, s, err)
	}
	res, err := gc.PurgeWhere(ctx, client.PurgeFilter{Statuses: []client.Status{client.Completed}})
	if err != nil || res.InstancesDeleted < len(exps)-1 {
		t.Errorf("purging %s's other completed instances: %+v, %v", hub, res, err)
	}
	var q struct {
		Instances []csState `json:"instances"`
	}
	if err := c.run(3*time.Minute, false, &q, "query"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, s := range q.Instances {
		if strings.HasPrefix(s.InstanceID, prefix) {
			left = append(left, s.InstanceID+" "+s.Status)
		}
	}
	if len(left) > 0 {
		t.Errorf("C#'s query still lists after the purge: %v", left)
	}
	t.Logf("%s taken over and finished in %v", hub, time.Since(began).Round(time.Millisecond))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

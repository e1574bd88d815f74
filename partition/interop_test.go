//go:build interop

package partition

// Interop with the real C# backend (shared/csharp-reference/dtfx-ref).
// Run with: go test -race -tags interop -run Interop ./partition/
// The program is found through $DTFX_REF, else at ../shared/csharp-reference
// from the repository root; the test fails if it is missing.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
)

func dtfxRef(t *testing.T) string {
	t.Helper()
	p := os.Getenv("DTFX_REF")
	if p == "" {
		p = filepath.Join("..", "..", "shared", "csharp-reference", "dtfx-ref")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the C# reference worker is needed: set $DTFX_REF or provide %s (%v)", p, err)
	}
	return p
}

// A Go table manager and a C# worker share one hub's partitions live: the
// C# worker asks for half of the Go worker's partitions, the Go worker
// drains and releases them and the C# worker claims them (2/2); when the C#
// worker stops gracefully the Go worker takes its partitions back. At every
// poll, each partition the Go worker dequeues from is one whose row names
// it, so the two never dequeue the same partition by the table's account.
func TestInteropTableManagerWithCSharpWorker(t *testing.T) {
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	names := taskhub.MustNames(hub)
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewTableManager(acct, names.TaskHub(), TableOptions{Options: Options{WorkerID: "go-1", PartitionCount: 4, Logger: testLogger()}, AcquireInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Rows settled per owner; and the Go worker dequeues only rows naming it.
	owners := func() (map[string]int, map[string]bool, error) {
		rows, err := ReadTable(t.Context(), svc, names.TaskHub())
		if err != nil {
			return nil, nil, err
		}
		n, mine := map[string]int{}, map[string]bool{}
		for _, r := range rows {
			if r.NextOwner == "" && !r.IsDraining {
				n[r.CurrentOwner]++
			}
			mine[r.Partition] = r.CurrentOwner == "go-1"
		}
		return n, mine, nil
	}
	shareWithCSharp(t, hub, m, "table", owners)
}

// The same with the safe blob-lease managers on both sides: C# steals
// intent leases from the Go worker, which drains and releases ownership.
func TestInteropBlobManagerWithCSharpWorker(t *testing.T) {
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	names := taskhub.MustNames(hub)
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewBlobManager(acct, names, BlobOptions{Options: Options{WorkerID: "go-1", PartitionCount: 4, Logger: testLogger()},
		IntentAcquireInterval: time.Second, OwnershipAcquireInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	owners := func() (map[string]int, map[string]bool, error) {
		ls, err := ReadLeases(t.Context(), blobs, names.TaskHub())
		if err != nil {
			return nil, nil, err
		}
		intent := map[string]string{}
		n, mine := map[string]int{}, map[string]bool{}
		for _, l := range ls {
			switch {
			case l.Type == LeaseIntent && l.Leased:
				intent[l.PartitionID] = l.Owner
			case l.Type == LeaseOwnership:
				if l.Leased && l.Owner != "" && intent[l.PartitionID] == l.Owner {
					n[l.Owner]++
				}
				mine[l.PartitionID] = l.Leased && l.Owner == "go-1"
			}
		}
		return n, mine, nil
	}
	shareWithCSharp(t, hub, m, "safe", owners)
}

// shareWithCSharp runs the scenario; owners reads the store: settled
// partitions per owner, and which partitions the store says Go owns.
func shareWithCSharp(t *testing.T, hub string, m Manager, manager string, owners func() (map[string]int, map[string]bool, error)) {
	exe := dtfxRef(t)
	names := taskhub.MustNames(hub)
	breakAppLease(t, azuritetest.Account(t), names) // C# leaves its app lease to expire
	tl := &timeline{}
	if err := m.Start(t.Context(), tl.listener("go-1")); err != nil {
		t.Fatal(err)
	}
	defer stopWithin(t, m, 2*time.Minute)
	azuritetest.WaitFor(t, 3*time.Minute, "the Go worker owning all 4", func() (bool, error) { return len(m.Owned()) == 4, nil })

	cmd := exec.Command(exe, "worker", "--hub", hub, "--partitions", "4", "--worker-id", "cs-1", "--seconds", "600", "--stdin", "--partition-manager", manager)
	cmd.Env = append(os.Environ(), "AZURE_STORAGE_CONNECTION_STRING="+azuritetest.ConnectionString(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	started := make(chan struct{})
	stoppedCleanly := false
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), `"started"`) {
				once = true
				close(started)
			}
			stoppedCleanly = stoppedCleanly || strings.Contains(sc.Text(), `"stopped"`)
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the C# worker did not start")
	}

	settled := func() (map[string]int, error) {
		goOwned := m.Owned()
		n, mine, err := owners()
		if err != nil {
			return nil, err
		}
		for _, p := range goOwned {
			if !mine[p] {
				t.Errorf("the Go worker dequeues %s but the store names another owner", p)
			}
		}
		return n, nil
	}
	azuritetest.WaitFor(t, 4*time.Minute, "a 2/2 split between Go and C#", func() (bool, error) {
		n, err := settled()
		return err == nil && n["go-1"] == 2 && n["cs-1"] == 2 && len(m.Owned()) == 2, err
	})
	if kinds := tl.stopKinds(t, "go-1"); kinds["drain"] != 2 || kinds["lost"] != 0 {
		t.Errorf("the Go worker gave partitions to C# by %v, want two Drains", kinds)
	}

	// End of stdin stops the C# worker gracefully: it drains and releases.
	stopAt := time.Now()
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || !stoppedCleanly {
			t.Errorf("C# worker: %v, printed stopped: %v", err, stoppedCleanly)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the C# worker did not stop")
	}
	azuritetest.WaitFor(t, 2*time.Minute, "the Go worker owning all 4 again", func() (bool, error) {
		n, err := settled()
		return err == nil && n["go-1"] == 4 && slices.Equal(m.Owned(), names.ControlQueues(4)), err
	})
	t.Logf("the Go worker owned all 4 again %v after the C# worker was told to stop (C# lease: 30 s)", time.Since(stopAt).Round(time.Second))
	tl.checkNoOverlap(t)
}

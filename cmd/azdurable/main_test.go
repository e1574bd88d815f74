package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/hellocities"
)

// envRunMain makes the test binary run main instead of the tests, so that
// the tests can start this very program as a child process.
const envRunMain = "AZDURABLE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		return
	}
	azuritetest.Main(m)
}

type event struct {
	Event, TaskHub, WorkerID string
	Partitions               int
	Orchestrations           int
}

// TestWorkerSIGTERM runs `azdurable worker` as a child process on Azurite:
// it prints the started line, owns the partitions, runs a sample, and on
// SIGTERM drains, releases its partitions and exits 0 within 30 s.
func TestWorkerSIGTERM(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	// The app lease outlives the worker (as in C#); DeleteTaskHub breaks it.
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })

	cmd := exec.Command(os.Args[0], "worker", "--task-hub", hub, "--max-poll", "1", "--log-level", "info",
		"--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), envRunMain+"=1", "AZURE_STORAGE_CONNECTION_STRING="+azuritetest.ConnectionString(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	next := func(what string, d time.Duration) event {
		t.Helper()
		select {
		case line, ok := <-lines:
			var e event
			if !ok || json.Unmarshal([]byte(line), &e) != nil {
				t.Fatalf("waiting for %s: got %q (ok %v)\nstderr:\n%s", what, line, ok, stderr)
			}
			return e
		case <-time.After(d):
			t.Fatalf("no %s line within %s\nstderr:\n%s", what, d, stderr)
		}
		return event{}
	}

	started := next("started", 3*time.Minute)
	if started.Event != "started" || started.TaskHub != hub || started.Partitions != 4 || started.Orchestrations < 5 ||
		!strings.HasSuffix(started.WorkerID, "-"+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("started line %+v", started)
	}
	svc, _ := acct.TableService(nil)
	names, _ := taskhub.NewNames(hub)
	azuritetest.WaitFor(t, 3*time.Minute, "the worker owns every partition", func() (bool, error) {
		rows, err := partition.ReadTable(context.Background(), svc, names.TaskHub())
		owned := 0
		for _, r := range rows {
			if r.CurrentOwner == started.WorkerID {
				owned++
			}
		}
		return owned == 4, err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := client.Start(ctx, client.New(be, client.Options{}), hellocities.HelloCities, "")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run.Get(ctx); err != nil || len(out) != 3 {
		t.Fatalf("HelloCities on the child worker: %v %v\nstderr:\n%s", out, err, stderr)
	}
	scrapeWorkerMetrics(t, stderr)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	if stopped := next("stopped", 2*time.Minute); stopped.Event != "stopped" || stopped.WorkerID != started.WorkerID {
		t.Errorf("stopped line %+v", stopped)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr)
		}
		t.Logf("exited with status 0 %s after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	case <-time.After(2*time.Minute - time.Since(signalled)):
		t.Fatalf("still running 2 minutes after SIGTERM\nstderr:\n%s", stderr)
	}
	rows, err := partition.ReadTable(context.Background(), svc, names.TaskHub())
	if err != nil || len(rows) != 4 {
		t.Fatalf("partition rows %v %v", rows, err)
	}
	for _, r := range rows {
		if r.CurrentOwner != "" || r.IsDraining {
			t.Errorf("%s after the graceful stop: owner %q, draining %v", r.Partition, r.CurrentOwner, r.IsDraining)
		}
	}
}

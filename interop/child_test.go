//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// A Go worker that must die with its leases held runs as a child process:
// the test binary itself, started again with childEnv set (TestMain then
// runs childMain instead of the tests).
const childEnv = "AZDURABLE_INTEROP_CHILD"

// childMain runs a Go worker with the conformance set until SIGTERM (a
// graceful stop) or SIGKILL. It prints JSON lines like dtfx-ref worker:
// started, one activity line per SayHello, stopped.
func childMain() int {
	get := func(k string) string { return os.Getenv("AZDURABLE_INTEROP_" + k) }
	acct, err := storage.ParseConnectionString(os.Getenv("AZURE_STORAGE_CONNECTION_STRING"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 2
	}
	partitions, err := strconv.Atoi(get("PARTITIONS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker: partitions:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := goOptions(acct, get("HUB"), partitions, get("WORKER_ID"), log)
	if d, err := time.ParseDuration(get("LEASE")); err == nil {
		opts.Table.LeaseInterval = d
		opts.Table.AcquireInterval = d / 3
	}
	be, err := azurestorage.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 2
	}
	var out sync.Mutex
	emit := func(v any) {
		b, _ := json.Marshal(v)
		out.Lock()
		defer out.Unlock()
		os.Stdout.Write(append(b, '\n'))
	}
	hellos := &atomic.Int64{}
	w, err := newGoWorker(be, log, hellos)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	emit(map[string]string{"event": "started", "workerId": opts.WorkerID})
	var reported int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			for n := hellos.Load(); reported < n; reported++ {
				emit(map[string]string{"event": "activity", "name": "SayHello"})
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "child worker:", err)
				return 1
			}
			emit(map[string]string{"event": "stopped"})
			return 0
		case <-tick.C:
			for n := hellos.Load(); reported < n; reported++ {
				emit(map[string]string{"event": "activity", "name": "SayHello"})
			}
		}
	}
}

// goChild is a Go worker in a child process.
type goChild struct {
	id     string
	cmd    *exec.Cmd
	events *csWorker // the same line protocol as dtfx-ref worker
}

// startGoChild starts the test binary as a Go worker on the hub.
func startGoChild(t testing.TB, st store, hub string, partitions int, id string, lease time.Duration) *goChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &csWorker{id: id, stdout: newTail(200), stderr: newTail(400), started: make(chan struct{}),
		exited: make(chan struct{}), inputs: map[string]int{}, stdin: nopCloser{}}
	dumpOnFailure(t, "Go child worker "+id, w.stderr)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "AZURE_STORAGE_CONNECTION_STRING="+st.conn,
		"AZDURABLE_INTEROP_HUB="+hub, "AZDURABLE_INTEROP_PARTITIONS="+strconv.Itoa(partitions),
		"AZDURABLE_INTEROP_WORKER_ID="+id, "AZDURABLE_INTEROP_LEASE="+lease.String())
	w.cmd = cmd
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Go child worker %s: %v", id, err)
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); w.stderr.readFrom(stderr) }()
	go func() { defer pipes.Done(); w.readEvents(stdout) }()
	go func() {
		pipes.Wait()
		w.waitErr = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-w.exited:
		default:
			_ = cmd.Process.Kill()
			<-w.exited
		}
	})
	select {
	case <-w.started:
	case <-w.exited:
		t.Fatalf("the Go child worker %s exited before it started: %v", id, w.waitErr)
	case <-time.After(3 * time.Minute):
		t.Fatalf("waiting for the Go child worker %s to print its started event: nothing after 3 min", id)
	}
	return &goChild{id: id, cmd: cmd, events: w}
}

// kill ends the child with SIGKILL: its partition leases and app lease stay
// held until they expire, its dequeued messages invisible until their
// visibility times out.
func (g *goChild) kill(t testing.TB) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL to the Go child worker %s: %v", g.id, err)
	}
	select {
	case <-g.events.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("waiting for the Go child worker %s to die after SIGKILL: still there after 2 min", g.id)
	}
}

// terminate stops the child gracefully (SIGTERM) and checks it said so.
func (g *goChild) terminate(t testing.TB) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the Go child worker %s: %v", g.id, err)
	}
	g.events.stop(t)
}

type nopCloser struct{}

func (nopCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopCloser) Close() error                { return nil }

var _ io.WriteCloser = nopCloser{}

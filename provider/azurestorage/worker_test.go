package azurestorage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// TestHelloCitiesRowsAreCSharpShaped runs HelloCities on a real worker and
// compares its History rows with the two-activities vector extended by one
// more activity round: the same event types in the same order, and for each
// event type the same columns and EDM types as C# writes.
func TestHelloCitiesRowsAreCSharpShaped(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	runWorker(t, be, hellocities.Registrations()...)
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := c.ScheduleNew(ctx, "HelloCities", "World", client.WithInstanceID("hello-rows"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Fatalf("state %+v %v", st, err)
	}
	var vec struct{ RowsAfterCompletion []json.RawMessage }
	data, _ := os.ReadFile("../../testdata/azstorage-history-two-activities.json")
	if err := json.Unmarshal(data, &vec); err != nil {
		t.Fatal(err)
	}
	// Vector rows 0–11 (12 is the sentinel); repeat the second activity
	// round (rows 4–7) once for the third city.
	v := vec.RowsAfterCompletion
	want := append(append(append([]json.RawMessage{}, v[:8]...), v[4:8]...), v[8:]...)
	svc, _ := azuritetest.Account(t).TableService(nil)
	got := rawRows(t, svc.NewClient(hub+"History"), id)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	typeOf := func(raw json.RawMessage) string {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return fmt.Sprint(m["EventType"])
	}
	for i := range got {
		if typeOf(got[i]) != typeOf(want[i]) {
			t.Errorf("row %d is %s, want %s", i, typeOf(got[i]), typeOf(want[i]))
			continue
		}
		if g, w := columnsOf(t, got[i]), columnsOf(t, want[i]); fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("row %d (%s) columns\n got %v\nwant %v", i, typeOf(got[i]), g, w)
		}
	}
	rows := rawRows(t, svc.NewClient(hub+"Instances"), id)
	var row map[string]any
	_ = json.Unmarshal(rows[0], &row)
	if row["RuntimeStatus"] != "Completed" || row["Output"] != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Errorf("Instances row %v", row)
	}
}

func runWorker(t *testing.T, be *azurestorage.Backend, regs ...durable.Registrable) {
	t.Helper()
	w := worker.New(be, worker.Options{Logger: quiet()})
	if err := w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// quiet logs errors only, or everything from the level in
// AZDURABLE_TEST_LOG (debug, info, warn) when debugging a test.
func quiet() *slog.Logger {
	level := slog.LevelError
	if v := os.Getenv("AZDURABLE_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// The fan-out used by the crash test: n activities that each take a
// moment, so that a kill lands in the middle.
var slowItem = durable.NewActivity("KillSlowItem", func(ctx context.Context, i int) (int, error) {
	select {
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return i * i, nil
})

var killFanOut = durable.NewOrchestration("KillFanOut", func(ctx durable.Context, n int) (int, error) {
	fs := make([]durable.Future[int], n)
	for i := range fs {
		fs[i] = slowItem.Call(ctx, i)
	}
	res, err := durable.WhenAllOf(ctx, fs...)
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, err
})

// crashOptions are short leases and visibility timeouts so that work held
// by a killed worker comes back within seconds.
func crashOptions(hub string, acct *storage.Account, worker string) azurestorage.Options {
	o := azurestorage.Options{TaskHub: hub, Account: acct, WorkerID: worker, AppName: "crash-test", MaxPollingInterval: 500 * time.Millisecond,
		ControlQueueVisibility: 4 * time.Second, WorkItemVisibility: 4 * time.Second, Logger: quiet()}
	o.Table.LeaseInterval = 4 * time.Second
	o.Table.AcquireInterval = time.Second
	o.Table.SafetyMargin = time.Second
	o.AppLease.LeaseDuration = 15 * time.Second
	o.AppLease.RenewInterval = 5 * time.Second
	o.AppLease.AcquireInterval = time.Second
	return o
}

// TestHelperWorkerProcess is not a test: TestKillWorkerMidFanOut runs the
// test binary again with AZDURABLE_HELPER_WORKER set to host a worker in a
// process it can kill.
func TestHelperWorkerProcess(t *testing.T) {
	hub := os.Getenv("AZDURABLE_HELPER_WORKER")
	if hub == "" {
		return
	}
	acct, err := storage.ParseConnectionString(os.Getenv("AZDURABLE_HELPER_STORAGE"))
	if err != nil {
		t.Fatal(err)
	}
	be, err := azurestorage.New(crashOptions(hub, acct, "doomed-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: quiet(), MaxConcurrentActivities: 4})
	if err := w.Register(killFanOut, slowItem); err != nil {
		t.Fatal(err)
	}
	fmt.Println("worker started")
	_ = w.Run(context.Background()) // runs until killed
}

// TestKillWorkerMidFanOut kills a worker process with SIGKILL in the middle
// of a fan-out, starts another worker, and still gets the right output.
func TestKillWorkerMidFanOut(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "AZDURABLE_HELPER_WORKER="+hub, "AZDURABLE_HELPER_STORAGE="+azuritetest.ConnectionString(t))
	out := &lineWaiter{lines: make(chan string, 100)}
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out.waitFor(t, "worker started", 3*time.Minute)

	be, err := azurestorage.New(crashOptions(hub, acct, "client"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 40
	id, err := c.ScheduleNew(ctx, killFanOut.Name(), n, client.WithInstanceID("fan-kill"))
	if err != nil {
		t.Fatal(err)
	}
	// Kill once some but not all results are in the history.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		h, _ := c.History(ctx, id, "")
		done := 0
		for _, ev := range h {
			if ev.Type().String() == "TaskCompleted" {
				done++
			}
		}
		if done >= 4 && done < n {
			break
		}
		if done >= n || time.Now().After(deadline) {
			t.Fatalf("could not catch the fan-out in the middle (%d of %d done)", done, n)
		}
		waitTick(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	be2, err := azurestorage.New(crashOptions(hub, acct, "survivor"))
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, be2, killFanOut, slowItem)
	st, err := client.New(be2, client.Options{}).WaitForCompletion(ctx, id, client.PollInterval(100*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := 0; i < n; i++ {
		want += i * i
	}
	if st.Status != client.Completed || *st.Output != strconv.Itoa(want) {
		t.Fatalf("after the kill: %s %s, want Completed %d", st.Status, *st.Output, want)
	}
}

func waitTick(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}

type lineWaiter struct {
	buf   strings.Builder
	lines chan string
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		s := w.buf.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- s[:i]:
		default:
		}
		w.buf.Reset()
		w.buf.WriteString(s[i+1:])
	}
	return len(p), nil
}

func (w *lineWaiter) waitFor(t *testing.T, line string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l := <-w.lines:
			if strings.Contains(l, line) {
				return
			}
		case <-timer.C:
			t.Fatalf("the worker process did not print %q in %v", line, d)
		}
	}
}

//go:build interop

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// appName is dtfx-ref's app name; Go workers on a hub shared with it use it
// too, so that both hold the same app lease.
const appName = "cscapture"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	azuritetest.Main(m)
}

// dtfxRef finds the C# reference program: $DTFX_REF, else
// ../shared/csharp-reference/dtfx-ref from the repository root.
func dtfxRef(t testing.TB) string {
	t.Helper()
	p := os.Getenv("DTFX_REF")
	if p == "" {
		p = filepath.Join("..", "..", "shared", "csharp-reference", "dtfx-ref")
	}
	abs, err := filepath.Abs(p)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		t.Fatalf("interop: the C# reference program dtfx-ref is needed and was not found (%v): set $DTFX_REF to its path or put it at ../shared/csharp-reference/dtfx-ref from the repository root", err)
	}
	return abs
}

// store is one storage account as both languages reach it.
type store struct {
	acct *storage.Account
	conn string
}

func sharedStore(t testing.TB) store {
	return store{acct: azuritetest.Account(t), conn: azuritetest.ConnectionString(t)}
}

// newHub returns a fresh hub that is deleted after the test. C# leaves its
// app lease to expire when it stops, so the lease is broken first (the
// cleanups run in reverse order).
func newHub(t testing.TB, acct *storage.Account) string {
	t.Helper()
	hub := azuritetest.NewHub(t)
	names := taskhub.MustNames(hub)
	t.Cleanup(func() {
		blobs, err := acct.BlobService(nil)
		if err != nil {
			return
		}
		lc, err := lease.NewContainerClient(blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()), nil)
		if err == nil {
			_, _ = lc.BreakLease(context.Background(), &lease.ContainerBreakOptions{BreakPeriod: to.Ptr(int32(0))})
		}
	})
	return hub
}

// csEnv is the environment for every dtfx-ref process: the storage
// connection string, and an extraction folder for the bundled .NET runtime
// when $HOME cannot take it.
func csEnv(conn string) []string {
	env := append(os.Environ(), "AZURE_STORAGE_CONNECTION_STRING="+conn)
	if os.Getenv("DOTNET_BUNDLE_EXTRACT_BASE_DIR") == "" {
		home, err := os.UserHomeDir()
		if err != nil || os.MkdirAll(filepath.Join(home, ".net"), 0o755) != nil {
			env = append(env, "DOTNET_BUNDLE_EXTRACT_BASE_DIR="+filepath.Join(os.TempDir(), "azdurable-dotnet"))
		}
	}
	return env
}

// cs runs the C# client commands of dtfx-ref on one hub.
type cs struct {
	exe, conn, hub string
	partitions     int
}

func newCS(t testing.TB, st store, hub string, partitions int) cs {
	return cs{exe: dtfxRef(t), conn: st.conn, hub: hub, partitions: partitions}
}

// run runs one command and decodes the JSON object it prints. A non-zero
// exit is an error unless okExit1 (dtfx-ref wait's time-out) is set.
func (c cs) run(timeout time.Duration, okExit1 bool, out any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append(args, "--hub", c.hub, "--partitions", fmt.Sprint(c.partitions))
	cmd := exec.CommandContext(ctx, c.exe, args...)
	cmd.Env = csEnv(c.conn)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if !(okExit1 && errors.As(err, &ee) && ee.ExitCode() == 1) {
			return fmt.Errorf("dtfx-ref %s: %v (stdout %q, stderr %q)", strings.Join(args, " "), err, stdout, stderr.String())
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		return fmt.Errorf("dtfx-ref %s: decoding %q: %v", strings.Join(args, " "), stdout, err)
	}
	return nil
}

// csState is what dtfx-ref status and wait print.
type csState struct {
	Found        bool    `json:"found"`
	TimedOut     bool    `json:"timedOut"`
	InstanceID   string  `json:"instanceId"`
	ExecutionID  string  `json:"executionId"`
	Name         string  `json:"name"`
	Status       string  `json:"status"`
	Input        *string `json:"input"`
	Output       *string `json:"output"`
	CustomStatus *string `json:"customStatus"`
}

func (c cs) start(name, id, input string) error {
	args := []string{"start", "--name", name, "--id", id}
	if input != "" {
		args = append(args, "--input", input)
	}
	return c.run(3*time.Minute, false, nil, args...)
}

func (c cs) raise(id, event, data string) error {
	return c.run(3*time.Minute, false, nil, "raise", "--id", id, "--event", event, "--data", data)
}

func (c cs) status(id string) (csState, error) {
	var st csState
	err := c.run(3*time.Minute, false, &st, "status", "--id", id)
	return st, err
}

// wait is C#'s WaitForOrchestrationAsync (it polls the Instances row every
// 2 s).
func (c cs) wait(id string, timeout time.Duration) (csState, error) {
	var st csState
	secs := int(timeout.Seconds())
	err := c.run(timeout+3*time.Minute, true, &st, "wait", "--id", id, "--timeout", fmt.Sprint(secs))
	if err == nil && st.TimedOut {
		err = fmt.Errorf("dtfx-ref wait --id %s: timed out after %v", id, timeout)
	}
	return st, err
}

// history is the current execution as C# reads it.
func (c cs) history(id string) (string, []history.Event, error) {
	var out struct {
		Found       bool              `json:"found"`
		ExecutionID string            `json:"executionId"`
		Events      []json.RawMessage `json:"events"`
	}
	if err := c.run(3*time.Minute, false, &out, "history", "--id", id); err != nil {
		return "", nil, err
	}
	if !out.Found {
		return "", nil, fmt.Errorf("dtfx-ref history --id %s: not found", id)
	}
	evs := make([]history.Event, 0, len(out.Events))
	for i, raw := range out.Events {
		ev, err := history.UnmarshalEvent(raw)
		if err != nil {
			return "", nil, fmt.Errorf("dtfx-ref history --id %s: event %d %s: %v", id, i, raw, err)
		}
		evs = append(evs, ev)
	}
	return out.ExecutionID, evs, nil
}

// tail keeps the last lines written to it.
type tail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newTail(n int) *tail { return &tail{max: n} }

func (b *tail) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > b.max {
		b.lines = b.lines[len(b.lines)-b.max:]
	}
}

func (b *tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

func (b *tail) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func (b *tail) readFrom(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		b.add(sc.Text())
	}
}

// dumpOnFailure prints a tail when the test has failed (or always, with
// $INTEROP_VERBOSE set); register it before the process or worker whose
// output it holds, so that it runs after its stop.
func dumpOnFailure(t testing.TB, what string, b *tail) {
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("INTEROP_VERBOSE") != "" {
			t.Logf("--- last output of %s ---\n%s", what, b.String())
		}
	})
}

// csWorker is a running `dtfx-ref worker`.
type csWorker struct {
	id      string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *tail
	stderr  *tail
	started chan struct{}
	exited  chan struct{}
	waitErr error

	mu       sync.Mutex
	hellos   int
	inputs   map[string]int
	stopped  bool
	stopOnce sync.Once
}

// startCSWorker starts a C# worker and waits until it says it started.
func startCSWorker(t testing.TB, c cs, id string) *csWorker {
	t.Helper()
	w := &csWorker{id: id, stdout: newTail(200), stderr: newTail(200), started: make(chan struct{}),
		exited: make(chan struct{}), inputs: map[string]int{}}
	dumpOnFailure(t, "C# worker "+id+" (stderr)", w.stderr)
	dumpOnFailure(t, "C# worker "+id+" (stdout)", w.stdout)
	w.cmd = exec.Command(c.exe, "worker", "--hub", c.hub, "--partitions", fmt.Sprint(c.partitions),
		"--worker-id", id, "--app-name", appName, "--max-poll", "1", "--stdin")
	w.cmd.Env = csEnv(c.conn)
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting dtfx-ref worker %s: %v", id, err)
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); w.stderr.readFrom(stderr) }()
	go func() { defer pipes.Done(); w.readEvents(stdout) }()
	go func() {
		pipes.Wait()
		w.waitErr = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		w.stopOnce.Do(func() { _ = w.stdin.Close() })
		select {
		case <-w.exited:
		case <-time.After(3 * time.Minute):
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
	select {
	case <-w.started:
	case <-w.exited:
		t.Fatalf("dtfx-ref worker %s exited before it started: %v", id, w.waitErr)
	case <-time.After(3 * time.Minute):
		t.Fatalf("waiting for dtfx-ref worker %s to print its started event: nothing after 3 min", id)
	}
	return w
}

func (w *csWorker) readEvents(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	once := false
	for sc.Scan() {
		line := sc.Text()
		var ev struct {
			Event string          `json:"event"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			w.stdout.add(line)
			continue
		}
		switch ev.Event {
		case "started":
			w.stdout.add(line)
			if !once {
				once = true
				close(w.started)
			}
		case "activity":
			w.mu.Lock()
			if ev.Name == "SayHello" {
				w.hellos++
			}
			w.inputs[string(ev.Input)]++
			w.mu.Unlock()
		case "stopped":
			w.stdout.add(line)
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
		default:
			w.stdout.add(line)
		}
	}
}

// SayHellos counts the SayHello calls the C# worker ran.
func (w *csWorker) SayHellos() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hellos
}

// stop ends the C# worker gracefully (end of stdin: it drains and releases
// its partitions) and checks that it said so.
func (w *csWorker) stop(t testing.TB) {
	t.Helper()
	w.stopOnce.Do(func() { _ = w.stdin.Close() })
	select {
	case <-w.exited:
	case <-time.After(3 * time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.exited
		t.Fatalf("waiting for dtfx-ref worker %s to stop gracefully after its stdin closed: still running after 3 min (killed)", w.id)
	}
	w.mu.Lock()
	stopped := w.stopped
	w.mu.Unlock()
	if w.waitErr != nil || !stopped {
		t.Errorf("dtfx-ref worker %s did not stop cleanly: exit %v, stopped event printed: %v", w.id, w.waitErr, stopped)
	}
}

// checkNoNondeterminism fails the test if the C# worker reported a
// non-determinism error.
func (w *csWorker) checkNoNondeterminism(t testing.TB) {
	t.Helper()
	for _, s := range []string{"NonDeterministic", "non-deterministic", "NonDeterminism"} {
		if w.stderr.contains(s) || w.stdout.contains(s) {
			t.Errorf("the C# worker %s reported a non-determinism error (%q); see its output", w.id, s)
		}
	}
}

// recorder is a slog handler that keeps the last records as text.
type recorder struct {
	t     *tail
	attrs []slog.Attr
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", rec.Time.Format("15:04:05.000"), rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.t.add(b.String())
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{t: r.t, attrs: append(slices.Clip(r.attrs), as...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// goOptions are the backend options of every Go worker and client here:
// C#'s defaults except the polling cap (1 s, as dtfx-ref's).
func goOptions(acct *storage.Account, hub string, partitions int, workerID string, log *slog.Logger) azurestorage.Options {
	return azurestorage.Options{TaskHub: hub, Account: acct, Partitions: partitions, WorkerID: workerID,
		AppName: appName, MaxPollingInterval: time.Second, Logger: log}
}

// newGoWorker builds a worker with the conformance set; SayHello is
// replaced by one that greets the same way and counts its runs.
func newGoWorker(be *azurestorage.Backend, log *slog.Logger, hellos *atomic.Int64) (*worker.Worker, error) {
	w := worker.New(be, worker.Options{Logger: log, ShutdownTimeout: time.Minute})
	if err := w.Register(conformance.Registrations()...); err != nil {
		return nil, err
	}
	counted := durable.NewActivity("SayHello", func(_ context.Context, name string) (string, error) {
		hellos.Add(1)
		return "Hello " + name + "!", nil
	})
	if err := w.Replace(counted); err != nil {
		return nil, err
	}
	return w, nil
}

// goWorker is a Go worker running in the test process.
type goWorker struct {
	id     string
	be     *azurestorage.Backend
	w      *worker.Worker
	logs   *tail
	hellos atomic.Int64
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startGoWorker(t testing.TB, acct *storage.Account, hub string, partitions int, id string, tune func(*azurestorage.Options)) *goWorker {
	t.Helper()
	g := &goWorker{id: id, logs: newTail(400), done: make(chan error, 1)}
	dumpOnFailure(t, "Go worker "+id, g.logs)
	log := slog.New(&recorder{t: g.logs})
	opts := goOptions(acct, hub, partitions, id, log)
	if tune != nil {
		tune(&opts)
	}
	var err error
	if g.be, err = azurestorage.New(opts); err != nil {
		t.Fatal(err)
	}
	if g.w, err = newGoWorker(g.be, log, &g.hellos); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { g.done <- g.w.Run(ctx) }()
	t.Cleanup(func() { g.stop(t) })
	return g
}

// stop stops the worker gracefully: in-flight work ends and its partitions
// are released.
func (g *goWorker) stop(t testing.TB) {
	t.Helper()
	g.once.Do(func() {
		g.cancel()
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("Go worker %s: %v", g.id, err)
			}
		case <-time.After(3 * time.Minute):
			t.Errorf("waiting for Go worker %s to stop gracefully: still running after 3 min", g.id)
		}
	})
}

// goClient is a Go client (a backend that is never started) on a hub.
func goClient(t testing.TB, acct *storage.Account, hub string, partitions int) *client.Client {
	t.Helper()
	be, err := azurestorage.New(goOptions(acct, hub, partitions, "go-client", slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return client.New(be, client.Options{})
}

// poll calls cond until it reports done, or fails the test after timeout
// with what it waited for and the last state cond described.
func poll(t testing.TB, timeout time.Duration, what string, cond func() (done bool, state string, err error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 50 * time.Millisecond
	last := ""
	for {
		done, state, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if done {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not reached after %v; last seen: %s", what, timeout, last)
		}
		<-time.After(delay)
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// expect is an instance's required final status and output.
type expect struct {
	id, status, output string
	// waitsFor says what the instance needs, for failure messages.
	waitsFor string
}

func fromCase(c conformance.Case, waitsFor string) expect {
	return expect{id: c.ID, status: c.Status, output: c.Output, waitsFor: waitsFor}
}

// sameOutput compares outputs as JSON, or as text for failures.
func sameOutput(status, got, want string) bool {
	if status == "Completed" {
		return conformance.JSONEqual(got, want)
	}
	return got == want
}

// waitGo waits until every instance has a final state through the Go
// client and checks status and output. On a time-out it lists every
// instance still open with its status and what it waits for.
func waitGo(t testing.TB, c *client.Client, timeout time.Duration, exps []expect) map[string]*client.State {
	t.Helper()
	states := map[string]*client.State{}
	poll(t, timeout, fmt.Sprintf("%d instances to finish (Go client)", len(exps)), func() (bool, string, error) {
		var open []string
		for _, e := range exps {
			if st, ok := states[e.id]; ok && st.Status.IsTerminal() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			st, err := c.GetState(ctx, e.id, client.WithInputsAndOutputs(true))
			cancel()
			switch {
			case errors.Is(err, client.ErrNotFound):
				open = append(open, fmt.Sprintf("%s: not found (waits for %s)", e.id, e.waitsFor))
				continue
			case err != nil:
				return false, "", err
			}
			states[e.id] = st
			if !st.Status.IsTerminal() {
				open = append(open, fmt.Sprintf("%s: %s (waits for %s)", e.id, st.Status, e.waitsFor))
			}
		}
		return len(open) == 0, strings.Join(open, "; "), nil
	})
	for _, e := range exps {
		st := states[e.id]
		out := ""
		if st.Output != nil {
			out = *st.Output
		}
		if st.Status.String() != e.status || !sameOutput(e.status, out, e.output) {
			t.Errorf("%s (Go client): %s %s, want %s %s", e.id, st.Status, out, e.status, e.output)
		}
	}
	return states
}

// waitCS checks the same through C#'s client (dtfx-ref wait).
func waitCS(t testing.TB, c cs, timeout time.Duration, exps []expect) {
	t.Helper()
	for _, e := range exps {
		st, err := c.wait(e.id, timeout)
		if err != nil {
			t.Errorf("%s (C# client): waiting for %s: %v", e.id, e.waitsFor, err)
			continue
		}
		out := ""
		if st.Output != nil {
			out = *st.Output
		}
		if st.Status != e.status || !sameOutput(e.status, out, e.output) {
			t.Errorf("%s (C# client): %s %s, want %s %s", e.id, st.Status, out, e.status, e.output)
		}
	}
}

// startBy starts a case through the Go client or the C# client.
func startBy(t testing.TB, useCS bool, gc *client.Client, c cs, k conformance.Case) {
	t.Helper()
	if useCS {
		if err := c.start(k.Name, k.ID, k.Input); err != nil {
			t.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := gc.ScheduleNew(ctx, k.Name, json.RawMessage(k.Input), client.WithInstanceID(k.ID)); err != nil {
		t.Fatalf("starting %s (%s) with the Go client: %v", k.ID, k.Name, err)
	}
}

// raiseBy raises an event through the Go client or the C# client.
func raiseBy(t testing.TB, useCS bool, gc *client.Client, c cs, r conformance.Raise) {
	t.Helper()
	if useCS {
		if err := c.raise(r.InstanceID, r.Event, r.Data); err != nil {
			t.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := gc.RaiseEvent(ctx, r.InstanceID, r.Event, json.RawMessage(r.Data)); err != nil {
		t.Fatalf("raising %s on %s with the Go client: %v", r.Event, r.InstanceID, err)
	}
}

// describeState is a one-line view of an instance for failure messages.
func describeState(c *client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.GetState(ctx, id)
	if err != nil {
		return fmt.Sprintf("%s: %v", id, err)
	}
	h, err := c.History(ctx, id, "")
	if err != nil {
		return fmt.Sprintf("%s: %s (history: %v)", id, st.Status, err)
	}
	return fmt.Sprintf("%s: %s, history %s", id, st.Status, eventTypes(h))
}

func eventTypes(h []history.Event) string {
	s := make([]string, len(h))
	for i, ev := range h {
		s[i] = ev.Type().String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// dfxAPI is the HTTP management API of `dfx-ref worker`, on its fixed
// port; dfxLockFile serializes the runs of dfx-ref worker on the machine.
const (
	dfxAPI      = "http://127.0.0.1:17071/durabletask/"
	dfxLockFile = "/tmp/dfx-ref.lock"
	// dfxStopGrace is how long a dfx-ref worker gets to exit after SIGTERM
	// before it is killed. Once it has run an entity operation the
	// extension's host does not exit on SIGTERM (it stops running entity
	// operations but keeps its leases and its HTTP API for minutes), so a
	// turn ends as a deploy's does when the grace period is over.
	dfxStopGrace = 45 * time.Second
)

// dfxRef finds the Durable Functions reference program: $DFX_REF, else
// ../shared/csharp-reference/dfx-ref from the repository root. Without it
// the test is skipped.
func dfxRef(t testing.TB) string {
	t.Helper()
	p := os.Getenv("DFX_REF")
	if p == "" {
		p = filepath.Join("..", "..", "shared", "csharp-reference", "dfx-ref")
	}
	abs, err := filepath.Abs(p)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		t.Skipf("dfx-ref not found (%v): set $DFX_REF to run the entity interop test", err)
	}
	return abs
}

// lockDFX takes the machine-wide lock that keeps two dfx-ref workers (on
// one fixed port) from running at once; it is released when the test ends,
// after the workers it started have gone.
func lockDFX(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(dfxLockFile, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatalf("opening %s: %v", dfxLockFile, err)
	}
	t.Logf("waiting for %s", dfxLockFile)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", dfxLockFile, err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
	// Nothing else may answer on the port: a worker left running would
	// take this test's requests.
	if resp, err := http.Get(dfxAPI + "instances/port-check"); err == nil {
		resp.Body.Close()
		t.Fatalf("something already answers on %s (a dfx-ref worker started without the lock?)", dfxAPI)
	}
}

// dfxWorker is a running `dfx-ref worker`.
type dfxWorker struct {
	cmd     *exec.Cmd
	out     *tail
	exited  chan struct{}
	waitErr error
}

// startDFX starts dfx-ref worker on the hub and waits until its HTTP API
// answers.
func startDFX(t *testing.T, exe, conn, hub string) *dfxWorker {
	t.Helper()
	d := &dfxWorker{out: newTail(300), exited: make(chan struct{})}
	dumpOnFailure(t, "dfx-ref worker", d.out)
	d.cmd = exec.Command(exe, "worker", "--hub", hub, "--partitions", "4")
	d.cmd.Env = csEnv(conn)
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting dfx-ref worker: %v", err)
	}
	go d.out.readFrom(pr)
	go func() {
		d.waitErr = d.cmd.Wait()
		pw.Close()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	poll(t, 3*time.Minute, "dfx-ref worker's HTTP API to answer", func() (bool, string, error) {
		select {
		case <-d.exited:
			return false, "", fmt.Errorf("dfx-ref worker exited: %v", d.waitErr)
		default:
		}
		code, _, err := dfxDo(http.MethodGet, "instances/never-started", "")
		if err != nil {
			return false, err.Error(), nil
		}
		return code == http.StatusNotFound, fmt.Sprint("status ", code), nil
	})
	return d
}

// signal sends the worker a signal (SIGSTOP and SIGCONT freeze and thaw it).
func (d *dfxWorker) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to dfx-ref worker: %v", sig, err)
	}
}

// kill ends the worker with SIGKILL, as a crash does, and waits until it
// has gone.
func (d *dfxWorker) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("dfx-ref worker still there 2 min after SIGKILL")
	}
}

// stop sends SIGTERM, as a deploy does, and kills the worker when it has
// not exited after dfxStopGrace. It reports whether it exited by itself.
func (d *dfxWorker) stop(t *testing.T) bool {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to dfx-ref worker: %v", err)
	}
	select {
	case <-d.exited:
		return true
	case <-time.After(dfxStopGrace):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("dfx-ref worker still there 2 min after SIGKILL")
	}
	t.Logf("dfx-ref worker had not exited %v after SIGTERM: killed", dfxStopGrace)
	return false
}

// dfxDo calls the extension's HTTP API.
func dfxDo(method, path, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, dfxAPI+path, rd)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// dfxSignal signals Counter@key through the extension's API (POST
// entities/Counter/{key}?op=); the extension requires a JSON body.
func dfxSignal(t *testing.T, key, op, input string) {
	t.Helper()
	code, body, err := dfxDo(http.MethodPost, "entities/Counter/"+key+"?op="+op, input)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("dfx-ref: POST entities/Counter/%s?op=%s %s: %d %q %v", key, op, input, code, body, err)
	}
}

// dfxEntity reads Counter@key through the extension's API: its state as
// JSON text, or found false for 404.
func dfxEntity(t *testing.T, key string) (state string, found bool) {
	t.Helper()
	code, body, err := dfxDo(http.MethodGet, "entities/Counter/"+key, "")
	switch {
	case err != nil:
		t.Fatalf("dfx-ref: GET entities/Counter/%s: %v", key, err)
	case code == http.StatusNotFound:
		return "", false
	case code != http.StatusOK:
		t.Fatalf("dfx-ref: GET entities/Counter/%s: %d %q", key, code, body)
	}
	return body, true
}

// dfxStatus reads an instance through the extension's API.
func dfxStatus(t *testing.T, id string) (status, output string) {
	t.Helper()
	code, body, err := dfxDo(http.MethodGet, "instances/"+id, "")
	if err != nil {
		t.Fatalf("dfx-ref: GET instances/%s: %v", id, err)
	}
	if code == http.StatusNotFound {
		return "not found", ""
	}
	var st struct {
		RuntimeStatus string          `json:"runtimeStatus"`
		Output        json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("dfx-ref: GET instances/%s: %d %q: %v", id, code, body, err)
	}
	return st.RuntimeStatus, string(st.Output)
}

// goSide reads and signals Counter entities from Go: the client, and the
// command line built from this checkout.
type goSide struct {
	gc       *client.Client
	cli      string
	conn     string
	hub      string
	cliCalls int
}

var k1 = durable.NewEntityID("Counter", "k1")

func (g *goSide) entity(t *testing.T, key string) *client.EntityMetadata {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	md, err := g.gc.GetEntity(ctx, durable.NewEntityID("Counter", key))
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("Go client: Counter@%s: %v", key, err)
	}
	return md
}

// state is the entity's state through the Go client ("" when it has none).
func (g *goSide) state(t *testing.T, key string) string {
	md := g.entity(t, key)
	if md == nil || !md.Exists || md.State == nil {
		return ""
	}
	return *md.State
}

// cliGet runs `azdurable entities get Counter KEY`: the state printed, or
// found false when it says the entity is not found.
func (g *goSide) cliGet(t *testing.T, key string) (string, bool) {
	t.Helper()
	g.cliCalls++
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.cli, "entities", "get", "Counter", key, "--task-hub", g.hub,
		"--connection-string", g.conn, "--partitions", "4")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if strings.Contains(stderr.String(), "not found") {
			return "", false
		}
		t.Fatalf("azdurable entities get Counter %s: %v (%q)", key, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), true
}

func (g *goSide) signal(t *testing.T, key, op string, input any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := g.gc.SignalEntity(ctx, durable.NewEntityID("Counter", key), op, input); err != nil {
		t.Fatalf("Go client: signal Counter@%s %s: %v", key, op, err)
	}
}

// waitGoState waits until the Go client reads want ("" for no state) and
// the entity is not locked.
func (g *goSide) waitGoState(t *testing.T, key, want string) {
	t.Helper()
	poll(t, 3*time.Minute, fmt.Sprintf("Counter@%s to be %q, unlocked (Go client)", key, want), func() (bool, string, error) {
		md := g.entity(t, key)
		if md == nil {
			return want == "", "not found", nil
		}
		s := ""
		if md.Exists && md.State != nil {
			s = *md.State
		}
		return md.LockedBy == "" && sameJSON(s, want), fmt.Sprintf("state %q lockedBy %q queue %d", s, md.LockedBy, md.QueueSize), nil
	})
}

// waitDFXState waits until the extension's API reads want ("" for 404).
func waitDFXState(t *testing.T, key, want string) {
	t.Helper()
	poll(t, 3*time.Minute, fmt.Sprintf("Counter@%s to be %q (dfx-ref HTTP API)", key, want), func() (bool, string, error) {
		s, found := dfxEntity(t, key)
		if !found {
			return want == "", "404", nil
		}
		return sameJSON(s, want), s, nil
	})
}

func sameJSON(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	return conformance.JSONEqual(a, b)
}

// agree checks that the Go client, `azdurable entities get` and, when a
// dfx-ref worker runs, its HTTP API read the same state for every key.
func (g *goSide) agree(t *testing.T, step string, dfx bool, want map[string]string) {
	t.Helper()
	for key, w := range want {
		gs := g.state(t, key)
		cs, found := g.cliGet(t, key)
		if !found {
			cs = ""
		}
		line := fmt.Sprintf("Go client %q, azdurable entities get %q", gs, cs)
		ok := sameJSON(gs, w) && sameJSON(cs, w)
		if dfx {
			hs, found := dfxEntity(t, key)
			if !found {
				hs = ""
			}
			line += fmt.Sprintf(", dfx-ref HTTP API %q", hs)
			ok = ok && sameJSON(hs, w)
		}
		if !ok {
			t.Errorf("%s: Counter@%s: want %q: %s", step, key, w, line)
		} else {
			t.Logf("%s: Counter@%s = %s (%s)", step, key, w, line)
		}
	}
}

// waitDone waits until an instance completed with output want, through the
// Go client, and through the extension's API when dfx is set.
func (g *goSide) waitDone(t *testing.T, id, want string, dfx bool) {
	t.Helper()
	waitGo(t, g.gc, 5*time.Minute, []expect{{id: id, status: "Completed", output: want, waitsFor: "its entity calls"}})
	if dfx {
		status, out := dfxStatus(t, id)
		if status != "Completed" || !sameJSON(out, want) {
			t.Errorf("%s (dfx-ref HTTP API): %s %s, want Completed %s", id, status, out, want)
		}
	}
}

func (g *goSide) start(t *testing.T, name, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := g.gc.ScheduleNew(ctx, name, nil, client.WithInstanceID(id)); err != nil {
		t.Fatalf("Go client: start %s %s: %v", name, id, err)
	}
}

// inSection reports whether Counting id holds the lock on Counter@k1 and
// its history has the call inside the critical section (the fourth of its
// six entity messages: signal, call, lock, call, release, get).
func (g *goSide) inSection(t *testing.T, id string) bool {
	t.Helper()
	if md := g.entity(t, "k1"); md == nil || md.LockedBy != id {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := g.gc.History(ctx, id, "")
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	sent := 0
	for _, ev := range h {
		if ev.Type() == history.EventSent {
			sent++
		}
	}
	return sent >= 4
}

// seeSectionCall polls until Counting id is inside its critical section
// with its call sent (true), or has ended (false).
func (g *goSide) seeSectionCall(t *testing.T, id string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for n := 0; ; n++ {
		if g.inSection(t, id) {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not seen inside its critical section in 5 min: %s", id, describeState(g.gc, id))
		}
		if n%25 == 0 {
			if s, err := g.gc.GetState(context.Background(), id); err == nil && s.Status.IsTerminal() {
				return false
			}
		}
	}
}

// finishLeftCounting waits until the Go worker finished the Counting the
// killed extension left inside its critical section (8). The messages the
// extension had received stay invisible until their visibility (five
// minutes) ends; a new message for Counter@k1 makes it run what is already
// queued sooner.
func (g *goSide) finishLeftCounting(t *testing.T, id string) {
	t.Helper()
	nudged := false
	poll(t, 10*time.Minute, id+" to complete on the Go worker", func() (bool, string, error) {
		s, err := g.gc.GetState(context.Background(), id, client.WithInputsAndOutputs(true))
		if err != nil {
			return false, "", err
		}
		if s.Status == client.Running && !nudged && time.Since(s.LastUpdatedAt) > 45*time.Second {
			nudged = true
			t.Logf("%s still waits after 45 s: signalling Counter@k1 get", id)
			g.signal(t, "k1", "get", nil)
		}
		return s.Status.IsTerminal(), s.Status.String(), nil
	})
	g.waitDone(t, id, "8", false)
}

// steps names the step a test is at and, when the test failed, says it
// last: after the workers' output, which other cleanups print, so that the
// tail of a CI log shows where it failed.
type steps struct{ name string }

func newSteps(t *testing.T) *steps {
	s := &steps{name: "setting up"}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed during %s (the reason is above the workers' output)", s.name)
		}
	})
	return s
}

func (s *steps) at(name string) { s.name = name }

// dfxStart starts an orchestration with the extension's client.
func dfxStart(t *testing.T, exe, conn, hub, name, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "start", "--hub", hub, "--partitions", "4", "--name", name, "--id", id)
	cmd.Env = csEnv(conn)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dfx-ref start --name %s --id %s: %v\n%s", name, id, err, out)
	}
}

// sectionHold holds Counting's call inside its critical section (add 1
// from caller) until proceed is closed or the worker stops, so that the
// worker can be stopped while the orchestration holds the lock.
type sectionHold struct {
	caller  string
	entered chan struct{}
	proceed chan struct{}
	once    sync.Once
}

// heldCounter is the conformance Counter with the hold in "add".
func heldCounter(h *sectionHold) *durable.Entity[int] {
	return durable.NewEntity[int]("Counter",
		durable.Op("add", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
			if n == 1 && ctx.Caller() == h.caller {
				h.once.Do(func() { close(h.entered) })
				select {
				case <-h.proceed:
				case <-ctx.Context().Done():
				}
			}
			ctx.SetState(ctx.State() + n)
			return struct{}{}, nil
		}),
		durable.Op("reset", func(ctx *durable.EntityContext[int], _ any) (struct{}, error) {
			ctx.SetState(0)
			return struct{}{}, nil
		}),
		durable.Op("get", func(ctx *durable.EntityContext[int], _ any) (int, error) {
			n := ctx.State()
			ctx.SetState(n)
			return n, nil
		}),
	)
}

// dfApp gives a Go worker dfx-ref's app name (none, so C#'s default: the
// app lease id 811c9dc5-…): the Go workers and the extension are one app,
// as when a Functions app's workers move to Go, and each takes the app
// lease the other leaves without waiting for it to expire. (Under another
// app name the extension would ask for the lease and try again only after
// its 5-minute acquire interval.)
func dfApp(o *azurestorage.Options) { o.AppName = "" }

// buildCLI builds the azdurable program of this checkout.
func buildCLI(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "azdurable")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", exe, "github.com/azdurable/azdurable/cmd/azdurable")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building azdurable: %v\n%s", err, out)
	}
	return exe
}

// On one hub, Go workers and the Durable Functions extension (dfx-ref
// worker) take turns: each reads and signals the Counter entities the
// other wrote, a Counting started by either side's client is finished by
// the other side's worker with 8, and a lock held by a Counting whose
// worker stopped inside its critical section is released when the other
// side finishes it (the Go worker is stopped while the test holds the
// call inside the critical section; the extension is killed inside it).
// At every step the Go client and `azdurable entities get` read the same
// state, and so does the extension's HTTP API while a dfx-ref worker runs.
func TestEntitiesTakeTurnsWithDurableFunctions(t *testing.T) {
	dfx := dfxRef(t)
	turn := newSteps(t)
	began := time.Now()
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	g := &goSide{gc: goClient(t, st.acct, hub, 4), cli: buildCLI(t), conn: st.conn, hub: hub}
	t.Logf("azdurable built after %v", time.Since(began).Round(time.Second))
	began = time.Now()
	// The lock is taken after the build and released after the cleanups
	// that stop the dfx-ref workers (it is registered before them).
	lockDFX(t)
	t.Logf("dfx-ref lock taken after %v", time.Since(began).Round(time.Second))
	began = time.Now()

	// Turn 1, Go. The Go client writes k2; the extension's client starts a
	// Counting that the Go worker finishes; a Go Counting is held inside its
	// critical section while the Go worker stops.
	turn.at("turn 1 (Go)")
	hold := &sectionHold{caller: "go-locked", entered: make(chan struct{}), proceed: make(chan struct{})}
	w1 := startGoWorker(t, st.acct, hub, 4, "go-turn-1", dfApp)
	if err := w1.w.Replace(heldCounter(hold)); err != nil {
		t.Fatal(err)
	}
	g.signal(t, "k2", "add", 3)
	g.signal(t, "k1", "reset", nil)
	g.waitGoState(t, "k2", "3")
	g.waitGoState(t, "k1", "0")
	dfxStart(t, dfx, st.conn, hub, "Counting", "cs-started")
	g.waitDone(t, "cs-started", "8", false)
	g.agree(t, "turn 1 (Go)", false, map[string]string{"k1": "8", "k2": "3"})
	g.signal(t, "k1", "reset", nil)
	g.waitGoState(t, "k1", "0")
	g.start(t, "Counting", "go-locked")
	select {
	case <-hold.entered:
	case <-time.After(5 * time.Minute):
		t.Fatalf("go-locked did not reach its critical section's call in 5 min: %s", describeState(g.gc, "go-locked"))
	}
	// The worker stops while the call is held: it takes no more work, the
	// held operation then ends, and the answer waits in the queue.
	w1.cancel()
	close(hold.proceed)
	w1.stop(t)
	if md := g.entity(t, "k1"); md == nil || md.LockedBy != "go-locked" {
		t.Fatalf("after the Go worker stopped, Counter@k1 should be locked by go-locked: %+v", md)
	}
	if s, err := g.gc.GetState(context.Background(), "go-locked"); err != nil || s.Status != client.Running {
		t.Fatalf("after the Go worker stopped, go-locked should be running: %v %v", s, err)
	}
	t.Logf("turn 1 (Go) done after %v: go-locked holds Counter@k1", time.Since(began).Round(time.Second))

	// Turn 2, dfx-ref. It finishes go-locked (8) and releases its lock,
	// reads and signals k2, writes k3, finishes a Counting the Go client
	// started, and is stopped while a Counting it runs holds the lock.
	turn.at("turn 2 (dfx-ref)")
	d2 := startDFX(t, dfx, st.conn, hub)
	g.waitDone(t, "go-locked", "8", true)
	g.waitGoState(t, "k1", "8")
	g.agree(t, "turn 2 (dfx-ref) after go-locked", true, map[string]string{"k1": "8", "k2": "3", "k3": ""})
	dfxSignal(t, "k2", "add", "10")
	dfxSignal(t, "k3", "add", "7")
	waitDFXState(t, "k2", "13")
	waitDFXState(t, "k3", "7")
	g.agree(t, "turn 2 (dfx-ref) after its signals", true, map[string]string{"k2": "13", "k3": "7"})
	dfxSignal(t, "k1", "reset", "null")
	waitDFXState(t, "k1", "0")
	g.start(t, "Counting", "go-started")
	g.waitDone(t, "go-started", "8", true)
	g.agree(t, "turn 2 (dfx-ref) after go-started", true, map[string]string{"k1": "8"})
	// Stop the extension while a C# Counting holds the lock. It has no hold
	// to stop it at, and a graceful stop races the critical section (on a
	// fast machine the extension ran the call and the release before its
	// stop took effect), so the test freezes it (SIGSTOP) once the lock is
	// held and the call inside the section is in the Counting's history,
	// checks both again while it is frozen, and kills it: a crash inside
	// the critical section. (A crash before the episode that sends the call
	// has written its history would have the next worker send the call a
	// second time, under a new request id: the extension's own gap, which
	// this test is not about.) Should a Counting end before, or leave its
	// section before the freeze, the extension goes on (SIGCONT) and
	// another Counting is tried.
	csLocked := ""
	for attempt := 1; csLocked == ""; attempt++ {
		if attempt > 6 {
			t.Fatal("six C# Countings left their critical section before the extension could be frozen inside it")
		}
		id := fmt.Sprintf("cs-locked-%d", attempt)
		turn.at("turn 2 (dfx-ref): " + id)
		dfxSignal(t, "k1", "reset", "null")
		waitDFXState(t, "k1", "0")
		g.waitGoState(t, "k1", "0")
		dfxStart(t, dfx, st.conn, hub, "Counting", id)
		if g.seeSectionCall(t, id) {
			d2.signal(t, syscall.SIGSTOP)
			if g.inSection(t, id) {
				csLocked = id
				d2.kill(t)
				break
			}
			d2.signal(t, syscall.SIGCONT)
			t.Logf("%s left its critical section before the extension was frozen: trying another", id)
		} else {
			t.Logf("%s ended before it was seen inside its critical section: trying another", id)
		}
		g.waitDone(t, id, "8", true)
	}
	md := g.entity(t, "k1")
	t.Logf("turn 2 (dfx-ref) done after %v: the extension killed while %s held Counter@k1 (queue %d)",
		time.Since(began).Round(time.Second), csLocked, md.QueueSize)

	// Turn 3, Go. It finishes cs-locked (8) and releases its lock, reads
	// and signals what dfx-ref wrote, and leaves a Counting started by the
	// Go client for dfx-ref.
	turn.at("turn 3 (Go)")
	w3 := startGoWorker(t, st.acct, hub, 4, "go-turn-3", dfApp)
	g.agree(t, "turn 3 (Go) before work", false, map[string]string{"k2": "13", "k3": "7"})
	g.finishLeftCounting(t, csLocked)
	g.waitGoState(t, "k1", "8")
	g.signal(t, "k3", "add", 1)
	g.signal(t, "k2", "delete", nil)
	g.waitGoState(t, "k3", "8")
	g.waitGoState(t, "k2", "")
	g.agree(t, "turn 3 (Go)", false, map[string]string{"k1": "8", "k2": "", "k3": "8"})
	g.signal(t, "k1", "reset", nil)
	g.waitGoState(t, "k1", "0")
	w3.stop(t)
	g.start(t, "Counting", "go-started-2")
	t.Logf("turn 3 (Go) done after %v", time.Since(began).Round(time.Second))

	// Turn 4, dfx-ref. It finishes the Counting the Go client started and
	// reads what the Go worker wrote: k2 deleted, k3 8.
	turn.at("turn 4 (dfx-ref)")
	d4 := startDFX(t, dfx, st.conn, hub)
	g.waitDone(t, "go-started-2", "8", true)
	g.waitGoState(t, "k1", "8")
	g.agree(t, "turn 4 (dfx-ref)", true, map[string]string{"k1": "8", "k2": "", "k3": "8"})
	dfxSignal(t, "k3", "add", "2")
	waitDFXState(t, "k3", "10")
	g.agree(t, "turn 4 (dfx-ref) after its signal", true, map[string]string{"k3": "10"})
	d4.stop(t)
	t.Logf("four turns done after %v (%d azdurable entities get runs)", time.Since(began).Round(time.Second), g.cliCalls)
}

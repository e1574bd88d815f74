//go:build sidecare2e

// Package e2e runs the JavaScript end-to-end suite of azdurable sidecar
// (tests/*.test.js and lib/, with the @microsoft/durabletask-js pinned in
// package.json) against real processes on Azurite, each test on a fresh
// task hub:
//
//   - TestJavaScriptClient: the SDK's client against `azdurable sidecar`,
//     the orchestrations in `azdurable worker --conformance`;
//   - TestJavaScriptWorker: the SDK's worker and client in one node
//     process, every orchestration and activity in JavaScript;
//   - TestJavaScriptScaleOut: two sidecars on one 8-partition hub, two
//     JavaScript worker processes on one and one on the other, and a
//     SIGKILL of the second sidecar mid-run: every instance completes
//     once.
//
// make sidecar-test installs the SDK (npm ci) and runs them with the
// build tag sidecare2e.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/bench"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// suiteTimeout bounds the JavaScript suite; stopTimeout a process's exit
// after SIGTERM (the worker drains for up to 2 × 12 s).
const (
	suiteTimeout = 10 * time.Minute
	stopTimeout  = time.Minute
)

func TestJavaScriptClient(t *testing.T) {
	requireSDK(t)
	bin := buildAzdurable(t)
	_, storage := freshHub(t)

	worker := startProcess(t, "worker", bin, append([]string{"worker", "--conformance", "--max-poll", "1"}, storage...)...)
	sidecar := startProcess(t, "sidecar", bin, append([]string{"sidecar", "--listen", "127.0.0.1:0"}, storage...)...)
	addr := sidecar.waitFor(t, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))
	worker.waitFor(t, regexp.MustCompile(`"event":"started"`))

	runID := fmt.Sprintf("js%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	if err := runNode(ctx, "tests/client.test.js", "SIDECAR_ADDRESS="+addr, "SIDECAR_RUN_ID="+runID); err != nil {
		t.Errorf("the JavaScript suite failed (%v); the sidecar's and worker's logs follow", err)
		t.Logf("sidecar:\n%s", sidecar.output())
		t.Logf("worker:\n%s", worker.output())
	}

	// An instance the SDK started reads as an ordinary one in azdurable's
	// own tools.
	show := exec.Command(bin, append([]string{"instances", "show", runID + "-kept"}, storage...)...)
	text, err := show.CombinedOutput()
	if err != nil || !strings.Contains(string(text), "Completed") || !strings.Contains(string(text), "HelloCities") {
		t.Errorf("azdurable instances show %s-kept: %v\n%s", runID, err, text)
	}

	sidecar.stop(t)
	worker.stop(t)
}

// TestJavaScriptWorker runs tests/worker.test.js: the SDK's worker runs
// every orchestration and activity through a sidecar without a Go worker.
// An instance it ran reads as an ordinary one in azdurable's own tools and
// in C#'s (dtfx-ref, when $DTFX_REF or ../shared has it).
func TestJavaScriptWorker(t *testing.T) {
	requireSDK(t)
	bin := buildAzdurable(t)
	hub, storage := freshHub(t)
	sidecar := startProcess(t, "sidecar", bin, append([]string{"sidecar", "--listen", "127.0.0.1:0"}, storage...)...)
	addr := sidecar.waitFor(t, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))

	runID := fmt.Sprintf("js%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	if err := runNode(ctx, "tests/worker.test.js", "SIDECAR_WORKER_ADDRESS="+addr, "SIDECAR_RUN_ID="+runID); err != nil {
		t.Errorf("the JavaScript suite failed (%v); the sidecar's log follows\n%s", err, sidecar.output())
	}
	for _, c := range []struct {
		verb string
		want []string
	}{
		{"show", []string{"Completed", "HelloCities", `["Hello Tokyo!","Hello Seattle!","Hello London!"]`}},
		{"history", []string{"TaskScheduled", "SayHello", `result="Hello London!"`, "ExecutionCompleted"}},
	} {
		text, err := exec.Command(bin, append([]string{"instances", c.verb, runID + "-w-hello"}, storage...)...).CombinedOutput()
		for _, w := range c.want {
			if err != nil || !strings.Contains(string(text), w) {
				t.Errorf("azdurable instances %s %s-w-hello: %v, want %s in\n%s", c.verb, runID, err, w, text)
				break
			}
		}
	}
	// The Counter entity the SDK's worker ran, read by azdurable's
	// entities command from the extension's format.
	if text, err := exec.Command(bin, append([]string{"entities", "get", "Counter", runID + "-w-counter"}, storage...)...).CombinedOutput(); err != nil || strings.TrimSpace(string(text)) != "10" {
		t.Errorf("azdurable entities get Counter %s-w-counter: %v, want 10, got\n%s", runID, err, text)
	}
	// And in C#'s (DurableTask.AzureStorage, dtfx-ref), where the
	// reference program is at hand.
	if dtfx, err := bench.FindDtfxRef(""); err != nil {
		t.Logf("not read by dtfx-ref: %v", err)
	} else {
		id := runID + "-w-hello"
		for _, c := range []struct {
			verb string
			want []string
		}{
			{"status", []string{`"found":true`, `"status":"Completed"`, `"name":"HelloCities"`}},
			{"history", []string{`"Name":"SayHello"`, `"Result":"\"Hello London!\""`, `"OrchestrationStatus":1`}},
		} {
			cmd := exec.Command(dtfx, c.verb, "--hub", hub, "--id", id)
			cmd.Env = append(os.Environ(), "AZURE_STORAGE_CONNECTION_STRING="+azuritetest.ConnectionString(t))
			text, err := cmd.Output()
			for _, w := range c.want {
				if err != nil || !strings.Contains(string(text), w) {
					t.Errorf("dtfx-ref %s %s: %v, want %s in\n%s", c.verb, id, err, w, text)
					break
				}
			}
		}
	}
	sidecar.stop(t)
}

// TestJavaScriptScaleOut: two sidecars share an 8-partition hub; two
// JavaScript worker processes serve the first, one the second. Mid-run
// the second sidecar is killed (SIGKILL): its partitions go to the first
// once their leases expire, its work items are seen again once their
// messages' visibility (--message-visibility) ends, and every instance
// completes exactly once (lib/drive.js checks each history).
func TestJavaScriptScaleOut(t *testing.T) {
	requireSDK(t)
	bin := buildAzdurable(t)
	hub, storage := freshHub(t)
	sidecarArgs := append([]string{"sidecar", "--listen", "127.0.0.1:0", "--partitions", "8", "--message-visibility", "20s"}, storage...)
	listening := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	a := startProcess(t, "sidecar A", bin, sidecarArgs...)
	addrA := a.waitFor(t, listening)
	b := startProcess(t, "sidecar B", bin, sidecarArgs...)
	addrB := b.waitFor(t, listening)
	started := regexp.MustCompile(`worker w\d started`)
	w1 := startProcess(t, "worker w1", "node", "lib/worker.js", addrA, "w1")
	w2 := startProcess(t, "worker w2", "node", "lib/worker.js", addrA, "w2")
	w3 := startProcess(t, "worker w3", "node", "lib/worker.js", addrB, "w3")
	for _, w := range []*process{w1, w2, w3} {
		w.waitFor(t, started)
	}
	// Both sidecars own partitions before the run starts (balancing takes
	// a few lease rounds), so that the kill takes some of the run with it.
	obs, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 8,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	azuritetest.WaitFor(t, 5*time.Minute, "both sidecars to own partitions", func() (bool, error) {
		rows, err := obs.PartitionOwners(context.Background())
		if err != nil {
			return false, nil // the table may not exist yet
		}
		owners := map[string]bool{}
		for _, r := range rows {
			if r.CurrentOwner != "" {
				owners[r.CurrentOwner] = true
			}
		}
		return len(owners) == 2, nil
	})

	const count, steps = 40, 10
	runID := fmt.Sprintf("js%d", time.Now().UnixNano())
	drive := exec.Command("node", "lib/drive.js")
	drive.Env = append(os.Environ(), "SIDECAR_ADDRESS="+addrA, "SIDECAR_RUN_ID="+runID,
		fmt.Sprintf("COUNT=%d", count), fmt.Sprintf("STEPS=%d", steps), "TIMEOUT_SECONDS=600")
	out := &syncbuf.Buffer{}
	drive.Stdout, drive.Stderr = out, out
	began := time.Now()
	if err := drive.Start(); err != nil {
		t.Fatal(err)
	}
	driven := make(chan error, 1)
	go func() { driven <- drive.Wait() }()
	t.Cleanup(func() {
		if drive.ProcessState == nil {
			_ = drive.Process.Kill()
			<-driven
		}
	})

	// Sidecar B is killed once its worker has run a few activities of
	// this run, while the run goes on.
	ran := func(w *process) int { return strings.Count(w.out.String(), "ran Step "+runID) }
	azuritetest.WaitFor(t, 5*time.Minute, "sidecar B's worker to run activities", func() (bool, error) {
		select {
		case err := <-driven:
			driven <- err
			return false, fmt.Errorf("the run ended (%v) before sidecar B's worker ran anything:\n%s", err, out.String())
		default:
		}
		return ran(w3) >= 5, nil
	})
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.done
	b.done <- nil
	killedAt := time.Since(began)

	select {
	case err := <-driven:
		if err != nil {
			t.Errorf("the run failed (%v):\n%s\nsidecar A:\n%s", err, out.String(), a.output())
		}
	case <-time.After(suiteTimeout):
		t.Fatalf("the run did not end within %v:\n%s\nsidecar A:\n%s", suiteTimeout, out.String(), a.output())
	}
	t.Logf("%s (sidecar B killed after %.1f s); activities run by w1 %d, w2 %d, w3 %d (at-least-once: a kill may repeat some)",
		strings.TrimSpace(out.String()), killedAt.Seconds(), ran(w1), ran(w2), ran(w3))
	if ran(w1) == 0 || ran(w2) == 0 {
		t.Errorf("both workers of sidecar A should have run activities: w1 %d, w2 %d", ran(w1), ran(w2))
	}
	for _, w := range []*process{w1, w2, w3} {
		w.stop(t)
	}
	a.stop(t)
}

// requireSDK fails the test when npm ci has not run.
func requireSDK(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("node_modules", "@microsoft", "durabletask-js")); err != nil {
		t.Fatalf("the JavaScript SDK is not installed: run make sidecar-test (npm ci in internal/sidecar/e2e): %v", err)
	}
}

// freshHub names a new task hub on the test's Azurite and returns the
// storage flags for it; the hub is deleted when the test ends.
func freshHub(t *testing.T) (string, []string) {
	hub := azuritetest.NewHub(t)
	cs := azuritetest.ConnectionString(t)
	t.Cleanup(func() { // the workers' app lease outlives them (as in C#); DeleteTaskHub breaks it
		be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
			Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			err = be.DeleteTaskHub(context.Background())
		}
		if err != nil {
			t.Errorf("deleting the task hub: %v", err)
		}
	})
	return hub, []string{"--task-hub", hub, "--connection-string", cs}
}

// runNode runs one JavaScript test file with node's test runner.
func runNode(ctx context.Context, file string, env ...string) error {
	node := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=spec", file)
	node.Env = append(os.Environ(), env...)
	node.Stdout, node.Stderr = os.Stdout, os.Stderr
	return node.Run()
}

// buildAzdurable builds the command (with the race detector) into the
// test's temporary folder.
func buildAzdurable(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "azdurable")
	build := exec.Command("go", "build", "-race", "-o", bin, "github.com/azdurable/azdurable/cmd/azdurable")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a started command whose output is kept.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		// A test that failed early leaves its processes running.
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor waits until the process's output matches re and returns the
// first group (or the match).
func (p *process) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	var got string
	azuritetest.WaitFor(t, 2*time.Minute, p.name+" to start", func() (bool, error) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited (%v):\n%s", p.name, err, p.out.String())
		default:
		}
		m := re.FindStringSubmatch(p.out.String())
		if m == nil {
			return false, nil
		}
		got = m[len(m)-1]
		return true, nil
	})
	return got
}

// stop sends SIGTERM and expects a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("stopping %s: %v", p.name, err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("%s exited with %v:\n%s", p.name, err, p.output())
		}
	case <-time.After(stopTimeout):
		t.Errorf("%s did not stop within %v of SIGTERM:\n%s", p.name, stopTimeout, p.output())
	}
}

// output is the process's output, its last 200 lines.
func (p *process) output() string {
	var lines []string
	s := bufio.NewScanner(strings.NewReader(p.out.String()))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if len(lines) > 200 {
		lines = lines[len(lines)-200:]
	}
	return strings.Join(lines, "\n")
}

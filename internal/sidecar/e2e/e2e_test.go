//go:build sidecare2e

// Package e2e runs the JavaScript end-to-end suite of azdurable sidecar
// (tests/*.test.js, with the @microsoft/durabletask-js pinned in
// package.json) against real processes: Azurite, `azdurable worker
// --conformance` hosting the orchestrations, and `azdurable sidecar`, all
// on one fresh task hub. make sidecar-test installs the SDK (npm ci) and
// runs it with the build tag sidecare2e.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
	if _, err := os.Stat(filepath.Join("node_modules", "@microsoft", "durabletask-js")); err != nil {
		t.Fatalf("the JavaScript SDK is not installed: run make sidecar-test (npm ci in internal/sidecar/e2e): %v", err)
	}
	bin := buildAzdurable(t)
	hub := azuritetest.NewHub(t)
	cs := azuritetest.ConnectionString(t)
	t.Cleanup(func() { // the worker's app lease outlives it (as in C#); DeleteTaskHub breaks it
		be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
			Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			err = be.DeleteTaskHub(context.Background())
		}
		if err != nil {
			t.Errorf("deleting the task hub: %v", err)
		}
	})
	storage := []string{"--task-hub", hub, "--connection-string", cs}

	worker := startProcess(t, "worker", bin, append([]string{"worker", "--conformance", "--max-poll", "1"}, storage...)...)
	sidecar := startProcess(t, "sidecar", bin, append([]string{"sidecar", "--listen", "127.0.0.1:0"}, storage...)...)
	addr := sidecar.waitFor(t, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))
	worker.waitFor(t, regexp.MustCompile(`"event":"started"`))

	runID := fmt.Sprintf("js%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=spec", "tests/")
	node.Env = append(os.Environ(), "SIDECAR_ADDRESS="+addr, "SIDECAR_RUN_ID="+runID)
	out := &syncbuf.Buffer{}
	node.Stdout, node.Stderr = io.MultiWriter(out, os.Stdout), io.MultiWriter(out, os.Stderr)
	if err := node.Run(); err != nil {
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

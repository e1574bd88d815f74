//go:build unix

package chaos

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/syncbuf"
)

// TestSameWorkerIDIsWarned runs two worker processes with the same
// --worker-id on one hub: each warns, at the default log level, that
// another live process uses its id.
func TestSameWorkerIDIsWarned(t *testing.T) {
	first := testCluster(t, 4, ShortSettings())
	// A second cluster on the same hub: its slot 0 has the same id.
	second := &Cluster{Command: first.Command, Env: first.Env, ConnectionString: first.ConnectionString,
		TaskHub: first.TaskHub, Partitions: first.Partitions, Settings: first.Settings, Dir: testDir(t)}
	t.Cleanup(func() {
		if err := second.Shutdown(2 * time.Minute); err != nil {
			t.Logf("stopping the second worker: %v", err)
		}
	})
	var procs []*Proc
	for _, cl := range []*Cluster{first, second} {
		p, err := cl.Start(0)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	if procs[0].WorkerID != procs[1].WorkerID {
		t.Fatalf("worker ids %s and %s", procs[0].WorkerID, procs[1].WorkerID)
	}
	const warning = "another live process uses this worker id"
	waitFor(t, "both workers to warn of the shared id", 2*time.Minute, func() bool {
		return strings.Contains(procs[0].Log(), warning) && strings.Contains(procs[1].Log(), warning)
	})
	for _, p := range procs {
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(line, warning) && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, "--worker-id")) {
				t.Errorf("warning line of %s: %s", p.WorkerID, line)
			}
		}
	}
}

// TestOtherAppNameIsWarned runs a worker process with another --app-name
// than the workers that hold the hub's app lease: at the default log
// level it warns that it waits, naming both apps and the flag to use.
func TestOtherAppNameIsWarned(t *testing.T) {
	cl := testCluster(t, 4, ShortSettings())
	p, err := cl.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.WaitStarted(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first worker to take the app lease", 2*time.Minute, func() bool {
		return strings.Contains(p.Log(), "app lease acquired")
	})
	// The cluster's app is "chaos", C#'s default app name here (as the
	// site name of a Functions app would be).
	cmd := exec.Command(os.Args[0], "worker", "--task-hub", cl.TaskHub, "--partitions", "4", "--app-name", "latecomer")
	cmd.Env = append(os.Environ(), envWorker+"=1", "AZURE_STORAGE_CONNECTION_STRING="+cl.ConnectionString,
		"DTFX_APP_NAME=chaos", "WEBSITE_SITE_NAME=")
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	waitFor(t, "the latecomer's warning", 2*time.Minute, func() bool { return strings.Contains(stderr.String(), "waits for the app lease") })
	line := stderr.String()
	for _, want := range []string{"level=WARN", `this worker (app \"latecomer\"`, `held by app \"chaos\"`, "run this worker with --app-name chaos"} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning lacks %q:\n%s", want, line)
		}
	}
}

package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Settings are the worker flags of a run that differ from C#'s defaults:
// short leases and visibility timeouts bring the work of a killed worker
// back within seconds.
type Settings struct {
	ControlQueueVisibility   time.Duration
	WorkItemVisibility       time.Duration
	PartitionLease           time.Duration
	PartitionAcquireInterval time.Duration
	PartitionSafetyMargin    time.Duration
	AppLeaseDuration         time.Duration
	AppLeaseRenewInterval    time.Duration
	AppLeaseAcquireInterval  time.Duration
	// MaxPoll is the longest wait between polls of an idle queue.
	MaxPoll time.Duration
	// FaultRate is the share of the workers' storage calls failed on
	// purpose (0: none).
	FaultRate float64
	// MaxDequeueCount is the workers' poison limit (0: the default, 5).
	MaxDequeueCount int
}

// ShortSettings are the settings of the chaos runs: a killed worker's
// partitions move after about 6 s and its messages reappear after 8 s.
//
// The poison limit is 20 receives, not 5. A message counts a receive
// whenever the worker that holds it dies (it cannot be told from a message
// that kills its worker), and every worker holds up to a buffer of
// prefetched messages. With a SIGKILL every few seconds on a loaded machine
// (two cores at load average 20), healthy messages reached 6 receives and
// were quarantined by the dozen (80 in one short run), which stranded their
// instances. No production worker dies that often, and the poison tests
// cover quarantine; at 20, a healthy message would have to outlive 20
// workers that die holding it.
func ShortSettings() Settings {
	return Settings{ControlQueueVisibility: 8 * time.Second, WorkItemVisibility: 8 * time.Second,
		PartitionLease: 6 * time.Second, PartitionAcquireInterval: time.Second, PartitionSafetyMargin: 2 * time.Second,
		AppLeaseDuration: 15 * time.Second, AppLeaseRenewInterval: 4 * time.Second, AppLeaseAcquireInterval: 2 * time.Second,
		MaxPoll: time.Second, MaxDequeueCount: 20}
}

func (s Settings) flags() []string {
	d := func(v time.Duration) string { return v.String() }
	f := []string{"--control-queue-visibility", d(s.ControlQueueVisibility), "--work-item-visibility", d(s.WorkItemVisibility),
		"--partition-lease", d(s.PartitionLease), "--partition-acquire-interval", d(s.PartitionAcquireInterval),
		"--partition-safety-margin", d(s.PartitionSafetyMargin), "--app-lease-duration", d(s.AppLeaseDuration),
		"--app-lease-renew-interval", d(s.AppLeaseRenewInterval), "--app-lease-acquire-interval", d(s.AppLeaseAcquireInterval),
		"--max-poll", strconv.FormatFloat(s.MaxPoll.Seconds(), 'f', -1, 64)}
	if s.FaultRate > 0 {
		f = append(f, "--fault-rate", strconv.FormatFloat(s.FaultRate, 'f', -1, 64))
	}
	if s.MaxDequeueCount > 0 {
		f = append(f, "--max-dequeue-count", strconv.Itoa(s.MaxDequeueCount))
	}
	return f
}

// Cluster runs `azdurable worker` processes of a program that registers
// the workload (Registrations) on one task hub, and keeps every process's
// output in Dir.
type Cluster struct {
	// Command is the program and the arguments that precede "worker".
	Command []string
	// Env is added to the workers' environment.
	Env []string
	// ConnectionString is given to the workers in their environment
	// ($AZURE_STORAGE_CONNECTION_STRING), never on the command line.
	ConnectionString string
	TaskHub          string
	Partitions       int
	Settings         Settings
	// Dir receives <worker id>.g<generation>.{log,out,exec}.
	Dir string

	mu    sync.Mutex
	gen   map[int]int
	procs map[int]*Proc
	all   []*Proc
	seed  int
}

// Proc is one worker process.
type Proc struct {
	Slot       int
	Generation int
	WorkerID   string
	// LogPath holds the process's stderr (its slog output), ExecPath the
	// activity executions it recorded.
	LogPath, ExecPath string

	cmd     *exec.Cmd
	killed  bool
	started chan struct{}
	done    chan struct{}
	err     error
}

// workerID alternates between a stable id and a fresh one per restart, so
// that runs exercise both a worker that resumes its own partition rows and
// one whose partitions must expire first.
func (c *Cluster) workerID(slot, gen int) string {
	if gen%2 == 0 {
		return fmt.Sprintf("chaos-w%d", slot)
	}
	return fmt.Sprintf("chaos-w%d-g%d", slot, gen)
}

// Start launches the worker of slot, a new generation if one ran before.
// It does not wait for the worker to start (see Proc.WaitStarted).
func (c *Cluster) Start(slot int) (*Proc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil {
		c.gen, c.procs = map[int]int{}, map[int]*Proc{}
	}
	if p := c.procs[slot]; p != nil && !p.Exited() {
		return nil, fmt.Errorf("chaos: the worker of slot %d still runs", slot)
	}
	gen := c.gen[slot]
	c.gen[slot]++
	c.seed++
	p := &Proc{Slot: slot, Generation: gen, WorkerID: c.workerID(slot, gen), started: make(chan struct{}), done: make(chan struct{})}
	base := filepath.Join(c.Dir, fmt.Sprintf("%s.g%d", c.workerID(slot, 0), gen))
	p.LogPath, p.ExecPath = base+".log", base+".exec"
	args := append(append([]string{}, c.Command[1:]...), "worker", "--task-hub", c.TaskHub,
		"--partitions", strconv.Itoa(c.Partitions), "--worker-id", p.WorkerID, "--app-name", "chaos",
		"--log-level", "info", "--drain-timeout", "5s", "--fault-seed", strconv.Itoa(c.seed))
	args = append(args, c.Settings.flags()...)
	cmd := exec.Command(c.Command[0], args...)
	cmd.Env = append(append(os.Environ(), c.Env...), "AZURE_STORAGE_CONNECTION_STRING="+c.ConnectionString, EnvExecLog+"="+p.ExecPath)
	cmd.SysProcAttr = procAttr()
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, err
	}
	outf, err := os.Create(base + ".out")
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		outf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		outf.Close()
		return nil, fmt.Errorf("chaos: starting a worker: %w", err)
	}
	p.cmd = cmd
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(outf, sc.Text())
			if strings.Contains(sc.Text(), `"event":"started"`) {
				once.Do(func() { close(p.started) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		logf.Close()
		outf.Close()
		close(p.done)
	}()
	c.procs[slot] = p
	c.all = append(c.all, p)
	return p, nil
}

// Proc returns the current process of slot.
func (c *Cluster) Proc(slot int) *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[slot]
}

// All returns every process started so far, in start order.
func (c *Cluster) All() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.all...)
}

// WaitStarted waits until the worker printed its started line.
func (p *Proc) WaitStarted(ctx context.Context) error {
	select {
	case <-p.started:
		return nil
	case <-p.done:
		return fmt.Errorf("chaos: worker %s exited before it started (%v): %s", p.WorkerID, p.err, tailOf(p.LogPath))
	case <-ctx.Done():
		return fmt.Errorf("chaos: worker %s did not start: %w", p.WorkerID, ctx.Err())
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	p.killed = !p.Exited()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Terminate asks the process to stop with SIGTERM (a drain and release)
// and waits up to d; then it kills it. It returns the exit error, or an
// error if it had to kill.
func (p *Proc) Terminate(d time.Duration) error {
	if p.Exited() {
		if p.killed {
			return nil
		}
		return p.err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	// A worker restarted a moment ago may not have installed its signal
	// handler yet, and SIGTERM would end it at once ("signal: terminated")
	// instead of draining. It installs the handler before it prints its
	// started line, so wait for that line first.
	select {
	case <-p.started:
	case <-p.done:
		return p.err
	case <-t.C:
		p.Kill()
		return fmt.Errorf("chaos: worker %s did not start within %v, so it could not be asked to stop", p.WorkerID, d)
	}
	_ = signal(p.cmd.Process, sigTerm)
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		p.Kill()
		return fmt.Errorf("chaos: worker %s did not stop within %v of SIGTERM", p.WorkerID, d)
	}
}

// Unexpected reports whether the process ended by itself with an error
// (not killed by the cluster).
func (p *Proc) Unexpected() bool { return p.Exited() && !p.killed && p.err != nil }

// Pause stops the process with SIGSTOP; Resume continues it.
func (p *Proc) Pause() error  { return signal(p.cmd.Process, sigStop) }
func (p *Proc) Resume() error { return signal(p.cmd.Process, sigCont) }

// Log returns what the process has logged so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Shutdown stops every running worker with SIGTERM, each within d.
func (c *Cluster) Shutdown(d time.Duration) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range c.All() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Terminate(d); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func tailOf(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

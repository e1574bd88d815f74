package bench

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
)

// EnvWorkerStorage carries the connection string to worker processes (it
// holds a key, so it is not put on their command line).
const EnvWorkerStorage = "AZDURABLE_BENCH_STORAGE"

// WorkerProcess configures one worker process ("azdurable bench worker").
type WorkerProcess struct {
	Hub        string
	Partitions int
	WorkerID   string
	// MaxPoll caps the queue polling back-off (0: the library default).
	MaxPoll time.Duration
	// Activities and Orchestrations bound the worker's concurrency (0: the
	// worker's defaults).
	Activities, Orchestrations int
	// NoLocalResults and NoLocalActivities turn off the backend's
	// in-process shortcuts (to measure what they save).
	NoLocalResults, NoLocalActivities bool
	// ActivityTime is how long each activity sleeps (0: it returns at once).
	ActivityTime time.Duration
	// ConnectionString of the storage; "" reads EnvWorkerStorage.
	ConnectionString string
	Logger           *slog.Logger
}

// args renders the flags of the worker command for p (the connection
// string travels in the environment).
func (p WorkerProcess) args() []string {
	return []string{"--hub", p.Hub, "--partitions", strconv.Itoa(p.Partitions), "--worker-id", p.WorkerID,
		"--max-poll", p.MaxPoll.String(), "--activities", strconv.Itoa(p.Activities),
		"--orchestrations", strconv.Itoa(p.Orchestrations),
		"--no-local-results=" + strconv.FormatBool(p.NoLocalResults), "--no-local-activities=" + strconv.FormatBool(p.NoLocalActivities),
		"--activity-time", p.ActivityTime.String()}
}

// processMessage is one line a worker process prints.
type processMessage struct {
	Event  string          `json:"event"`
	Calls  *callsWire      `json:"calls,omitempty"`
	Starts []activityStart `json:"starts,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// RunWorkerProcess runs a benchmark worker until stdin ends. It prints
// {"event":"started"} once the worker runs, answers every "report" line on
// stdin with its storage-call counts and activity start times so far, and
// prints {"event":"stopped"} after a graceful stop.
func RunWorkerProcess(ctx context.Context, p WorkerProcess, stdin io.Reader, stdout io.Writer) error {
	cs := p.ConnectionString
	if cs == "" {
		cs = os.Getenv(EnvWorkerStorage)
	}
	if cs == "" {
		return fmt.Errorf("bench worker: no storage: set %s", EnvWorkerStorage)
	}
	acct, err := storage.ParseConnectionString(cs)
	if err != nil {
		return err
	}
	counter := storage.NewCallCounter(acct.Endpoints())
	rec := &recorder{}
	w, err := startWorker(ctx, acct, counter, rec, p)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	var mu sync.Mutex
	emit := func(m processMessage) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	if err := emit(processMessage{Event: "started"}); err != nil {
		w.stop()
		return err
	}
	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) != "report" {
			continue
		}
		wc := fromStats(counter.Snapshot()).wire()
		if err := emit(processMessage{Event: "report", Calls: &wc, Starts: rec.snapshot()}); err != nil {
			break
		}
	}
	err = w.stop()
	if eerr := emit(processMessage{Event: "stopped"}); err == nil {
		err = eerr
	}
	return err
}

// runningWorker is a worker with its own backend (and so its own
// partition manager and worker id).
type runningWorker struct {
	id     string
	rec    *recorder
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

func startWorker(ctx context.Context, acct *storage.Account, counter *storage.CallCounter, rec *recorder, p WorkerProcess) (*runningWorker, error) {
	log := p.Logger
	if log == nil {
		log = quietLogger()
	}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: p.Hub, Account: acct, Partitions: p.Partitions,
		Client:   counted(counter),
		WorkerID: p.WorkerID, MaxPollingInterval: p.MaxPoll, NoLocalResults: p.NoLocalResults,
		NoLocalActivities: p.NoLocalActivities, Logger: log})
	if err != nil {
		return nil, err
	}
	w := worker.New(be, worker.Options{MaxConcurrentActivities: p.Activities, MaxConcurrentOrchestrations: p.Orchestrations, Logger: log})
	if err := w.Register(registrations(rec, p.ActivityTime)...); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rw := &runningWorker{id: p.WorkerID, rec: rec, w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(runCtx) }()
	return rw, nil
}

// stop shuts the worker down gracefully (its partitions are released).
func (r *runningWorker) stop() error {
	r.cancel()
	return <-r.done
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// childWorker is a worker process started by the benchmark.
type childWorker struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan processMessage
	errc  chan error
}

func startChild(ctx context.Context, exe string, prefix []string, connStr string, p WorkerProcess, stderr io.Writer) (*childWorker, error) {
	cmd := exec.Command(exe, append(append([]string{}, prefix...), p.args()...)...)
	cmd.Env = append(os.Environ(), EnvWorkerStorage+"="+connStr)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker process %s: %w", exe, err)
	}
	c := &childWorker{id: p.WorkerID, cmd: cmd, stdin: stdin, lines: make(chan processMessage, 4), errc: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var m processMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Event != "" {
				c.lines <- m
			}
		}
		close(c.lines)
		c.errc <- cmd.Wait()
	}()
	if _, err := c.expect(ctx, "started"); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// expect waits for the next message of the given kind.
func (c *childWorker) expect(ctx context.Context, event string) (processMessage, error) {
	for {
		select {
		case <-ctx.Done():
			return processMessage{}, ctx.Err()
		case m, ok := <-c.lines:
			if !ok {
				err := <-c.errc
				c.errc <- err
				return processMessage{}, fmt.Errorf("worker process %s exited before %q: %v", c.id, event, err)
			}
			if m.Event == event {
				return m, nil
			}
		}
	}
}

// report asks the process for its counts so far.
func (c *childWorker) report(ctx context.Context) (calls, []activityStart, error) {
	if _, err := io.WriteString(c.stdin, "report\n"); err != nil {
		return calls{}, nil, err
	}
	m, err := c.expect(ctx, "report")
	if err != nil {
		return calls{}, nil, err
	}
	if m.Calls == nil {
		return newCalls(), m.Starts, nil
	}
	return m.Calls.calls(), m.Starts, nil
}

// stop ends stdin (a graceful stop) and waits for the process.
func (c *childWorker) stop(ctx context.Context) error {
	_ = c.stdin.Close()
	for {
		select {
		case <-ctx.Done():
			c.kill()
			return ctx.Err()
		case _, ok := <-c.lines:
			if !ok {
				err := <-c.errc
				c.errc <- err
				return err
			}
		}
	}
}

func (c *childWorker) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
}

var errNoExecutable = errors.New("bench: worker processes need the azdurable executable")

package replay

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

// runOnce runs fn's first episode with the given deadlock timeout.
func runOnce(t *testing.T, timeout time.Duration, fn Orchestrator) (*Result, error) {
	t.Helper()
	e := New(fn, Options{DeadlockTimeout: timeout})
	t.Cleanup(e.Evict)
	in := `"x"`
	return e.Apply(nil, []history.Event{&history.OrchestratorStartedEvent{},
		&history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e"},
			Name: "O", Input: &in}})
}

// load keeps every CPU busy with n spinning goroutines per CPU until the
// test ends, as other work does on a loaded machine.
func load(t *testing.T, n int) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < n*runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(i)
			for !stop.Load() {
				for j := 0; j < 1000; j++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
}

// spin computes until d has passed.
func spin(d time.Duration) uint64 {
	x := uint64(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for j := 0; j < 1000; j++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

func done(s string) *string { return &s }

// Orchestrator code that computes for far longer than the deadlock timeout,
// on a machine whose CPUs are all taken, is slow, not blocked: it completes.
func TestSlowCodeUnderLoadIsNoDeadlock(t *testing.T) {
	load(t, 3)
	const timeout = 100 * time.Millisecond
	res, err := runOnce(t, timeout, func(ctx *Context, _ *string) (*string, error) {
		spin(8 * timeout)
		return done(`"computed"`), nil
	})
	if err != nil {
		t.Fatalf("slow code was taken for a deadlock: %v", err)
	}
	if res.Completion == nil || *res.Completion.Output != `"computed"` {
		t.Fatalf("completion %+v", res.Completion)
	}
}

// The same for a coroutine started with Go: its parent waits for it on a
// channel, which is no deadlock while the child computes.
func TestSlowChildCoroutineIsNoDeadlock(t *testing.T) {
	load(t, 2)
	const timeout = 100 * time.Millisecond
	res, err := runOnce(t, timeout, func(ctx *Context, _ *string) (*string, error) {
		if err := ctx.Go("child", func(*Context) { spin(6 * timeout) }); err != nil {
			return nil, err
		}
		return done(`"both"`), nil
	})
	if err != nil || res.Completion == nil {
		t.Fatalf("got %v, %+v", err, res)
	}
}

// Code that waits on a channel, a lock or a sleep instead of a durable call
// is a deadlock, in the root coroutine or in one started with Go, also
// while the machine is loaded.
func TestBlockedCodeIsADeadlock(t *testing.T) {
	load(t, 1)
	const timeout = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	for name, block := range map[string]func(){
		"channel": func() { <-release },
		"lock":    func() { mu.Lock(); mu.Unlock() },
		"sleep":   func() { time.Sleep(time.Hour) },
		"select":  func() { select {} },
	} {
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			_, err := runOnce(t, timeout, func(ctx *Context, _ *string) (*string, error) {
				block()
				return nil, nil
			})
			if !errors.Is(err, ErrDeadlock) {
				t.Fatalf("got %v, want ErrDeadlock", err)
			}
			if took := time.Since(began); took < timeout {
				t.Errorf("deadlock reported after %v, before the timeout %v", took, timeout)
			}
		})
		t.Run(name+" in a child coroutine", func(t *testing.T) {
			_, err := runOnce(t, timeout, func(ctx *Context, _ *string) (*string, error) {
				return nil, ctx.Go("child", func(*Context) { block() })
			})
			if !errors.Is(err, ErrDeadlock) {
				t.Fatalf("got %v, want ErrDeadlock", err)
			}
		})
	}
}

// Code that computes for a while and then blocks is a deadlock once it has
// waited for the whole timeout.
func TestSlowThenBlockedIsADeadlock(t *testing.T) {
	const timeout = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	began := time.Now()
	_, err := runOnce(t, timeout, func(ctx *Context, _ *string) (*string, error) {
		spin(3 * timeout)
		<-release
		return nil, nil
	})
	if !errors.Is(err, ErrDeadlock) {
		t.Fatalf("got %v, want ErrDeadlock", err)
	}
	if took := time.Since(began); took < 4*timeout {
		t.Errorf("deadlock reported after %v: the time spent computing counted", took)
	}
}

func TestWaitingState(t *testing.T) {
	for state, want := range map[string]bool{
		"running": false, "runnable": false, "preempted": false, "GC assist wait": false,
		"running, locked to thread": false, "": false, "copystack": false,
		"chan receive": true, "chan receive, 3 minutes": true, "chan send (nil chan)": true, "select": true,
		"select (no cases)": true, "sleep": true, "IO wait": true, "semacquire": true, "sync.Mutex.Lock": true,
		"sync.WaitGroup.Wait": true, "syscall": true, "syscall, 2 minutes, locked to thread": true,
	} {
		if got := waitingState(state); got != want {
			t.Errorf("waitingState(%q) = %v, want %v", state, got, want)
		}
	}
	// The test's own goroutine is running.
	if st, _ := goroutineState(goroutineID(), nil); st != "running" {
		t.Errorf("own state %q", st)
	}
	if st, _ := goroutineState(1<<62, nil); st != "" {
		t.Errorf("missing goroutine: %q", st)
	}
}

package partition

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// chanListener reports every call on a channel; Drain blocks until release
// is closed or its ctx ends, and reports how it ended.
type chanListener struct {
	calls   chan string
	release chan struct{}
}

func newChanListener() *chanListener {
	return &chanListener{calls: make(chan string, 100), release: make(chan struct{})}
}

func (l *chanListener) Acquired(p string) { l.calls <- "acquired " + p }
func (l *chanListener) Lost(p string)     { l.calls <- "lost " + p }
func (l *chanListener) Drain(ctx context.Context, p string) {
	l.calls <- "drain " + p
	select {
	case <-l.release:
		l.calls <- "drained " + p
	case <-ctx.Done():
		l.calls <- "drain cancelled " + p
	}
}

func (l *chanListener) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-l.calls:
			if got != w {
				t.Fatalf("listener call %q, want %q", got, w)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("no listener call, want %q", w)
		}
	}
}

func (l *chanListener) expectNone(t *testing.T) {
	t.Helper()
	select {
	case got := <-l.calls:
		t.Fatalf("unexpected listener call %q", got)
	default:
	}
}

func quietOptions(margin time.Duration) Options {
	return Options{SafetyMargin: margin, DrainTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestTrackerAcquireDrainRelease(t *testing.T) {
	l := newChanListener()
	drained := make(chan struct{}, 10)
	tr := newTracker(l, quietOptions(time.Second), func() { drained <- struct{}{} })
	if !tr.owned("q0", time.Now().Add(time.Hour)) {
		t.Fatal("owned did not start listening")
	}
	l.expect(t, "acquired q0")
	if got := tr.listening(); !slices.Equal(got, []string{"q0"}) {
		t.Fatalf("listening %v", got)
	}
	// Renewing a listening partition calls nobody.
	tr.owned("q0", time.Now().Add(2*time.Hour))
	if !tr.drain("q0") || tr.phase("q0") != phaseDraining {
		t.Fatalf("drain: phase %v", tr.phase("q0"))
	}
	l.expect(t, "drain q0")
	if len(tr.listening()) != 0 {
		t.Fatal("a draining partition is still reported as owned")
	}
	close(l.release)
	l.expect(t, "drained q0")
	<-drained
	if ph := tr.phase("q0"); ph != phaseDrained {
		t.Fatalf("phase after drain %v", ph)
	}
	tr.released("q0")
	if ph := tr.phase("q0"); ph != phaseIdle {
		t.Fatalf("phase after release %v", ph)
	}
	l.expectNone(t)
	if err := tr.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A listening partition whose deadline passes is Lost by the tracker's own
// timer; a draining one has its Drain cancelled.
func TestTrackerSafetyDeadline(t *testing.T) {
	l := newChanListener()
	tr := newTracker(l, quietOptions(time.Second), nil)
	// Two seconds past the margin: a proof that is not yet inside the
	// margin when owned looks at it, even on a loaded machine.
	tr.owned("q0", time.Now().Add(3*time.Second))
	tr.owned("q1", time.Now().Add(time.Hour))
	got := []string{<-l.calls, <-l.calls}
	slices.Sort(got)
	if !slices.Equal(got, []string{"acquired q0", "acquired q1"}) {
		t.Fatalf("calls %v", got)
	}
	l.expect(t, "lost q0")
	if ph := tr.phase("q0"); ph != phaseIdle {
		t.Fatalf("phase %v", ph)
	}

	tr.drain("q1")
	l.expect(t, "drain q1")
	tr.extend("q1", time.Now().Add(time.Second+50*time.Millisecond))
	// extend never moves a deadline earlier, so force it through lost().
	tr.lost("q1", "test")
	l.expect(t, "drain cancelled q1")
	if ph := tr.phase("q1"); ph != phaseIdle {
		t.Fatalf("phase %v", ph)
	}
}

// A renewal pushes the deadline and disarms the old one's timer.
func TestTrackerRenewalExtendsDeadline(t *testing.T) {
	l := newChanListener()
	tr := newTracker(l, quietOptions(time.Second), nil)
	start := time.Now()
	tr.owned("q0", start.Add(time.Minute))
	l.expect(t, "acquired q0")
	tr.mu.Lock()
	oldGen := tr.parts["q0"].gen
	tr.mu.Unlock()
	tr.owned("q0", start.Add(time.Hour))
	tr.owned("q0", start.Add(time.Minute)) // an older proof never shortens it
	tr.mu.Lock()
	deadline := tr.parts["q0"].deadline
	tr.mu.Unlock()
	if want := start.Add(time.Hour - time.Second); !deadline.Equal(want) {
		t.Fatalf("deadline %v, want %v", deadline, want)
	}
	tr.expire("q0", oldGen) // what the first timer would do if it fired
	if ph := tr.phase("q0"); ph != phaseListening {
		t.Fatalf("a superseded deadline ended ownership: phase %v", ph)
	}
	l.expectNone(t)
	tr.lost("q0", "test")
	l.expect(t, "lost q0")
}

func TestTrackerIgnoresLateProof(t *testing.T) {
	l := newChanListener()
	tr := newTracker(l, quietOptions(5*time.Second), nil)
	if tr.owned("q0", time.Now().Add(4*time.Second)) {
		t.Fatal("a proof inside the safety margin started listening")
	}
	l.expectNone(t)
}

// Calls for one partition are made one at a time and in order, even when
// an earlier one blocks.
func TestTrackerSerializesCallsPerPartition(t *testing.T) {
	var mu sync.Mutex
	var seq []string
	block := make(chan struct{})
	l := &funcListener{
		acquired: func(p string) { mu.Lock(); seq = append(seq, "acquired "+p); mu.Unlock() },
		drain: func(_ context.Context, p string) {
			mu.Lock()
			seq = append(seq, "drain "+p)
			mu.Unlock()
			<-block
			mu.Lock()
			seq = append(seq, "drain done "+p)
			mu.Unlock()
		},
		lost: func(p string) { mu.Lock(); seq = append(seq, "lost "+p); mu.Unlock() },
	}
	tr := newTracker(l, quietOptions(time.Second), nil)
	tr.owned("q0", time.Now().Add(time.Hour))
	tr.drain("q0")
	tr.lost("q0", "test") // cancels the drain; Lost is not called for a draining partition
	tr.owned("q0", time.Now().Add(time.Hour))
	tr.lost("q0", "test")
	close(block)
	if err := tr.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"acquired q0", "drain q0", "drain done q0", "acquired q0", "lost q0"}
	if !slices.Equal(seq, want) {
		t.Fatalf("calls %v, want %v", seq, want)
	}
}

type funcListener struct {
	acquired func(string)
	drain    func(context.Context, string)
	lost     func(string)
}

func (f *funcListener) Acquired(p string)                   { f.acquired(p) }
func (f *funcListener) Drain(ctx context.Context, p string) { f.drain(ctx, p) }
func (f *funcListener) Lost(p string)                       { f.lost(p) }

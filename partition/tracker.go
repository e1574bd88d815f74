package partition

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// phase is this worker's local view of one partition.
type phase int

const (
	phaseIdle      phase = iota // not dequeuing; nothing to hand over
	phaseListening              // Acquired reported; dequeuing
	phaseDraining               // Drain running
	phaseDrained                // Drain returned; the release is due
)

func (p phase) String() string {
	switch p {
	case phaseListening:
		return "listening"
	case phaseDraining:
		return "draining"
	case phaseDrained:
		return "drained"
	}
	return "idle"
}

// tracker holds the local state of every partition and is the only caller
// of the Listener. See the package design note for its guarantees.
type tracker struct {
	l         Listener
	log       *slog.Logger
	margin    time.Duration
	drainTime time.Duration
	onDrained func() // nudges the manager loop when a drain returns

	mu    sync.Mutex
	parts map[string]*slot
	wg    sync.WaitGroup // runner goroutines
}

type slot struct {
	phase    phase
	deadline time.Time // stop dequeuing by then unless extended
	gen      uint64    // invalidates older deadline timers
	timer    *time.Timer
	cancel   context.CancelFunc // of the running Drain
	drainGen uint64             // identifies the running Drain
	pending  []func()           // listener calls not yet made
	running  bool               // a runner is making them
}

func newTracker(l Listener, o Options, onDrained func()) *tracker {
	return &tracker{
		l: l, log: o.Logger, margin: o.SafetyMargin, drainTime: o.DrainTimeout,
		onDrained: onDrained, parts: map[string]*slot{},
	}
}

func (t *tracker) slot(p string) *slot {
	s := t.parts[p]
	if s == nil {
		s = &slot{}
		t.parts[p] = s
	}
	return s
}

// owned records proof that this worker owns p until expires (a successful
// claim, renewal or lease acquisition). An idle or drained partition starts
// listening; a listening or draining one gets the later deadline. A proof
// that arrives after its own deadline is ignored: the write took so long
// that listening now would eat into the margin. It reports whether p is
// listening afterwards.
func (t *tracker) owned(p string, expires time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	deadline := expires.Add(-t.margin)
	s := t.slot(p)
	if !time.Now().Before(deadline) {
		t.log.Warn("partition: ownership confirmed too close to lease expiry; not dequeuing",
			"partition", p, "expires", expires, "margin", t.margin)
		return s.phase == phaseListening
	}
	switch s.phase {
	case phaseIdle, phaseDrained:
		s.phase = phaseListening
		t.arm(p, s, deadline)
		t.enqueue(p, s, func() { t.l.Acquired(p) })
	case phaseListening, phaseDraining:
		t.arm(p, s, deadline)
	}
	return s.phase == phaseListening
}

// extend moves the deadline of a listening or draining partition after a
// renewal that does not change its phase (a draining row's renewal, a blob
// ownership renewal).
func (t *tracker) extend(p string, expires time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slot(p)
	if s.phase == phaseListening || s.phase == phaseDraining {
		t.arm(p, s, expires.Add(-t.margin))
	}
}

// arm sets the deadline (never moving it earlier) and its timer.
func (t *tracker) arm(p string, s *slot, deadline time.Time) {
	if deadline.Before(s.deadline) {
		return
	}
	s.deadline = deadline
	s.gen++
	gen := s.gen
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(time.Until(deadline), func() { t.expire(p, gen) })
}

func (t *tracker) disarm(s *slot) {
	s.gen++
	s.deadline = time.Time{}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (t *tracker) expire(p string, gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slot(p)
	if s.gen != gen {
		return
	}
	t.lostLocked(p, s, "lease not renewed in time; stopping before it can expire")
}

// drain starts a hand-over of p: a listening partition stops dequeuing and
// its Drain is called. It reports whether a drain is running or finished.
func (t *tracker) drain(p string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.drainLocked(p, t.slot(p))
}

func (t *tracker) drainLocked(p string, s *slot) bool {
	switch s.phase {
	case phaseDraining, phaseDrained:
		return true
	case phaseIdle:
		return false
	}
	s.phase = phaseDraining
	ctx, cancel := context.WithTimeout(context.Background(), t.drainTime)
	s.cancel = cancel
	s.drainGen++
	gen := s.drainGen
	t.log.Info("partition: draining for hand-over", "partition", p)
	t.enqueue(p, s, func() {
		t.l.Drain(ctx, p)
		t.mu.Lock()
		// A lease lost meanwhile has already moved s to idle (and maybe
		// on to a newer drain); a drain that timed out still ends in a
		// release, as in C#.
		if s.phase == phaseDraining && s.drainGen == gen {
			s.phase = phaseDrained
		}
		t.mu.Unlock()
		cancel()
		if t.onDrained != nil {
			t.onDrained()
		}
	})
	return true
}

// drainAll starts a drain of every listening partition (shutdown).
func (t *tracker) drainAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, s := range t.parts {
		t.drainLocked(p, s)
	}
}

// lost ends ownership of p without a hand-over.
func (t *tracker) lost(p, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lostLocked(p, t.slot(p), reason)
}

func (t *tracker) lostLocked(p string, s *slot, reason string) {
	switch s.phase {
	case phaseListening:
		t.log.Warn("partition: lost without hand-over", "partition", p, "reason", reason)
		t.enqueue(p, s, func() { t.l.Lost(p) })
	case phaseDraining:
		t.log.Warn("partition: lost while draining; cancelling the drain", "partition", p, "reason", reason)
		s.cancel()
	}
	s.phase = phaseIdle
	t.disarm(s)
}

// released records that p was handed over (its release was written).
func (t *tracker) released(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slot(p)
	if s.phase == phaseListening || s.phase == phaseDraining {
		t.lostLocked(p, s, "released before its drain finished")
		return
	}
	s.phase = phaseIdle
	t.disarm(s)
}

// abandon ends every partition without a hand-over (forced stop).
func (t *tracker) abandon(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, s := range t.parts {
		t.lostLocked(p, s, reason)
	}
}

// phases returns a snapshot of every partition's phase.
func (t *tracker) phases() map[string]phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]phase, len(t.parts))
	for p, s := range t.parts {
		out[p] = s.phase
	}
	return out
}

func (t *tracker) phase(p string) phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.parts[p]; s != nil {
		return s.phase
	}
	return phaseIdle
}

// listening returns the listening partitions, sorted.
func (t *tracker) listening() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for p, s := range t.parts {
		if s.phase == phaseListening {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// enqueue schedules a listener call for p behind the earlier ones.
func (t *tracker) enqueue(p string, s *slot, f func()) {
	s.pending = append(s.pending, f)
	if !s.running {
		s.running = true
		t.wg.Add(1)
		go t.run(s)
	}
}

func (t *tracker) run(s *slot) {
	defer t.wg.Done()
	for {
		t.mu.Lock()
		if len(s.pending) == 0 {
			s.running = false
			t.mu.Unlock()
			return
		}
		f := s.pending[0]
		s.pending = s.pending[1:]
		t.mu.Unlock()
		f()
	}
}

// wait waits until every listener call made so far has returned, or ctx
// ends.
func (t *tracker) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

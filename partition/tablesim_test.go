package partition

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// A deterministic simulation of several table managers sharing one table:
// rows with ETags in memory, a virtual clock, random interleavings, drains
// that take a few steps, and the tracker's safety deadline. It checks the
// single-dequeuer invariant after every step and that the rules converge.

type simWorker struct {
	id        string
	local     map[string]phase
	deadline  map[string]time.Time
	drainLeft map[string]int
	stopping  bool
	stopped   bool
	frozen    bool
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	now     time.Time
	margin  time.Duration
	rows    []Row
	version []int
	workers []*simWorker
	nested  bool // inside an interleaved iteration
}

func newSim(t *testing.T, seed uint64, nrows, nworkers int) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 1)), now: t0, margin: 5 * time.Second}
	for i := range nrows {
		s.rows = append(s.rows, Row{Partition: fmt.Sprintf("hub-control-%02d", i)})
		s.version = append(s.version, 1)
	}
	for i := range nworkers {
		s.workers = append(s.workers, &simWorker{id: fmt.Sprintf("w%d", i), local: map[string]phase{},
			deadline: map[string]time.Time{}, drainLeft: map[string]int{}})
	}
	return s
}

func (s *sim) index(p string) int {
	return slices.IndexFunc(s.rows, func(r Row) bool { return r.Partition == p })
}

// step advances the clock, fires due deadlines and drains, and lets one
// random live worker run one iteration.
func (s *sim) step() {
	s.now = s.now.Add(time.Duration(s.rng.IntN(400)) * time.Millisecond)
	for _, w := range s.workers {
		for p, d := range w.deadline {
			if ph := w.local[p]; (ph == phaseListening || ph == phaseDraining) && !s.now.Before(d) {
				w.local[p] = phaseIdle
			}
		}
		for p, n := range w.drainLeft {
			if w.local[p] != phaseDraining {
				delete(w.drainLeft, p)
			} else if n == 0 {
				w.local[p] = phaseDrained
				delete(w.drainLeft, p)
			} else {
				w.drainLeft[p] = n - 1
			}
		}
	}
	w := s.workers[s.rng.IntN(len(s.workers))]
	if w.frozen || w.stopped {
		return
	}
	rows := slices.Clone(s.rows)
	for i := range rows {
		rows[i].ETag = azcore.ETag(fmt.Sprint(s.version[i]))
	}
	plan := planTable(rows, tableInput{Me: w.id, Now: s.now, Lease: testLease, RenewAfter: 5 * time.Second, Stopping: w.stopping, Local: maps(w.local)})
	for _, p := range plan.Drop {
		w.local[p] = phaseIdle
	}
	for _, p := range plan.Drain {
		if w.local[p] == phaseListening {
			w.local[p] = phaseDraining
			w.drainLeft[p] = s.rng.IntN(4)
		}
	}
	if w.stopping {
		for p, ph := range w.local {
			if ph == phaseListening {
				w.local[p] = phaseDraining
				w.drainLeft[p] = s.rng.IntN(4)
			}
		}
	}
	for _, wr := range plan.Writes {
		i := s.index(wr.Row.Partition)
		if string(wr.Row.ETag) != fmt.Sprint(s.version[i]) {
			return // 412: the iteration is aborted
		}
		// Another worker may act between this worker's writes.
		if !s.nested && s.rng.IntN(4) == 0 {
			s.interleave(w)
		}
		if string(wr.Row.ETag) != fmt.Sprint(s.version[i]) {
			return
		}
		stored := wr.Row
		stored.ETag = ""
		s.rows[i] = stored
		s.version[i]++
		p := wr.Row.Partition
		switch wr.Kind {
		case writeClaim, writeRenew:
			if d := wr.Row.ExpiresAt.Add(-s.margin); s.now.Before(d) {
				if ph := w.local[p]; ph == phaseIdle || ph == phaseDrained {
					w.local[p] = phaseListening
				}
				w.deadline[p] = d
			}
		case writeDrainMark:
			w.deadline[p] = wr.Row.ExpiresAt.Add(-s.margin)
		case writeRelease:
			w.local[p] = phaseIdle
		}
		s.check()
	}
	if w.stopping && plan.Owned == 0 {
		w.stopped = true
	}
}

// interleave lets one other worker run a whole iteration in the middle of
// w's writes, which is what makes the ETags matter.
func (s *sim) interleave(w *simWorker) {
	saved := s.workers
	s.nested = true
	defer func() { s.nested = false }()
	var others []*simWorker
	for _, o := range s.workers {
		if o != w {
			others = append(others, o)
		}
	}
	s.workers = others
	s.step()
	s.workers = saved
}

func maps(m map[string]phase) map[string]phase {
	out := make(map[string]phase, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// check asserts that a partition is dequeued only by the worker the row
// names, so never by two workers at once.
func (s *sim) check() {
	s.t.Helper()
	for _, r := range s.rows {
		var listeners []string
		for _, w := range s.workers {
			if w.local[r.Partition] == phaseListening {
				listeners = append(listeners, w.id)
			}
		}
		if len(listeners) > 1 || (len(listeners) == 1 && listeners[0] != r.CurrentOwner) {
			s.t.Fatalf("at %v %s is dequeued by %v but the row names %q", s.now.Sub(t0), r.Partition, listeners, r.CurrentOwner)
		}
	}
}

// split returns the sorted partition counts of the live workers if every
// row is settled (owned, no request pending, not draining) and every owner
// listens to exactly its rows; otherwise nil.
func (s *sim) split() []int {
	n := map[string]int{}
	for _, r := range s.rows {
		if r.CurrentOwner == "" || r.NextOwner != "" || r.IsDraining {
			return nil
		}
		n[r.CurrentOwner]++
	}
	var out []int
	for _, w := range s.workers {
		if w.stopped || w.frozen {
			if n[w.id] != 0 {
				return nil
			}
			continue
		}
		listening := 0
		for _, r := range s.rows {
			if w.local[r.Partition] == phaseListening {
				listening++
			}
		}
		if listening != n[w.id] {
			return nil
		}
		out = append(out, n[w.id])
	}
	slices.Sort(out)
	return out
}

func (s *sim) runUntil(what string, want []int, maxSteps int) {
	s.t.Helper()
	for range maxSteps {
		s.step()
		s.check()
		if got := s.split(); slices.Equal(got, want) {
			return
		}
	}
	s.t.Fatalf("%s: no %v split after %d steps (now %v); rows %+v", what, want, maxSteps, s.split(), s.rows)
}

func TestPlanTableSimulation(t *testing.T) {
	for seed := range uint64(25) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newSim(t, seed, 8, 3)
			s.runUntil("start", []int{2, 3, 3}, 20000)
			// A balanced split stays put.
			for range 200 {
				s.step()
				s.check()
			}
			if got := s.split(); !slices.Equal(got, []int{2, 3, 3}) {
				t.Fatalf("balanced split moved to %v", got)
			}
			s.workers[0].stopping = true
			s.runUntil("graceful stop", []int{4, 4}, 20000)
			if !s.workers[0].stopped {
				t.Fatal("stopping worker did not finish")
			}
			s.workers[1].frozen = true
			s.runUntil("frozen worker", []int{8}, 40000)
		})
	}
}

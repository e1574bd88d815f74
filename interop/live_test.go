//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
)

// liveSummary is what TestLiveMixedHub writes to $INTEROP_SUMMARY.
type liveSummary struct {
	Hub        string         `json:"hub"`
	Partitions int            `json:"partitions"`
	Instances  instanceCounts `json:"instances"`
	// SayHello counts the SayHello runs per worker (C# from its activity
	// log, Go from a counter around the conformance activity).
	SayHello map[string]int `json:"sayHelloPerWorker"`
	// ExpectedSayHello is the number of SayHello calls the instances make;
	// a worker may run one twice (at least once), never fewer in total.
	ExpectedSayHello int            `json:"expectedSayHello"`
	OwnersSeen       []string       `json:"ownersSeen"`
	Moves            []move         `json:"partitionMoves"`
	MovesByPair      map[string]int `json:"partitionMovesByPair"`
	Phases           []phase        `json:"phases"`
	// GoStats are the Go workers' counters (abandoned work items, lost
	// locks, unknown names, non-determinism).
	GoStats map[string]map[string]int64 `json:"goWorkerStats"`
	Seconds float64                     `json:"seconds"`
}

type instanceCounts struct {
	Total          int            `json:"total"`
	StartedByCS    int            `json:"startedByCSharpClient"`
	StartedByGo    int            `json:"startedByGoClient"`
	ByOrchestrator map[string]int `json:"byOrchestration"`
	ByStatus       map[string]int `json:"byStatus"`
}

type move struct {
	Partition string  `json:"partition"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	AtSeconds float64 `json:"at"`
}

type phase struct {
	Name      string  `json:"name"`
	Instances int     `json:"instances"`
	Seconds   float64 `json:"seconds"`
	// Started and Raised are the seconds into the phase when every
	// instance was started and every event raised.
	Started float64 `json:"startedAt"`
	Raised  float64 `json:"raisedAt"`
}

// ownerWatch polls the Partitions table and records every change of owner.
type ownerWatch struct {
	began  time.Time
	mu     sync.Mutex
	owners map[string]string
	seen   map[string]bool
	moves  []move
	err    error
	stop   context.CancelFunc
	done   chan struct{}
}

func watchOwners(tsvc *aztables.ServiceClient, names taskhub.Names, began time.Time) *ownerWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &ownerWatch{began: began, owners: map[string]string{}, seen: map[string]bool{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, time.Minute)
			rows, err := partition.ReadTable(rctx, tsvc, names.TaskHub())
			rcancel()
			if err == nil {
				w.record(rows)
			} else if ctx.Err() == nil && !errors.Is(err, partition.ErrNoPartitionsTable) {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *ownerWatch) record(rows []partition.Row) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range rows {
		prev, known := w.owners[r.Partition]
		if r.CurrentOwner != "" {
			w.seen[r.CurrentOwner] = true
		}
		if known && prev == r.CurrentOwner {
			continue
		}
		w.owners[r.Partition] = r.CurrentOwner
		if known {
			w.moves = append(w.moves, move{Partition: r.Partition, From: prev, To: r.CurrentOwner,
				AtSeconds: time.Since(w.began).Round(10 * time.Millisecond).Seconds()})
		}
	}
}

// owned counts the partitions per current owner.
func (w *ownerWatch) owned() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := map[string]int{}
	for _, o := range w.owners {
		n[o]++
	}
	return n
}

func (w *ownerWatch) close() error {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// live is the state of the live test.
type live struct {
	t     *testing.T
	gc    *client.Client
	c     cs
	watch *ownerWatch
	sum   *liveSummary
	all   []conformance.Case
	byCS  map[string]bool
}

// startBatch starts the catalogs of rounds, alternating clients by case so
// that each client starts half, and returns them.
func (l *live) startBatch(prefix string, rounds int) []conformance.Case {
	l.t.Helper()
	var batch []conformance.Case
	for r := range rounds {
		batch = append(batch, conformance.Catalog(fmt.Sprintf("%s%02d", prefix, r))...)
	}
	t0 := time.Now()
	var goTime time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, len(batch))
	sem := make(chan struct{}, 4) // dtfx-ref starts in parallel, a few at a time
	for i, k := range batch {
		useCS := (i+len(l.all))%2 == 0
		l.byCS[k.ID] = useCS
		if !useCS {
			g0 := time.Now()
			startBy(l.t, false, l.gc, l.c, k)
			goTime += time.Since(g0)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := l.c.start(k.Name, k.ID, k.Input); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	l.t.Logf("started %d instances in %v (Go client starts: %v in all)", len(batch), time.Since(t0).Round(time.Millisecond), goTime.Round(time.Millisecond))
	close(errs)
	for err := range errs {
		l.t.Fatal(err)
	}
	l.all = append(l.all, batch...)
	return batch
}

// raiseAll raises each case's events once its target runs, through the
// client that did not start the instance.
func (l *live) raiseAll(batch []conformance.Case) {
	l.t.Helper()
	type pending struct {
		r    conformance.Raise
		byCS bool
	}
	var todo []pending
	for _, k := range batch {
		for _, r := range k.Raise {
			todo = append(todo, pending{r, !l.byCS[k.ID]})
		}
	}
	ctx := context.Background()
	poll(l.t, 3*time.Minute, fmt.Sprintf("the targets of %d events to start", len(todo)), func() (bool, string, error) {
		var left, ready []pending
		var desc []string
		for _, p := range todo {
			st, err := l.gc.GetState(ctx, p.r.InstanceID)
			if errors.Is(err, client.ErrNotFound) || (err == nil && st.Status == client.Pending) {
				left = append(left, p)
				desc = append(desc, p.r.InstanceID+" (for "+p.r.Event+")")
				continue
			}
			if err != nil {
				return false, "", err
			}
			ready = append(ready, p)
		}
		// dtfx-ref raises are a process each; run a few at a time.
		errs := make(chan error, len(ready))
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, p := range ready {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if p.byCS {
					errs <- l.c.raise(p.r.InstanceID, p.r.Event, p.r.Data)
					return
				}
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				errs <- l.gc.RaiseEvent(rctx, p.r.InstanceID, p.r.Event, json.RawMessage(p.r.Data))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return false, "", fmt.Errorf("raising an event: %w", err)
			}
		}
		todo = left
		return len(todo) == 0, "not started: " + strings.Join(desc, ", "), nil
	})
}

// finish waits for a batch through the Go client and checks outputs and
// the task ids of every history, whoever ran it.
func (l *live) finish(batch []conformance.Case, timeout time.Duration) {
	l.t.Helper()
	exps := make([]expect, len(batch))
	for i, k := range batch {
		exps[i] = fromCase(k, "any worker to run it ("+k.Name+")")
	}
	states := waitGo(l.t, l.gc, timeout, exps)
	ctx := context.Background()
	for _, k := range batch {
		h, err := l.gc.History(ctx, k.ID, "")
		if err != nil {
			l.t.Errorf("history of %s: %v", k.ID, err)
			continue
		}
		if got := conformance.Actions(h, states[k.ID].ExecutionID); !slices.Equal(got, k.Actions) {
			l.t.Errorf("%s (%s): actions %q, want %q", k.ID, k.Name, got, k.Actions)
		}
	}
}

// checkWithCS reads every instance through C#'s query and compares.
func (l *live) checkWithCS() {
	l.t.Helper()
	got := map[string]csState{}
	token := ""
	for {
		var page struct {
			Instances    []csState `json:"instances"`
			Continuation *string   `json:"continuation"`
		}
		args := []string{"query", "--top", "200"}
		if token != "" {
			args = append(args, "--continuation", token)
		}
		if err := l.c.run(3*time.Minute, false, &page, args...); err != nil {
			l.t.Fatal(err)
		}
		for _, s := range page.Instances {
			got[s.InstanceID] = s
		}
		if page.Continuation == nil || strings.TrimSpace(*page.Continuation) == "" || len(page.Instances) == 0 {
			break
		}
		token = *page.Continuation
	}
	for _, k := range l.all {
		s, ok := got[k.ID]
		switch {
		case !ok:
			l.t.Errorf("%s: missing from C#'s query", k.ID)
		case s.Status != k.Status || s.Output == nil || !sameOutput(k.Status, *s.Output, k.Output):
			l.t.Errorf("%s (C# query): %s %v, want %s %s", k.ID, s.Status, s.Output, k.Status, k.Output)
		}
	}
}

func (l *live) phase(name string, began, started, raised time.Time, n int) {
	secs := func(t time.Time) float64 { return t.Sub(began).Round(10 * time.Millisecond).Seconds() }
	l.sum.Phases = append(l.sum.Phases, phase{Name: name, Instances: n, Seconds: secs(time.Now()), Started: secs(started), Raised: secs(raised)})
}

func statsOf(g *goWorker) map[string]int64 {
	s := g.w.Stats()
	return map[string]int64{"episodes": s.Episodes.Load(), "activities": s.Activities.Load(), "abandoned": s.Abandoned.Load(),
		"lockLost": s.LockLost.Load(), "unknownNames": s.UnknownNames.Load(), "nonDeterminism": s.NonDeterminism.Load(),
		"cacheHits": s.CacheHits.Load(), "cacheMisses": s.CacheMisses.Load()}
}

// One C# worker and two Go workers share an 8-partition hub; instances of
// every reference orchestration, started half by each client, all finish;
// then the C# worker leaves and the Go workers take its partitions; then a
// new C# worker takes everything over from the Go workers.
func TestLiveMixedHub(t *testing.T) {
	const partitions = 8
	began := time.Now()
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	names := taskhub.MustNames(hub)
	tsvc, err := st.acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCS(t, st, hub, partitions)
	if err := c.run(3*time.Minute, false, nil, "create"); err != nil {
		t.Fatal(err)
	}
	l := &live{t: t, gc: goClient(t, st.acct, hub, partitions), c: c, byCS: map[string]bool{},
		sum: &liveSummary{Hub: hub, Partitions: partitions, SayHello: map[string]int{}, MovesByPair: map[string]int{}}}
	l.watch = watchOwners(tsvc, names, began)
	defer l.watch.close()

	cs1 := startCSWorker(t, c, "cs-1")
	go1 := startGoWorker(t, st.acct, hub, partitions, "go-1", nil)
	go2 := startGoWorker(t, st.acct, hub, partitions, "go-2", nil)
	poll(t, 3*time.Minute, "C# and both Go workers each to own a partition", func() (bool, string, error) {
		n := l.watch.owned()
		return n["cs-1"] > 0 && n["go-1"] > 0 && n["go-2"] > 0, fmt.Sprint(n), nil
	})

	// Phase 1: all three workers.
	p1 := time.Now()
	batch := l.startBatch("mix", 4)
	started := time.Now()
	l.raiseAll(batch)
	raised := time.Now()
	l.finish(batch, 4*time.Minute)
	l.phase("three workers (cs-1, go-1, go-2)", p1, started, raised, len(batch))
	if n := cs1.SayHellos(); n == 0 {
		t.Errorf("the C# worker ran no SayHello while it shared the hub")
	}
	if n := go1.hellos.Load() + go2.hellos.Load(); n == 0 {
		t.Errorf("the Go workers ran no SayHello while they shared the hub")
	}

	// Phase 1b: one wide fan-out, started by the Go client, while all three
	// workers run. Its owner keeps back only what its free activity slots
	// can start at once; every other activity is visible on the work-item
	// queue, and the C# worker runs a share of them.
	p1b := time.Now()
	const width = 300
	fan := conformance.Case{ID: "wide-fanout", Name: "FanOut", Input: fmt.Sprint(width), Status: "Completed",
		Output: fmt.Sprint(width), Activities: width}
	csBefore, goBefore := cs1.SayHellos(), go1.hellos.Load()+go2.hellos.Load()
	startBy(t, false, l.gc, l.c, fan)
	l.byCS[fan.ID] = false
	l.all = append(l.all, fan)
	waitGo(t, l.gc, 4*time.Minute, []expect{fromCase(fan, "the three workers to run it")})
	csRan, goRan := cs1.SayHellos()-csBefore, int(go1.hellos.Load()+go2.hellos.Load()-goBefore)
	t.Logf("wide fan-out of %d: the C# worker ran %d activities, the Go workers %d", width, csRan, goRan)
	if csRan == 0 {
		t.Errorf("the C# worker ran none of the %d activities of a fan-out owned by the hub's workers together", width)
	}
	l.phase("wide fan-out on three workers", p1b, p1b, p1b, 1)

	// Phase 2: the C# worker stops with work in flight; the Go workers take
	// its partitions.
	p2 := time.Now()
	batch = l.startBatch("tocs", 1)
	started = time.Now()
	// A C# worker that stops gracefully leaves a control message it has
	// received but not yet processed invisible for its visibility timeout
	// (5 minutes): no other worker can see it until then. The batch is let
	// start everywhere before the stop, so that the work in flight is
	// instances halfway through (timers, activities, events not yet
	// raised), not start messages in C#'s buffer; the wait below still
	// covers C#'s timeout in case the stop catches one of their messages.
	poll(t, 3*time.Minute, "every instance of the batch to start", func() (bool, string, error) {
		for _, k := range batch {
			st, err := l.gc.GetState(context.Background(), k.ID)
			if err != nil {
				return false, k.ID, nil
			}
			if st.Status == client.Pending {
				return false, k.ID + " Pending", nil
			}
		}
		return true, "", nil
	})
	cs1.stop(t)
	l.raiseAll(batch)
	raised = time.Now()
	poll(t, 3*time.Minute, "the Go workers to own all 8 partitions after the C# worker stopped", func() (bool, string, error) {
		n := l.watch.owned()
		return n["go-1"]+n["go-2"] == partitions, fmt.Sprint(n), nil
	})
	l.finish(batch, 5*time.Minute+30*time.Second)
	cs1.checkNoNondeterminism(t)
	l.phase("C# worker leaves (go-1, go-2 take over)", p2, started, raised, len(batch))

	// Phase 3: a new C# worker joins, then both Go workers stop with work
	// in flight; C# takes everything over.
	p3 := time.Now()
	cs2 := startCSWorker(t, c, "cs-2")
	poll(t, 3*time.Minute, "the new C# worker to own a partition beside the Go workers", func() (bool, string, error) {
		n := l.watch.owned()
		return n["cs-2"] > 0, fmt.Sprint(n), nil
	})
	batch = l.startBatch("togo", 1)
	started = time.Now()
	go1.stop(t)
	go2.stop(t)
	l.raiseAll(batch)
	raised = time.Now()
	poll(t, 3*time.Minute, "the C# worker to own all 8 partitions after the Go workers stopped", func() (bool, string, error) {
		n := l.watch.owned()
		return n["cs-2"] == partitions, fmt.Sprint(n), nil
	})
	l.finish(batch, 3*time.Minute)
	l.phase("Go workers leave (cs-2 takes over)", p3, started, raised, len(batch))
	l.checkWithCS()
	cs2.checkNoNondeterminism(t)
	cs2.stop(t)
	if err := l.watch.close(); err != nil {
		t.Errorf("watching the Partitions table: %v", err)
	}

	// The summary.
	s := l.sum
	s.Seconds = time.Since(began).Round(10 * time.Millisecond).Seconds()
	s.SayHello["cs-1"], s.SayHello["cs-2"] = cs1.SayHellos(), cs2.SayHellos()
	s.SayHello["go-1"], s.SayHello["go-2"] = int(go1.hellos.Load()), int(go2.hellos.Load())
	s.GoStats = map[string]map[string]int64{"go-1": statsOf(go1), "go-2": statsOf(go2)}
	s.Instances = instanceCounts{Total: len(l.all), ByOrchestrator: map[string]int{}, ByStatus: map[string]int{}}
	for _, k := range l.all {
		s.Instances.ByOrchestrator[k.Name]++
		s.Instances.ByStatus[k.Status]++
		s.ExpectedSayHello += k.Activities
		if l.byCS[k.ID] {
			s.Instances.StartedByCS++
		} else {
			s.Instances.StartedByGo++
		}
	}
	l.watch.mu.Lock()
	s.Moves = l.watch.moves
	for o := range l.watch.seen {
		s.OwnersSeen = append(s.OwnersSeen, o)
	}
	l.watch.mu.Unlock()
	slices.Sort(s.OwnersSeen)
	for _, m := range s.Moves {
		s.MovesByPair[orNone(m.From)+" -> "+orNone(m.To)]++
	}
	total := 0
	for _, n := range s.SayHello {
		total += n
	}
	if total < s.ExpectedSayHello {
		t.Errorf("the workers ran %d SayHello in all, fewer than the %d the instances call", total, s.ExpectedSayHello)
	}
	if !slices.ContainsFunc(s.OwnersSeen, func(o string) bool { return strings.HasPrefix(o, "cs-") }) ||
		!slices.ContainsFunc(s.OwnersSeen, func(o string) bool { return strings.HasPrefix(o, "go-") }) {
		t.Errorf("the Partitions table did not show both kinds of owner: %v", s.OwnersSeen)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	out := bytes.TrimSpace(buf.Bytes())
	path := os.Getenv("INTEROP_SUMMARY")
	if path == "" {
		path = filepath.Join(os.TempDir(), "azdurable-interop-live-summary.json")
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		t.Errorf("writing the summary: %v", err)
	}
	t.Logf("live summary (%s):\n%s", path, out)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

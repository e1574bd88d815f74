package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/worker"
)

// Gate makes the activity Flaky fail for a key while the key is closed,
// so that a test decides when a rewound instance may succeed. It is safe
// for concurrent use; keys are per test.
type Gate struct {
	mu     sync.Mutex
	closed map[string]bool
	calls  map[string]int
}

// Flaky's gate.
var gate = &Gate{closed: map[string]bool{}, calls: map[string]int{}}

func (g *Gate) close(key string) { g.mu.Lock(); g.closed[key] = true; g.mu.Unlock() }
func (g *Gate) open(key string)  { g.mu.Lock(); delete(g.closed, key); g.mu.Unlock() }
func (g *Gate) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[key]
}

// Flaky fails with "closed: <key>" while the gate of key is closed, and
// returns "ok:<key>" otherwise.
var Flaky = durable.NewActivity("RWFlaky", func(_ context.Context, key string) (string, error) {
	gate.mu.Lock()
	defer gate.mu.Unlock()
	gate.calls[key]++
	if gate.closed[key] {
		return "", errors.New("closed: " + key)
	}
	return "ok:" + key, nil
})

// RWUncaught: #0 Flaky(key), uncaught.
var rwUncaught = durable.NewOrchestration("RWUncaught", func(ctx durable.Context, key string) (string, error) {
	return Flaky.Call(ctx, key).Await(ctx)
})

// RWRetried: Flaky(key) with 3 attempts, 1 s apart (timers between them),
// uncaught after the last.
var rwRetried = durable.NewOrchestration("RWRetried", func(ctx durable.Context, key string) (string, error) {
	return Flaky.Call(ctx, key, durable.WithRetry(durable.RetryPolicy{MaxAttempts: 3, FirstRetryInterval: time.Second})).Await(ctx)
})

// RWCaughtThenFail: Flaky(key-a); when that fails it calls Flaky(key-b),
// whose failure is not caught.
var rwCaughtThenFail = durable.NewOrchestration("RWCaughtThenFail", func(ctx durable.Context, key string) (string, error) {
	a, err := Flaky.Call(ctx, key+"-a").Await(ctx)
	if err == nil {
		return a, nil
	}
	return Flaky.Call(ctx, key+"-b").Await(ctx)
})

// RWFanOut: Flaky(key-0), Flaky(key-1), Flaky(key-2) at once.
var rwFanOut = durable.NewOrchestration("RWFanOut", func(ctx durable.Context, key string) (string, error) {
	fs := []durable.Future[string]{Flaky.Call(ctx, key+"-0"), Flaky.Call(ctx, key+"-1"), Flaky.Call(ctx, key+"-2")}
	out, err := durable.WhenAllOf(ctx, fs...)
	return strings.Join(out, ","), err
})

// RWChild: #0 Flaky(key).
var rwChild = durable.NewOrchestration("RWChild", func(ctx durable.Context, key string) (string, error) {
	return Flaky.Call(ctx, key).Await(ctx)
})

// RWParent: custom status, the sub-orchestration RWChild(key+"-child")
// under a generated id, then "parent:" + its output.
var rwParent = durable.NewOrchestration("RWParent", func(ctx durable.Context, key string) (string, error) {
	if err := ctx.SetCustomStatus("calling"); err != nil {
		return "", err
	}
	out, err := rwChild.CallSub(ctx, key+"-child").Await(ctx)
	if err != nil {
		return "", err
	}
	return "parent:" + out, nil
})

// RWGrand: the sub-orchestration RWParent(key).
var rwGrand = durable.NewOrchestration("RWGrand", func(ctx durable.Context, key string) (string, error) {
	out, err := rwParent.CallSub(ctx, key).Await(ctx)
	return "grand:" + out, err
})

// RWTwoChildren starts Waiter under id key+"-w" and RWChild(key+"-c"),
// and fails as soon as RWChild fails, without waiting for the Waiter.
var rwTwoChildren = durable.NewOrchestration("RWTwoChildren", func(ctx durable.Context, key string) (string, error) {
	w := Waiter.CallSub(ctx, "", durable.WithInstanceID(key+"-w"))
	c := rwChild.CallSub(ctx, key+"-c")
	cout, err := c.Await(ctx)
	if err != nil {
		return "", err
	}
	wout, err := w.Await(ctx)
	return cout + "|" + wout, err
})

func rewindRegistrations() []durable.Registrable {
	return []durable.Registrable{Flaky, rwUncaught, rwRetried, rwCaughtThenFail, rwFanOut, rwChild, rwParent, rwGrand,
		rwTwoChildren, Waiter, ParentOfWaiter}
}

// rewindFixture is a worker and a client on one backend.
type rewindFixture struct {
	*fixture
	prefix string
}

func startRewind(t *testing.T, f Factory) *rewindFixture {
	t.Helper()
	be := f(t)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := worker.New(be, worker.Options{Logger: log, ShutdownTimeout: 10 * time.Second})
	regs := rewindRegistrations()
	if err := w.Register(regs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	prefix := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return &rewindFixture{fixture: &fixture{t: t, be: be, c: client.New(be, client.Options{}), regs: regs}, prefix: prefix}
}

func (f *rewindFixture) key(s string) string { return f.prefix + "-" + s }

func (f *rewindFixture) failed(id string) *client.State {
	f.t.Helper()
	st := f.wait(id)
	if st.Status != client.Failed {
		f.t.Fatalf("%s: %s %s, want Failed", id, st.Status, output(st))
	}
	return st
}

func (f *rewindFixture) rewind(id, reason string) {
	f.t.Helper()
	if err := f.c.Rewind(f.ctx(), id, reason); err != nil {
		f.t.Fatalf("rewind %s: %v", id, err)
	}
}

func (f *rewindFixture) completed(id, want string) *client.State {
	f.t.Helper()
	st := f.wait(id)
	if st.Status != client.Completed || output(st) != want {
		f.t.Fatalf("%s: %s %s, want Completed %s; history %s", id, st.Status, output(st), want, f.types(id))
	}
	return st
}

func (f *rewindFixture) types(id string) string {
	events, err := f.c.History(context.Background(), id, "")
	if err != nil {
		return err.Error()
	}
	s := make([]string, len(events))
	for i, ev := range events {
		s[i] = ev.Type().String()
	}
	return strings.Join(s, " ")
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// RunRewind runs the rewind and restart suite: failed instances (an
// activity, an activity after retries, a caught failure followed by
// another, a fan-out, sub-orchestrations two levels deep, a terminated
// child, a child that completed while its parent was failed) are rewound
// and finish, refused rewinds change nothing, an interrupted rewind can be
// run again, a child whose failure reached its parent before its own
// records is waited for, and restart follows the extension's rules.
func RunRewind(t *testing.T, f Factory) {
	t.Run("Rewind", func(t *testing.T) { testRewind(t, f) })
	t.Run("RewindRefused", func(t *testing.T) { testRewindRefused(t, f) })
	t.Run("RewindInterrupted", func(t *testing.T) { testRewindInterrupted(t, f) })
	t.Run("ChildStillEnding", func(t *testing.T) { testChildStillEnding(t, f) })
	t.Run("ChildEndedUnseen", func(t *testing.T) { testChildEndedUnseen(t, f) })
	t.Run("Restart", func(t *testing.T) { testRestart(t, f) })
}

func testRewind(t *testing.T, f Factory) {
	x := startRewind(t, f)
	type tc struct {
		name  string
		orch  string
		keys  []string // gates closed for the first run
		want  string
		calls map[string]int // Flaky calls per key after the second run, when checked
		setup func(id string)
		check func(id string)
	}
	k := x.key
	cases := []tc{
		{name: "uncaught", orch: rwUncaught.Name(), keys: []string{k("u")}, want: quote("ok:" + k("u")),
			calls: map[string]int{k("u"): 2}},
		{name: "retried", orch: rwRetried.Name(), keys: []string{k("r")}, want: quote("ok:" + k("r")),
			calls: map[string]int{k("r"): 4}},
		{name: "caught", orch: rwCaughtThenFail.Name(), keys: []string{k("c-a"), k("c-b")}, want: quote("ok:" + k("c-a")),
			calls: map[string]int{k("c-a"): 2, k("c-b"): 1}},
		{name: "fanout", orch: rwFanOut.Name(), keys: []string{k("f-1")},
			want:  quote("ok:" + k("f-0") + ",ok:" + k("f-1") + ",ok:" + k("f-2")),
			calls: map[string]int{k("f-0"): 1, k("f-1"): 2, k("f-2"): 1}},
		{name: "sub", orch: rwParent.Name(), keys: []string{k("s-child")}, want: quote("parent:ok:" + k("s-child")),
			calls: map[string]int{k("s-child"): 2}},
		{name: "grand", orch: rwGrand.Name(), keys: []string{k("g-child")}, want: quote("grand:parent:ok:" + k("g-child"))},
	}
	ids := make([]string, len(cases))
	inputs := make([]string, len(cases))
	for i, c := range cases {
		for _, key := range c.keys {
			gate.close(key)
		}
		inputs[i] = strings.TrimSuffix(strings.TrimSuffix(c.keys[0], "-a"), "-child")
		if c.name == "fanout" {
			inputs[i] = k("f")
		}
		ids[i] = x.schedule(c.orch, inputs[i], client.WithInstanceID(k("i-"+c.name)))
	}
	for i := range cases {
		x.failed(ids[i])
	}
	for i, c := range cases {
		for _, key := range c.keys {
			gate.open(key)
		}
		x.rewind(ids[i], "fixed "+c.name)
	}
	for i, c := range cases {
		x.completed(ids[i], c.want)
		for key, n := range c.calls {
			if got := gate.count(key); got != n {
				x.t.Errorf("%s: Flaky(%s) ran %d times, want %d", c.name, key, got, n)
			}
		}
	}
	// The wake-up carries the reason; the failure is gone from replay.
	h, err := x.c.History(x.ctx(), ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(h, func(ev history.Event) bool {
		g, ok := ev.(*history.GenericEvent)
		return ok && g.EventID == -1 && g.Data != nil && *g.Data == "fixed uncaught"
	}) {
		t.Errorf("uncaught: no GenericEvent with the reason in %s", x.types(ids[0]))
	}

	t.Run("TerminatedChild", func(t *testing.T) {
		y := &rewindFixture{fixture: &fixture{t: t, be: x.be, c: x.c, regs: x.regs}, prefix: x.prefix}
		parent, child := k("tp"), k("tp-child")
		y.schedule(ParentOfWaiter.Name(), child, client.WithInstanceID(parent))
		y.waitFor(child, "the child to run", func(s *client.State) bool { return s.Status == client.Running })
		if err := y.c.Terminate(y.ctx(), child, "stop"); err != nil {
			t.Fatal(err)
		}
		y.failed(parent)
		y.rewind(parent, "")
		y.waitFor(child, "the child to run again", func(s *client.State) bool { return s.Status == client.Running })
		if err := y.c.RaiseEvent(y.ctx(), child, "Go", "again"); err != nil {
			t.Fatal(err)
		}
		y.completed(parent, quote("parent:again"))
	})

	t.Run("ChildCompletedWhileParentFailed", func(t *testing.T) {
		y := &rewindFixture{fixture: &fixture{t: t, be: x.be, c: x.c, regs: x.regs}, prefix: x.prefix}
		key := k("two")
		id := y.childCompletedWhileParentFailed(key)
		y.rewind(id, "")
		y.completed(id, quote("ok:"+key+"-c|late"))
	})

	t.Run("Twice", func(t *testing.T) {
		y := &rewindFixture{fixture: &fixture{t: t, be: x.be, c: x.c, regs: x.regs}, prefix: x.prefix}
		key := k("twice")
		gate.close(key)
		id := y.schedule(rwRetried.Name(), key, client.WithInstanceID(key))
		y.failed(id)
		y.rewind(id, "still closed")
		y.waitFor(id, "the second failure", func(s *client.State) bool { return s.Status == client.Failed })
		gate.open(key)
		y.rewind(id, "open now")
		y.completed(id, quote("ok:"+key))
		if got := gate.count(key); got != 7 {
			t.Errorf("Flaky ran %d times, want 3 + 3 + 1", got)
		}
	})
}

func testRewindRefused(t *testing.T, f Factory) {
	x := startRewind(t, f)
	k := x.key
	done := x.schedule(rwUncaught.Name(), k("done"), client.WithInstanceID(k("done")))
	x.completed(done, quote("ok:"+k("done")))
	running := x.schedule(Waiter.Name(), "", client.WithInstanceID(k("running")))
	x.waitFor(running, "Running", func(s *client.State) bool { return s.Status == client.Running })
	pending := x.schedule(Waiter.Name(), "", client.WithInstanceID(k("pending")), client.WithStartAt(time.Now().Add(time.Hour)))
	terminated := x.schedule(Waiter.Name(), "", client.WithInstanceID(k("terminated")))
	x.waitFor(terminated, "Running", func(s *client.State) bool { return s.Status == client.Running })
	if err := x.c.Terminate(x.ctx(), terminated, "stop"); err != nil {
		t.Fatal(err)
	}
	x.waitFor(terminated, "Terminated", func(s *client.State) bool { return s.Status == client.Terminated })
	for id, want := range map[string]client.Status{done: client.Completed, running: client.Running,
		pending: client.Pending, terminated: client.Terminated} {
		before := x.types(id)
		err := x.c.Rewind(x.ctx(), id, "no")
		var se *client.StatusError
		if !errors.Is(err, client.ErrNotFailed) || !errors.As(err, &se) || se.Status != want || se.Op != "rewind" || se.InstanceID != id {
			t.Errorf("rewind of %s (%s): %v, want a StatusError %s matching ErrNotFailed", id, want, err, want)
		}
		st, err := x.c.GetState(x.ctx(), id)
		if err != nil || st.Status != want {
			t.Errorf("%s after a refused rewind: %v %v", id, st, err)
		}
		if after := x.types(id); after != before {
			t.Errorf("%s: a refused rewind changed the history:\n%s\n%s", id, before, after)
		}
	}
	if err := x.c.Rewind(x.ctx(), k("nosuch"), ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("rewind of an unknown id: %v, want ErrNotFound", err)
	}

	// A parent whose terminated child's id now names another instance: the
	// rewind would create the child again over it, so it is refused, and
	// nothing is written.
	parent, child := k("reused"), k("reused-child")
	x.schedule(ParentOfWaiter.Name(), child, client.WithInstanceID(parent))
	x.waitFor(child, "the child to run", func(s *client.State) bool { return s.Status == client.Running })
	if err := x.c.Terminate(x.ctx(), child, "stop"); err != nil {
		t.Fatal(err)
	}
	x.failed(parent)
	x.schedule(Waiter.Name(), "other", client.WithInstanceID(child))
	x.waitFor(child, "the other instance to run", func(s *client.State) bool { return s.Status == client.Running })
	before := x.types(parent)
	if err := x.c.Rewind(x.ctx(), parent, ""); err == nil || !strings.Contains(err.Error(), "now names another instance") {
		t.Errorf("rewind of a parent whose child id was reused: %v", err)
	}
	if st, err := x.c.GetState(x.ctx(), parent); err != nil || st.Status != client.Failed || x.types(parent) != before {
		t.Errorf("the refused rewind changed the parent: %v %v", st, err)
	}
	if err := x.c.RaiseEvent(x.ctx(), child, "Go", "mine"); err != nil {
		t.Fatal(err)
	}
	x.completed(child, quote("mine"))
	if err := x.c.Terminate(x.ctx(), running, "cleanup"); err != nil {
		t.Fatal(err)
	}
}

// rewinding is a backend that can rewind, for the wrappers below to
// change one call of.
type rewinding struct {
	provider.Backend
	provider.RewindBackend
}

// faultyRewind fails the first SetRewindPending of an instance once.
type faultyRewind struct {
	rewinding
	mu     sync.Mutex
	failOn string
}

func (b *faultyRewind) SetRewindPending(ctx context.Context, h *provider.RewindHistory, now time.Time) error {
	b.mu.Lock()
	fail := b.failOn == h.InstanceID
	if fail {
		b.failOn = ""
	}
	b.mu.Unlock()
	if fail {
		return fmt.Errorf("injected: the process stopped before the status of %s was written", h.InstanceID)
	}
	return b.RewindBackend.SetRewindPending(ctx, h, now)
}

func testRewindInterrupted(t *testing.T, f Factory) {
	x := startRewind(t, f)
	k := x.key
	key := k("int")
	gate.close(key + "-child")
	id := x.schedule(rwParent.Name(), key, client.WithInstanceID(key))
	x.failed(id)
	gate.open(key + "-child")
	rb, ok := x.be.(provider.RewindBackend)
	if !ok {
		t.Fatalf("%T cannot rewind", x.be)
	}
	fb := &faultyRewind{rewinding: rewinding{x.be, rb}, failOn: id}
	fc := client.New(fb, client.Options{})
	if err := fc.Rewind(x.ctx(), id, "first"); err == nil {
		t.Fatal("the interrupted rewind succeeded")
	}
	// The child is rewound and its history no longer fails; the parent's
	// rows are rewritten but its status still says Failed, and nobody was
	// woken. Running the rewind again finishes it.
	st, err := x.c.GetState(x.ctx(), id)
	if err != nil || st.Status != client.Failed {
		t.Fatalf("after the interrupted rewind: %v %v", st, err)
	}
	x.rewind(id, "second")
	x.completed(id, quote("parent:ok:"+key+"-child"))
	if got := gate.count(key + "-child"); got != 2 {
		t.Errorf("Flaky ran %d times, want 2", got)
	}
}

func testRestart(t *testing.T, f Factory) {
	x := startRewind(t, f)
	k := x.key
	ctx := x.ctx()
	// Completed, in place: a new execution with the same input, kept as
	// stored.
	done := k("done")
	if _, err := x.c.ScheduleNew(ctx, rwUncaught.Name(), json.RawMessage(quote(done)), client.WithInstanceID(done),
		client.WithVersion(""), client.WithTags(map[string]string{"team": "a"})); err != nil {
		t.Fatal(err)
	}
	first := x.completed(done, quote("ok:"+done))
	got, err := x.c.Restart(ctx, done)
	if err != nil || got != done {
		t.Fatalf("restart in place: %q %v", got, err)
	}
	second := x.completed(done, quote("ok:"+done))
	if second.ExecutionID == first.ExecutionID || *second.Input != *first.Input || second.Tags["team"] != "a" {
		t.Errorf("restarted: execution %s (was %s), input %s (was %s), tags %v", second.ExecutionID, first.ExecutionID,
			*second.Input, *first.Input, second.Tags)
	}
	if gate.count(done) != 2 {
		t.Errorf("the activity ran %d times, want 2", gate.count(done))
	}

	// Failed, in place.
	failed := k("failed")
	gate.close(failed)
	x.schedule(rwUncaught.Name(), failed, client.WithInstanceID(failed))
	x.failed(failed)
	gate.open(failed)
	if _, err := x.c.Restart(ctx, failed); err != nil {
		t.Fatal(err)
	}
	x.completed(failed, quote("ok:"+failed))

	// Running: in place is a conflict; with a new id it starts beside it.
	running := k("running")
	x.schedule(Waiter.Name(), "in", client.WithInstanceID(running))
	x.waitFor(running, "Running", func(s *client.State) bool { return s.Status == client.Running })
	_, err = x.c.Restart(ctx, running)
	var se *client.StatusError
	if !errors.Is(err, client.ErrInstanceExists) || !errors.As(err, &se) || se.Status != client.Running || se.Op != "restart" {
		t.Errorf("restart in place of a running instance: %v, want a StatusError Running matching ErrInstanceExists", err)
	}
	other, err := x.c.Restart(ctx, running, client.WithNewInstanceID(""))
	if err != nil || other == running || len(other) != 32 {
		t.Fatalf("restart with a new id: %q %v", other, err)
	}
	named, err := x.c.Restart(ctx, running, client.WithNewInstanceID(k("named")))
	if err != nil || named != k("named") {
		t.Fatalf("restart with a chosen id: %q %v", named, err)
	}
	if _, err := x.c.Restart(ctx, running, client.WithNewInstanceID(k("named"))); !errors.Is(err, client.ErrInstanceExists) {
		t.Errorf("restart onto a running id: %v, want ErrInstanceExists", err)
	}
	for _, id := range []string{running, other, named} {
		if err := x.c.RaiseEvent(ctx, id, "Go", "went"); err != nil {
			t.Fatal(err)
		}
		x.completed(id, quote("went"))
	}

	// Pending (a scheduled start) cannot be restarted in place either.
	pending := k("pending")
	x.schedule(Waiter.Name(), "", client.WithInstanceID(pending), client.WithStartAt(time.Now().Add(time.Hour)))
	if _, err := x.c.Restart(ctx, pending); !errors.Is(err, client.ErrInstanceExists) {
		t.Errorf("restart in place of a pending instance: %v, want ErrInstanceExists", err)
	}
	if err := x.c.Terminate(ctx, pending, "cleanup"); err != nil {
		t.Fatal(err)
	}

	if _, err := x.c.Restart(ctx, k("nosuch")); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("restart of an unknown id: %v, want ErrNotFound", err)
	}
}

// endingChild shows the sub-orchestrations of root (only the one named
// only, when set) as they are for a moment while their last episode is
// committed (messages first, then history, then status): for its first lag
// reads, a child that ended reads as Running, and with noEnd its history
// lacks its completion too.
type endingChild struct {
	rewinding
	root  string
	only  string
	noEnd bool
	mu    sync.Mutex
	lag   int
}

// behind reports whether this read of id is one of the lagging ones.
func (b *endingChild) behind(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id == b.root || b.lag == 0 || (b.only != "" && id != b.only) {
		return false
	}
	b.lag--
	return true
}

func (b *endingChild) left() int { b.mu.Lock(); defer b.mu.Unlock(); return b.lag }

func (b *endingChild) GetState(ctx context.Context, id string, payloads bool) (*history.OrchestrationState, error) {
	st, err := b.Backend.GetState(ctx, id, payloads)
	if err != nil || !b.behind(id) {
		return st, err
	}
	lagging := *st
	lagging.Status = history.StatusRunning
	return &lagging, nil
}

func (b *endingChild) ReadForRewind(ctx context.Context, id string) (*provider.RewindHistory, error) {
	h, err := b.RewindBackend.ReadForRewind(ctx, id)
	if err != nil || !b.behind(id) {
		return h, err
	}
	lagging, st := *h, *h.State
	st.Status = history.StatusRunning
	lagging.State = &st
	if b.noEnd {
		lagging.Rows = slices.DeleteFunc(slices.Clone(h.Rows), func(r provider.RewindRow) bool {
			_, end := r.Event.(*history.ExecutionCompletedEvent)
			return end && !r.Rewound
		})
	}
	return &lagging, nil
}

// A parent is rewound while its failed child's status (and, before that,
// its history) does not show the failure the parent holds yet: the rewind
// waits for the child and rewinds it with the parent. Taking the child for
// running left the parent waiting forever for an answer that never came.
func testChildStillEnding(t *testing.T, f Factory) {
	x := startRewind(t, f)
	rb, ok := x.be.(provider.RewindBackend)
	if !ok {
		t.Fatalf("%T cannot rewind", x.be)
	}
	for _, noEnd := range []bool{false, true} {
		key := x.key(fmt.Sprintf("ending-%v", noEnd))
		gate.close(key + "-child")
		id := x.schedule(rwParent.Name(), key, client.WithInstanceID(key))
		x.failed(id)
		gate.open(key + "-child")
		// The child read once by the plan and twice by the wait.
		eb := &endingChild{rewinding: rewinding{x.be, rb}, root: id, noEnd: noEnd, lag: 3}
		if err := client.New(eb, client.Options{}).Rewind(x.ctx(), id, ""); err != nil {
			t.Fatalf("history without the end %v: %v", noEnd, err)
		}
		if n := eb.left(); n != 0 {
			t.Errorf("history without the end %v: the rewind read the child %d times fewer than the lag", noEnd, n)
		}
		x.completed(id, quote("parent:ok:"+key+"-child"))
		if got := gate.count(key + "-child"); got != 2 {
			t.Errorf("Flaky ran %d times, want 2", got)
		}
	}
}

// A child completed while its parent was failed (its answer was dropped),
// but the rewind read it before its records showed the end: taken for
// running, it has its answer sent again once the rewind is written, and
// the parent finishes. Without that it waited for good.
func testChildEndedUnseen(t *testing.T, f Factory) {
	x := startRewind(t, f)
	rb, ok := x.be.(provider.RewindBackend)
	if !ok {
		t.Fatalf("%T cannot rewind", x.be)
	}
	key := x.key("unseen")
	id := x.childCompletedWhileParentFailed(key)
	eb := &endingChild{rewinding: rewinding{x.be, rb}, root: id, only: key + "-w", noEnd: true, lag: 1}
	if err := client.New(eb, client.Options{}).Rewind(x.ctx(), id, ""); err != nil {
		t.Fatal(err)
	}
	if n := eb.left(); n != 0 {
		t.Fatalf("the rewind did not read the child")
	}
	x.completed(id, quote("ok:"+key+"-c|late"))
}

// childCompletedWhileParentFailed runs RWTwoChildren for key until it has
// failed (its child key-c failed) and its child key-w completed after
// that, its answer dropped; then key-c may succeed. It returns the id.
func (x *rewindFixture) childCompletedWhileParentFailed(key string) string {
	x.t.Helper()
	gate.close(key + "-c")
	id := x.schedule(rwTwoChildren.Name(), key, client.WithInstanceID(key))
	x.failed(id)
	if err := x.c.RaiseEvent(x.ctx(), key+"-w", "Go", "late"); err != nil {
		x.t.Fatal(err)
	}
	x.completed(key+"-w", quote("late"))
	gate.open(key + "-c")
	return id
}

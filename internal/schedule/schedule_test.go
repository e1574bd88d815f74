package schedule_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/chaos"
	"github.com/azdurable/azdurable/internal/schedule"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// start is the virtual clock's start in every environment here.
var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a test environment whose worker hosts Report, the
// orchestration the schedules start: it records its run with an activity
// and returns its input and its tick.
type fixture struct {
	t   *testing.T
	env *durabletest.Env

	mu   sync.Mutex
	runs map[string]int
}

func newFixture(t *testing.T, opts ...func(*durabletest.Options)) *fixture {
	t.Helper()
	o := durabletest.Options{Start: start, Timeout: 2 * time.Minute}
	for _, adjust := range opts {
		adjust(&o)
	}
	f := &fixture{t: t, env: durabletest.New(t, o), runs: map[string]int{}}
	record := durable.NewActivity("RecordRun", func(_ context.Context, id string) (int, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.runs[id]++
		return f.runs[id], nil
	})
	report := durable.NewOrchestration("Report", func(ctx durable.Context, in string) (string, error) {
		_, tick, ok := schedule.ParseTickInstanceID(ctx.InstanceID())
		if !ok {
			return "", fmt.Errorf("%s is not a tick's instance", ctx.InstanceID())
		}
		if _, err := record.Call(ctx, ctx.InstanceID()).Await(ctx); err != nil {
			return "", err
		}
		return in + " " + tick.Format(time.RFC3339), nil
	})
	f.env.Register(report, record)
	return f
}

func (f *fixture) ctx() context.Context {
	ctx, cancel := f.env.Context()
	f.t.Cleanup(cancel)
	return ctx
}

func (f *fixture) create(name string, o client.ScheduleOptions) *client.ScheduleInfo {
	f.t.Helper()
	if o.Orchestration == "" {
		o.Orchestration = "Report"
	}
	info, err := f.env.Client.CreateSchedule(f.ctx(), name, o)
	if err != nil {
		f.t.Fatalf("creating %s: %v", name, err)
	}
	return info
}

func (f *fixture) info(name string) *client.ScheduleInfo {
	f.t.Helper()
	info, err := f.env.Client.GetSchedule(f.ctx(), name)
	if err != nil {
		f.t.Fatalf("reading %s: %v", name, err)
	}
	return info
}

// idle waits until the worker has done everything the virtual clock
// allows (for environments whose clock moves only when told).
func (f *fixture) idle() {
	f.t.Helper()
	if err := f.env.Backend.WaitIdle(f.ctx()); err != nil {
		f.t.Fatalf("waiting for the worker to be idle: %v", err)
	}
}

// advanceTo moves the virtual clock to t and waits until the worker is
// idle again.
func (f *fixture) advanceTo(t time.Time) {
	f.t.Helper()
	f.env.Clock.Set(t)
	f.idle()
}

// ticks returns the instances a schedule started, by id.
func (f *fixture) ticks(name string) map[string]*client.State {
	f.t.Helper()
	out := map[string]*client.State{}
	for st, err := range f.env.Client.Query(f.ctx(), client.Query{InstanceIDPrefix: name + "@", FetchPayloads: true}) {
		if err != nil {
			f.t.Fatal(err)
		}
		out[st.InstanceID] = st
	}
	return out
}

// checkTicks checks that exactly the ticks at times were started, each
// once, and that each ran to completion once.
func (f *fixture) checkTicks(name string, times ...time.Time) {
	f.t.Helper()
	got := f.ticks(name)
	var want, have []string
	for _, t := range times {
		want = append(want, schedule.TickInstanceID(name, t))
	}
	for id := range got {
		have = append(have, id)
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		f.t.Fatalf("%s started\n  %v\nwant\n  %v", name, have, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range times {
		id := schedule.TickInstanceID(name, t)
		st := got[id]
		if st.Status != client.Completed || st.Output == nil || !strings.HasSuffix(*st.Output, t.Format(time.RFC3339)+`"`) {
			f.t.Errorf("%s: %s %v", id, st.Status, deref(st.Output))
		}
		if st.Generation != nil && *st.Generation != 0 {
			f.t.Errorf("%s was started %d times", id, *st.Generation+1)
		}
		if f.runs[id] != 1 {
			f.t.Errorf("%s ran %d times", id, f.runs[id])
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func hours(h ...int) []time.Time {
	var out []time.Time
	for _, n := range h {
		out = append(out, start.Add(time.Duration(n)*time.Hour))
	}
	return out
}

// A day of ticks every ten minutes on the virtual clock: each of the 144
// ticks is started exactly once, on time, and the schedule's history stays
// short because it continues as new.
func TestDayOfTicks(t *testing.T) {
	f := newFixture(t)
	end := start.Add(24 * time.Hour)
	info := f.create("daily", client.ScheduleOptions{Cron: "*/10 * * * *", Input: "report", End: end})
	if info.Status != client.SchedulePending || !info.NextTick.Equal(start.Add(10*time.Minute)) || info.InstanceID != "schedule:daily" {
		t.Fatalf("created: %+v", info)
	}
	f.env.StartWorker()
	if _, err := f.env.Client.WaitForCompletion(f.ctx(), info.InstanceID, client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	last := schedule.TickInstanceID("daily", end)
	if _, err := f.env.Client.WaitForCompletion(f.ctx(), last, client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var want []time.Time
	for tick := start.Add(10 * time.Minute); !tick.After(end); tick = tick.Add(10 * time.Minute) {
		want = append(want, tick)
	}
	if len(want) != 144 {
		t.Fatalf("%d ticks in a day", len(want))
	}
	f.checkTicks("daily", want...)
	for id, st := range f.ticks("daily") {
		if _, tick, _ := schedule.ParseTickInstanceID(id); !st.CreatedAt.Equal(tick) {
			t.Errorf("%s started at %s, not on its tick", id, st.CreatedAt.Format(time.RFC3339Nano))
		}
	}
	info = f.info("daily")
	if info.Status != client.ScheduleEnded || info.Started != 144 || info.Skipped != 0 || info.StartFailures != 0 ||
		!info.LastTick.Equal(end) || info.LastInstanceID != last || !info.NextTick.IsZero() {
		t.Errorf("ended: %+v", info)
	}
	h := f.env.History(info.InstanceID)
	if len(h) > 100 {
		t.Errorf("the schedule's last execution has %d events: it does not continue as new often enough", len(h))
	}
	if es, ok := h[1].(*history.ExecutionStartedEvent); !ok || !strings.Contains(deref(es.Input), `"started":1`) {
		t.Errorf("the last execution did not start from carried progress: %v", h[1])
	}
}

// Pause skips ticks, resume continues from the next tick, delete stops;
// a stray control event changes nothing.
func TestPauseResumeDelete(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	f.create("hourly", client.ScheduleOptions{Cron: "0 * * * *", Input: "h", CatchUp: client.CatchUpAll})
	f.env.StartWorker()
	f.idle()
	if info := f.info("hourly"); info.Status != client.ScheduleActive || !info.NextTick.Equal(hours(1)[0]) {
		t.Fatalf("after the start: %+v", info)
	}
	f.advanceTo(hours(1)[0])
	f.checkTicks("hourly", hours(1)...)

	ctx := f.ctx()
	if err := f.env.Client.PauseSchedule(ctx, "hourly"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	if info := f.info("hourly"); info.Status != client.SchedulePaused || !info.NextTick.IsZero() {
		t.Fatalf("after pause: %+v", info)
	}
	f.advanceTo(hours(2)[0])
	f.advanceTo(hours(3)[0])
	f.checkTicks("hourly", hours(1)...)

	// Stray events: a payload that is not a Control, an unknown operation.
	f.env.RaiseEvent("schedule:hourly", schedule.ControlEventName, "resume")
	f.env.RaiseEvent("schedule:hourly", schedule.ControlEventName, schedule.Control{Op: "explode"})
	f.idle()
	if info := f.info("hourly"); info.Status != client.SchedulePaused {
		t.Fatalf("after stray events: %+v", info)
	}

	f.advanceTo(hours(3)[0].Add(30 * time.Minute))
	if err := f.env.Client.ResumeSchedule(ctx, "hourly"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	if info := f.info("hourly"); info.Status != client.ScheduleActive || !info.NextTick.Equal(hours(4)[0]) {
		t.Fatalf("after resume: %+v", info)
	}
	f.advanceTo(hours(4)[0])
	f.advanceTo(hours(5)[0])
	f.checkTicks("hourly", hours(1, 4, 5)...)

	if err := f.env.Client.DeleteSchedule(ctx, "hourly"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	info := f.info("hourly")
	if info.Status != client.ScheduleDeleted || info.Started != 3 || info.Skipped != 0 {
		t.Fatalf("after delete: %+v", info)
	}
	f.advanceTo(hours(6)[0])
	f.advanceTo(hours(7)[0])
	f.checkTicks("hourly", hours(1, 4, 5)...)
	for _, op := range []func(context.Context, string) error{f.env.Client.PauseSchedule, f.env.Client.ResumeSchedule, f.env.Client.DeleteSchedule} {
		if err := op(ctx, "hourly"); !errors.Is(err, client.ErrScheduleNotFound) {
			t.Errorf("an operation on a deleted schedule: %v", err)
		}
	}
	if err := f.env.Client.PauseSchedule(ctx, "never-created"); !errors.Is(err, client.ErrScheduleNotFound) {
		t.Errorf("pausing a schedule that does not exist: %v", err)
	}
	// A deleted schedule's name can be used again.
	f.create("hourly", client.ScheduleOptions{Cron: "30 * * * *", Input: "again"})
	f.idle()
	f.advanceTo(hours(7)[0].Add(30 * time.Minute))
	f.checkTicks("hourly", append(hours(1, 4, 5), hours(7)[0].Add(30*time.Minute))...)
}

// A tick missed while no worker ran is started late, once, or skipped, as
// the catch-up policy says; a tick due on time is always started.
func TestCatchUpPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  client.CatchUp
		back    time.Time // when the worker runs again
		started []time.Time
		skipped int64
	}{
		// The worker is back at 05:30: 02:00 to 05:00 were missed.
		{client.CatchUpAll, hours(5)[0].Add(30 * time.Minute), hours(1, 2, 3, 4, 5, 6), 0},
		{client.CatchUpLatest, hours(5)[0].Add(30 * time.Minute), hours(1, 5, 6), 3},
		{client.CatchUpNone, hours(5)[0].Add(30 * time.Minute), hours(1, 6), 4},
		// Back at 06:00:30: 02:00 to 05:00 were missed and 06:00 is due
		// within the grace.
		{client.CatchUpAll, hours(6)[0].Add(30 * time.Second), hours(1, 2, 3, 4, 5, 6), 0},
		{client.CatchUpLatest, hours(6)[0].Add(30 * time.Second), hours(1, 6), 4},
		{client.CatchUpNone, hours(6)[0].Add(30 * time.Second), hours(1, 6), 4},
	} {
		t.Run(fmt.Sprintf("%s-back-at-%s", tc.policy, tc.back.Format("150405")), func(t *testing.T) {
			f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
			f.create("job", client.ScheduleOptions{Cron: "0 * * * *", Input: "j", CatchUp: tc.policy})
			f.env.StartWorker()
			f.idle()
			f.advanceTo(hours(1)[0])
			f.env.Stop()
			f.env.Clock.Set(tc.back)
			f.env.StartWorker()
			f.idle()
			f.advanceTo(hours(6)[0].Add(time.Minute))
			f.checkTicks("job", tc.started...)
			if info := f.info("job"); info.Started != int64(len(tc.started)) || info.Skipped != tc.skipped ||
				info.Status != client.ScheduleActive || !info.NextTick.Equal(hours(7)[0]) {
				t.Errorf("progress %+v", info)
			}
		})
	}
}

// Concurrent creations of one name: exactly one wins, and it is the one
// that runs. Concurrent pauses and resumes are applied one at a time; the
// last one applied decides.
func TestConcurrentCalls(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	ctx := f.ctx()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	for i := range 8 {
		wg.Go(func() {
			in := fmt.Sprintf("caller-%d", i)
			_, err := f.env.Client.CreateSchedule(ctx, "shared", client.ScheduleOptions{Cron: "0 * * * *", Orchestration: "Report", Input: in})
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, in)
				mu.Unlock()
			case !errors.Is(err, client.ErrScheduleExists):
				t.Errorf("caller %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d creations succeeded: %v", len(won), won)
	}
	f.env.StartWorker()
	f.idle()
	if info := f.info("shared"); deref(info.Input) != `"`+won[0]+`"` || info.Status != client.ScheduleActive {
		t.Fatalf("the schedule that runs: %+v", info)
	}

	for i := range 20 {
		wg.Go(func() {
			op := f.env.Client.PauseSchedule
			if i%2 == 1 {
				op = f.env.Client.ResumeSchedule
			}
			if err := op(ctx, "shared"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := f.env.Client.PauseSchedule(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	if info := f.info("shared"); info.Status != client.SchedulePaused {
		t.Fatalf("after the last pause: %+v", info)
	}
	f.advanceTo(hours(1)[0])
	f.checkTicks("shared")
	if err := f.env.Client.ResumeSchedule(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	f.advanceTo(hours(2)[0])
	f.checkTicks("shared", hours(2)...)
}

// The list shows schedules in name order with their progress; deleted
// ones only on request; instances that only look like schedules never.
func TestListSchedules(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	ctx := f.ctx()
	f.create("b-nightly", client.ScheduleOptions{Cron: "0 2 * * *", TimeZone: "Europe/Berlin"})
	f.create("a-hourly", client.ScheduleOptions{Cron: "0 * * * *"})
	f.create("c-gone", client.ScheduleOptions{Cron: "0 * * * *"})
	if _, err := f.env.Client.ScheduleNew(ctx, "Report", "x", client.WithInstanceID("schedule:impostor")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Client.CreateSchedule(ctx, "a-hourly", client.ScheduleOptions{Cron: "* * * * *", Orchestration: "Report"}); !errors.Is(err, client.ErrScheduleExists) {
		t.Fatalf("creating an existing schedule: %v", err)
	}
	f.env.StartWorker()
	f.idle()
	if err := f.env.Client.DeleteSchedule(ctx, "c-gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Client.PauseSchedule(ctx, "b-nightly"); err != nil {
		t.Fatal(err)
	}
	f.idle()
	names := func(all bool) string {
		list, err := f.env.Client.ListSchedules(ctx, client.IncludeFinished(all))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.Name+"="+string(s.Status))
		}
		return strings.Join(out, " ")
	}
	if got := names(false); got != "a-hourly=Active b-nightly=Paused" {
		t.Errorf("list: %s", got)
	}
	if got := names(true); got != "a-hourly=Active b-nightly=Paused c-gone=Deleted" {
		t.Errorf("list with finished: %s", got)
	}
	if _, err := f.env.Client.GetSchedule(ctx, "impostor"); !errors.Is(err, client.ErrScheduleNotFound) {
		t.Errorf("an instance that is not a schedule: %v", err)
	}
	if _, err := f.env.Client.GetSchedule(ctx, "bad name"); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("a bad name: %v", err)
	}
	info := f.info("a-hourly")
	if info.Cron != "0 * * * *" || info.TimeZone != "UTC" || info.Orchestration != "Report" || info.CatchUp != client.CatchUpLatest ||
		info.Grace != schedule.DefaultGrace || !info.CreatedAt.Equal(start) || !info.NextTick.Equal(hours(1)[0]) {
		t.Errorf("info %+v", info)
	}
}

// The schedule orchestration is built in: users need not and cannot
// register it, and invalid schedules are refused before anything is
// written.
func TestBuiltIn(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	if err := f.env.Worker.Register(durable.NewOrchestration(schedule.OrchestrationName, func(durable.Context, string) (string, error) { return "", nil })); err == nil {
		t.Error("a second schedule orchestration was registered")
	}
	if _, err := f.env.Client.CreateSchedule(f.ctx(), "bad", client.ScheduleOptions{Cron: "0 2 * * *", Orchestration: "Report", TimeZone: "Nowhere/Else"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("an unknown zone: %v", err)
	}
	if s := f.env.Backend.Stats(); s.Sent != 0 {
		t.Errorf("an invalid schedule sent %d messages", s.Sent)
	}
}

// Under duplicated and reordered messages, commits that crash halfway,
// activity results reported twice and timers that fire early, every tick
// is still started exactly once.
func TestTicksExactlyOnceUnderFaults(t *testing.T) {
	repeated := int64(0)
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			f := newFixture(t, func(o *durabletest.Options) {
				o.Faults = memory.Faults{Seed: seed, DuplicateRate: 0.2, Shuffle: true, TruncateDelays: true, CrashRate: 0.15,
					CrashPoints: []memory.CrashPoint{memory.AfterOutbox, memory.AfterHistory, memory.AfterStatus, memory.AfterActivityResult}}
			})
			end := start.Add(6 * time.Hour)
			info := f.create("faulty", client.ScheduleOptions{Cron: "*/10 * * * *", Input: "f", End: end, CatchUp: client.CatchUpAll})
			f.env.StartWorker()
			if _, err := f.env.Client.WaitForCompletion(f.ctx(), info.InstanceID, client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.env.Client.WaitForCompletion(f.ctx(), schedule.TickInstanceID("faulty", end), client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			got := f.ticks("faulty")
			if len(got) != 36 {
				t.Fatalf("%d ticks started, want 36", len(got))
			}
			for tick := start.Add(10 * time.Minute); !tick.After(end); tick = tick.Add(10 * time.Minute) {
				id := schedule.TickInstanceID("faulty", tick)
				st := got[id]
				if st == nil {
					t.Fatalf("%s was not started", id)
				}
				if _, err := f.env.Client.WaitForCompletion(f.ctx(), id, client.PollInterval(time.Millisecond, 20*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
				if st.Generation != nil && *st.Generation != 0 {
					t.Errorf("%s was started %d times", id, *st.Generation+1)
				}
				if problems, _ := chaos.HistoryProblems(f.env.History(id), false); len(problems) > 0 {
					t.Errorf("%s: %v", id, problems)
				}
			}
			info = f.info("faulty")
			if info.Status != client.ScheduleEnded || info.Started != 36 || info.StartFailures != 0 {
				t.Errorf("progress %+v", info)
			}
			repeated += info.AlreadyStarted
			if s := f.env.Backend.Stats(); s.Duplicated == 0 || s.Crashes == 0 {
				t.Errorf("no fault was injected: %+v", s)
			}
		})
	}
	if repeated == 0 {
		t.Error("no start ran twice: the faults did not test the start's de-duplication")
	}
	t.Logf("%d starts ran again and found their instance", repeated)
}

// The schedule's custom status is JSON a dashboard can read.
func TestCustomStatusShape(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	f.create("shape", client.ScheduleOptions{Cron: "0 * * * *"})
	f.env.StartWorker()
	f.idle()
	st, err := f.env.Client.GetState(f.ctx(), "schedule:shape")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(deref(st.CustomStatus)), &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != "Active" || m["nextTick"] != "2026-01-01T01:00:00Z" || m["started"] != 0.0 {
		t.Errorf("custom status %s", deref(st.CustomStatus))
	}
}

// A worker that runs only instances of its own version (and fails the
// others) still runs schedules: the schedule orchestration belongs to
// azdurable, not to the application's versions. The ticks' instances carry
// the version the schedule names.
func TestStrictVersioningWorkerRunsSchedules(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) {
		o.Manual = true
		o.Worker.Versioning = worker.Versioning{Version: "2", Match: worker.MatchStrict, OnMismatch: worker.Fail}
	})
	f.create("versioned", client.ScheduleOptions{Cron: "0 * * * *", Orchestration: "Report", Version: "2", Input: "v"})
	f.env.StartWorker()
	f.idle()
	if info := f.info("versioned"); info.Status != client.ScheduleActive {
		t.Fatalf("the schedule on a strictly versioned worker: %+v %s", info, info.Failure)
	}
	f.advanceTo(hours(1)[0])
	st, err := f.env.Client.GetState(f.ctx(), schedule.TickInstanceID("versioned", hours(1)[0]))
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "2" || st.Status != client.Completed {
		t.Errorf("the tick's instance: version %q, %s", st.Version, st.Status)
	}
}

// Pause and delete sent before any worker ran the schedule are applied
// when one does: it never starts a tick.
func TestControlBeforeAnyWorker(t *testing.T) {
	f := newFixture(t, func(o *durabletest.Options) { o.Manual = true })
	ctx := f.ctx()
	f.create("early", client.ScheduleOptions{Cron: "0 * * * *"})
	if err := f.env.Client.PauseSchedule(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Client.DeleteSchedule(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	f.env.StartWorker()
	f.idle()
	f.advanceTo(hours(2)[0])
	if info := f.info("early"); info.Status != client.ScheduleDeleted || info.Started != 0 {
		t.Fatalf("progress %+v", info)
	}
	f.checkTicks("early")
}

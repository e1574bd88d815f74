package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/provider"
)

// How the schedule orchestration paces itself.
const (
	// stepsPerGeneration bounds the waits, starts and control events of
	// one execution before it continues as new (about 60 history events).
	stepsPerGeneration = 24
	// maxBatch bounds the ticks started at once.
	maxBatch = 20
	// maxScan bounds the ticks looked at in one pass over missed ticks.
	maxScan = 10000
)

// startRetry retries a tick's start through storage outages for about ten
// minutes (RetryTimeout bounds it; MaxAttempts only has to be large enough
// not to end it first); a failure marked non-retryable (an invalid request)
// is final at once.
var startRetry = durable.RetryPolicy{FirstRetryInterval: 2 * time.Second, BackoffCoefficient: 2,
	MaxRetryInterval: time.Minute, MaxAttempts: math.MaxInt32, RetryTimeout: 10 * time.Minute}

// Status is what a schedule is doing.
type Status string

// The statuses of a schedule.
const (
	// Pending: created; no worker has run the schedule yet.
	Pending Status = "Pending"
	// Active: waiting for its next tick.
	Active Status = "Active"
	// Paused: skipping ticks until it is resumed.
	Paused Status = "Paused"
	// Suspended: its instance was suspended (instances suspend); events
	// wait until it is resumed the same way.
	Suspended Status = "Suspended"
	// Deleted: deleted; it starts nothing more.
	Deleted Status = "Deleted"
	// Ended: its last tick before End has passed.
	Ended Status = "Ended"
	// Failed: its orchestration failed (Info.Failure says why).
	Failed Status = "Failed"
	// Terminated: its instance was terminated or canceled.
	Terminated Status = "Terminated"
)

// Finished reports whether the schedule will start nothing more.
func (s Status) Finished() bool {
	switch s {
	case Deleted, Ended, Failed, Terminated:
		return true
	}
	return false
}

// Progress is what a schedule has done; the schedule keeps it as its
// custom status, and as its output once it has finished.
type Progress struct {
	Status Status `json:"status"`
	// NextTick is the tick the schedule waits for (zero when paused or
	// finished).
	NextTick time.Time `json:"nextTick,omitzero"`
	// LastTick and LastInstanceID are the most recent tick started and its
	// instance.
	LastTick       time.Time `json:"lastTick,omitzero"`
	LastInstanceID string    `json:"lastInstanceId,omitempty"`
	// Started counts ticks whose instance was started, Skipped missed
	// ticks that the catch-up policy passed over (ticks that fall during a
	// pause are not counted), and StartFailures ticks whose start failed
	// after retries (LastError).
	Started       int64  `json:"started"`
	Skipped       int64  `json:"skipped"`
	StartFailures int64  `json:"startFailures"`
	LastError     string `json:"lastError,omitempty"`
	// AlreadyStarted counts the ticks (among Started) whose start found
	// the instance there already: a start that ran again after a crash or
	// a lost answer, or an instance of someone else with the tick's id.
	AlreadyStarted int64 `json:"alreadyStarted,omitempty"`
}

// The operations of a Control event.
const (
	OpPause  = "pause"
	OpResume = "resume"
	OpDelete = "delete"
)

// Control is the payload of the ControlEventName event.
type Control struct {
	Op string `json:"op"`
}

// Tick is the input of the start activity: one tick's instance to start.
type Tick struct {
	Schedule      string    `json:"schedule"`
	Time          time.Time `json:"time"`
	InstanceID    string    `json:"instanceId"`
	Orchestration string    `json:"orchestration"`
	Version       string    `json:"version,omitempty"`
	Input         *string   `json:"input,omitempty"`
}

// TickResult is the start activity's answer.
type TickResult struct {
	// Started is false when an instance with the tick's id already
	// existed (a start that ran before, then again), so nothing was started.
	Started bool `json:"started"`
}

// StartFunc starts a tick's instance: the orchestration named in t with
// t.InstanceID and t.Input, refused (started false, no error) when an
// instance with that id exists in any of TickDedupeStatuses.
type StartFunc func(ctx context.Context, t Tick) (started bool, err error)

// Registrations returns the schedule orchestration and its start activity,
// which starts instances with start. worker.New registers them in every
// worker.
func Registrations(start StartFunc) []durable.Registrable {
	act := durable.NewActivity(StartActivityName, func(ctx context.Context, t Tick) (TickResult, error) {
		if t.Schedule == "" || t.InstanceID != TickInstanceID(t.Schedule, t.Time) || t.Orchestration == "" {
			return TickResult{}, durable.NonRetryable(fmt.Errorf("schedule: malformed tick %+v", t))
		}
		started, err := start(ctx, t)
		if errors.Is(err, provider.ErrInvalid) {
			err = durable.NonRetryable(err)
		}
		return TickResult{Started: started}, err
	})
	return []durable.Registrable{durable.NewOrchestration(OrchestrationName, run), act}
}

var startActivity = durable.ActivityRef[Tick, TickResult](StartActivityName)

// state is the schedule orchestration's input: the definition and where it
// stands, carried from one execution to the next.
type state struct {
	Schedule wireDefinition `json:"schedule"`
	// Revision tells one creation of the schedule from another.
	Revision string    `json:"revision"`
	Created  time.Time `json:"created"`
	// After is the last tick handled: the next tick is the first after it.
	After    time.Time `json:"after"`
	Paused   bool      `json:"paused,omitempty"`
	Progress Progress  `json:"progress"`
}

// wireDefinition is a Definition as the state stores it.
type wireDefinition struct {
	Name          string    `json:"name"`
	Cron          string    `json:"cron"`
	TimeZone      string    `json:"timeZone"`
	Orchestration string    `json:"orchestration"`
	Version       string    `json:"version,omitempty"`
	Input         *string   `json:"input,omitempty"`
	CatchUp       CatchUp   `json:"catchUp"`
	GraceSeconds  float64   `json:"graceSeconds"`
	End           time.Time `json:"end,omitzero"`
}

func (d *Definition) wire() wireDefinition {
	return wireDefinition{Name: d.Name, Cron: d.Cron, TimeZone: d.TimeZone, Orchestration: d.Orchestration,
		Version: d.Version, Input: d.Input, CatchUp: d.CatchUp, GraceSeconds: d.Grace.Seconds(), End: d.End}
}

func (w wireDefinition) definition() (*Definition, error) {
	sched, err := compile(w.Cron, w.TimeZone)
	if err != nil {
		return nil, err
	}
	catchUp, err := ParseCatchUp(string(w.CatchUp))
	if err != nil {
		return nil, err
	}
	return &Definition{Name: w.Name, Cron: w.Cron, TimeZone: w.TimeZone, Orchestration: w.Orchestration,
		Version: w.Version, Input: w.Input, CatchUp: catchUp, Grace: time.Duration(w.GraceSeconds * float64(time.Second)),
		End: w.End, sched: sched}, nil
}

// StartInput returns the schedule orchestration's first input: d, created
// at now, under revision (an id that tells this creation from a concurrent
// one), encoded with conv (nil: JSON), the converter of the workers that
// run it.
func StartInput(d *Definition, now time.Time, revision string, conv payload.Converter) (json.RawMessage, error) {
	now = now.UTC()
	st := &state{Schedule: d.wire(), Revision: revision, Created: now, After: now, Progress: Progress{Status: Pending}}
	text, err := payload.Or(conv).Marshal(st)
	return json.RawMessage(text), err
}

// run is the schedule orchestration.
func run(ctx durable.Context, st *state) (*Progress, error) {
	if st == nil {
		return nil, errors.New("schedule: the input holds no schedule")
	}
	d, err := st.Schedule.definition()
	if err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, st: st, d: d, events: durable.NewEventChannel[Control](ctx, ControlEventName)}
	for steps := 0; steps < stepsPerGeneration; {
		if end := r.drain(); end != "" {
			return r.finish(end)
		}
		if st.Paused {
			r.publish(time.Time{})
			c, err := r.events.Receive(ctx)
			steps++
			if end := r.apply(c, err); end != "" {
				return r.finish(end)
			}
			continue
		}
		now := ctx.Now()
		next := d.Next(st.After)
		if next.IsZero() {
			return r.finish(Ended)
		}
		if next.After(now) {
			r.publish(next)
			var end Status
			sel := durable.NewSelector(ctx).AddFuture(durable.NewTimerAt(ctx, next), func(durable.Awaitable) {})
			durable.AddReceive(sel, r.events, func(c Control, err error) { end = r.apply(c, err) })
			if err := sel.Select(ctx); err != nil {
				return nil, err
			}
			steps++
			if end != "" {
				return r.finish(end)
			}
			continue
		}
		start, after, skipped := r.plan(next, now)
		st.Progress.Skipped += skipped
		if len(start) > 0 {
			r.start(start)
		}
		st.After = after
		steps += 1 + len(start)
	}
	if end := r.drain(); end != "" {
		return r.finish(end)
	}
	return nil, durable.ContinueAsNew(ctx, st, durable.KeepUnprocessedEvents())
}

type runner struct {
	ctx    durable.Context
	st     *state
	d      *Definition
	events *durable.EventChannel[Control]
}

// plan decides what to do with the due tick next (at or before now) and
// the ones after it: the ticks to start, the last tick handled, and how
// many were skipped.
func (r *runner) plan(next, now time.Time) (start []time.Time, after time.Time, skipped int64) {
	d := r.d
	cutoff := now.Add(-d.Grace)
	if d.CatchUp == CatchUpAll || !next.Before(cutoff) {
		// On time, or every tick is wanted: start the due ticks in order.
		for t := next; len(start) < maxBatch && !t.IsZero() && !t.After(now); t = d.Next(t) {
			start = append(start, t)
		}
		return start, start[len(start)-1], 0
	}
	// next was missed: find the last missed tick.
	last, n := next, int64(1)
	for range maxScan {
		t := d.Next(last)
		if t.IsZero() || !t.Before(cutoff) {
			// A tick due on time makes a late start of the last missed one
			// redundant.
			if d.CatchUp == CatchUpLatest && (t.IsZero() || t.After(now)) {
				return []time.Time{last}, last, n - 1
			}
			return nil, last, n
		}
		last, n = t, n+1
	}
	// The scan was cut short: skip what it saw; the next pass goes on.
	return nil, last, n
}

// start starts the ticks' instances and records the outcome.
func (r *runner) start(ticks []time.Time) {
	d, p := r.d, &r.st.Progress
	futures := make([]durable.Future[TickResult], len(ticks))
	for i, t := range ticks {
		futures[i] = startActivity.Call(r.ctx, Tick{Schedule: d.Name, Time: t, InstanceID: TickInstanceID(d.Name, t),
			Orchestration: d.Orchestration, Version: d.Version, Input: d.Input}, durable.WithRetry(startRetry))
	}
	for i, f := range futures {
		res, err := f.Await(r.ctx)
		if err != nil {
			p.StartFailures++
			p.LastError = fmt.Sprintf("tick %s: %v", ticks[i].Format(time.RFC3339), err)
			r.ctx.Logger().Warn("schedule: starting a tick failed", "schedule", d.Name, "tick", ticks[i], "err", err)
			continue
		}
		p.Started++
		if !res.Started {
			p.AlreadyStarted++
		}
		p.LastTick, p.LastInstanceID = ticks[i], TickInstanceID(d.Name, ticks[i])
	}
}

// drain applies the control events that have already arrived; it returns
// the final status if one of them ends the schedule.
func (r *runner) drain() Status {
	for {
		c, ok, err := r.events.ReceiveAsync(r.ctx)
		if !ok && err == nil {
			return ""
		}
		if end := r.apply(c, err); end != "" {
			return end
		}
	}
}

// apply applies one control event; it returns the final status if the
// event ends the schedule. Events that cannot be read are logged and
// ignored: a stray event never breaks a schedule.
func (r *runner) apply(c Control, err error) Status {
	log := r.ctx.Logger()
	if err != nil {
		log.Warn("schedule: ignoring a control event that cannot be read", "schedule", r.d.Name, "err", err)
		return ""
	}
	st := r.st
	switch strings.ToLower(c.Op) {
	case OpPause:
		st.Paused = true
	case OpResume:
		if !st.Paused {
			return ""
		}
		st.Paused = false
		// The ticks that fell during the pause are skipped.
		if now := r.ctx.Now(); now.After(st.After) {
			st.After = now
		}
	case OpDelete:
		return Deleted
	default:
		log.Warn("schedule: ignoring an unknown control operation", "schedule", r.d.Name, "op", c.Op)
	}
	return ""
}

// publish sets the custom status: the progress and the next tick.
func (r *runner) publish(next time.Time) {
	p := &r.st.Progress
	p.Status, p.NextTick = Active, next
	if r.st.Paused {
		p.Status, p.NextTick = Paused, time.Time{}
	}
	_ = r.ctx.SetCustomStatus(p)
}

// finish ends the schedule with the final status as its output.
func (r *runner) finish(end Status) (*Progress, error) {
	p := &r.st.Progress
	p.Status, p.NextTick = end, time.Time{}
	_ = r.ctx.SetCustomStatus(p)
	return p, nil
}

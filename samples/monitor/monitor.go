// Package monitor is the monitor sample: poll a condition on a durable
// timer, continue as new after each round (so the history stays short), and
// stop on success or at the deadline.
package monitor

import (
	"context"
	"time"

	"github.com/azdurable/azdurable/durable"
)

// Job is the sample's input and the state carried from round to round.
type Job struct {
	ID string `json:"id"`
	// ReadyAfterChecks makes the job report ready on that check (0 = never).
	ReadyAfterChecks int `json:"readyAfterChecks"`
	// IntervalSeconds is the time between checks (default 5).
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
	// Deadline stops the monitor (set on the first round if zero: 1 hour).
	Deadline time.Time `json:"deadline,omitempty"`
	// Checks counts the checks made so far.
	Checks int `json:"checks"`
}

// Report is the sample's output.
type Report struct {
	JobID  string `json:"jobId"`
	Status string `json:"status"` // ready or deadline
	Checks int    `json:"checks"`
}

// CheckJob reports whether the job is ready.
var CheckJob = durable.NewActivity("CheckJob", func(_ context.Context, j Job) (bool, error) {
	return j.ReadyAfterChecks > 0 && j.Checks+1 >= j.ReadyAfterChecks, nil
})

// Monitor checks once per round and continues as new until ready or the
// deadline.
var Monitor = durable.NewOrchestration("Monitor", func(ctx durable.Context, j Job) (Report, error) {
	interval := time.Duration(j.IntervalSeconds) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if j.Deadline.IsZero() {
		j.Deadline = ctx.Now().Add(time.Hour)
	}
	ready, err := CheckJob.Call(ctx, j).Await(ctx)
	if err != nil {
		return Report{}, err
	}
	j.Checks++
	_ = ctx.SetCustomStatus(map[string]int{"checks": j.Checks})
	if ready {
		return Report{JobID: j.ID, Status: "ready", Checks: j.Checks}, nil
	}
	if !ctx.Now().Add(interval).Before(j.Deadline) {
		return Report{JobID: j.ID, Status: "deadline", Checks: j.Checks}, nil
	}
	if err := durable.Sleep(ctx, interval); err != nil {
		return Report{}, err
	}
	return Report{}, durable.ContinueAsNew(ctx, j)
})

// Registrations returns the sample's orchestration and activity.
func Registrations() []durable.Registrable { return []durable.Registrable{Monitor, CheckJob} }

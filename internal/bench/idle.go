package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// idleRamp is left out of the idle rate: the polling back-off takes about a
// minute to reach its 30 s cap.
const idleRamp = 60 * time.Second

// IdleResult is what idle workers cost.
type IdleResult struct {
	// WindowSeconds is the measured steady state, after RampSeconds.
	WindowSeconds float64 `json:"windowSeconds"`
	RampSeconds   float64 `json:"rampSeconds"`
	// CallsPerMinute of all workers together in the window, and by
	// service/category/operation.
	CallsPerMinute       float64            `json:"callsPerMinute"`
	ByOperationPerMinute map[string]float64 `json:"byOperationPerMinute"`
	// CSharpDefaultsPerMinute is what C#'s defaults cost for the same
	// workers and partitions (Formula).
	CSharpDefaultsPerMinute float64 `json:"csharpDefaultsPerMinute"`
	Formula                 string  `json:"formula"`
	// PickupMs: a start sent by this process's client after the idle
	// period, its Instances row's CreatedTime to CompletedTime (the
	// orchestration does nothing).
	PickupMs float64 `json:"pickupMs"`
}

// csharpIdlePerMinute is the idle cost of C# workers at their defaults, W
// workers on P partitions with polling cap M: each control queue is
// received from 60/M times a minute by its owner and each worker's
// work-item queue 60/M times; the table partition manager of each worker
// reads the Partitions table and renews the partitions it owns every 10 s;
// each worker renews the app lease every 25 s.
func csharpIdlePerMinute(workers, partitions int, maxPoll time.Duration) (float64, string) {
	m := maxPoll.Seconds()
	w, p := float64(workers), float64(partitions)
	v := 60*p/m + w*60/m + w*6 + 6*p + w*60/25
	return round(v, 1), fmt.Sprintf("60·P/M + W·60/M + W·6 + 6·P + W·60/25 with W=%d workers, P=%d partitions, M=%gs = %.1f", workers, partitions, m, v)
}

// idle measures idle workers and then the pickup of one start.
func (r *runner) idle(ctx context.Context, c *client.Client, obs *azurestorage.Backend, workerCounter, clientCounter *storage.CallCounter,
	children []*childWorker, setup calls, setupSeconds float64, hub string) (*Result, error) {
	cfg := r.cfg
	total := time.Duration(cfg.Count) * time.Second
	snapshot := func() (calls, error) {
		s := fromStats(workerCounter.Snapshot())
		for _, ch := range children {
			cc, _, err := ch.report(ctx)
			if err != nil {
				return calls{}, err
			}
			s.add(cc)
		}
		return s, nil
	}
	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	r.progress("idle for %v (the first %v are the back-off's ramp and not counted)", total, idleRamp)
	t0 := time.Now()
	if err := wait(idleRamp); err != nil {
		return nil, err
	}
	s1, err := snapshot()
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	if err := wait(total - time.Since(t0)); err != nil {
		return nil, err
	}
	s2, err := snapshot()
	if err != nil {
		return nil, err
	}
	window := time.Since(t1)
	steady := s2.minus(s1)
	minutes := window.Minutes()
	res := &Result{Backend: "azdurable (provider/azurestorage)", Scenario: scenarioLabel(cfg), Workers: cfg.Workers,
		Processes: cfg.Processes, Partitions: cfg.Partitions, MaxPollSeconds: cfg.MaxPoll.Seconds(),
		ClientPoll: clientPollLabel(cfg.ClientPoll, cfg.WaitEach), Starters: cfg.Starters, LocalResults: !cfg.NoLocalResults, LocalActivities: !cfg.NoLocalActivities,
		SetupSeconds: round(setupSeconds, 3), Seconds: round(time.Since(t0).Seconds(), 3), TaskHub: hub}
	in := &IdleResult{WindowSeconds: round(window.Seconds(), 1), RampSeconds: idleRamp.Seconds(),
		CallsPerMinute: round(float64(steady.Total)/minutes, 1), ByOperationPerMinute: map[string]float64{}}
	for k, n := range steady.by(storage.CallKey.String) {
		in.ByOperationPerMinute[k] = round(float64(n)/minutes, 1)
	}
	in.CSharpDefaultsPerMinute, in.Formula = csharpIdlePerMinute(cfg.Workers+cfg.Processes, cfg.Partitions, cfg.MaxPoll)

	// The pickup: one start after the idle period.
	r.progress("starting one instance after the idle period")
	id := "bench-idle-pickup"
	if _, err := c.ScheduleNew(ctx, "Chain", 0, client.WithInstanceID(id)); err != nil {
		return nil, err
	}
	pollOpts := []client.StateOption{client.WithInputsAndOutputs(false), client.PollInterval(50*time.Millisecond, 50*time.Millisecond)}
	if _, err := c.WaitForCompletion(ctx, id, pollOpts...); err != nil {
		return nil, err
	}
	st, err := obs.GetState(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if st.Status != history.StatusCompleted {
		res.Failed = 1
	}
	in.PickupMs = round(ms(st.CompletedTime.Sub(st.CreatedTime)), 1)
	res.Orchestrations = 1
	res.Idle = in
	all := s2
	all.add(fromStats(clientCounter.Snapshot()))
	res.fillCalls(all, s2, fromStats(clientCounter.Snapshot()), setup)
	res.Note = "idle: the per-minute rates cover the window after the ramp, all workers together; the totals cover the whole run"
	return res, nil
}

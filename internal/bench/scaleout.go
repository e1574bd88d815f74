package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ScaleOutProcesses are the worker-process counts "bench scaleout" runs.
var ScaleOutProcesses = []int{1, 2, 4}

// ScaleOutReport is the outcome of RunScaleOut: one run per process count.
type ScaleOutReport struct {
	Scenario       string        `json:"scenario"`
	ActivityTimeMs float64       `json:"activityTimeMs"`
	Runs           []ScaleOutRun `json:"runs"`
	Note           string        `json:"note"`
}

// ScaleOutRun is one process count's run.
type ScaleOutRun struct {
	Processes int `json:"processes"`
	// ActivitiesPerSecond is the run's throughput as the scenario reports
	// it (the client's start to its seeing the last instance finish).
	ActivitiesPerSecond float64 `json:"activitiesPerSecond"`
	// RowSpanActivitiesPerSecond is the activities over the instances'
	// row span (first CreatedTime to last CompletedTime), which does not
	// depend on how often the client polls; the speed-up uses it.
	RowSpanActivitiesPerSecond float64 `json:"rowSpanActivitiesPerSecond"`
	// SpeedUp is RowSpanActivitiesPerSecond over the first run's.
	SpeedUp        float64 `json:"speedUp"`
	MinShareOfFair float64 `json:"minShareOfFair"`
	Result         *Result `json:"result"`
}

// RunScaleOut runs cfg's scenario once per process count in
// ScaleOutProcesses (or counts, when given), each on worker processes only
// and a fresh task hub of the same storage, and reports the speed-up of
// each against the first.
func RunScaleOut(ctx context.Context, cfg Config, counts []int) (*ScaleOutReport, error) {
	if len(counts) == 0 {
		counts = ScaleOutProcesses
	}
	if cfg.CompareCSharp {
		return nil, errors.New("bench scaleout runs azdurable only: leave --compare-csharp unset")
	}
	if cfg.Workers != 0 || cfg.Processes != 0 {
		return nil, errors.New("bench scaleout sets the worker processes itself: leave --workers and --processes unset")
	}
	if cfg.Scenario != Chain && cfg.Scenario != FanOut {
		return nil, fmt.Errorf("bench scaleout runs chain or fanout, not %q", cfg.Scenario)
	}
	fresh := cfg.ConnectionString == ""
	note := "each run on its own task hub of the given storage"
	if fresh {
		note = "each run on a fresh in-memory Azurite (an emulator slows down with the rows earlier runs left)"
	}
	rep := &ScaleOutReport{ActivityTimeMs: ms(cfg.ActivityTime),
		Note: note + ", workers in separate processes only; the speed-up compares activities over the instances' row span (first CreatedTime to last CompletedTime)"}
	for i, n := range counts {
		c := cfg
		c.Processes, c.Workers = n, 0
		c.NoCeiling = cfg.NoCeiling || i > 0
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "bench: scale-out run with %d worker process(es)\n", n)
		}
		r, err := Run(ctx, c) // without a connection string, on an Azurite of its own
		if err != nil {
			return nil, fmt.Errorf("the run with %d process(es): %w", n, err)
		}
		res := r.Azdurable
		rep.Scenario = res.Scenario
		run := ScaleOutRun{Processes: n, ActivitiesPerSecond: res.ActivitiesPerSecond, MinShareOfFair: res.MinShareOfFair, Result: res}
		if res.RowSpanSeconds > 0 {
			run.RowSpanActivitiesPerSecond = round(float64(res.Activities)/res.RowSpanSeconds, 1)
		}
		if base := rep.Runs; len(base) > 0 && base[0].RowSpanActivitiesPerSecond > 0 {
			run.SpeedUp = round(run.RowSpanActivitiesPerSecond/base[0].RowSpanActivitiesPerSecond, 2)
		} else {
			run.SpeedUp = 1
		}
		rep.Runs = append(rep.Runs, run)
	}
	return rep, nil
}

// WriteJSON writes the report as JSON.
func (rep *ScaleOutReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// WriteTable writes one line per run.
func (rep *ScaleOutReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scale-out of %s, each activity sleeping %v\n\n", rep.Scenario, time.Duration(rep.ActivityTimeMs*float64(time.Millisecond)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "processes\tseconds\tactivities/s\tby row span\tspeed-up\tsmallest/fair share\tcalls/activity\tp50 ms\tp95 ms\tactivities by process\t")
	for _, r := range rep.Runs {
		var parts []string
		for _, s := range r.Result.Shares {
			parts = append(parts, fmt.Sprint(s.Activities))
		}
		fmt.Fprintf(tw, "%d\t%.2f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%s\t\n", r.Processes, r.Result.Seconds, r.ActivitiesPerSecond,
			r.RowSpanActivitiesPerSecond, r.SpeedUp, r.MinShareOfFair, r.Result.StorageCallsPerActivity, r.Result.LatencyMsP50,
			r.Result.LatencyMsP95, strings.Join(parts, " / "))
	}
	return tw.Flush()
}

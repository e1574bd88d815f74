package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/azdurable/azdurable/storage"
)

// Result is what one azdurable scenario run measured. The fields named as
// in dtfx-ref's JSON (seconds, activitiesPerSecond, latencyMsP50/P95,
// storageCalls, storageCallsPerActivity) are computed the same way.
type Result struct {
	Backend        string  `json:"backend"`
	Scenario       string  `json:"scenario"`
	TaskHub        string  `json:"taskHub"`
	Orchestrations int     `json:"orchestrations"`
	Activities     int     `json:"activities"`
	Events         int     `json:"events"`
	Failed         int     `json:"failed"`
	Workers        int     `json:"workers"`
	Processes      int     `json:"processes"`
	Partitions     int     `json:"partitions"`
	MaxPollSeconds float64 `json:"maxPollSeconds"`
	ClientPoll     string  `json:"clientPoll"`
	// Starters is how many client starts ran at once.
	Starters int `json:"starters"`
	// The backend's in-process shortcuts (on by default).
	LocalResults    bool `json:"localResults"`
	LocalActivities bool `json:"localActivities"`
	// ActivityTimeMs is how long each activity slept (--activity-time).
	ActivityTimeMs float64 `json:"activityTimeMs"`
	// SetupSeconds is hub creation plus worker start until every partition
	// had an owner; Seconds is the scenario, from the first start to the
	// client seeing the last instance finish.
	SetupSeconds float64 `json:"setupSeconds"`
	Seconds      float64 `json:"seconds"`
	// RowSpanSeconds is the first CreatedTime to the last CompletedTime of
	// the instances' rows.
	RowSpanSeconds float64 `json:"rowSpanSeconds"`
	// StartSpanSeconds is the first CreatedTime to the last: how the
	// client's starts were spread (latency under load depends on it).
	StartSpanSeconds        float64 `json:"startSpanSeconds"`
	ActivitiesPerSecond     float64 `json:"activitiesPerSecond"`
	OrchestrationsPerSecond float64 `json:"orchestrationsPerSecond"`
	EventsPerSecond         float64 `json:"eventsPerSecond"`
	// Start→completion: the Instances row's CreatedTime→CompletedTime.
	LatencyMsP50 float64 `json:"latencyMsP50"`
	LatencyMsP95 float64 `json:"latencyMsP95"`
	LatencyMsP99 float64 `json:"latencyMsP99"`
	// The TaskScheduled event's timestamp to the activity's start.
	ScheduleToStartMsP50 float64 `json:"scheduleToStartMsP50"`
	ScheduleToStartMsP95 float64 `json:"scheduleToStartMsP95"`
	// The EventRaised timestamp (sent) to the OrchestratorStarted of the
	// episode that took it in.
	EventToHandledMsP50 float64 `json:"eventToHandledMsP50"`
	EventToHandledMsP95 float64 `json:"eventToHandledMsP95"`

	// StorageCalls counts every attempt from hub creation to the end of
	// the scenario: workers (with partition and app-lease traffic and empty
	// polls) and the client (starts, raises and completion polls).
	StorageCalls                 int64   `json:"storageCalls"`
	StorageCallsPerActivity      float64 `json:"storageCallsPerActivity"`
	StorageCallsPerOrchestration float64 `json:"storageCallsPerOrchestration"`
	StorageCallsPerEvent         float64 `json:"storageCallsPerEvent"`
	// SetupCalls (included above): hub creation and worker start.
	SetupCalls int64 `json:"setupCalls"`
	// WorkerCalls leaves out the client's calls.
	WorkerCalls            int64   `json:"workerCalls"`
	WorkerCallsPerActivity float64 `json:"workerCallsPerActivity"`
	ClientCalls            int64   `json:"clientCalls"`
	EmptyPolls             int64   `json:"emptyPolls"`
	FailedCalls            int64   `json:"failedCalls"`
	// By service (queue, table, blob), by service/category (control,
	// workitems, history, instances, partitions, applease, …) and by
	// service/category/operation.
	ByService   map[string]int64 `json:"byService"`
	ByCategory  map[string]int64 `json:"byCategory"`
	ByOperation map[string]int64 `json:"byOperation"`
	// RunByOperation is the same without the setup calls.
	RunByOperation map[string]int64 `json:"runByOperation"`

	// Shares are the activity runs of each worker (a run that was repeated
	// after a crash counts again), in the order the workers started;
	// MinShareOfFair is the smallest share times the number of workers:
	// 1 when every worker ran the same number, 0.5 when one ran half of
	// its fair share.
	Shares         []Share `json:"shares"`
	MinShareOfFair float64 `json:"minShareOfFair"`

	Ceiling *Ceiling    `json:"ceiling,omitempty"`
	Idle    *IdleResult `json:"idle,omitempty"`
	Note    string      `json:"note"`

	run calls
}

// Share is what one worker (in this process, or a worker process) ran.
type Share struct {
	Worker  string `json:"worker"`
	Process bool   `json:"process"`
	// Activities is the number of activity runs it started.
	Activities int `json:"activities"`
	// Share is Activities over every worker's runs.
	Share float64 `json:"share"`
}

func (r *Result) fillShares(shares []Share) {
	runs := 0
	for _, s := range shares {
		runs += s.Activities
	}
	r.Shares = shares
	if runs == 0 || len(shares) == 0 {
		return
	}
	least := 1.0
	for i := range shares {
		shares[i].Share = round(float64(shares[i].Activities)/float64(runs), 3)
		least = min(least, float64(shares[i].Activities)/float64(runs))
	}
	r.MinShareOfFair = round(least*float64(len(shares)), 2)
}

func (r *Result) fillCalls(total, worker, client, setup calls) {
	r.StorageCalls, r.SetupCalls = total.Total, setup.Total
	r.WorkerCalls, r.ClientCalls = worker.Total, client.Total
	r.EmptyPolls, r.FailedCalls = total.Empty, total.failures()
	if r.Activities > 0 {
		r.StorageCallsPerActivity = round(float64(total.Total)/float64(r.Activities), 2)
		r.WorkerCallsPerActivity = round(float64(worker.Total)/float64(r.Activities), 2)
	}
	if r.Orchestrations > 0 {
		r.StorageCallsPerOrchestration = round(float64(total.Total)/float64(r.Orchestrations), 2)
	}
	if r.Events > 0 {
		r.StorageCallsPerEvent = round(float64(total.Total)/float64(r.Events), 2)
	}
	r.ByService = total.by(func(k storage.CallKey) string { return k.Service })
	r.ByCategory = total.by(func(k storage.CallKey) string { return k.Service + "/" + k.Category })
	r.ByOperation = total.by(storage.CallKey.String)
	r.run = total.minus(setup)
	r.RunByOperation = r.run.by(storage.CallKey.String)
	r.Note = "calls include hub creation, worker start, partition and app-lease traffic, empty polls, retries, the client's starts and completion polls; latency is CreatedTime to CompletedTime of each instance's row"
}

// Ratios compare azdurable with C# (azdurable ÷ C#).
type Ratios struct {
	StorageCallsPerActivity float64 `json:"storageCallsPerActivity"`
	ActivitiesPerSecond     float64 `json:"activitiesPerSecond"`
	LatencyMsP50            float64 `json:"latencyMsP50"`
	LatencyMsP95            float64 `json:"latencyMsP95"`
}

// csharpResult is the part of dtfx-ref's JSON the ratios use.
type csharpResult struct {
	Scenario                string             `json:"scenario"`
	Orchestrations          int                `json:"orchestrations"`
	Activities              int                `json:"activities"`
	Failed                  int                `json:"failed"`
	Seconds                 float64            `json:"seconds"`
	ActivitiesPerSecond     float64            `json:"activitiesPerSecond"`
	OrchestrationsPerSecond float64            `json:"orchestrationsPerSecond"`
	LatencyMsP50            float64            `json:"latencyMsP50"`
	LatencyMsP95            float64            `json:"latencyMsP95"`
	StorageCalls            int64              `json:"storageCalls"`
	StorageCallsPerActivity float64            `json:"storageCallsPerActivity"`
	ByOperation             map[string]float64 `json:"byOperation"`
}

func ratios(a *Result, c *csharpResult) *Ratios {
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return round(x/y, 2)
	}
	return &Ratios{StorageCallsPerActivity: div(a.StorageCallsPerActivity, c.StorageCallsPerActivity),
		ActivitiesPerSecond: div(a.ActivitiesPerSecond, c.ActivitiesPerSecond),
		LatencyMsP50:        div(a.LatencyMsP50, c.LatencyMsP50), LatencyMsP95: div(a.LatencyMsP95, c.LatencyMsP95)}
}

// WriteJSON writes the report: the azdurable result alone, or with
// --compare-csharp {"azdurable": …, "csharp": <dtfx-ref's JSON>, "ratios": …}.
func (rep *Report) WriteJSON(w io.Writer) error {
	var out any = rep.Azdurable
	if rep.CSharp != nil {
		out = struct {
			Azdurable *Result       `json:"azdurable"`
			CSharp    jsonRawOrNull `json:"csharp"`
			Ratios    *Ratios       `json:"ratios"`
		}{rep.Azdurable, jsonRawOrNull(rep.CSharp), rep.Ratios}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

type jsonRawOrNull []byte

func (j jsonRawOrNull) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// WriteTable writes the report as readable tables.
func (rep *Report) WriteTable(w io.Writer) error {
	r := rep.Azdurable
	var cs *csharpResult
	if rep.CSharp != nil {
		cs = &csharpResult{}
		if err := json.Unmarshal(rep.CSharp, cs); err != nil {
			return fmt.Errorf("dtfx-ref's JSON: %w", err)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario %s on %d partition(s), %d worker(s) in process, %d worker process(es); polling cap %gs, client starts %d at a time and waits %s; local results %s, local activities %s\n\n",
		r.Scenario, r.Partitions, r.Workers, r.Processes, r.MaxPollSeconds, r.Starters, r.ClientPoll, onOff(r.LocalResults), onOff(r.LocalActivities))
	if cs != nil {
		fmt.Fprintln(tw, "\tazdurable\tC# (dtfx-ref)\tazdurable / C#")
	} else {
		fmt.Fprintln(tw, "\tazdurable\t\t")
	}
	row := func(name string, a, c float64, ratio bool, format string) {
		if cs == nil {
			fmt.Fprintf(tw, "%s\t"+format+"\t\t\n", name, a)
			return
		}
		rs := ""
		if ratio && c != 0 {
			rs = fmt.Sprintf("%.2f", a/c)
		}
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%s\n", name, a, c, rs)
	}
	var c csharpResult
	if cs != nil {
		c = *cs
	}
	row("orchestrations", float64(r.Orchestrations), float64(c.Orchestrations), false, "%.0f")
	row("activities", float64(r.Activities), float64(c.Activities), false, "%.0f")
	if r.Events > 0 {
		row("events", float64(r.Events), 0, false, "%.0f")
	}
	row("failed", float64(r.Failed), float64(c.Failed), false, "%.0f")
	row("seconds", r.Seconds, c.Seconds, true, "%.2f")
	row("activities/s", r.ActivitiesPerSecond, c.ActivitiesPerSecond, true, "%.1f")
	row("orchestrations/s", r.OrchestrationsPerSecond, c.OrchestrationsPerSecond, true, "%.2f")
	row("latency p50 ms", r.LatencyMsP50, c.LatencyMsP50, true, "%.1f")
	row("latency p95 ms", r.LatencyMsP95, c.LatencyMsP95, true, "%.1f")
	row("storage calls", float64(r.StorageCalls), float64(c.StorageCalls), true, "%.0f")
	row("calls per activity", r.StorageCallsPerActivity, c.StorageCallsPerActivity, true, "%.2f")
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "azdurable\t\n")
	line := func(name, v string) { fmt.Fprintf(tw, "  %s\t%s\n", name, v) }
	line("calls per orchestration", fmt.Sprintf("%.2f", r.StorageCallsPerOrchestration))
	if r.Events > 0 {
		line("calls per event", fmt.Sprintf("%.2f", r.StorageCallsPerEvent))
		line("events/s", fmt.Sprintf("%.1f", r.EventsPerSecond))
		line("event raised → handled p50 / p95 ms", fmt.Sprintf("%.1f / %.1f", r.EventToHandledMsP50, r.EventToHandledMsP95))
	}
	line("worker calls per activity (no client)", fmt.Sprintf("%.2f", r.WorkerCallsPerActivity))
	line("setup / client / empty polls / failed", fmt.Sprintf("%d / %d / %d / %d", r.SetupCalls, r.ClientCalls, r.EmptyPolls, r.FailedCalls))
	line("latency p99 ms", fmt.Sprintf("%.1f", r.LatencyMsP99))
	if r.Activities > 0 {
		line("schedule → activity start p50 / p95 ms", fmt.Sprintf("%.1f / %.1f", r.ScheduleToStartMsP50, r.ScheduleToStartMsP95))
	}
	line("setup seconds / row span seconds / start span seconds", fmt.Sprintf("%.2f / %.2f / %.2f", r.SetupSeconds, r.RowSpanSeconds, r.StartSpanSeconds))
	if r.ActivityTimeMs > 0 {
		line("each activity sleeps", fmt.Sprintf("%.0f ms", r.ActivityTimeMs))
	}
	if len(r.Shares) > 1 {
		var parts []string
		for _, s := range r.Shares {
			parts = append(parts, fmt.Sprintf("%s %d (%.1f%%)", s.Worker, s.Activities, 100*s.Share))
		}
		line("activities run by worker", strings.Join(parts, ", "))
		line("smallest share / fair share", fmt.Sprintf("%.2f", r.MinShareOfFair))
	}
	if in := r.Idle; in != nil {
		line("idle: calls per minute (steady, all workers)", fmt.Sprintf("%.1f over %.0f s after a %.0f s ramp", in.CallsPerMinute, in.WindowSeconds, in.RampSeconds))
		line("idle: C# at its defaults", fmt.Sprintf("%.1f (%s)", in.CSharpDefaultsPerMinute, in.Formula))
		line("idle: a start sent afterwards, created → completed", fmt.Sprintf("%.1f ms", in.PickupMs))
		keys := make([]string, 0, len(in.ByOperationPerMinute))
		for k := range in.ByOperationPerMinute {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line("idle /min: "+k, fmt.Sprintf("%.1f", in.ByOperationPerMinute[k]))
		}
	}
	if k := r.Ceiling; k != nil {
		line("ceiling: enqueue /s", fmt.Sprintf("%.0f", k.EnqueuePerSecond))
		line("ceiling: dequeue 32 + delete, messages /s", fmt.Sprintf("%.0f (%.0f calls/s)", k.DequeueDeleteMessagesPerSecond, k.DequeueDeleteCallsPerSecond))
		line("ceiling: table batch of 10 /s", fmt.Sprintf("%.0f", k.TableBatchPerSecond))
		line("ceiling: table single write /s", fmt.Sprintf("%.0f", k.TableWritePerSecond))
		if k.ImpliedMaxActivitiesPerSecond > 0 {
			line("ceiling: implied max activities/s for this call mix", fmt.Sprintf("%.1f", k.ImpliedMaxActivitiesPerSecond))
		}
		line("ceiling: implied max orchestrations/s", fmt.Sprintf("%.2f", k.ImpliedMaxOrchestrationsPerSecond))
		line("achieved / ceiling", fmt.Sprintf("%.0f%%", 100*k.AchievedRatio))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	per := func(n int64) string {
		if r.Activities > 0 {
			return fmt.Sprintf("%.2f", float64(n)/float64(r.Activities))
		}
		return fmt.Sprintf("%.2f", float64(n)/float64(max(r.Orchestrations, 1)))
	}
	unit := "/activity"
	if r.Activities == 0 {
		unit = "/orchestration"
	}
	fmt.Fprintf(tw, "storage calls by operation (all-in)\tcalls\t%s\t\n", unit)
	keys := make([]string, 0, len(r.ByOperation))
	for k := range r.ByOperation {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ByOperation[keys[i]] != r.ByOperation[keys[j]] {
			return r.ByOperation[keys[i]] > r.ByOperation[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t\n", k, r.ByOperation[k], per(r.ByOperation[k]))
	}
	var svc []string
	for k, v := range r.ByService {
		svc = append(svc, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(svc)
	fmt.Fprintf(tw, "  by service: %s\t\t\t\n", strings.Join(svc, ", "))
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

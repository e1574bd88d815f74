package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
)

// Outcome is what the checks found.
type Outcome struct {
	Completed int `json:"completed"`
	// Failed counts instances that ended in another status than Completed
	// (the workload fails nothing on purpose).
	Failed int `json:"failed"`
	// WrongOutput counts completed instances whose output is not the
	// expected one.
	WrongOutput int `json:"wrongOutput"`
	// Stuck counts instances that had not ended when the run gave up.
	Stuck int `json:"stuck"`
	// EventsDeliveredTwice counts copies of external events recorded a
	// second time (see CheckOptions.RedeliveredEvents).
	EventsDeliveredTwice int `json:"eventsDeliveredTwice"`
	// HistoriesChecked counts the histories read and replayed.
	HistoriesChecked int `json:"historiesChecked"`
	// HistoryProblems lists forked or duplicated histories and replay
	// failures (the first 20).
	HistoryProblems []string `json:"historyProblems"`
	problems        int
	// Problems lists the first 20 failed, wrong or stuck instances.
	Problems []string `json:"problems"`
}

func (o *Outcome) problem(format string, args ...any) {
	if len(o.Problems) < 20 {
		o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
	}
}

func (o *Outcome) historyProblem(format string, args ...any) {
	o.problems++
	if len(o.HistoryProblems) < 20 {
		o.HistoryProblems = append(o.HistoryProblems, fmt.Sprintf(format, args...))
	}
}

// HistoryProblemCount is the number of history problems found.
func (o *Outcome) HistoryProblemCount() int { return o.problems }

// OK reports whether every instance completed with its output and every
// history is sound.
func (o *Outcome) OK() bool {
	return o.Failed == 0 && o.WrongOutput == 0 && o.Stuck == 0 && o.problems == 0
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Dir, if set, receives history-<id>.txt, the state and history (one
	// event a line) of every instance with a problem.
	Dir string
	// RedeliveredEvents accepts an external event recorded twice, the same
	// event both times. A worker that dies (or is paused past its lease)
	// after a checkpoint and before it deletes the consumed messages leaves
	// them to be received again, and nothing in an EventRaised tells a copy
	// from a second event: external events are delivered at least once, as
	// with C#. Runs that kill or pause workers set it; they count such
	// events in EventsDeliveredTwice.
	RedeliveredEvents bool
	// Registrations are replayed besides the workload's (a test's own
	// orchestrations).
	Registrations []durable.Registrable
}

// Check reads the final state and history of every planned instance.
func Check(ctx context.Context, c *client.Client, plan []Spec, opts CheckOptions) *Outcome {
	dir := opts.Dir
	regs := append(Registrations(), opts.Registrations...)
	o := &Outcome{HistoryProblems: []string{}, Problems: []string{}}
	for _, s := range plan {
		st, err := c.GetState(ctx, s.ID)
		bad := true
		switch {
		case err != nil:
			o.Stuck++
			o.problem("%s: %v", s.ID, err)
		case !st.Status.IsTerminal():
			o.Stuck++
			o.problem("%s: still %s", s.ID, st.Status)
		case st.Status != client.Completed:
			o.Failed++
			o.problem("%s: %s %s", s.ID, st.Status, deref(st.Output))
		case deref(st.Output) != s.Want:
			o.WrongOutput++
			o.problem("%s: output %s, want %s", s.ID, deref(st.Output), s.Want)
		default:
			o.Completed++
			bad = false
		}
		h, herr := c.History(ctx, s.ID, "")
		var problems []string
		if herr != nil {
			problems = append(problems, "reading the history: "+herr.Error())
		} else if err == nil && st.Status.IsTerminal() {
			o.HistoriesChecked++
			var twice int
			problems, twice = HistoryProblems(h, s.Event != nil)
			if opts.RedeliveredEvents {
				o.EventsDeliveredTwice += twice
			} else if twice > 0 {
				problems = append(problems, fmt.Sprintf("an external event recorded %d more times", twice))
			}
			if err := durabletest.ReplayEvents(h, regs); err != nil {
				problems = append(problems, "replay: "+err.Error())
			}
		}
		for _, p := range problems {
			o.historyProblem("%s: %s", s.ID, p)
		}
		if (bad || len(problems) > 0) && dir != "" {
			dump(filepath.Join(dir, "history-"+s.ID+".txt"), st, h)
		}
	}
	return o
}

// dump writes a history one event a line, for the person who has to find
// out what happened.
func dump(path string, st *client.State, h []history.Event) {
	var b strings.Builder
	if st != nil {
		fmt.Fprintf(&b, "state: %s execution %s updated %s output %s\n", st.Status, st.ExecutionID,
			st.LastUpdatedAt.Format(time.RFC3339Nano), deref(st.Output))
	}
	for i, ev := range h {
		line, _ := json.Marshal(ev)
		fmt.Fprintf(&b, "%3d %-36s %s %s\n", i, ev.Type(), ev.Base().Timestamp.Format(time.RFC3339Nano), line)
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// HistoryProblems finds what a forked or duplicated history shows: more
// than one ExecutionStarted or ExecutionCompleted, a task id scheduled
// twice, a result without its scheduling event, or two results for one
// task id. withEvent expects one EventRaised: copies of it (same name,
// data and timestamp) are counted in redelivered, any other second event
// is a problem.
func HistoryProblems(h []history.Event, withEvent bool) (problems []string, redelivered int) {
	var out []string
	count := map[string]int{}
	var raised []*history.EventRaisedEvent
	scheduled := map[string]bool{}
	var results []string
	for _, ev := range h {
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			count["ExecutionStarted"]++
		case *history.ExecutionCompletedEvent:
			count["ExecutionCompleted"]++
		case *history.EventRaisedEvent:
			count["EventRaised"]++
			raised = append(raised, v)
		case *history.TaskScheduledEvent:
			count[fmt.Sprintf("task %d scheduled", v.EventID)]++
			scheduled[fmt.Sprintf("task %d", v.EventID)] = true
		case *history.TaskCompletedEvent:
			results = append(results, fmt.Sprintf("task %d", v.TaskScheduledID))
		case *history.TaskFailedEvent:
			results = append(results, fmt.Sprintf("task %d", v.TaskScheduledID))
		case *history.TimerCreatedEvent:
			count[fmt.Sprintf("timer %d scheduled", v.EventID)]++
			scheduled[fmt.Sprintf("timer %d", v.EventID)] = true
		case *history.TimerFiredEvent:
			results = append(results, fmt.Sprintf("timer %d", v.TimerID))
		case *history.SubOrchestrationInstanceCreatedEvent:
			count[fmt.Sprintf("sub-orchestration %d scheduled", v.EventID)]++
			scheduled[fmt.Sprintf("sub-orchestration %d", v.EventID)] = true
		case *history.SubOrchestrationInstanceCompletedEvent:
			results = append(results, fmt.Sprintf("sub-orchestration %d", v.TaskScheduledID))
		case *history.SubOrchestrationInstanceFailedEvent:
			results = append(results, fmt.Sprintf("sub-orchestration %d", v.TaskScheduledID))
		}
	}
	for _, r := range results {
		if !scheduled[r] {
			out = append(out, r+" has a result but no scheduling event")
		}
		count[r+" result"]++
	}
	if count["ExecutionStarted"] != 1 {
		out = append(out, fmt.Sprintf("%d ExecutionStarted events", count["ExecutionStarted"]))
	}
	if count["ExecutionCompleted"] > 1 {
		out = append(out, fmt.Sprintf("%d ExecutionCompleted events", count["ExecutionCompleted"]))
	}
	if withEvent {
		for _, ev := range raised[min(1, len(raised)):] {
			if ev.Name == raised[0].Name && deref(ev.Input) == deref(raised[0].Input) && ev.Timestamp.Equal(raised[0].Timestamp) {
				redelivered++
			} else {
				out = append(out, fmt.Sprintf("a second EventRaised %q %s", ev.Name, deref(ev.Input)))
			}
		}
		if len(raised) == 0 {
			out = append(out, "no EventRaised event")
		}
	}
	keys := make([]string, 0, len(count))
	for k, n := range count {
		if n > 1 && k != "ExecutionStarted" && k != "ExecutionCompleted" && k != "EventRaised" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s %d times", k, count[k]))
	}
	return out, redelivered
}

// Executions are the activity executions the workers recorded.
type Executions struct {
	Total int `json:"total"`
	// Tasks counts distinct (instance, execution, task id).
	Tasks int `json:"tasks"`
	// MoreThanOnce counts tasks that ran more than once (at-least-once
	// delivery after a kill or a lost lock; not an error).
	MoreThanOnce int `json:"executedMoreThanOnce"`
	Max          int `json:"maxExecutionsOfOneTask"`
}

// CountExecutions reads the workers' execution logs.
func CountExecutions(procs []*Proc) Executions {
	per := map[string]int{}
	var e Executions
	for _, p := range procs {
		f, err := os.Open(p.ExecPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			parts := strings.Split(sc.Text(), "\t")
			if len(parts) != 4 {
				continue // a line cut by a kill
			}
			e.Total++
			per[parts[0]+"\t"+parts[1]+"\t"+parts[2]]++
		}
		f.Close()
	}
	e.Tasks = len(per)
	for _, n := range per {
		if n > 1 {
			e.MoreThanOnce++
		}
		e.Max = max(e.Max, n)
	}
	return e
}

// LogCounts are what the workers' logs tell about a run.
type LogCounts struct {
	// PartitionMoves counts acquisitions of a partition by another process
	// than its previous owner (the first owner of each is not a move).
	PartitionMoves int `json:"partitionMoves"`
	// LockLost counts episodes whose commit was refused because another
	// worker had written the history (provider.ErrLockLost).
	LockLost int `json:"lockLost"`
	// FaultsInjected sums the faults reported by workers that stopped
	// gracefully (a killed worker cannot report its own).
	FaultsInjected int `json:"faultsInjectedReported"`
	// Panics counts Go panics that ended a worker process.
	Panics int `json:"workerPanics"`
}

var (
	logTime      = regexp.MustCompile(`^time=(\S+)`)
	logPartition = regexp.MustCompile(`partition=(\S+)`)
	logFaults    = regexp.MustCompile(`storage faults injected" total=(\d+)`)
)

// CountLogs reads the workers' logs.
func CountLogs(procs []*Proc) LogCounts {
	type acquisition struct {
		at        time.Time
		partition string
		proc      *Proc
	}
	var acq []acquisition
	var lc LogCounts
	for _, p := range procs {
		f, err := os.Open(p.LogPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.Contains(line, "partition acquired"):
				m, pm := logTime.FindStringSubmatch(line), logPartition.FindStringSubmatch(line)
				if m == nil || pm == nil {
					continue
				}
				at, _ := time.Parse(time.RFC3339Nano, m[1])
				acq = append(acq, acquisition{at, pm[1], p})
			case strings.Contains(line, "instance lock lost"):
				lc.LockLost++
			case strings.HasPrefix(line, "panic: "):
				lc.Panics++
			}
			if m := logFaults.FindStringSubmatch(line); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				lc.FaultsInjected += n
			}
		}
		f.Close()
	}
	sort.SliceStable(acq, func(i, j int) bool { return acq[i].at.Before(acq[j].at) })
	owner := map[string]*Proc{}
	for _, a := range acq {
		if prev, ok := owner[a.partition]; ok && prev != a.proc {
			lc.PartitionMoves++
		}
		owner[a.partition] = a.proc
	}
	return lc
}

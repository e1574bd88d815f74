package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
)

// Rewind is DurableTask.AzureStorage's table-rewriting rewind of a failed
// instance: its history rows are rewritten in place so that replay no
// longer sees the failure, its status becomes Pending, and a GenericEvent
// message wakes the instances that must run again. The rule of which rows
// are rewritten lives here (PlanRewind) and is shared by every backend and
// by both languages' histories; the client drives it across an instance
// and its sub-orchestrations (client.Rewind), and each backend stores it
// (RewindBackend).
//
// A rewritten row keeps every column and its row key; only EventType
// becomes GenericEvent and Reason becomes "Rewound: <former type>"
// (RewindMarker). Replay, in C# and in Go, skips GenericEvents, so the
// failed work runs again. A SubOrchestrationInstanceCreated whose child is
// rewound with its parent keeps its type and gets only the marker.

// RewindMarkerPrefix starts the Reason a rewind writes into each row it
// rewrites.
const RewindMarkerPrefix = "Rewound: "

// RewindMarker is the Reason of a row of type t after a rewind.
func RewindMarker(t history.EventType) string { return RewindMarkerPrefix + t.String() }

// ParseRewindMarker returns the event type a rewind marker names, and
// whether reason is a marker at all.
func ParseRewindMarker(reason string) (history.EventType, bool) {
	name, ok := strings.CutPrefix(reason, RewindMarkerPrefix)
	if !ok {
		return 0, false
	}
	t, err := history.ParseEventType(name)
	if err != nil {
		return 0, false
	}
	return t, true
}

// RewindRow is one event row of an instance's current execution as a
// rewind sees it.
type RewindRow struct {
	// Event is the row's event as it was written: for a row an earlier
	// rewind turned into a GenericEvent, the event it had been (its type
	// from the marker, the rest from its unchanged columns), or a
	// GenericEvent when the marker names no usable type.
	Event history.Event
	// Rewound is set for a row that an earlier rewind turned into a
	// GenericEvent.
	Rewound bool
	// Marked is set for a SubOrchestrationInstanceCreated row whose child
	// an earlier rewind rewound (the marker is in its Reason).
	Marked bool
}

// RewindHistory is an instance as a rewind reads it.
type RewindHistory struct {
	InstanceID string
	// State is the instance's status (payloads are not needed).
	State *history.OrchestrationState
	// ExecutionID is the execution Rows belong to ("" without history).
	ExecutionID string
	// Rows are the current execution's rows in order (index = row number).
	Rows []RewindRow
	// Private is the backend's (the ETags the writes are conditional on).
	Private any
}

// Start returns the execution's ExecutionStarted event, or nil.
func (h *RewindHistory) Start() *history.ExecutionStartedEvent {
	for _, r := range h.Rows {
		if es, ok := r.Event.(*history.ExecutionStartedEvent); ok && !r.Rewound {
			return es
		}
	}
	return nil
}

// RewindBackend is implemented by backends that can rewind. Every write is
// conditional on what ReadForRewind read: a row or status that changed
// since makes the write fail with an error wrapping ErrLockLost, and
// nothing is written after it.
type RewindBackend interface {
	// ReadForRewind reads the instance's status and the rows of its current
	// execution, or fails with ErrNotFound when it has no status.
	ReadForRewind(ctx context.Context, instanceID string) (*RewindHistory, error)
	// RewriteForRewind turns the rows rewrite into GenericEvents carrying
	// RewindMarker of their type, and gives the rows mark (sub-orchestration
	// creations) the marker only, in row order.
	RewriteForRewind(ctx context.Context, h *RewindHistory, rewrite, mark []int) error
	// SetRewindPending sets the status to Pending and LastUpdatedTime to
	// now, as C#'s rewind does (nothing else changes).
	SetRewindPending(ctx context.Context, h *RewindHistory, now time.Time) error
}

// RewindMode says what a rewind does with an instance.
type RewindMode int

const (
	// RewindRefused: the instance neither failed nor is being rewound.
	RewindRefused RewindMode = iota
	// RewindFailed: the current execution failed; its rows are rewritten.
	RewindFailed
	// RewindResume: the execution's rows were rewritten already (an earlier
	// rewind that stopped before its end, or one still running); only what
	// comes after (children, status, wake-up) is done.
	RewindResume
)

func (m RewindMode) String() string {
	switch m {
	case RewindFailed:
		return "failed"
	case RewindResume:
		return "resume"
	}
	return "refused"
}

// RewindModeOf decides whether and how an instance can be rewound: its
// status says Failed and its history ends with a failed completion
// (RewindFailed), or its status is Failed or Pending and its history is a
// started execution without completion that carries rewind markers
// (RewindResume: an earlier rewind stopped half-way, or the rewound
// instance runs; C# leaves a rewound instance Pending until it ends).
func RewindModeOf(h *RewindHistory) RewindMode {
	if h == nil || h.State == nil {
		return RewindRefused
	}
	started, ended, failed, markers := false, false, false, false
	for _, r := range h.Rows {
		if r.Rewound || r.Marked {
			markers = true
		}
		if r.Rewound {
			continue
		}
		switch v := r.Event.(type) {
		case *history.ExecutionStartedEvent:
			started = true
		case *history.ExecutionCompletedEvent:
			ended = true
			failed = v.OrchestrationStatus == history.StatusFailed
		case *history.ContinueAsNewEvent, *history.ExecutionTerminatedEvent:
			ended, failed = true, false
		}
	}
	switch st := h.State.Status; {
	case !started:
		return RewindRefused
	case st == history.StatusFailed && ended && failed:
		return RewindFailed
	case (st == history.StatusFailed || st == history.StatusPending) && !ended && markers:
		return RewindResume
	}
	return RewindRefused
}

// ChildEnding reports whether a sub-orchestration whose status says it
// has not ended is in fact ending. A commit sends an episode's messages
// before it writes the episode's history and then its status (C#'s
// order), so for a moment a parent can hold a child's answer that the
// child's own records do not show yet: its history already records its
// end but its status does not, or its parent recorded its failure (given
// as parentRecordedFailure) while its history, never rewound, shows no
// end yet. A rewind that took such a child for running would remove the
// answer from the parent and wait for another that never comes; it waits
// for the child's status instead. (A child that was rewound by itself
// carries rewind markers and runs again: it answers anew.)
func ChildEnding(child *RewindHistory, parentRecordedFailure bool) bool {
	ended, markers := false, false
	for _, r := range child.Rows {
		markers = markers || r.Rewound || r.Marked
		if r.Rewound {
			continue
		}
		switch r.Event.(type) {
		case *history.ExecutionCompletedEvent, *history.ExecutionTerminatedEvent:
			ended = true
		}
	}
	return ended || (parentRecordedFailure && !markers)
}

// RewindSub is a sub-orchestration a rewind must look at.
type RewindSub struct {
	// Row is its SubOrchestrationInstanceCreated row.
	Row        int
	TaskID     int32
	Name       string
	InstanceID string
	// Failed is set when the parent recorded the child's failure (which the
	// rewind removes); otherwise the parent has no answer from the child.
	Failed bool
	// Marked is set when the creation row carries the marker already.
	Marked bool
}

// RewindPlan is what PlanRewind decides for one instance.
type RewindPlan struct {
	// Rewrite are the rows to turn into GenericEvents, ascending.
	Rewrite []int
	// Subs are sub-orchestrations created before the first failure that
	// failed or never answered. The caller looks at each child: a failed
	// child of this execution is rewound with its parent (mark its row); a
	// completed one's answer is sent again; one that still runs will
	// answer; any other (terminated, purged, replaced) is created again by
	// rewriting its row (only when rewinding a failed execution).
	Subs []RewindSub
	// Recreated are sub-orchestrations whose creation is among Rewrite:
	// the orchestration creates them again. The caller refuses the rewind
	// when one of their children still runs.
	Recreated []RewindSub
}

// PlanRewind decides which rows of an instance's current execution a
// rewind rewrites. For RewindFailed, as DurableTask.AzureStorage does:
// every TaskFailed and SubOrchestrationInstanceFailed, the TaskScheduled
// of each failed activity, and the failed ExecutionCompleted. Beyond C#,
// so that replay then matches the history (C# leaves these and the rewound
// instance fails again with a non-determinism error, for example after an
// activity retried with timers between its attempts):
//
//   - every durable action (activity, timer, sub-orchestration, sent
//     event) recorded in the episode of the first failure or later, with
//     its answer: the work that followed the first failure runs again;
//   - every activity created before that which has no answer (its answer
//     came while the instance was failed and was dropped), and every such
//     timer that is due by now.
//
// It refuses (before anything is written) when a timer created after the
// first failure is not due yet: its TimerFired still waits in a queue and
// would answer another action of the new run. For RewindResume only rows
// that still show a failure are rewritten and marked sub-orchestrations
// are listed again.
func PlanRewind(h *RewindHistory, mode RewindMode, now time.Time) (*RewindPlan, error) {
	rows := h.Rows
	n := len(rows)
	isAction := func(t history.EventType) bool {
		return t == history.TaskScheduled || t == history.TimerCreated ||
			t == history.SubOrchestrationInstanceCreated || t == history.EventSent
	}
	isFailure := func(t history.EventType) bool {
		return t == history.TaskFailed || t == history.SubOrchestrationInstanceFailed
	}
	// answer[j] is the scheduling row a completion row j answers (the last
	// one of its task id before it), answers[i] the completions of row i.
	answer := make([]int, n)
	answers := make([][]int, n)
	lastSched := map[int32]int{}
	for j, r := range rows {
		answer[j] = -1
		t := r.Event.Type()
		if isAction(t) {
			lastSched[r.Event.Base().EventID] = j
			continue
		}
		if id, ok := rules.CompletionID(r.Event); ok {
			if i, ok := lastSched[id]; ok {
				answer[j] = i
				answers[i] = append(answers[i], j)
			}
		}
	}
	// superseded reports whether a live answer for j's task id follows j:
	// the work an old rewound failure stood for ran again and ended. (A new
	// attempt without an answer does not count: C# records one in the
	// episode in which its replay of a rewound history fails.)
	superseded := func(j int) bool {
		id, _ := rules.CompletionID(rows[j].Event)
		for k := j + 1; k < n; k++ {
			if cid, ok := rules.CompletionID(rows[k].Event); ok && cid == id && !rows[k].Rewound {
				return true
			}
		}
		return false
	}

	rewrite := map[int]bool{}
	var plan RewindPlan
	subSeen := map[int]bool{}
	addSub := func(i int, failed bool) {
		if subSeen[i] {
			return
		}
		subSeen[i] = true
		ev := rows[i].Event.(*history.SubOrchestrationInstanceCreatedEvent)
		plan.Subs = append(plan.Subs, RewindSub{Row: i, TaskID: ev.EventID, Name: ev.Name, InstanceID: ev.InstanceID,
			Failed: failed, Marked: rows[i].Marked})
	}
	live := func(i int) bool { return !rows[i].Rewound }

	if mode == RewindResume {
		for j, r := range rows {
			t := r.Event.Type()
			if live(j) && (isFailure(t) || t == history.ExecutionCompleted) {
				rewrite[j] = true
				if i := answer[j]; i >= 0 && t == history.TaskFailed && live(i) {
					rewrite[i] = true
				}
				if i := answer[j]; i >= 0 && t == history.SubOrchestrationInstanceFailed && !rows[i].Rewound {
					addSub(i, true)
				}
			}
		}
		for i, r := range rows {
			if _, ok := r.Event.(*history.SubOrchestrationInstanceCreatedEvent); !ok || !live(i) || subSeen[i] {
				continue
			}
			answered := false
			for _, j := range answers[i] {
				if live(j) {
					answered = true
				}
			}
			if !answered {
				addSub(i, r.Marked)
			}
		}
		plan.Rewrite = sortedKeys(rewrite)
		return &plan, nil
	}
	if mode != RewindFailed {
		return nil, fmt.Errorf("provider: rewind: instance %q cannot be rewound (%s)", h.InstanceID, mode)
	}

	// The failures: live ones, and rewound ones nothing has followed (an
	// earlier rewind that stopped half-way, or one whose run failed again
	// before retrying them).
	first := -1
	var failures []int
	for j, r := range rows {
		if !isFailure(r.Event.Type()) {
			continue
		}
		if r.Rewound && superseded(j) {
			continue
		}
		failures = append(failures, j)
		if first < 0 {
			first = j
		}
	}
	cut := n // rows from cut on belong to the episode of the first failure or later
	if first >= 0 {
		cut = 0
		for k := first; k >= 0; k-- {
			if rows[k].Event.Type() == history.OrchestratorStarted {
				cut = k
				break
			}
		}
	}
	recreated := map[int]bool{}
	for i := cut; i < n; i++ {
		r := rows[i]
		if !isAction(r.Event.Type()) || !live(i) {
			continue
		}
		rewrite[i] = true
		for _, j := range answers[i] {
			if live(j) {
				rewrite[j] = true
			}
		}
		switch v := r.Event.(type) {
		case *history.SubOrchestrationInstanceCreatedEvent:
			recreated[i] = true
			plan.Recreated = append(plan.Recreated, RewindSub{Row: i, TaskID: v.EventID, Name: v.Name, InstanceID: v.InstanceID})
		case *history.TimerCreatedEvent:
			if len(answers[i]) == 0 && v.FireAt.After(now) {
				return nil, fmt.Errorf("provider: rewind of %q must wait until %s: timer %d, created after the first failure, is not due yet, and its TimerFired would answer another action of the new run",
					h.InstanceID, v.FireAt.UTC().Format(time.RFC3339), v.EventID)
			}
		}
	}
	for _, j := range failures {
		if live(j) {
			rewrite[j] = true
		}
		i := answer[j]
		if i < 0 || recreated[i] {
			continue
		}
		switch rows[j].Event.Type() {
		case history.TaskFailed:
			if live(i) {
				rewrite[i] = true
			}
		case history.SubOrchestrationInstanceFailed:
			if live(i) {
				addSub(i, true)
			}
		}
	}
	// Work created before the first failure that never got its answer.
	for i := 0; i < cut; i++ {
		if !live(i) || rewrite[i] || subSeen[i] {
			continue
		}
		answered := false
		for _, j := range answers[i] {
			if live(j) || rewrite[j] {
				answered = true
			}
		}
		if answered {
			continue
		}
		switch v := rows[i].Event.(type) {
		case *history.TaskScheduledEvent:
			rewrite[i] = true
		case *history.TimerCreatedEvent:
			if !v.FireAt.After(now) {
				rewrite[i] = true
			}
		case *history.SubOrchestrationInstanceCreatedEvent:
			addSub(i, false)
		}
	}
	for j, r := range rows {
		if ec, ok := r.Event.(*history.ExecutionCompletedEvent); ok && live(j) && ec.OrchestrationStatus == history.StatusFailed {
			rewrite[j] = true
		}
	}
	plan.Rewrite = sortedKeys(rewrite)
	return &plan, nil
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// ChildOf reports whether an instance's current execution was created by
// the given parent execution for the given task: a child whose id was
// reused by another start is not rewound with the parent.
func ChildOf(child *RewindHistory, parentID, parentExecutionID string, taskID int32) bool {
	es := child.Start()
	if es == nil || es.ParentInstance == nil {
		return false
	}
	p := es.ParentInstance
	return p.OrchestrationInstance.InstanceID == parentID &&
		strings.EqualFold(p.OrchestrationInstance.ExecutionID, parentExecutionID) && p.TaskScheduleID == taskID
}

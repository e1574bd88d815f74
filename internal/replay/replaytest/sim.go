// Package replaytest drives the replay engine the way a worker does, without
// storage: episodes of new messages in, history and messages out,
// activities and sub-orchestrations answered by functions, timers fired by
// a virtual clock. Engine and durable tests use it to check determinism
// (Run replays the whole history on a fresh engine after each episode, and
// with Verify every episode of a cached engine is checked against a fresh
// replay as the worker's VerifyReplay does) and history shapes.
//
// Design note. The simulator runs production's own steps, not a copy of
// them: each batch is triaged with rules.Triage against the history, the
// episode is internal/episode's step (the worker's), and the status follows
// rules.Checkpoint. So the history is the one production writes (activity
// and sub-orchestration inputs travel only in the messages, see Sent), a
// continue-as-new runs the next generation in the same episode and
// replaces the history, and stale or duplicate messages are dropped. Only
// the transport is simulated: the messages an episode sends are answered
// (activities, children), queued (timers, events to the instance itself,
// a continue-as-new hand-off) or only recorded (events to other instances,
// a parent's notification, terminations of children).
package replaytest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/internal/replay"
)

// ActivityFunc answers an activity call: a result or an error.
type ActivityFunc func(name string, input *string) (*string, error)

// NoAnswer, returned by an ActivityFunc or Sub, leaves the call unanswered;
// the test delivers a result itself (or never).
var NoAnswer = errors.New("replaytest: no answer")

// Sim runs one orchestration instance.
type Sim struct {
	T  testing.TB
	Fn replay.Orchestrator
	// Now is the virtual clock; it only moves when timers fire.
	Now time.Time
	// Activity answers activity calls (nil: every activity fails).
	Activity ActivityFunc
	// Sub answers sub-orchestration calls (nil: every call fails).
	Sub func(name, instanceID string, input *string) (*string, error)
	// NoCache makes every episode start from a fresh engine.
	NoCache bool
	// Verify checks every episode of a cached engine as a worker with
	// VerifyReplay does: the episode is applied once more to a fresh engine
	// after the stored history and must emit the same actions. (It runs
	// the orchestrator function again, so a test that counts the
	// function's side effects leaves it off.)
	Verify bool
	// OneAtATime delivers one pending message per episode instead of all.
	OneAtATime bool
	// Options for every engine.
	Options replay.Options
	// MaxGenerations bounds the continue-as-new generations of one episode
	// (0: the worker's default).
	MaxGenerations int

	InstanceID  string
	ExecutionID string
	// History is the current execution's history, as production stores it.
	History    []history.Event
	Completion *replay.Completion
	// ContinuedAsNew lists the completions of the generations that
	// continued as new, in order.
	ContinuedAsNew []*replay.Completion
	CustomStatus   *string
	// Status is the instance's status as the backends derive it.
	Status *history.OrchestrationState
	// Sent lists every message the episodes sent, in order (activity calls
	// with their inputs, child starts, timers, events, notifications).
	Sent []*history.TaskMessage
	// Dropped lists the messages triage dropped, with the reasons.
	Dropped []string
	// Episodes counts episodes run.
	Episodes int

	engine *replay.Engine
	start  *history.ExecutionStartedEvent
	inbox  []*history.TaskMessage
	timers []*history.TaskMessage // TimerFired messages not yet delivered
	ids    int
}

// New returns a simulator for fn.
func New(t testing.TB, fn replay.Orchestrator) *Sim {
	return &Sim{T: t, Fn: fn, Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		InstanceID: "sim-instance", ExecutionID: "0123456789abcdef0123456789abcdef"}
}

// Start queues the ExecutionStarted event.
func (s *Sim) Start(input *string) {
	inst := history.OrchestrationInstance{InstanceID: s.InstanceID, ExecutionID: s.ExecutionID}
	s.inbox = append(s.inbox, &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{
		OrchestrationInstance: inst, Name: "Sim", Input: input, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}})
}

// Raise queues an external event.
func (s *Sim) Raise(name string, input *string) {
	s.Deliver(&history.EventRaisedEvent{Name: name, Input: input, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
}

// Deliver queues any event, addressed to the instance (any execution).
func (s *Sim) Deliver(ev history.Event) {
	s.inbox = append(s.inbox, &history.TaskMessage{Event: ev, OrchestrationInstance: history.OrchestrationInstance{InstanceID: s.InstanceID}})
}

func (s *Sim) host() *episode.Host {
	return &episode.Host{
		Orchestrator:   func(string, string) (replay.Orchestrator, bool) { return s.Fn, true },
		Engine:         s.Options,
		Now:            func() time.Time { return s.Now },
		NewExecutionID: func() string { s.ids++; return fmt.Sprintf("%032x", s.ids) },
		MaxGenerations: s.MaxGenerations,
	}
}

// Episode runs one episode with the queued messages (all, or one with
// OneAtATime) that triage keeps, and returns the engine's result for the
// committed generation. Messages triage holds back stay queued; a batch
// of which nothing is kept is an error.
func (s *Sim) Episode() (*replay.Result, error) {
	var batch []*history.TaskMessage
	if s.OneAtATime && len(s.inbox) > 1 {
		batch, s.inbox = s.inbox[:1], s.inbox[1:]
	} else {
		batch, s.inbox = s.inbox, nil
	}
	x := rules.NewHistoryIndex(s.History)
	in := make([]rules.Incoming, len(batch))
	for i, m := range batch {
		in[i] = rules.Incoming{TaskMessage: m, DequeueCount: 1}
	}
	tr := rules.Triage(x, in)
	var held []*history.TaskMessage
	for _, d := range tr.Decisions {
		switch d.Verdict {
		case rules.Drop:
			s.Dropped = append(s.Dropped, fmt.Sprintf("%s: %s", batch[d.Index].Event.Type(), d.Reason))
		case rules.Abandon:
			held = append(held, batch[d.Index])
		}
	}
	s.inbox = append(held, s.inbox...)
	if len(tr.Kept) == 0 {
		return nil, fmt.Errorf("replaytest: no message of the batch is kept (dropped: %v; held back: %d)", s.Dropped, len(held))
	}
	msgs := make([]history.Event, len(tr.Kept))
	for i, k := range tr.Kept {
		msgs[i] = batch[k].Event
	}

	newExecution := tr.NewExecution || !x.Started
	past := s.History
	if newExecution {
		past = nil
	}
	if s.engine != nil && (s.NoCache || newExecution) {
		s.engine.Evict()
		s.engine = nil
	}
	start := episode.FindStart(past, msgs)
	if start == nil {
		start = s.start
	}
	w := episode.Work{Start: start, Code: s.Fn, Engine: s.engine, Past: past, Messages: msgs}
	if s.Verify && s.engine != nil {
		w.Verify, w.Stored = true, past
	}
	s.engine = nil
	out, err := episode.New(s.host(), w).Run()
	s.Episodes++
	if err != nil {
		return nil, err
	}
	s.commit(out, newExecution)
	return out.Result, nil
}

// commit stores an episode's output as a backend does and delivers its
// messages.
func (s *Sim) commit(out *episode.Output, newExecution bool) {
	if newExecution || out.NewExecution {
		s.History = nil
	}
	s.History = append(s.History, out.NewEvents...)
	s.start = out.Start
	s.ExecutionID = out.Start.OrchestrationInstance.ExecutionID
	s.CustomStatus = out.CustomStatus
	s.Status = rules.Checkpoint(s.Status, s.InstanceID, out.NewEvents, out.CustomStatus, s.Now).State
	s.ContinuedAsNew = append(s.ContinuedAsNew, out.ContinuedAsNew...)
	s.engine = out.Engine
	if out.Done {
		s.Completion = out.Result.Completion
	}
	for _, m := range out.Outbox {
		s.Sent = append(s.Sent, m)
		switch v := m.Event.(type) {
		case *history.TaskScheduledEvent:
			if ans := s.answerActivity(v); ans != nil {
				s.inbox = append(s.inbox, &history.TaskMessage{Event: ans, OrchestrationInstance: m.OrchestrationInstance})
			}
		case *history.TimerFiredEvent:
			s.timers = append(s.timers, m)
		case *history.ExecutionStartedEvent:
			if v.ParentInstance == nil || m.OrchestrationInstance.InstanceID == s.InstanceID {
				s.inbox = append(s.inbox, m) // the next generation, handed off
				continue
			}
			if ans := s.answerSub(v); ans != nil {
				s.inbox = append(s.inbox, &history.TaskMessage{Event: ans, OrchestrationInstance: v.ParentInstance.OrchestrationInstance})
			}
		default:
			if m.OrchestrationInstance.InstanceID == s.InstanceID {
				s.inbox = append(s.inbox, m) // an event the instance sent itself, a carried event
			}
		}
	}
}

func (s *Sim) answerActivity(v *history.TaskScheduledEvent) history.Event {
	var out *string
	err := fmt.Errorf("no activity function")
	if s.Activity != nil {
		out, err = s.Activity(v.Name, v.Input)
	}
	if errors.Is(err, NoAnswer) {
		return nil
	}
	if err != nil {
		msg := err.Error()
		return &history.TaskFailedEvent{TaskScheduledID: v.EventID, Reason: &msg,
			FailureDetails: replay.FailureDetailsOf(err), EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
	}
	return &history.TaskCompletedEvent{TaskScheduledID: v.EventID, Result: out, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
}

// answerSub answers a child's start (the message that carries its input).
func (s *Sim) answerSub(v *history.ExecutionStartedEvent) history.Event {
	var out *string
	err := fmt.Errorf("no sub-orchestration function")
	if s.Sub != nil {
		out, err = s.Sub(v.Name, v.OrchestrationInstance.InstanceID, v.Input)
	}
	if errors.Is(err, NoAnswer) {
		return nil
	}
	task := v.ParentInstance.TaskScheduleID
	if err != nil {
		msg := err.Error()
		return &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: task, Reason: &msg,
			FailureDetails: replay.FailureDetailsOf(err), EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
	}
	return &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: task, Result: out, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
}

// SentOf returns the messages of one event type the episodes sent, in
// order (for example the TaskScheduled messages, which carry the activity
// inputs the history does not).
func (s *Sim) SentOf(t history.EventType) []*history.TaskMessage {
	var out []*history.TaskMessage
	for _, m := range s.Sent {
		if m.Event.Type() == t {
			out = append(out, m)
		}
	}
	return out
}

// Run runs episodes until the orchestration completes or nothing is left to
// deliver; when only timers remain, the clock jumps to the earliest one.
// Every episode is checked by a full replay on a fresh engine.
func (s *Sim) Run() *replay.Completion {
	s.T.Helper()
	for s.Completion == nil {
		if len(s.inbox) == 0 {
			if !s.fireNextTimer() {
				return nil
			}
		}
		if _, err := s.Episode(); err != nil {
			s.T.Fatalf("episode %d: %v", s.Episodes, err)
		}
		s.CheckReplay()
	}
	return s.Completion
}

// RunUntilIdle runs episodes while messages are queued, without firing
// timers.
func (s *Sim) RunUntilIdle() {
	s.T.Helper()
	for s.Completion == nil && len(s.inbox) > 0 {
		if _, err := s.Episode(); err != nil {
			s.T.Fatalf("episode %d: %v", s.Episodes, err)
		}
		s.CheckReplay()
	}
}

func (s *Sim) fireNextTimer() bool {
	if len(s.timers) == 0 {
		return false
	}
	sort.SliceStable(s.timers, func(i, j int) bool { return fireAt(s.timers[i]).Before(fireAt(s.timers[j])) })
	due := fireAt(s.timers[0])
	if due.After(s.Now) {
		s.Now = due
	}
	// Timers due at the same instant fire in one batch, in creation order.
	for len(s.timers) > 0 && !fireAt(s.timers[0]).After(due) {
		t := s.timers[0]
		s.timers = s.timers[1:]
		t.Event.Base().Timestamp = s.Now
		s.inbox = append(s.inbox, t)
	}
	return true
}

func fireAt(m *history.TaskMessage) time.Time { return m.Event.(*history.TimerFiredEvent).FireAt }

// FireTimers delivers every pending timer due at or before the clock after
// advancing it by d.
func (s *Sim) FireTimers(d time.Duration) {
	s.Now = s.Now.Add(d)
	var keep []*history.TaskMessage
	for _, t := range s.timers {
		if !fireAt(t).After(s.Now) {
			t.Event.Base().Timestamp = s.Now
			s.inbox = append(s.inbox, t)
		} else {
			keep = append(keep, t)
		}
	}
	s.timers = keep
}

// PendingTimers returns the FireAt times of timers not yet fired.
func (s *Sim) PendingTimers() []time.Time {
	var out []time.Time
	for _, t := range s.timers {
		out = append(out, fireAt(t))
	}
	return out
}

// CheckReplay replays the whole history on a fresh engine and checks that
// it raises no error and emits no new action (a completed history must also
// match its completion).
func (s *Sim) CheckReplay() {
	s.T.Helper()
	e := replay.New(s.Fn, s.Options)
	defer e.Evict()
	res, err := e.Apply(s.History, nil)
	if err != nil {
		s.T.Fatalf("replaying the full history (%d events): %v\n%s", len(s.History), err, Describe(s.History))
	}
	if len(res.Actions) > 0 {
		s.T.Fatalf("replaying the full history emitted %d new actions (first: %s)\n%s", len(res.Actions), res.Actions[0].Type(), Describe(s.History))
	}
}

// Describe renders a history one event per line, for failure messages.
func Describe(events []history.Event) string {
	var b strings.Builder
	for i, ev := range events {
		fmt.Fprintf(&b, "%3d %-34s id=%d", i, ev.Type(), ev.Base().EventID)
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			fmt.Fprintf(&b, " %s", v.Name)
		case *history.TaskCompletedEvent:
			fmt.Fprintf(&b, " task=%d", v.TaskScheduledID)
		case *history.TaskFailedEvent:
			fmt.Fprintf(&b, " task=%d", v.TaskScheduledID)
		case *history.TimerFiredEvent:
			fmt.Fprintf(&b, " timer=%d", v.TimerID)
		case *history.EventRaisedEvent:
			fmt.Fprintf(&b, " %s", v.Name)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Types returns the event types of a history, for shape comparisons.
func Types(events []history.Event) []history.EventType {
	out := make([]history.EventType, len(events))
	for i, ev := range events {
		out[i] = ev.Type()
	}
	return out
}

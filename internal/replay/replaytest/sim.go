// Package replaytest drives the replay engine the way a worker does, without
// storage: episodes of new events in, actions out, activities answered by a
// function, timers fired by a virtual clock. Engine and durable tests use it
// to check determinism (every episode is also replayed from the full history
// on a fresh engine and must produce the same actions) and history shapes.
package replaytest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
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
	// OneAtATime delivers one pending message per episode instead of all.
	OneAtATime bool
	// Options for every engine.
	Options replay.Options

	InstanceID   string
	ExecutionID  string
	History      []history.Event
	Completion   *replay.Completion
	CustomStatus *string
	// Episodes counts episodes run.
	Episodes int

	engine  *replay.Engine
	inbox   []history.Event
	timers  []*history.TimerFiredEvent
	actions [][]history.Event // per episode, for the double-replay check
}

// New returns a simulator for fn.
func New(t testing.TB, fn replay.Orchestrator) *Sim {
	return &Sim{T: t, Fn: fn, Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		InstanceID: "sim-instance", ExecutionID: "0123456789abcdef0123456789abcdef"}
}

// Start queues the ExecutionStarted event.
func (s *Sim) Start(input *string) {
	s.inbox = append(s.inbox, &history.ExecutionStartedEvent{
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: s.InstanceID, ExecutionID: s.ExecutionID},
		Name:                  "Sim", Input: input, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
}

// Raise queues an external event.
func (s *Sim) Raise(name string, input *string) {
	s.inbox = append(s.inbox, &history.EventRaisedEvent{Name: name, Input: input,
		EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
}

// Deliver queues any event.
func (s *Sim) Deliver(ev history.Event) { s.inbox = append(s.inbox, ev) }

// Episode runs one episode with the queued events (all, or one with
// OneAtATime) and returns the engine's result. Errors fail the test unless
// allowErr.
func (s *Sim) Episode() (*replay.Result, error) {
	var batch []history.Event
	if s.OneAtATime && len(s.inbox) > 1 {
		batch, s.inbox = s.inbox[:1], s.inbox[1:]
	} else {
		batch, s.inbox = s.inbox, nil
	}
	newEvents := append([]history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}}, batch...)
	var past []history.Event
	if s.engine == nil || s.NoCache {
		if s.engine != nil {
			s.engine.Evict()
		}
		s.engine = replay.New(s.Fn, s.Options)
		past = s.History
	}
	res, err := s.engine.Apply(past, newEvents)
	s.Episodes++
	if err != nil {
		s.engine.Evict()
		s.engine = nil
		return nil, err
	}
	s.commit(newEvents, res)
	return res, nil
}

func (s *Sim) commit(newEvents []history.Event, res *replay.Result) {
	s.History = append(s.History, newEvents...)
	s.CustomStatus = res.CustomStatus
	for _, a := range res.Actions {
		a.Base().Timestamp = s.Now
		s.History = append(s.History, a)
		switch v := a.(type) {
		case *history.TaskScheduledEvent:
			if ans := s.answerActivity(v); ans != nil {
				s.inbox = append(s.inbox, ans)
			}
		case *history.SubOrchestrationInstanceCreatedEvent:
			if ans := s.answerSub(v); ans != nil {
				s.inbox = append(s.inbox, ans)
			}
		case *history.TimerCreatedEvent:
			s.timers = append(s.timers, &history.TimerFiredEvent{TimerID: v.EventID, FireAt: v.FireAt,
				EventBase: history.EventBase{EventID: -1}})
		}
	}
	s.actions = append(s.actions, res.Actions)
	if c := res.Completion; c != nil {
		s.Completion = c
		if c.Status != history.StatusContinuedAsNew {
			s.History = append(s.History, &history.ExecutionCompletedEvent{OrchestrationStatus: c.Status,
				Result: c.Output, FailureDetails: c.Failure, EventBase: history.EventBase{EventID: c.ID, Timestamp: s.Now}})
		}
		s.engine.Evict()
		s.engine = nil
	}
	s.History = append(s.History, &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}})
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

func (s *Sim) answerSub(v *history.SubOrchestrationInstanceCreatedEvent) history.Event {
	var out *string
	err := fmt.Errorf("no sub-orchestration function")
	if s.Sub != nil {
		out, err = s.Sub(v.Name, v.InstanceID, v.Input)
	}
	if errors.Is(err, NoAnswer) {
		return nil
	}
	if err != nil {
		msg := err.Error()
		return &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: v.EventID, Reason: &msg,
			FailureDetails: replay.FailureDetailsOf(err), EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
	}
	return &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: v.EventID, Result: out, EventBase: history.EventBase{EventID: -1, Timestamp: s.Now}}
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
	sort.SliceStable(s.timers, func(i, j int) bool { return s.timers[i].FireAt.Before(s.timers[j].FireAt) })
	due := s.timers[0].FireAt
	if due.After(s.Now) {
		s.Now = due
	}
	// Timers due at the same instant fire in one batch, in creation order.
	for len(s.timers) > 0 && !s.timers[0].FireAt.After(due) {
		t := s.timers[0]
		s.timers = s.timers[1:]
		t.Timestamp = s.Now
		s.inbox = append(s.inbox, t)
	}
	return true
}

// FireTimers delivers every pending timer due at or before the clock after
// advancing it by d.
func (s *Sim) FireTimers(d time.Duration) {
	s.Now = s.Now.Add(d)
	var keep []*history.TimerFiredEvent
	for _, t := range s.timers {
		if !t.FireAt.After(s.Now) {
			t.Timestamp = s.Now
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
		out = append(out, t.FireAt)
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

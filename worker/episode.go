package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/replay"
	"github.com/azdurable/azdurable/provider"
)

// episode turns one engine run into what the backend commits.
type episode struct {
	w      *Worker
	wi     *provider.OrchestrationWorkItem
	log    *slog.Logger
	start  *history.ExecutionStartedEvent
	engine *replay.Engine

	newEvents []history.Event
	outbox    []*history.TaskMessage
}

type episodeResult struct {
	episode *provider.EpisodeResult
	// done is set when the instance reached a final status.
	done bool
}

// run applies the work item to the engine and builds the commit.
func (ep *episode) run(ctx context.Context, fn replay.Orchestrator, past []history.Event) (*episodeResult, error) {
	now := ep.w.clock.Now()
	ep.newEvents = []history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}}
	for _, m := range ep.wi.Messages {
		m.Event.Base().IsPlayed = true
		ep.newEvents = append(ep.newEvents, m.Event)
	}
	res, err := ep.engine.Apply(past, ep.newEvents)
	if err != nil {
		return nil, err
	}
	if ep.w.opts.VerifyReplay && past == nil {
		if err := ep.verify(ctx, fn, res); err != nil {
			return nil, err
		}
	}
	return ep.build(ctx, res)
}

// verify replays the episode from the full history on a fresh engine and
// checks that it emits the same actions as the cached engine did.
func (ep *episode) verify(ctx context.Context, fn replay.Orchestrator, cached *replay.Result) error {
	probe := &provider.OrchestrationWorkItem{InstanceID: ep.wi.InstanceID, ExecutionID: ep.wi.ExecutionID,
		HistoryETag: ep.wi.HistoryETag, HistoryLen: ep.wi.HistoryLen, Partition: ep.wi.Partition, Private: ep.wi.Private}
	if err := ep.w.be.LoadHistory(ctx, probe); err != nil {
		return fmt.Errorf("verify replay: loading history: %w", err)
	}
	fresh := replay.New(fn, ep.w.engineOptions())
	defer fresh.Evict()
	res, err := fresh.Apply(probe.History, ep.newEvents)
	if err != nil {
		return err
	}
	if a, b := describeActions(cached), describeActions(res); a != b {
		return &replay.NonDeterminismError{TaskID: -1, History: "the actions of a full replay: " + b, Code: "emitted from the cache: " + a}
	}
	return nil
}

func describeActions(r *replay.Result) string {
	s := ""
	for _, a := range r.Actions {
		s += fmt.Sprintf("%s#%d ", a.Type(), a.Base().EventID)
	}
	if c := r.Completion; c != nil {
		s += fmt.Sprintf("%s#%d", c.Status, c.ID)
	}
	return s
}

// failFor builds the commit that fails the instance because of err.
func (ep *episode) failFor(ctx context.Context, err error) (*episodeResult, error) {
	if ep.newEvents == nil {
		now := ep.w.clock.Now()
		ep.newEvents = []history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}}
		for _, m := range ep.wi.Messages {
			ep.newEvents = append(ep.newEvents, m.Event)
		}
	}
	return ep.build(ctx, ep.engine.FailureResult(err))
}

func (ep *episode) self() history.OrchestrationInstance {
	info := ep.engine.Info()
	if info.InstanceID == "" {
		return ep.start.OrchestrationInstance
	}
	return history.OrchestrationInstance{InstanceID: info.InstanceID, ExecutionID: info.ExecutionID}
}

// build converts the engine's result into history events and outbound
// messages; continue-as-new runs the next generations here.
func (ep *episode) build(ctx context.Context, res *replay.Result) (*episodeResult, error) {
	events := ep.newEvents
	start := ep.start
	newExecution := false
	for gen := 0; ; gen++ {
		events = append(events, ep.actions(res.Actions, start)...)
		c := res.Completion
		now := ep.w.clock.Now()
		if c == nil {
			break
		}
		if c.Status != history.StatusContinuedAsNew {
			events = append(events, &history.ExecutionCompletedEvent{OrchestrationStatus: c.Status, Result: c.Output,
				FailureDetails: c.Failure, EventBase: history.EventBase{EventID: c.ID, Timestamp: now}})
			ep.notifyParent(start, c, now)
			for _, child := range c.TerminateChildren {
				ep.outbox = append(ep.outbox, &history.TaskMessage{
					Event:                 &history.ExecutionTerminatedEvent{Input: c.Output, Recursive: true, EventBase: history.EventBase{EventID: -1, Timestamp: now}},
					OrchestrationInstance: history.OrchestrationInstance{InstanceID: child}})
			}
			events = append(events, &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}})
			return &episodeResult{episode: &provider.EpisodeResult{NewEvents: events, NewExecution: newExecution,
				Outbox: ep.outbox, CustomStatus: res.CustomStatus}, done: true}, nil
		}
		// Continue as new: the next generation runs in this work item and
		// only the last generation's history is committed (C#'s behaviour).
		can := c.ContinueAsNew
		next := ep.nextStart(start, can, now)
		if gen+1 >= ep.w.opts.MaxGenerationsPerWorkItem {
			return ep.handOffGeneration(events, start, c, next, res.CustomStatus, newExecution), nil
		}
		fn, ok := ep.w.orchestrator(next.Name, next.Version)
		if !ok {
			return nil, fmt.Errorf("continue-as-new to unknown orchestration %q version %q", next.Name, next.Version)
		}
		genEvents := []history.Event{&history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}, next}
		for _, ev := range can.Carry {
			ev.IsPlayed = true
			genEvents = append(genEvents, ev)
		}
		genEvents = append(genEvents, &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: now}})
		ep.engine.Evict()
		ep.engine = replay.New(fn, ep.w.engineOptions())
		var err error
		if res, err = ep.engine.Apply(nil, genEvents); err != nil {
			return nil, err
		}
		events = genEvents
		start = next
		ep.start = next
		newExecution = true
	}
	now := ep.w.clock.Now()
	events = append(events, &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}})
	return &episodeResult{episode: &provider.EpisodeResult{NewEvents: events, NewExecution: newExecution,
		Outbox: ep.outbox, CustomStatus: res.CustomStatus}}, nil
}

func (ep *episode) nextStart(start *history.ExecutionStartedEvent, can *replay.ContinueAsNew, now timeValue) *history.ExecutionStartedEvent {
	version := start.Version
	if can.Version != nil {
		version = *can.Version
	}
	return &history.ExecutionStartedEvent{
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: start.OrchestrationInstance.InstanceID, ExecutionID: newExecutionID()},
		ParentInstance:        start.ParentInstance, Name: start.Name, Version: version, Input: can.Input,
		Tags: start.Tags, ParentTraceContext: start.ParentTraceContext,
		EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: now}}
}

// handOffGeneration commits a generation that continued as new with a
// ContinueAsNew completion and sends the next generation's start as a
// message (used only past MaxGenerationsPerWorkItem).
func (ep *episode) handOffGeneration(events []history.Event, start *history.ExecutionStartedEvent, c *replay.Completion,
	next *history.ExecutionStartedEvent, status *string, newExecution bool) *episodeResult {
	now := ep.w.clock.Now()
	events = append(events, &history.ContinueAsNewEvent{OrchestrationStatus: history.StatusContinuedAsNew, Result: c.Output,
		EventBase: history.EventBase{EventID: c.ID, Timestamp: now}},
		&history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}})
	next.IsPlayed = false
	ep.outbox = append(ep.outbox, &history.TaskMessage{Event: next, OrchestrationInstance: next.OrchestrationInstance})
	for _, ev := range c.ContinueAsNew.Carry {
		ev.IsPlayed = false
		ep.outbox = append(ep.outbox, &history.TaskMessage{Event: ev, OrchestrationInstance: next.OrchestrationInstance})
	}
	return &episodeResult{episode: &provider.EpisodeResult{NewEvents: events, NewExecution: newExecution,
		Outbox: ep.outbox, CustomStatus: status}}
}

// actions converts scheduling actions into history events (as C# stores
// them: without the activity and sub-orchestration inputs) and outbound
// messages (which carry the inputs).
func (ep *episode) actions(actions []history.Event, start *history.ExecutionStartedEvent) []history.Event {
	self := history.OrchestrationInstance{InstanceID: start.OrchestrationInstance.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID}
	orchTags := start.Tags
	if orchTags == nil {
		orchTags = map[string]string{}
	}
	out := make([]history.Event, 0, len(actions))
	for _, a := range actions {
		now := ep.w.clock.Now()
		a.Base().Timestamp = now
		switch v := a.(type) {
		case *history.TaskScheduledEvent:
			if v.ParentTraceContext == nil {
				v.ParentTraceContext = start.ParentTraceContext
			}
			stored := *v
			stored.Input = nil
			out = append(out, &stored)
			ep.outbox = append(ep.outbox, &history.TaskMessage{Event: v, OrchestrationInstance: self,
				OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: orchTags}})
		case *history.TimerCreatedEvent:
			out = append(out, v)
			ep.outbox = append(ep.outbox, &history.TaskMessage{
				Event:                 &history.TimerFiredEvent{TimerID: v.EventID, FireAt: v.FireAt, EventBase: history.EventBase{EventID: -1, Timestamp: now}},
				OrchestrationInstance: self})
		case *history.SubOrchestrationInstanceCreatedEvent:
			stored := *v
			stored.Input = nil
			out = append(out, &stored)
			// Every retry of this episode starts the child under one id.
			child := history.OrchestrationInstance{InstanceID: v.InstanceID, ExecutionID: provider.ChildExecutionID(self, v.EventID, ep.wi.HistoryLen)}
			ep.outbox = append(ep.outbox, &history.TaskMessage{
				Event: &history.ExecutionStartedEvent{OrchestrationInstance: child,
					ParentInstance: &history.ParentInstance{Name: start.Name, OrchestrationInstance: self, TaskScheduleID: v.EventID, Version: start.Version},
					Name:           v.Name, Version: v.Version, Input: v.Input, Tags: v.Tags, ParentTraceContext: start.ParentTraceContext,
					EventBase: history.EventBase{EventID: -1, Timestamp: now}},
				OrchestrationInstance:         child,
				OrchestrationExecutionContext: &history.OrchestrationExecutionContext{OrchestrationTags: orchTags}})
		case *history.EventSentEvent:
			out = append(out, v)
			ep.outbox = append(ep.outbox, &history.TaskMessage{
				Event:                 &history.EventRaisedEvent{Name: v.Name, Input: v.Input, ParentTraceContext: start.ParentTraceContext, EventBase: history.EventBase{EventID: -1, Timestamp: now}},
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: v.InstanceID}})
		default:
			out = append(out, a)
		}
	}
	return out
}

// notifyParent sends a sub-orchestration's result to its parent: Completed,
// or Failed for a failed or terminated child, as C# does.
func (ep *episode) notifyParent(start *history.ExecutionStartedEvent, c *replay.Completion, now timeValue) {
	p := start.ParentInstance
	if p == nil {
		return
	}
	var ev history.Event
	if c.Status == history.StatusCompleted {
		ev = &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: p.TaskScheduleID, Result: c.Output,
			EventBase: history.EventBase{EventID: -1, Timestamp: now}}
	} else {
		ev = &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: p.TaskScheduleID, Reason: c.Output,
			FailureDetails: c.Failure, EventBase: history.EventBase{EventID: -1, Timestamp: now}}
	}
	ep.outbox = append(ep.outbox, &history.TaskMessage{Event: ev, OrchestrationInstance: p.OrchestrationInstance})
}

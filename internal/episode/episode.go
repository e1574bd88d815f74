package episode

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/internal/replay"
)

// DefaultMaxGenerations is how many continue-as-new generations one
// episode runs when Host.MaxGenerations is not set.
const DefaultMaxGenerations = 100

// Runner runs the orchestrator code of one execution: Apply replays the
// past events, applies the new ones and returns the actions the code took
// (replay.Result's rules: scheduling events with their task ids and
// inputs, the custom status, a completion). *replay.Engine runs Go code in
// this process; a Host.Runner may run the code elsewhere (the sidecar's
// runner sends the events to a Durable Task SDK worker). After an error
// of Apply the runner is evicted.
type Runner interface {
	Apply(past, newEvents []history.Event) (*replay.Result, error)
	// FailureResult is the result that fails the execution because of err:
	// a Failed completion with the next task id.
	FailureResult(err error) *replay.Result
	// Evict releases what the runner holds; it is not used after.
	Evict()
}

var _ Runner = (*replay.Engine)(nil)

// Host is what the step needs from the process that runs it.
type Host struct {
	// Orchestrator finds the code of a name and version (for the next
	// generation of a continue-as-new, which may change the version).
	Orchestrator func(name, version string) (replay.Orchestrator, bool)
	// Engine configures every engine the step creates.
	Engine replay.Options
	// Runner, when set, runs the code of every execution the step runs
	// (the work item's, and each continue-as-new generation's) instead of
	// an engine: Orchestrator, Engine, Work.Code, Work.Engine and
	// Work.Verify are then not used, and Output.Engine is nil. It returns
	// an error when no code can run the execution.
	Runner func(start *history.ExecutionStartedEvent) (Runner, error)
	// Now tells the time: the Timestamp of every new event.
	Now func() time.Time
	// NewExecutionID makes the execution id of a child or of the next
	// generation.
	NewExecutionID func() string
	// MaxGenerations bounds the generations run in one episode (0:
	// DefaultMaxGenerations).
	MaxGenerations int
}

// Work is one work item as the step sees it.
type Work struct {
	// Start is the ExecutionStarted of the execution the work item runs
	// (from its history, its messages or the cached engine).
	Start *history.ExecutionStartedEvent
	// Code is the orchestration's code for Start's name and version.
	Code replay.Orchestrator
	// Engine is the instance's cached engine, positioned after the stored
	// history, or nil: a fresh engine then replays Past first.
	Engine *replay.Engine
	// Past is the stored history of the execution (ignored with Engine).
	Past []history.Event
	// Messages are the events of the work item's messages, in order.
	Messages []history.Event
	// HistoryLen is the number of events of the committed history the
	// work item runs on (with or without Engine); it makes the execution
	// ids of the children it starts the same on every retry
	// (rules.ChildExecutionID).
	HistoryLen int
	// Verify asks for the episode to be applied once more to a fresh engine
	// after Stored, the stored history, and for both to emit the same
	// actions: a check of the cached engine.
	Verify bool
	Stored []history.Event
}

// Output is what an episode commits, and what its caller keeps.
type Output struct {
	// NewEvents are appended to the history, or with NewExecution replace
	// it from row 0 (the episode continued as new: they are the complete
	// history of the new execution).
	NewEvents    []history.Event
	NewExecution bool
	// Outbox holds the messages to send before the history is written.
	Outbox []*history.TaskMessage
	// CustomStatus is the orchestration's custom status (JSON), or nil.
	CustomStatus *string
	// Done is set when the committed execution reached a final status.
	Done bool
	// Start is the ExecutionStarted of the committed execution.
	Start *history.ExecutionStartedEvent
	// Engine is the committed execution's engine when it runs on (keep it
	// for the next work item, or Evict it if the commit fails); nil when it
	// ended, its engine evicted.
	Engine *replay.Engine
	// Result is the engine's result for the committed execution's
	// generation.
	Result *replay.Result
	// ContinuedAsNew lists the completions of the generations that
	// continued as new in this episode, in order.
	ContinuedAsNew []*replay.Completion
}

// Release evicts the engine of an Output that will not be committed.
func (o *Output) Release() {
	if o != nil && o.Engine != nil {
		o.Engine.Evict()
		o.Engine = nil
	}
}

// Episode is one run of the step.
type Episode struct {
	host   *Host
	work   Work
	engine Runner // nil until the first Apply
	start  *history.ExecutionStartedEvent

	newEvents []history.Event
	outbox    []*history.TaskMessage
	cans      []*replay.Completion
}

// New prepares the episode of one work item.
func New(host *Host, w Work) *Episode {
	ep := &Episode{host: host, work: w, start: w.Start}
	if w.Engine != nil && host.Runner == nil {
		ep.engine = w.Engine
	}
	return ep
}

// newRunner returns the runner of an execution: the Host's, or an engine
// over code (for the next generation, the code Host.Orchestrator finds).
func (ep *Episode) newRunner(start *history.ExecutionStartedEvent, code replay.Orchestrator) (Runner, error) {
	if ep.host.Runner != nil {
		return ep.host.Runner(start)
	}
	if code == nil {
		fn, ok := ep.host.Orchestrator(start.Name, start.Version)
		if !ok {
			return nil, fmt.Errorf("continue-as-new to unknown orchestration %q version %q", start.Name, start.Version)
		}
		code = fn
	}
	return replay.New(code, ep.host.Engine), nil
}

// Run applies the work item to the engine and builds the commit. After an
// error (a *replay.NonDeterminismError, replay.ErrDeadlock, a
// continue-as-new to unknown code, ...) every engine of the episode is
// evicted; Fail builds the commit that fails the instance instead.
func (ep *Episode) Run() (*Output, error) {
	out, err := ep.run()
	if err != nil && ep.engine != nil {
		ep.engine.Evict()
	}
	return out, err
}

func (ep *Episode) run() (*Output, error) {
	ep.newEvents = []history.Event{started(ep.host.Now())}
	for _, ev := range ep.work.Messages {
		ev.Base().IsPlayed = true
		ep.newEvents = append(ep.newEvents, ev)
	}
	past := ep.work.Past
	if ep.engine == nil {
		r, err := ep.newRunner(ep.start, ep.work.Code)
		if err != nil {
			return nil, err
		}
		ep.engine = r
	} else {
		past = nil
	}
	res, err := ep.engine.Apply(past, ep.newEvents)
	if err != nil {
		return nil, err
	}
	if ep.work.Verify && ep.host.Runner == nil {
		if err := ep.verify(res); err != nil {
			return nil, err
		}
	}
	return ep.build(res)
}

// verify replays the episode from the stored history on a fresh engine and
// checks that it emits the same actions as the engine did.
func (ep *Episode) verify(cached *replay.Result) error {
	fresh := replay.New(ep.work.Code, ep.host.Engine)
	defer fresh.Evict()
	res, err := fresh.Apply(ep.work.Stored, ep.newEvents)
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

// DeadlockStack returns the goroutine dump the engine took when Run failed
// with replay.ErrDeadlock, for the log.
func (ep *Episode) DeadlockStack() string {
	if e, ok := ep.engine.(*replay.Engine); ok {
		return e.DeadlockStack()
	}
	return ""
}

// Fail builds the commit that fails the instance because of err: the
// episode's new events (the work item's messages after an
// OrchestratorStarted, if Run did not get that far), then a Failed
// completion with the engine's next task id.
func (ep *Episode) Fail(err error) *Output {
	if ep.newEvents == nil {
		ep.newEvents = []history.Event{started(ep.host.Now())}
		ep.newEvents = append(ep.newEvents, ep.work.Messages...)
	}
	if ep.engine == nil && ep.host.Runner == nil {
		ep.engine = replay.New(ep.work.Code, ep.host.Engine)
	}
	var res *replay.Result
	if ep.engine != nil {
		res = ep.engine.FailureResult(err)
	} else {
		// No runner ran: the completion takes the id after the history's.
		msg := err.Error()
		res = &replay.Result{Completion: &replay.Completion{ID: NextTaskID(ep.work.Past), Status: history.StatusFailed,
			Output: &msg, Failure: replay.FailureDetailsOf(err)}}
	}
	out, _ := ep.build(res) // a final completion: no next generation, no error
	return out
}

// Terminate builds the commit that terminates an instance whose code this
// worker does not host, without running it: the work item's messages, then
// the Terminated completion with the task id the code would have given it
// (one past the highest in past), the failure reported to a parent, and for
// a recursive terminate the termination of the children past started and
// did not hear from.
func Terminate(host *Host, w Work, t *history.ExecutionTerminatedEvent) *Output {
	ep := New(host, w)
	ep.newEvents = []history.Event{started(host.Now())}
	for _, ev := range w.Messages {
		ev.Base().IsPlayed = true
		ep.newEvents = append(ep.newEvents, ev)
	}
	c := &replay.Completion{ID: NextTaskID(w.Past), Status: history.StatusTerminated, Output: t.Input}
	if t.Recursive {
		c.TerminateChildren = OpenChildren(w.Past)
	}
	out, _ := ep.build(&replay.Result{Completion: c}) // a final completion: no error
	return out
}

// NextTaskID is the task id that follows the scheduling events of
// events (0 when there are none): the id of a completion that code which
// took those actions would give.
func NextTaskID(events ...[]history.Event) int32 {
	next := int32(0)
	for _, list := range events {
		for _, ev := range list {
			switch ev.(type) {
			case *history.TaskScheduledEvent, *history.TimerCreatedEvent, *history.EventSentEvent,
				*history.SubOrchestrationInstanceCreatedEvent:
				next = max(next, ev.Base().EventID+1)
			}
		}
	}
	return next
}

// OpenChildren lists, in task id order, the sub-orchestrations that
// events (one execution's history, in order, and the events that follow
// it) started and did not hear from: the children a recursive terminate
// terminates.
func OpenChildren(events ...[]history.Event) []string {
	children := map[int32]string{}
	for _, list := range events {
		for _, ev := range list {
			if v, ok := ev.(*history.SubOrchestrationInstanceCreatedEvent); ok {
				children[v.EventID] = v.InstanceID
			} else if id, ok := rules.CompletionID(ev); ok {
				delete(children, id)
			}
		}
	}
	ids := make([]int32, 0, len(children))
	for id := range children {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, children[id])
	}
	return out
}

func started(now time.Time) history.Event {
	return &history.OrchestratorStartedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}
}

func completed(now time.Time) *history.OrchestratorCompletedEvent {
	return &history.OrchestratorCompletedEvent{EventBase: history.EventBase{EventID: -1, Timestamp: now}}
}

func (ep *Episode) maxGenerations() int {
	if ep.host.MaxGenerations > 0 {
		return ep.host.MaxGenerations
	}
	return DefaultMaxGenerations
}

// build converts the engine's result into history events and outbound
// messages; continue-as-new runs the next generations here.
func (ep *Episode) build(res *replay.Result) (*Output, error) {
	events := ep.newEvents
	newExecution := false
	for gen := 0; ; gen++ {
		events = append(events, ep.actions(res.Actions)...)
		c := res.Completion
		now := ep.host.Now()
		if c == nil {
			break
		}
		if c.Status != history.StatusContinuedAsNew {
			events = append(events, &history.ExecutionCompletedEvent{OrchestrationStatus: c.Status, Result: c.Output,
				FailureDetails: c.Failure, EventBase: history.EventBase{EventID: c.ID, Timestamp: now}})
			ep.notifyParent(c, now)
			for _, child := range c.TerminateChildren {
				ep.outbox = append(ep.outbox, &history.TaskMessage{
					Event:                 &history.ExecutionTerminatedEvent{Input: c.Output, Recursive: true, EventBase: history.EventBase{EventID: -1, Timestamp: now}},
					OrchestrationInstance: history.OrchestrationInstance{InstanceID: child}})
			}
			events = append(events, completed(now))
			return ep.output(events, newExecution, res, true), nil
		}
		// Continue as new: the next generation runs in this episode and
		// only the last generation's history is committed (C#'s behaviour).
		ep.cans = append(ep.cans, c)
		can := c.ContinueAsNew
		next := ep.nextStart(can, now)
		if gen+1 >= ep.maxGenerations() {
			return ep.handOff(events, c, next, res, newExecution), nil
		}
		runner, err := ep.newRunner(next, nil)
		if err != nil {
			return nil, err
		}
		genEvents := []history.Event{started(now), next}
		for _, ev := range can.Carry {
			ev.IsPlayed = true
			genEvents = append(genEvents, ev)
		}
		played := completed(now)
		played.IsPlayed = true
		genEvents = append(genEvents, played)
		ep.engine.Evict()
		ep.engine = runner
		if res, err = ep.engine.Apply(nil, genEvents); err != nil {
			return nil, err
		}
		events = genEvents
		ep.start = next
		newExecution = true
	}
	events = append(events, completed(ep.host.Now()))
	return ep.output(events, newExecution, res, false), nil
}

// historyLen is the committed history the current execution's actions
// build on: the work item's for its own execution, none for an execution
// that continued as new within the episode.
func (ep *Episode) historyLen() int {
	if ep.start != ep.work.Start {
		return 0
	}
	return ep.work.HistoryLen
}

// output finishes an episode; the engine of an execution that ended (or
// continued as new) is evicted.
func (ep *Episode) output(events []history.Event, newExecution bool, res *replay.Result, done bool) *Output {
	out := &Output{NewEvents: events, NewExecution: newExecution, Outbox: ep.outbox, CustomStatus: res.CustomStatus,
		Done: done, Start: ep.start, Result: res, ContinuedAsNew: ep.cans}
	if e, ok := ep.engine.(*replay.Engine); ok {
		out.Engine = e
	}
	if res.Completion != nil || out.Engine == nil {
		out.Engine = nil
		if ep.engine != nil {
			ep.engine.Evict()
		}
	}
	return out
}

// nextStart is the ExecutionStarted of the generation that follows a
// continue-as-new.
func (ep *Episode) nextStart(can *replay.ContinueAsNew, now time.Time) *history.ExecutionStartedEvent {
	start := ep.start
	version := start.Version
	if can.Version != nil {
		version = *can.Version
	}
	return &history.ExecutionStartedEvent{
		OrchestrationInstance: history.OrchestrationInstance{InstanceID: start.OrchestrationInstance.InstanceID, ExecutionID: ep.host.NewExecutionID()},
		ParentInstance:        start.ParentInstance, Name: start.Name, Version: version, Input: can.Input,
		Tags: start.Tags, ParentTraceContext: start.ParentTraceContext,
		EventBase: history.EventBase{EventID: -1, IsPlayed: true, Timestamp: now}}
}

// handOff commits a generation that continued as new with a ContinueAsNew
// completion and sends the next generation's start (and the carried
// events) as messages: used only past Host.MaxGenerations.
func (ep *Episode) handOff(events []history.Event, c *replay.Completion, next *history.ExecutionStartedEvent,
	res *replay.Result, newExecution bool) *Output {
	now := ep.host.Now()
	events = append(events, &history.ContinueAsNewEvent{OrchestrationStatus: history.StatusContinuedAsNew, Result: c.Output,
		EventBase: history.EventBase{EventID: c.ID, Timestamp: now}}, completed(now))
	next.IsPlayed = false
	ep.outbox = append(ep.outbox, &history.TaskMessage{Event: next, OrchestrationInstance: next.OrchestrationInstance})
	for _, ev := range c.ContinueAsNew.Carry {
		ev.IsPlayed = false
		ep.outbox = append(ep.outbox, &history.TaskMessage{Event: ev, OrchestrationInstance: next.OrchestrationInstance})
	}
	return ep.output(events, newExecution, res, false)
}

// actions converts scheduling actions into history events (as C# stores
// them: without the activity and sub-orchestration inputs) and outbound
// messages (which carry the inputs).
func (ep *Episode) actions(actions []history.Event) []history.Event {
	start := ep.start
	self := history.OrchestrationInstance{InstanceID: start.OrchestrationInstance.InstanceID, ExecutionID: start.OrchestrationInstance.ExecutionID}
	orchTags := start.Tags
	if orchTags == nil {
		orchTags = map[string]string{}
	}
	out := make([]history.Event, 0, len(actions))
	for _, a := range actions {
		now := ep.host.Now()
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
			child := history.OrchestrationInstance{InstanceID: v.InstanceID, ExecutionID: rules.ChildExecutionID(self, v.EventID, ep.historyLen())}
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
func (ep *Episode) notifyParent(c *replay.Completion, now time.Time) {
	p := ep.start.ParentInstance
	if p == nil {
		return
	}
	ep.outbox = append(ep.outbox, rules.ParentAnswer(p, c.Status, c.Output, c.Failure, now))
}

// StartsNewExecution reports whether a work item's messages start another
// execution than executionID, the one its history holds ("" for none).
func StartsNewExecution(executionID string, messages []history.Event) bool {
	for _, ev := range messages {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			return !strings.EqualFold(es.OrchestrationInstance.ExecutionID, executionID) || executionID == ""
		}
	}
	return false
}

// FindStart returns the ExecutionStarted of a work item's execution: the
// history's, else the messages', else nil.
func FindStart(past, messages []history.Event) *history.ExecutionStartedEvent {
	for _, ev := range past {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			return es
		}
	}
	for _, ev := range messages {
		if es, ok := ev.(*history.ExecutionStartedEvent); ok {
			return es
		}
	}
	return nil
}

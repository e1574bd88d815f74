package sidecar

import (
	"slices"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Orchestrations run by SDK workers talk to entities as a Go orchestration
// does (package durable): the SDK's sendEntityMessage actions become the
// same EventSent events, with the same RequestMessage and ReleaseMessage
// (package entity) and the same message clock, and the responses arrive as
// the same EventRaised events named by the request id. In the work items
// the SDK gets, those events are the protocol's entity events:
//
//	EventSent "op" (a call)           EntityOperationCalled
//	EventSent "op"/"op@…" (a signal)  EntityOperationSignaled
//	EventSent "op" (a lock request)   EntityLockRequested
//	EventSent "release"               EntityUnlockSent
//	EventRaised <call's request id>   EntityOperationCompleted, or EntityOperationFailed
//	EventRaised <lock request id>     EntityLockGranted
//
// The message clock (the sorter of the orchestration's sends) is rebuilt
// from the execution's past sends, each at its episode's time, as the Go
// engine rebuilds it by replaying them.

// entitySender turns an orchestration's entity actions into EventSent
// events.
type entitySender struct {
	self   history.OrchestrationInstance
	now    time.Time
	sorter entity.Sorter
}

// newEntitySender rebuilds the message clock from the sends of the
// execution's events.
func newEntitySender(self history.OrchestrationInstance, events [][]history.Event, now time.Time) *entitySender {
	s := &entitySender{self: self, now: now}
	var at time.Time
	for _, list := range events {
		for _, ev := range list {
			switch e := ev.(type) {
			case *history.OrchestratorStartedEvent:
				at = e.Timestamp
			case *history.EventSentEvent:
				if e.Name != entity.OpEvent || !entity.IsInstanceID(e.InstanceID) || e.Input == nil {
					continue
				}
				if r, err := entity.DecodeRequest(*e.Input); err == nil {
					s.sorter.LabelOutgoing(r, e.InstanceID, entity.UTCStamp(at))
				}
			}
		}
	}
	return s
}

// event converts a sendEntityMessage action.
func (s *entitySender) event(id int32, a *pb.SendEntityMessageAction) (history.Event, error) {
	base := history.EventBase{EventID: id}
	var r *entity.Request
	var target string
	switch x := a.GetEntityMessageType().(type) {
	case *pb.SendEntityMessageAction_EntityOperationCalled:
		c := x.EntityOperationCalled
		t, err := entityTarget(id, c.GetTargetInstanceId().GetValue())
		if err != nil {
			return nil, err
		}
		op := c.GetOperation()
		r = &entity.Request{Op: &op, Input: payload(c.GetInput()), ID: c.GetRequestId(), RequestTime: entity.RequestTimeText(s.now)}
		if err := s.due(id, r, c.GetScheduledTime()); err != nil {
			return nil, err
		}
		target = t
	case *pb.SendEntityMessageAction_EntityOperationSignaled:
		c := x.EntityOperationSignaled
		t, err := entityTarget(id, c.GetTargetInstanceId().GetValue())
		if err != nil {
			return nil, err
		}
		op := c.GetOperation()
		r = &entity.Request{Op: &op, Signal: true, Input: payload(c.GetInput()), ID: c.GetRequestId(), RequestTime: entity.RequestTimeText(s.now)}
		if err := s.due(id, r, c.GetScheduledTime()); err != nil {
			return nil, err
		}
		target = t
	case *pb.SendEntityMessageAction_EntityLockRequested:
		l := x.EntityLockRequested
		if len(l.GetLockSet()) == 0 {
			return nil, invalidAnswer("sendEntityMessage #%d: a lock request with no entities", id)
		}
		set := make([]entity.ID, 0, len(l.GetLockSet()))
		for _, e := range l.GetLockSet() {
			if _, err := entityTarget(id, e); err != nil {
				return nil, err
			}
			p, _ := entity.Parse(e)
			set = append(set, entity.NewID(p.Name, p.Key))
		}
		// Locked in the order of their instance ids, once each, so that
		// two orchestrations locking the same set cannot deadlock.
		slices.SortFunc(set, entity.Compare)
		set = slices.Compact(set)
		r = &entity.Request{ID: l.GetCriticalSectionId(), LockSet: set}
		target = set[0].InstanceID()
	case *pb.SendEntityMessageAction_EntityUnlockSent:
		u := x.EntityUnlockSent
		t, err := entityTarget(id, u.GetTargetInstanceId().GetValue())
		if err != nil {
			return nil, err
		}
		if u.GetCriticalSectionId() == "" {
			return nil, invalidAnswer("sendEntityMessage #%d: an unlock without a critical section id", id)
		}
		input := (&entity.Release{Parent: s.self.InstanceID, ID: u.GetCriticalSectionId()}).Encode()
		return &history.EventSentEvent{EventBase: base, InstanceID: t, Name: entity.ReleaseEvent, Input: &input}, nil
	default:
		return nil, invalidAnswer("sendEntityMessage #%d has no message", id)
	}
	if r.ID == "" {
		return nil, invalidAnswer("sendEntityMessage #%d has no request id", id)
	}
	if !isGUID(r.ID) {
		return nil, invalidAnswer("sendEntityMessage #%d: its request id %q is not a GUID, which the extension's request messages carry", id, r.ID)
	}
	name, input := s.sorter.SendFromOrchestration(r, s.self.InstanceID, s.self.ExecutionID, target, s.now)
	return &history.EventSentEvent{EventBase: base, InstanceID: target, Name: name, Input: &input}, nil
}

// due sets a request's delivery time.
func (s *entitySender) due(id int32, r *entity.Request, ts *timestamppb.Timestamp) error {
	if ts == nil {
		return nil
	}
	if ts.CheckValid() != nil {
		return invalidAnswer("sendEntityMessage #%d has an invalid scheduledTime", id)
	}
	due := entity.UTCStamp(ts.AsTime())
	r.Due = &due
	return nil
}

// entityTarget checks an entity instance id of an action and returns it
// with the name lower-cased.
func entityTarget(id int32, instanceID string) (string, error) {
	e, ok := entity.Parse(instanceID)
	if !ok || e.Validate() != nil {
		return "", invalidAnswer("sendEntityMessage #%d: %q is not an entity instance id (@name@key)", id, instanceID)
	}
	return entity.NewID(e.Name, e.Key).InstanceID(), nil
}

// workItemEventsProto converts events for an orchestrator work item, as
// eventsProto does, except that entity messages and responses become the
// protocol's entity events; before are the execution's events ahead of
// events (the requests they sent are answered in events).
func workItemEventsProto(before, events []history.Event) ([]*pb.HistoryEvent, error) {
	out, err := eventsProto(events)
	if err != nil {
		return nil, err
	}
	// The open calls and lock requests of the execution, by request id
	// (compared without regard to case, as event names are).
	open := map[string]bool{} // true: a lock request
	note := func(ev history.Event) *entity.Request {
		e, ok := ev.(*history.EventSentEvent)
		if !ok || !entity.IsRequestEvent(e.Name) || !entity.IsInstanceID(e.InstanceID) || e.Input == nil {
			return nil
		}
		r, err := entity.DecodeRequest(*e.Input)
		if err != nil {
			return nil
		}
		if r.IsLock() || !r.Signal {
			open[strings.ToLower(r.ID)] = r.IsLock()
		}
		return r
	}
	for _, ev := range before {
		if e, ok := ev.(*history.EventRaisedEvent); ok {
			delete(open, strings.ToLower(e.Name))
			continue
		}
		note(ev)
	}
	for i, ev := range events {
		switch e := ev.(type) {
		case *history.EventSentEvent:
			if r := note(ev); r != nil {
				setSentProto(out[i], e, r)
			} else if e.Name == entity.ReleaseEvent && entity.IsInstanceID(e.InstanceID) && e.Input != nil {
				if rel, err := entity.DecodeRelease(*e.Input); err == nil {
					out[i].EventType = &pb.HistoryEvent_EntityUnlockSent{EntityUnlockSent: &pb.EntityUnlockSentEvent{
						CriticalSectionId: rel.ID, ParentInstanceId: textIfSet(rel.Parent), TargetInstanceId: textIfSet(e.InstanceID)}}
				}
			}
		case *history.EventRaisedEvent:
			key := strings.ToLower(e.Name)
			lock, ok := open[key]
			if !ok {
				continue
			}
			delete(open, key)
			if lock {
				out[i].EventType = &pb.HistoryEvent_EntityLockGranted{EntityLockGranted: &pb.EntityLockGrantedEvent{CriticalSectionId: e.Name}}
				continue
			}
			resp := &entity.Response{}
			if e.Input != nil {
				if resp, err = entity.DecodeResponse(*e.Input); err != nil {
					continue
				}
			}
			if resp.ExceptionType == nil {
				out[i].EventType = &pb.HistoryEvent_EntityOperationCompleted{EntityOperationCompleted: &pb.EntityOperationCompletedEvent{
					RequestId: e.Name, Output: text(resp.Result)}}
			} else {
				out[i].EventType = &pb.HistoryEvent_EntityOperationFailed{EntityOperationFailed: &pb.EntityOperationFailedEvent{
					RequestId: e.Name, FailureDetails: &pb.TaskFailureDetails{ErrorType: *resp.ExceptionType, ErrorMessage: resp.FailureMessage()}}}
			}
		}
	}
	return out, nil
}

// setSentProto makes p the entity event of a request an orchestration
// sent.
func setSentProto(p *pb.HistoryEvent, e *history.EventSentEvent, r *entity.Request) {
	target := textIfSet(e.InstanceID)
	var due *timestamppb.Timestamp
	if r.Due != nil {
		due = stamp(r.Due.T)
	}
	switch {
	case r.IsLock():
		set := make([]string, len(r.LockSet))
		for i, id := range r.LockSet {
			set[i] = id.InstanceID()
		}
		p.EventType = &pb.HistoryEvent_EntityLockRequested{EntityLockRequested: &pb.EntityLockRequestedEvent{
			CriticalSectionId: r.ID, LockSet: set, Position: int32(r.Position), ParentInstanceId: textIfSet(r.Parent)}}
	case r.Signal:
		p.EventType = &pb.HistoryEvent_EntityOperationSignaled{EntityOperationSignaled: &pb.EntityOperationSignaledEvent{
			RequestId: r.ID, Operation: deref(r.Op), ScheduledTime: due, Input: text(r.Input), TargetInstanceId: target}}
	default:
		p.EventType = &pb.HistoryEvent_EntityOperationCalled{EntityOperationCalled: &pb.EntityOperationCalledEvent{
			RequestId: r.ID, Operation: deref(r.Op), ScheduledTime: due, Input: text(r.Input),
			ParentInstanceId: textIfSet(r.Parent), ParentExecutionId: textIfSet(r.ParentExecution), TargetInstanceId: target}}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// releasesAtEnd returns the releases of the critical section an execution
// still holds when it ends (completes, fails, is terminated or continues
// as new): a Go orchestration releases its locks then (package durable),
// and an SDK's may not, which would leave the entities locked by an
// instance that no longer runs. A section is held from the grant of its
// lock request until a release reaches each of its entities; the releases
// take ids from next on.
func releasesAtEnd(self history.OrchestrationInstance, events [][]history.Event, next int32) []history.Event {
	type section struct {
		id       string
		set      []entity.ID
		granted  bool
		released map[string]bool
	}
	var order []*section
	byID := map[string]*section{}
	for _, list := range events {
		for _, ev := range list {
			switch e := ev.(type) {
			case *history.EventSentEvent:
				if e.Input == nil || !entity.IsInstanceID(e.InstanceID) {
					continue
				}
				switch {
				case e.Name == entity.OpEvent:
					if r, err := entity.DecodeRequest(*e.Input); err == nil && r.IsLock() && r.Parent == self.InstanceID {
						s := &section{id: r.ID, set: r.LockSet, released: map[string]bool{}}
						byID[strings.ToLower(r.ID)] = s
						order = append(order, s)
					}
				case e.Name == entity.ReleaseEvent:
					if rel, err := entity.DecodeRelease(*e.Input); err == nil {
						if s := byID[strings.ToLower(rel.ID)]; s != nil {
							s.released[e.InstanceID] = true
						}
					}
				}
			case *history.EventRaisedEvent:
				if s := byID[strings.ToLower(e.Name)]; s != nil {
					s.granted = true
				}
			}
		}
	}
	var out []history.Event
	for _, s := range order {
		if !s.granted {
			continue
		}
		for _, id := range s.set {
			target := id.InstanceID()
			if s.released[target] {
				continue
			}
			input := (&entity.Release{Parent: self.InstanceID, ID: s.id}).Encode()
			out = append(out, &history.EventSentEvent{EventBase: history.EventBase{EventID: next}, InstanceID: target,
				Name: entity.ReleaseEvent, Input: &input})
			next++
		}
	}
	return out
}

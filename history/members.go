package history

// Member is one member of a history event as its C# class declares it.
//
// Value points at the member's value inside the event, and its type is the
// member's kind; every codec switches on it:
//
//	EventType                      the EventType member (a value: the Go
//	                               struct has no such field)
//	*string                        text that is never null ("" for null)
//	**string                       text that may be null
//	*int32, **int32                Int32, or a nullable one
//	*bool                          Boolean
//	*time.Time, **time.Time        DateTime (UTC), or a nullable one
//	*OrchestrationStatus           the enum: a number in JSON, a name in a
//	                               History column
//	*OrchestrationInstance, **ParentInstance, **DistributedTraceContext,
//	**FailureDetails, *map[string]string, *json.RawMessage
//	                               objects: nested JSON, or the JSON text of
//	                               a History column
//
// Readers write through Value into the event they fill.
type Member struct {
	// Name is C#'s member name: the JSON member in both dialects and the
	// History column (the table codec renames Timestamp, see tables).
	Name string
	// Value is a pointer to the member's value, or the EventType.
	Value any
}

// MaxMembers is the largest number of members an event has (JSONMembers
// included), for callers that pass Members a buffer of their own.
const MaxMembers = 16

// Members appends ev's members to dst in the order C# declares them, which
// is the order of its JSON: the class's own members, with EventType where
// the class puts it, then HistoryEvent's EventId, IsPlayed and Timestamp.
// It is the one description of every event's fields; the JSON codec of this
// package, the History table codec and the HTTP history all walk it.
func Members(dst []Member, ev Event) []Member {
	switch e := ev.(type) {
	case *ExecutionStartedEvent:
		// C# writes OrchestrationInstance before EventType.
		dst = append(dst,
			Member{"OrchestrationInstance", &e.OrchestrationInstance},
			Member{"EventType", ExecutionStarted},
			Member{"ParentInstance", &e.ParentInstance},
			Member{"Name", &e.Name},
			Member{"Version", &e.Version},
			Member{"Input", &e.Input},
			Member{"Tags", &e.Tags},
			Member{"Correlation", &e.Correlation},
			Member{"ParentTraceContext", &e.ParentTraceContext},
			Member{"ScheduledStartTime", &e.ScheduledStartTime},
			Member{"Generation", &e.Generation},
			Member{"GenerateNewTrace", &e.GenerateNewTrace})
	case *ExecutionCompletedEvent:
		dst = append(dst,
			Member{"EventType", ExecutionCompleted},
			Member{"OrchestrationStatus", &e.OrchestrationStatus},
			Member{"Result", &e.Result},
			Member{"FailureDetails", &e.FailureDetails})
	case *ContinueAsNewEvent:
		dst = append(dst,
			Member{"EventType", ContinueAsNew},
			Member{"OrchestrationStatus", &e.OrchestrationStatus},
			Member{"Result", &e.Result},
			Member{"FailureDetails", &e.FailureDetails})
	case *ExecutionTerminatedEvent:
		// Recursive is azdurable's own; see JSONMembers.
		dst = append(dst,
			Member{"EventType", ExecutionTerminated},
			Member{"Input", &e.Input})
	case *TaskScheduledEvent:
		dst = append(dst,
			Member{"EventType", TaskScheduled},
			Member{"Name", &e.Name},
			Member{"Version", &e.Version},
			Member{"Input", &e.Input},
			Member{"ParentTraceContext", &e.ParentTraceContext},
			Member{"Tags", &e.Tags})
	case *TaskCompletedEvent:
		dst = append(dst,
			Member{"EventType", TaskCompleted},
			Member{"TaskScheduledId", &e.TaskScheduledID},
			Member{"Result", &e.Result})
	case *TaskFailedEvent:
		dst = append(dst,
			Member{"EventType", TaskFailed},
			Member{"TaskScheduledId", &e.TaskScheduledID},
			Member{"Reason", &e.Reason},
			Member{"Details", &e.Details},
			Member{"FailureDetails", &e.FailureDetails})
	case *SubOrchestrationInstanceCreatedEvent:
		dst = append(dst,
			Member{"EventType", SubOrchestrationInstanceCreated},
			Member{"Name", &e.Name},
			Member{"Version", &e.Version},
			Member{"InstanceId", &e.InstanceID},
			Member{"Input", &e.Input},
			Member{"ClientSpanId", &e.ClientSpanID},
			Member{"Tags", &e.Tags})
	case *SubOrchestrationInstanceCompletedEvent:
		dst = append(dst,
			Member{"EventType", SubOrchestrationInstanceCompleted},
			Member{"TaskScheduledId", &e.TaskScheduledID},
			Member{"Result", &e.Result})
	case *SubOrchestrationInstanceFailedEvent:
		dst = append(dst,
			Member{"EventType", SubOrchestrationInstanceFailed},
			Member{"TaskScheduledId", &e.TaskScheduledID},
			Member{"Reason", &e.Reason},
			Member{"Details", &e.Details},
			Member{"FailureDetails", &e.FailureDetails})
	case *TimerCreatedEvent:
		dst = append(dst,
			Member{"EventType", TimerCreated},
			Member{"FireAt", &e.FireAt})
	case *TimerFiredEvent:
		dst = append(dst,
			Member{"EventType", TimerFired},
			Member{"TimerId", &e.TimerID},
			Member{"FireAt", &e.FireAt})
	case *OrchestratorStartedEvent:
		dst = append(dst, Member{"EventType", OrchestratorStarted})
	case *OrchestratorCompletedEvent:
		dst = append(dst, Member{"EventType", OrchestratorCompleted})
	case *EventSentEvent:
		dst = append(dst,
			Member{"EventType", EventSent},
			Member{"InstanceId", &e.InstanceID},
			Member{"Name", &e.Name},
			Member{"Input", &e.Input})
	case *EventRaisedEvent:
		dst = append(dst,
			Member{"EventType", EventRaised},
			Member{"Name", &e.Name},
			Member{"Input", &e.Input},
			Member{"ParentTraceContext", &e.ParentTraceContext})
	case *GenericEvent:
		// C# writes Data before EventType.
		dst = append(dst,
			Member{"Data", &e.Data},
			Member{"EventType", GenericEventType})
	case *HistoryStateEvent:
		dst = append(dst,
			Member{"EventType", HistoryState},
			Member{"State", &e.State})
	case *ExecutionSuspendedEvent:
		dst = append(dst,
			Member{"EventType", ExecutionSuspended},
			Member{"Reason", &e.Reason})
	case *ExecutionResumedEvent:
		dst = append(dst,
			Member{"EventType", ExecutionResumed},
			Member{"Reason", &e.Reason})
	case *ExecutionRewoundEvent:
		dst = append(dst,
			Member{"EventType", ExecutionRewound},
			Member{"Reason", &e.Reason},
			Member{"ParentExecutionId", &e.ParentExecutionID},
			Member{"InstanceId", &e.InstanceID},
			Member{"ParentTraceContext", &e.ParentTraceContext})
	}
	b := ev.Base()
	return append(dst,
		Member{"EventId", &b.EventID},
		Member{"IsPlayed", &b.IsPlayed},
		Member{"Timestamp", &b.Timestamp})
}

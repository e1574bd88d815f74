package provider

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// The checks below are the one home of every rule that can refuse a start,
// a client message or an episode for good. Clients call them before they
// build anything, and both backends call them again at the top of
// CreateInstance, SendMessages and CompleteOrchestration, before the first
// message is sent: a request that storage would refuse half-way (a History
// or Instances write after the messages went out) is refused whole instead,
// with an error wrapping ErrInvalid, so nothing is sent twice for a failure
// that would only recur.

// ErrDelayTooLong marks a message that would need a visibility delay over
// MaxVisibilityDelay, which Azure queues refuse. The validation errors that
// carry it wrap ErrInvalid too.
var ErrDelayTooLong = taskhub.ErrDelayTooLong

// ValidateInstanceID refuses an instance id that storage cannot hold: an
// empty id, bytes that are not UTF-8 (they would be changed on the way to
// storage, and the instance would answer to another id), and an id whose
// escaped PartitionKey is longer than the Table service's key limit
// (512 UTF-16 code units, counted after escaping, so an id of 300 '/'
// characters is too long).
func ValidateInstanceID(id string) error {
	switch {
	case id == "":
		return invalid("the instance id is empty")
	case !utf8.ValidString(id):
		return invalid("the instance id %s is not valid UTF-8", showID(id))
	}
	if !taskhub.KeyFits(id) {
		return invalid("the instance id %s is %d UTF-16 code units long once escaped for a table key; at most %d fit", showID(id), taskhub.PartitionKeyUnits(id), taskhub.MaxKeyUnits)
	}
	return nil
}

// ValidateOrchestrationID refuses an orchestration at an entity's instance
// id ("@name@key"): only an entity's own messages start such an instance,
// and a worker runs it as the entity. Clients and episodes that start
// orchestrations call it; the backends' CreateInstance does not, so that
// a store may hold any row a C# client could have written.
func ValidateOrchestrationID(id string) error {
	if entity.IsInstanceID(id) {
		return invalid("the instance id %s is an entity's (orchestration instance ids must not start with '@')", showID(id))
	}
	return nil
}

// ValidateStart checks a top-level start (what CreateInstance sends): an
// ExecutionStarted addressed to the instance it names, with a valid
// instance id, an execution id, an orchestration name, a version and trace
// context that fit their table columns, and a scheduled start that an
// Azure queue can delay to (at most MaxVisibilityDelay after now).
func ValidateStart(tm *history.TaskMessage, now time.Time) error {
	if tm == nil || tm.Event == nil {
		return invalid("the start message is empty")
	}
	es, ok := tm.Event.(*history.ExecutionStartedEvent)
	if !ok {
		return invalid("a start needs an ExecutionStarted message, not %s", tm.Event.Type())
	}
	id := es.OrchestrationInstance.InstanceID
	if mid := tm.OrchestrationInstance.InstanceID; mid != "" && mid != id {
		return invalid("the start message is addressed to %s, its ExecutionStarted names %s", showID(mid), showID(id))
	}
	if err := ValidateInstanceID(id); err != nil {
		return err
	}
	if es.OrchestrationInstance.ExecutionID == "" {
		return invalid("the start of %s has no execution id", showID(id))
	}
	return validateStarted(es, now)
}

// validateStarted checks what every ExecutionStarted must carry, whoever
// sends it (a client, a parent, a continue-as-new).
func validateStarted(es *history.ExecutionStartedEvent, now time.Time) error {
	id := es.OrchestrationInstance.InstanceID
	if err := ValidateOrchestrationName(es.Name); err != nil {
		return fmt.Errorf("the start of %s: %w", showID(id), err)
	}
	if err := fitsColumn("version", es.Version); err != nil {
		return err
	}
	if len(es.Tags) > 0 {
		// The Instances row keeps them, as JSON, in a column of their own.
		if err := fitsColumn("tags' JSON", string(history.AppendTags(nil, es.Tags))); err != nil {
			return err
		}
	}
	if tc := es.ParentTraceContext; tc != nil {
		if err := fitsColumn("trace parent", tc.TraceParent); err != nil {
			return err
		}
	}
	if t := es.ScheduledStartTime; t != nil && taskhub.BeforeTableTimes(*t) {
		return invalid("the start of %s is scheduled for %s, before %s, the earliest time an Azure table stores",
			showID(id), t.UTC().Format(time.RFC3339), taskhub.EarliestTableTime.Format("2006-01-02"))
	}
	if t := es.ScheduledStartTime; t != nil && taskhub.DueTooLate(*t, now) {
		return invalid("%w: the start of %s is scheduled for %s, more than 7 days ahead",
			ErrDelayTooLong, showID(id), t.UTC().Format(time.RFC3339))
	}
	return nil
}

// ValidateOrchestrationName refuses a name that no start can carry: one
// that is empty or blank, or longer than the column the Instances row
// keeps it in (a name is never moved to a blob).
func ValidateOrchestrationName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("no orchestration is named")
	}
	return fitsColumn("orchestration name", name)
}

// ValidateMessage checks a client message (an event, terminate, suspend or
// resume) before it is sent: it must hold an event and name a valid
// instance.
func ValidateMessage(tm *history.TaskMessage) error {
	if tm == nil || tm.Event == nil {
		return invalid("the message is empty")
	}
	return ValidateInstanceID(tm.OrchestrationInstance.InstanceID)
}

// ValidateEpisode checks an episode before its commit sends anything: the
// instance whose history it writes, every outbound message's target (a
// child's start also as a start), the delays of timers and scheduled
// starts, and the versions of the new events.
func ValidateEpisode(instanceID string, r *EpisodeResult, now time.Time) error {
	if err := ValidateInstanceID(instanceID); err != nil {
		return fmt.Errorf("the episode's own instance: %w", err)
	}
	if r == nil {
		return invalid("the episode of %s has no result", showID(instanceID))
	}
	for _, ev := range r.NewEvents {
		var version string
		switch v := ev.(type) {
		case *history.ExecutionStartedEvent:
			if err := validateStarted(v, now); err != nil {
				return err
			}
			continue
		case *history.TimerCreatedEvent:
			if taskhub.BeforeTableTimes(v.FireAt) {
				return invalid("timer %d of %s fires at %s, before %s, the earliest time an Azure table stores",
					v.EventID, showID(instanceID), v.FireAt.UTC().Format(time.RFC3339), taskhub.EarliestTableTime.Format("2006-01-02"))
			}
		case *history.TaskScheduledEvent:
			version = v.Version
		case *history.SubOrchestrationInstanceCreatedEvent:
			version = v.Version
		}
		if err := fitsColumn("version", version); err != nil {
			return err
		}
	}
	for _, tm := range r.Outbox {
		if tm == nil || tm.Event == nil {
			return invalid("the episode of %s sends an empty message", showID(instanceID))
		}
		target := tm.OrchestrationInstance.InstanceID
		switch tm.Event.(type) {
		case *history.TaskScheduledEvent, *history.TimerFiredEvent:
			// Activity calls and timers belong to the committing instance;
			// backends fill in an empty address.
			if target == "" {
				target = instanceID
			}
		}
		if err := ValidateInstanceID(target); err != nil {
			return fmt.Errorf("a %s message from %s: %w", tm.Event.Type(), showID(instanceID), err)
		}
		switch v := tm.Event.(type) {
		case *history.ExecutionStartedEvent:
			if err := ValidateOrchestrationID(target); err != nil {
				return err
			}
			if v.OrchestrationInstance.InstanceID != target {
				return invalid("the episode of %s sends a start addressed to %s for %s", showID(instanceID), showID(target), showID(v.OrchestrationInstance.InstanceID))
			}
			if err := validateStarted(v, now); err != nil {
				return err
			}
		case *history.TimerFiredEvent:
			if taskhub.DueTooLate(v.FireAt, now) {
				return invalid("%w: timer %d of %s fires at %s, more than 7 days ahead",
					ErrDelayTooLong, v.TimerID, showID(instanceID), v.FireAt.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// fitsColumn refuses a value that is stored in a table column of its own
// that is never moved to a blob, when it is over the column limit.
func fitsColumn(what, v string) error {
	if taskhub.ExceedsColumnLimit(v) {
		return invalid("the %s is %d UTF-16 code units long; a table column holds at most %d", what, taskhub.UTF16Len(v), taskhub.MaxColumnUTF16Bytes/2)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// showID quotes an id for an error message, shortened when long.
func showID(id string) string {
	const keep = 40
	if len(id) <= keep {
		return fmt.Sprintf("%q", id)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", id[:cut], len(id))
}

package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
)

// Info describes a schedule as its instance shows it.
type Info struct {
	Definition
	Progress
	// InstanceID is the schedule's reserved instance id.
	InstanceID string
	// Revision tells one creation of the schedule from another.
	Revision string
	// CreatedAt is when the schedule was created; LastUpdatedAt when its
	// instance last changed.
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	// Failure is why the schedule's orchestration failed (Status Failed).
	Failure string
}

// NameOf returns the schedule name of a schedule instance id.
func NameOf(instanceID string) (string, bool) {
	name, ok := strings.CutPrefix(instanceID, IDPrefix)
	return name, ok && ValidateName(name) == nil
}

// Describe reads a schedule from its instance's status (with its input,
// custom status and output), written with conv (nil: JSON). An instance
// that is not a schedule gives ErrNotSchedule.
func Describe(st *history.OrchestrationState, conv payload.Converter) (*Info, error) {
	conv = payload.Or(conv)
	id := st.OrchestrationInstance.InstanceID
	if _, ok := NameOf(id); !ok || st.Name != OrchestrationName {
		return nil, fmt.Errorf("%w: %q", ErrNotSchedule, id)
	}
	if st.Input == nil {
		return nil, fmt.Errorf("%w: %q has no input", ErrNotSchedule, id)
	}
	var s state
	if err := conv.Unmarshal(*st.Input, &s); err != nil {
		return nil, fmt.Errorf("%w: reading the input of %q: %v", ErrNotSchedule, id, err)
	}
	d, err := s.Schedule.definition()
	if err != nil {
		return nil, fmt.Errorf("%w: reading the input of %q: %v", ErrNotSchedule, id, err)
	}
	info := &Info{Definition: *d, Progress: s.Progress, InstanceID: id, Revision: s.Revision,
		CreatedAt: s.Created, LastUpdatedAt: st.LastUpdatedTime}
	// The custom status (and, once finished, the output) is more recent
	// than the input, which is written once per execution.
	latest := st.CustomStatus
	if st.Status == history.StatusCompleted && st.Output != nil {
		latest = st.Output
	}
	if latest != nil {
		var p Progress
		if conv.Unmarshal(*latest, &p) == nil && p.Status != "" {
			info.Progress = p
		}
	}
	switch st.Status {
	case history.StatusPending:
		info.Status, info.NextTick = Pending, d.Next(s.After)
		if s.Paused {
			info.Status, info.NextTick = Paused, time.Time{}
		}
	case history.StatusRunning, history.StatusContinuedAsNew:
		if info.Status != Paused {
			info.Status = Active
		}
	case history.StatusSuspended:
		info.Status, info.NextTick = Suspended, time.Time{}
	case history.StatusCompleted:
		if info.Status != Ended {
			info.Status = Deleted
		}
		info.NextTick = time.Time{}
	case history.StatusFailed:
		info.Status, info.NextTick = Failed, time.Time{}
		if st.FailureDetails != nil {
			info.Failure = st.FailureDetails.ErrorMessage
		} else if st.Output != nil {
			info.Failure = *st.Output
		}
	default:
		info.Status, info.NextTick = Terminated, time.Time{}
	}
	return info, nil
}

package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// ErrStopping is the cause (context.Cause) of an activity's context when
// the worker cancelled it because it is stopping and the drain period
// (Options.ShutdownTimeout) has passed. The worker then gives the work
// item back to its queue instead of reporting a result, unless the
// activity still returns success.
var ErrStopping = errors.New("worker: stopping")

// ErrInstanceEnded is the cause (context.Cause) of an activity's context
// when the worker cancelled it because the execution of the orchestration
// that scheduled it has ended (terminated, completed, failed or continued
// as new): whatever the activity returns is dropped by the orchestration.
var ErrInstanceEnded = errors.New("worker: the orchestration instance of this activity has ended")

// runningActivity is an activity this worker runs.
type runningActivity struct {
	executionID string
	cancel      context.CancelCauseFunc
}

// runningSet holds the activities in flight by instance id, so that the
// worker can cancel those of an instance whose execution it has just
// ended.
type runningSet struct {
	mu         sync.Mutex
	byInstance map[string]map[*runningActivity]struct{}
}

// add records a running activity; the returned func forgets it.
func (s *runningSet) add(inst history.OrchestrationInstance, cancel context.CancelCauseFunc) (remove func()) {
	a := &runningActivity{executionID: inst.ExecutionID, cancel: cancel}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byInstance == nil {
		s.byInstance = map[string]map[*runningActivity]struct{}{}
	}
	set := s.byInstance[inst.InstanceID]
	if set == nil {
		set = map[*runningActivity]struct{}{}
		s.byInstance[inst.InstanceID] = set
	}
	set[a] = struct{}{}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(set, a)
		if len(s.byInstance[inst.InstanceID]) == 0 {
			delete(s.byInstance, inst.InstanceID)
		}
	}
}

// endedAfterCommit cancels the activities of an instance whose history
// this worker has just committed: those of any other execution (older, as
// the commit holds the newest history), and those of the current execution
// too when the commit ended it. It returns how many it cancelled.
func (s *runningSet) endedAfterCommit(instanceID, currentExecution string, ended bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for a := range s.byInstance[instanceID] {
		if ended || !strings.EqualFold(a.executionID, currentExecution) {
			a.cancel(ErrInstanceEnded)
			n++
		}
	}
	return n
}

// cancelEndedActivities is called after every successful commit of an
// episode (see the package note).
func (w *Worker) cancelEndedActivities(wi *provider.OrchestrationWorkItem, ended bool) {
	if n := w.activities.endedAfterCommit(wi.InstanceID, wi.ExecutionID, ended); n > 0 {
		w.stats.ActivitiesCancelled.Add(int64(n))
		w.log.Info("worker: cancelled the running activities of an ended execution", "instance", wi.InstanceID, "count", n)
	}
}

// executionEnded asks the backend whether the execution that scheduled an
// activity has ended. It is called alongside the periodic lock renewal of
// an activity that runs long, so that an activity whose instance another
// process terminated learns it within one renewal interval. Only an
// Instances row of the same execution with a final status (or
// ContinuedAsNew) counts; a missing row or a read error does not.
func (w *Worker) executionEnded(ctx context.Context, wi *provider.ActivityWorkItem) bool {
	st, err := w.be.GetState(ctx, wi.Instance.InstanceID, false)
	if err != nil || st == nil {
		return false
	}
	if !strings.EqualFold(st.OrchestrationInstance.ExecutionID, wi.Instance.ExecutionID) {
		return false
	}
	return st.Status.IsTerminal() || st.Status == history.StatusContinuedAsNew
}

// stopAbandonDelay is how soon the messages of an episode that the
// worker's stop interrupted are visible again: short, whatever their
// dequeue count, because nothing was wrong with them.
const stopAbandonDelay = time.Second

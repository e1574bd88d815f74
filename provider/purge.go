package provider

import (
	"slices"

	"github.com/azdurable/azdurable/history"
)

// The purge rules. Purging deletes an instance's history and status for
// good, so only a finished instance may be purged: purging a running,
// pending or suspended one would destroy work in flight, and its worker
// would meet an instance that no longer exists. C#'s client refuses to
// purge one unfinished instance, but its purge by filter drops the
// unfinished statuses from the filter and, when none is left, purges every
// status; azdurable never purges an unfinished instance, by id or by
// filter, whatever the filter says. Backend.Purge itself purges whatever
// the status (the client applies Purgeable first, as C#'s client does);
// Backend.PurgeWhere applies PurgeStatuses and re-checks each instance's
// status just before deleting it.

// terminalStatuses are the statuses of finished instances, in C#'s order.
var terminalStatuses = []history.OrchestrationStatus{
	history.StatusCompleted, history.StatusFailed, history.StatusCanceled, history.StatusTerminated,
}

// Purgeable reports whether an instance in status s may be purged: only a
// finished one (Completed, Failed, Canceled or Terminated).
func Purgeable(s history.OrchestrationStatus) bool { return s.IsTerminal() }

// PurgeStatuses returns the statuses a purge by f deletes: the finished
// statuses among f.Statuses (the others are dropped, as C# drops them),
// or every finished status when f.AllStatuses is set. With no finished
// status left and AllStatuses unset it fails with ErrPurgeNeedsStatuses.
// The result never holds an unfinished status.
func (f PurgeFilter) PurgeStatuses() ([]history.OrchestrationStatus, error) {
	if f.AllStatuses {
		return slices.Clone(terminalStatuses), nil
	}
	var out []history.OrchestrationStatus
	for _, s := range f.Statuses {
		if Purgeable(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, ErrPurgeNeedsStatuses
	}
	return out, nil
}

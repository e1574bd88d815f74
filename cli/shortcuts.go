package cli

import (
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/spf13/cobra"
)

// shortcutFlags turn off the backend's in-process shortcuts, each on its
// own, and set how long held work items stay hidden: with both shortcuts
// off a worker moves every activity and result through the queues as C#
// does.
type shortcutFlags struct {
	noLocalActivities bool
	noLocalResults    bool
	activityHold      time.Duration
}

func addShortcutFlags(cmd *cobra.Command) *shortcutFlags {
	s := &shortcutFlags{}
	fl := cmd.Flags()
	fl.BoolVar(&s.noLocalActivities, "no-local-activities", false,
		"send every activity through the work-item queue visibly, as C# does (by default those this worker's free activity slots can start at once are kept back for them)")
	fl.BoolVar(&s.noLocalResults, "no-local-results", false,
		"send every activity result through the control queue, as C# does (by default a result for a partition this worker owns goes to the orchestration in memory)")
	fl.DurationVar(&s.activityHold, "activity-hold", azurestorage.DefaultActivityHold,
		"how long a work item this worker holds stays hidden from other workers unless renewed (renewed every third of it while held; after a crash its work is visible again within this time)")
	return s
}

func (s *shortcutFlags) validate() error {
	if s.activityHold < 2*time.Second {
		return usagef("--activity-hold must be at least 2s")
	}
	return nil
}

func (s *shortcutFlags) apply(o *azurestorage.Options) {
	o.NoLocalActivities = s.noLocalActivities
	o.NoLocalResults = s.noLocalResults
	o.ActivityHold = s.activityHold
}

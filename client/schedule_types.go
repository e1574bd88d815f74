package client

import (
	"time"

	"github.com/azdurable/azdurable/internal/schedule"
)

// ScheduleOptions say what a schedule starts and when (CreateSchedule).
type ScheduleOptions struct {
	// Cron is the CRON expression: five fields (minute hour day-of-month
	// month day-of-week), or six with seconds first, or a descriptor such
	// as @hourly, @daily or @every 90s.
	Cron string
	// TimeZone is the IANA zone the expression is read in, such as
	// Europe/Berlin ("" means UTC; the machine's local zone is never
	// implied).
	TimeZone string
	// Orchestration and Version name what each tick starts.
	Orchestration string
	Version       string
	// Input is every tick's input, encoded with the client's
	// DataConverter (a json.RawMessage is stored as it is); nil means
	// none.
	Input any
	// CatchUp is the policy for missed ticks (default CatchUpLatest).
	CatchUp CatchUp
	// Grace is how late a tick may be started and still count as on time
	// (default one minute); later ticks follow CatchUp.
	Grace time.Duration
	// End, if set, ends the schedule after its last tick at or before End.
	End time.Time
}

// CatchUp says what happens to ticks that passed while no worker ran the
// schedule (ticks more than Grace in the past when the schedule looks).
type CatchUp string

// The catch-up policies.
const (
	// CatchUpLatest starts the most recent missed tick, late, and skips
	// the others; if a tick is due on time anyway, every missed one is
	// skipped. It is the default.
	CatchUpLatest = CatchUp(schedule.CatchUpLatest)
	// CatchUpAll starts every missed tick, late, each once, in order.
	CatchUpAll = CatchUp(schedule.CatchUpAll)
	// CatchUpNone skips every missed tick.
	CatchUpNone = CatchUp(schedule.CatchUpNone)
)

// ScheduleStatus is where a schedule is in its life.
type ScheduleStatus string

// The statuses of a schedule.
const (
	// SchedulePending: created; its orchestration has not run yet.
	SchedulePending = ScheduleStatus(schedule.Pending)
	// ScheduleActive: waiting for its next tick.
	ScheduleActive = ScheduleStatus(schedule.Active)
	// SchedulePaused: skipping ticks until it is resumed.
	SchedulePaused = ScheduleStatus(schedule.Paused)
	// ScheduleSuspended: its instance was suspended (instances suspend);
	// events wait until it is resumed the same way.
	ScheduleSuspended = ScheduleStatus(schedule.Suspended)
	// ScheduleDeleted: deleted; it starts nothing more.
	ScheduleDeleted = ScheduleStatus(schedule.Deleted)
	// ScheduleEnded: its last tick before End has passed.
	ScheduleEnded = ScheduleStatus(schedule.Ended)
	// ScheduleFailed: its orchestration failed (ScheduleInfo.Failure says
	// why).
	ScheduleFailed = ScheduleStatus(schedule.Failed)
	// ScheduleTerminated: its instance was terminated or canceled.
	ScheduleTerminated = ScheduleStatus(schedule.Terminated)
)

// Finished reports whether the schedule will start nothing more.
func (s ScheduleStatus) Finished() bool { return schedule.Status(s).Finished() }

// ScheduleInfo describes a schedule as its instance shows it.
type ScheduleInfo struct {
	// Name, Cron, TimeZone ("UTC" when none was given), Orchestration,
	// Version, CatchUp, Grace and End are the schedule's definition;
	// Input is every tick's input as stored text (nil: none).
	Name          string
	Cron          string
	TimeZone      string
	Orchestration string
	Version       string
	Input         *string
	CatchUp       CatchUp
	Grace         time.Duration
	End           time.Time

	// Status is where the schedule is; NextTick the tick it waits for
	// (zero when paused or finished).
	Status   ScheduleStatus
	NextTick time.Time
	// LastTick and LastInstanceID are the most recent tick started and its
	// instance.
	LastTick       time.Time
	LastInstanceID string
	// Started counts ticks whose instance was started, Skipped missed
	// ticks that the catch-up policy passed over (ticks that fall during a
	// pause are not counted), and StartFailures ticks whose start failed
	// after retries (LastError).
	Started       int64
	Skipped       int64
	StartFailures int64
	LastError     string
	// AlreadyStarted counts the ticks (among Started) whose start found
	// the instance there already.
	AlreadyStarted int64

	// InstanceID is the schedule's reserved instance id.
	InstanceID string
	// Revision tells one creation of the schedule from another.
	Revision string
	// CreatedAt is when the schedule was created; LastUpdatedAt when its
	// instance last changed.
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	// Failure is why the schedule's orchestration failed (ScheduleFailed).
	Failure string
}

func (o ScheduleOptions) definition() schedule.Options {
	return schedule.Options{Cron: o.Cron, TimeZone: o.TimeZone, Orchestration: o.Orchestration, Version: o.Version,
		Input: o.Input, CatchUp: schedule.CatchUp(o.CatchUp), Grace: o.Grace, End: o.End}
}

func scheduleInfo(i *schedule.Info) *ScheduleInfo {
	return &ScheduleInfo{Name: i.Name, Cron: i.Cron, TimeZone: i.TimeZone, Orchestration: i.Orchestration, Version: i.Version,
		Input: i.Input, CatchUp: CatchUp(i.CatchUp), Grace: i.Grace, End: i.End,
		Status: ScheduleStatus(i.Status), NextTick: i.NextTick, LastTick: i.LastTick, LastInstanceID: i.LastInstanceID,
		Started: i.Started, Skipped: i.Skipped, StartFailures: i.StartFailures, LastError: i.LastError, AlreadyStarted: i.AlreadyStarted,
		InstanceID: i.InstanceID, Revision: i.Revision, CreatedAt: i.CreatedAt, LastUpdatedAt: i.LastUpdatedAt, Failure: i.Failure}
}

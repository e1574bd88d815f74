// Package schedule starts orchestrations on a CRON expression: the rules
// of a schedule (its name, its reserved instance id, the CRON syntax and
// time zone, the id of each tick's instance, the catch-up policies) and the
// orchestration that carries it out. Clients create, pause, resume, delete
// and list schedules with the client package (client.CreateSchedule and the
// others); every worker (worker.New) hosts the orchestration and its start
// activity without being asked, and runs it whatever its Versioning (the
// ticks' instances carry the version the schedule names).
//
// A schedule named N is the orchestration instance "schedule:N" (ids that
// start with "schedule:" are reserved for schedules). Its input holds the
// definition and its progress; it waits for each tick on a durable timer
// computed from ctx.Now() (never the wall clock), starts the target with
// the instance id N@<tick time in UTC, yyyyMMddTHHmmssZ>, and continues as
// new every few ticks so that its history stays short. Pause, resume and
// delete are external events to it, applied one at a time in the order
// they arrive, so concurrent calls never interleave halfway; the last one
// applied wins.
//
// Design note. Exactly-once starts come from the tick's instance id, not
// from the schedule's bookkeeping: the start activity creates the instance
// with every status in the de-duplication list (TickDedupeStatuses), so a
// start that runs again (a worker died after starting the instance but
// before reporting back, or a retry) finds the instance, whether it still
// runs or has finished, and starts nothing. A tick counts as handled only
// once its start activity has answered, and the schedule's progress is
// committed with its history, so a worker crash at any point makes the
// next worker redo at most that idempotent start. Ticks that passed while
// no worker ran (more than Grace ago when the schedule looks) follow the
// schedule's catch-up policy: all started late (CatchUpAll), only the most
// recent started late (CatchUpLatest, the default; none if a tick is due on
// time anyway), or none (CatchUpNone). Ticks that fall while the schedule
// is paused are skipped.
//
// Limits. The CRON parser is robfig/cron/v3: five fields, or six with
// seconds first, or a descriptor (@hourly, @daily, @every 90s); times in a
// local hour that a daylight-saving change skips do not fire, and times in
// an hour it repeats fire twice (each is a tick of its own). Time zones
// come from the system's zone database, or from the copy embedded in the
// binary (time/tzdata) where the system has none. A tick's start is retried for about ten
// minutes (a storage outage); if it still fails, the tick is counted in
// StartFailures and the schedule goes on. Pause, resume and delete take
// effect once the starts in flight have answered. On a task hub shared
// with C# workers a schedule runs only while a Go worker owns the
// control-queue partition of its instance id: a C# worker does not know
// the schedule orchestration or its start activity, and abandons their
// messages with its back-off, so they wait for a Go worker. Run at least
// one Go worker on such a hub and expect ticks to be late while C#
// workers own the partition (the catch-up policy then applies).
package schedule

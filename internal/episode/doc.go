// Package episode is the step from one orchestration work item to what the
// backend commits: the events to append to the history, the messages to
// send and the custom status, from which the backend derives the instance's
// status (package rules, Checkpoint). The worker runs it for every work
// item, and the engine's simulator (internal/replay/replaytest) runs the
// same step, so engine tests see the history production writes.
//
// Design note. The step is pure: it imports only history, the engine
// (internal/replay) and rules, performs no I/O and reads the time and new
// execution ids only through its Host. Its caller does the I/O: it loads
// the history (and, to verify a cached engine, the stored history), finds
// the code, commits the Output, and keeps Output.Engine for the next work
// item. One call, Run, drives the engine for the whole episode:
//
//   - the work item's messages follow an OrchestratorStarted event (all
//     marked IsPlayed) and are applied to the cached engine, or to a fresh
//     one after the stored history;
//   - with Work.Verify, the same new events are applied to a fresh engine
//     after the stored history, and both must emit the same actions;
//   - the actions become history events as C# stores them (activity and
//     sub-orchestration inputs travel only in the messages) and messages:
//     activity calls (with the trace parent and the orchestration's tags),
//     timers (TimerFired, due at FireAt), child starts (ExecutionStarted
//     with a new execution id and the parent), events to other instances;
//   - an end appends ExecutionCompleted, tells a parent (Completed, or
//     Failed for a failed or terminated child) and terminates the children
//     a recursive terminate names;
//   - continue-as-new runs the next generation in the same episode, with
//     the carried events, and only the last generation is committed (its
//     whole history, NewExecution), as C# does; past Host.MaxGenerations
//     generations the last one is committed with a ContinueAsNew event and
//     the next start (and carried events) is sent as messages instead.
//
// Fail builds the commit that fails the instance (non-determinism, a
// version this worker may not run), and Terminate the commit that ends an
// instance whose code this worker does not host.
package episode

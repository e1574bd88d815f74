// Package replay is azdurable's orchestration engine: a pure function of
// (past events, new events, orchestrator code) → (ordered actions, custom
// status, completion). It performs no I/O, reads no clock and starts no
// timers; the worker does all of that around it.
//
// Design note.
//
// Coroutines. Orchestrator code runs on ordinary goroutines, one per
// coroutine (the root, plus any started with Go), but exactly one of them
// runs at a time: control is a token handed over on channels. A coroutine
// that awaits an unfinished task parks and hands the token back; nothing is
// unwound, so defer and recover behave normally. A coroutine started with Go
// runs at once until it parks, like a C# async method runs synchronously
// until its first incomplete await, which keeps task ids identical to what
// straight-line C# code produces.
//
// Events in history order. Apply pushes one event at a time and, after each,
// resumes every parked coroutine whose wait is satisfied (in creation order,
// repeatedly) until all are parked. Readiness therefore follows history
// order, never the wall clock, and the first run and every replay assign the
// same task ids even within one batch of messages.
//
// Ids and matching. One counter per execution, from 0, is consumed by
// activities, timers (each piece of a long timer), sub-orchestrations, sent
// events and the completion, as C#'s idCounter is. Actions wait in
// pending[id] until their scheduling event appears in history; a scheduling
// event with no matching action, or of another kind or name, is a
// non-determinism error, and so is an action left unmatched at or below the
// highest recorded id once the past events have been applied. Completions
// resolve open[id]; unknown or closed ids are duplicates and ignored.
//
// Deadlocks. Orchestrator code that waits on anything but a durable call (a
// native channel, a lock, time.Sleep, I/O) holds the token for ever. While
// the dispatcher waits for a coroutine to hand the token back, it samples
// the state of the goroutine holding it from a stack dump, every tenth of
// the deadlock timeout; only when that goroutine was waiting in every
// sample for the whole timeout does Apply fail with ErrDeadlock. Code that
// is slow because it computes, or because the machine has no CPU to give
// it, is running or runnable in the samples and is never stopped, so a
// correct orchestration is never abandoned (nor, counted as a failure of
// its own, quarantined) because the machine is busy. Code that loops for
// ever without waiting is not caught; it is logged once at WARN after the
// timeout.
//
// Eviction. Evict unwinds every parked goroutine with runtime.Goexit, so
// defers run and recover cannot stop it; from the start of eviction every
// durable call is inert and records nothing.
package replay

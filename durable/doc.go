// Package durable is what orchestration and activity code imports: typed
// handles that both register and call orchestrations and activities, the
// orchestration Context (deterministic time, GUIDs, random numbers, a
// replay-safe logger, custom status), futures and their composition
// (WhenAll, WhenAllOf, WhenAny, Selector), durable timers, external events,
// sub-orchestrations, retries, continue-as-new and typed failures.
//
// Orchestrator code must be deterministic: it is run again from its history
// whenever its worker has no cached copy, and must then make the same durable
// calls in the same order. Use ctx.Now, ctx.NewGUID, ctx.Rand and
// DeterministicKeys instead of time.Now, uuid.New, math/rand and ranging over
// maps; use durable.Go instead of the go statement, and timers and events
// instead of time.Sleep and channels.
//
// Design note. The package is a typed layer over internal/replay, which owns
// task ids, matching against history and the coroutine scheduling; nothing
// here consumes a task id except the calls that C# also numbers (activities,
// timers, sub-orchestrations, sent events). Payloads are JSON text produced
// by a DataConverter. Activity inputs are written in C#'s parameter-array
// form ([x]); see Activity for how they are read.
package durable

// Package entity is the pure core of durable entities as the Durable
// Functions extension stores them: entity ids and their instance ids
// (@name@key), the messages entities and their callers exchange (request,
// response and release messages, carried by EventRaised events named "op",
// "op@<due time>", "release" or the request id), the scheduler state an
// entity keeps as its instance's input (exists, state, queue, lockedBy,
// sorter), the message sorter that orders and de-duplicates requests, and
// Step, which runs one batch of an entity's messages.
//
// Design note. An entity is an orchestration instance whose every episode
// continues as new: the committed history of an entity is always one fresh
// execution of three events (OrchestratorStarted, ExecutionStarted whose
// input is the scheduler state, OrchestratorCompleted), written from row 0.
// Nothing of an entity is replayed, so its operations may do anything; the
// scheduler state is the checkpoint. Step is pure: it performs no I/O,
// reads no clock, and runs user code only through the Runner it is given.
// The byte layouts follow the extension (Microsoft.Azure.WebJobs.Extensions.DurableTask
// 3.19) as recorded in docs/entities.md, with one member of azdurable's
// own in each of three places (the extension ignores members it does not
// know): a request's delivery key, a response's copyOf, and the scheduler
// state's dedupe record, with which an entity drops the copies of requests
// and releases that the extension's sorter lets through (see Dedupe).
package entity

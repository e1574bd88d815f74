// Package sidecar serves the Durable Task SDKs' gRPC protocol
// (TaskHubSidecarService, package pb) from a task hub in the Azure Storage
// layout, so that programs written with the portable SDKs (JavaScript,
// Python, Java, .NET) start, inspect and manage instances that C# tools,
// Go workers and azdurable's own commands see as ordinary instances.
//
// Design note. The server is a thin translation layer over package client,
// which holds every rule for changing an instance (validation before the
// first write, id reuse, the reasons C# stores, rewind, restart, purge),
// and over the provider.Backend contract for reading. It adds only what
// the protocol needs:
//
//   - Payloads are stored as the SDK sent them (client.Verbatim): the SDK
//     reads its own encoding back, and an absent payload is stored as
//     null. Statuses keep their numbers (the protocol's enum is C#'s).
//   - Checks that turn a silent loss into an answer: an event, suspend or
//     resume for an unknown or finished instance is refused with NotFound
//     or FailedPrecondition instead of sending a message no one will read.
//   - A failed instance's failure details come from its history (the
//     Instances table keeps none), so SDKs see the error type, message and
//     stack their worker reported.
//   - Every call may name its task hub in the "taskhub" or
//     "durable-taskhub" metadata; a call that names another hub than the
//     one served is refused before anything is read or written.
//   - Waits poll the backend (client.WaitForStart, WaitForCompletion) and
//     end when the caller goes away or the server stops.
//
// SDK workers (GetWorkItems and the complete and abandon calls) make the
// sidecar a worker of its hub whose code runs elsewhere: while one is
// connected the sidecar owns partitions (Backend.Start) and a dispatcher
// (dispatch.go) locks work items only while the connected workers have
// room, and sends each to the least busy worker whose filters accept it.
// An orchestrator work item runs through package episode, the one episode
// step Go workers use, with an episode.Runner (sdkRunner) that sends the
// events to the worker and turns its actions back into the engine's result
// (actions.go), so the hub holds what C# stores. A work item is answered
// by its completion token; one whose worker goes away is abandoned and
// runs elsewhere.
//
// Durable entities are stored in the Durable Functions extension's format
// whoever runs them: the entity client calls go through package client's
// entity functions (entities.go); an entity's messages, which come with the
// orchestration work items, run through package entity's batch step with
// the operations sent to an SDK worker as an EntityBatchRequest
// (entityitems.go); an SDK orchestration's entity actions become the
// EventSent messages a Go orchestration sends, and its work items show the
// entity messages and responses as the protocol's entity events
// (entityorch.go).
//
// docs/sidecar.md maps every field of the protocol to storage and lists
// what is not served yet; those calls answer Unimplemented with a message
// that says so.
package sidecar

// Package httpapi serves the Durable Functions instance-management HTTP API
// ("webhook" API) from an http.Handler, so that scripts, Logic Apps polling,
// SDK helpers and dashboards written for the Azure Functions Durable Task
// extension work unchanged against an azdurable task hub.
//
// The routes live under a base path (DefaultBasePath unless configured;
// literal segments match in any case):
//
//	POST   orchestrators/{name}[/{instanceId}]        start
//	GET    instances                                   list, with filters and x-ms-continuation-token
//	DELETE instances?createdTimeFrom=…                 purge by filter
//	GET    instances/{id}                              status (202 while running, 200 when finished)
//	DELETE instances/{id}                              purge one
//	POST   instances/{id}/raiseEvent/{event}           raise an event
//	POST   instances/{id}/terminate|suspend|resume     lifecycle operations
//	POST   instances/{id}/restart                      start again (new id unless restartWithNewInstanceId=false)
//	POST   instances/{id}/rewind                       rewind a failed instance
//	GET    entities[/{name}]                           entities of a name (or all), paged
//	GET    entities/{name}/{key}                       the entity's state ($: the empty key)
//	POST   entities/{name}/{key}?op=                   signal (DELETE: the "delete" operation)
//
// Everything else under the base path is 404 with an empty body, as in the
// extension. Handler.WriteCheckStatusResponse and
// Handler.CreateHTTPManagementPayload build the management URLs for
// applications' own HTTP handlers, as CreateCheckStatusResponse and
// CreateHttpManagementPayload do in C#.
//
// The answers are those of the Durable Functions extension 3.19, recorded
// from it (testdata/durable-functions); docs/http-api.md lists where the
// extension differs from the written spec and where azdurable differs on
// purpose: a purge never deletes an unfinished instance (one by id is 412,
// as in the extension; one by filter skips them, unlike the extension, and
// refuses a filter with a typo that the extension would widen),
// waits for completion are bounded (MinPollingInterval, MaxPollingInterval,
// MaxWaitTimeout, Options.MaxWaiting), and top=0 is the default page.
//
// Guard is the middleware that makes the API safe to serve on a machine
// with a browser: it refuses requests whose Host names another server (DNS
// rebinding) and, without keys, state-changing requests that a page of
// another site sent. azdurable serve puts every handler behind it.
//
// Design note. The handler is a thin translation layer over package client:
// every route reads the instance's state first and applies the extension's
// status-code rules (404 unknown, 410 finished, 500 for an impossible
// suspend or resume), then calls the client, whose typed errors
// (client.StatusError with ErrNotTerminal or ErrInstanceExists) become the
// extension's 412 and 409. Bodies are written with the
// same Newtonsoft-compatible writer that writes queue messages
// (internal/netjson): compact, members in the extension's order, nulls
// kept, '<', '>' and '&' unescaped, no trailing newline, and times in the
// extension's formats. Stored payloads are JSON text and are re-emitted as
// JSON; a failed instance's output (its failure message) and a terminated
// instance's output (the reason) are plain text and become JSON strings. A
// start body is stored as it came, raised event data as Newtonsoft
// re-writes it, as the extension stores them (client.RawJSON). The
// history shown with showHistory=true is the Plain JSON of each event
// (history.AppendEvent), rewritten member by member as the extension
// rewrites its own serialization. Authorization is a hook that runs before
// routing; the default admits loopback callers only, or callers presenting
// one of the configured keys. Management URLs carry keys and are never
// logged.
package httpapi

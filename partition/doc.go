// Package partition decides which worker dequeues from which control queue
// of a task hub, using exactly the storage layout and protocol of the C#
// DurableTask.AzureStorage backend, so that Go and C# workers can share the
// partitions of one hub while both are running.
//
// A partition is a control queue, named by its queue name
// (<hub>-control-NN). Three pieces live here:
//
//   - [TableManager], the table partition manager (C#'s default, "V3"): one
//     row per partition in the <Hub>Partitions table, claimed, renewed,
//     stolen and released with ETag-conditional Replace writes.
//   - [BlobManager], the "safe" blob-lease manager (C#'s "V2"): an intent
//     lease and an ownership lease per partition in the <hub>-leases
//     container, plus taskhub.json.
//   - [AppLease], the container lease on <hub>-applease that lets only one
//     application (identified by its app name) run partition managers on a
//     hub at a time.
//
// Both managers implement [Manager] and report to a [Listener]; the
// provider connects the Listener to its dequeue loops.
//
// # Design note
//
// Each manager separates deciding from doing. The table manager's rules
// (claim, renew, steal, drain, release, balance) are a pure function of the
// rows just read, the local clock and this worker's local view of each
// partition ([planTable]); the loop around it only reads, writes and reports.
// The blob manager's balancing rule is pure in the same way ([balanceLeases]).
// The pure parts are unit-tested exhaustively; the storage parts are tested
// against a real Azurite.
//
// Local state per partition lives in one place, the ownership tracker, which
// is also the only caller of the Listener. It makes three guarantees the
// rest of the code relies on:
//
//   - calls for one partition are made one at a time, in order;
//   - a partition is reported Acquired only after a storage write (or lease
//     operation) has proved ownership, and the report carries a deadline;
//   - the deadline is the lease's expiry minus a safety margin, on the local
//     clock. If no renewal has pushed it further by then, the tracker calls
//     Lost (or cancels the Drain in progress) on its own timer, independent
//     of the manager loop. Another worker may claim the partition only once
//     the lease has expired, so with clocks in sync this worker has stopped
//     dequeuing [Options.SafetyMargin] before anybody else can start.
//
// A partition handed over on purpose is never Lost: the old owner is told
// to Drain, and the release that lets the new owner claim it is written
// only after Drain has returned.
//
// Worker ids must be unique among a hub's live workers. The table manager
// notices a second live process with its id from the rows it reads anyway
// (a row it owns renewed with a LastRenewal it did not write, newer than its
// own start) and warns once a minute; the blob manager does not check.
//
// # Deviations from C#
//
// The managers follow the C# rules, not C#'s quirks: C# also starts
// listening after a table write that only requests a steal or that releases
// a row; this package does not. The table manager additionally renews a row
// it already owns at most every AcquireInterval/2 (C# writes it on every
// iteration, also on the 1 s iterations while draining), and runs one extra
// iteration as soon as a drain finishes instead of waiting for the next tick.
// The blob manager renews a lease at least every (lease − margin)/2, which
// for the 15 s ownership lease is 5 s rather than C#'s 10 s, so that a
// single failed renewal does not trip the safety margin.
//
// aztables v1.4.1 refuses an empty PartitionKey in Update, Merge, Delete and
// Get requests before sending them, but every Partitions row has
// PartitionKey "". The table manager therefore writes rows through its own
// client whose pipeline carries a narrow per-call policy: the SDK builds the
// request with a marker key, and the policy puts the empty key back into the
// URL and body before the request is signed and sent.
package partition
